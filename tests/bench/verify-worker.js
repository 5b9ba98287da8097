// Runs N access-token verifications per request inside workerd, with ida-refresh's
// AuthGateway.authenticate() or with jose's jwtVerify, for tests/bench/verify.mjs. Timing is
// taken outside: workerd's clocks do not advance during CPU work.
import { AuthGateway } from "./pkg/workerd.js";
import * as jose from "./jose/index.js";

let state;
async function prepare(env) {
  const bench = JSON.parse(env.BENCH);
  const gateway = new AuthGateway({
    baseUrl: "http://127.0.0.1:9/api/v1",
    upstream: "http://127.0.0.1:9",
    keys: { hs256Secret: bench.secret, jwks: { keys: bench.jwks } },
    algorithms: ["HS256", "RS256", "ES256", "EdDSA"],
  });
  const joseKeys = { HS256: new TextEncoder().encode(bench.secret) };
  for (const jwk of bench.jwks) joseKeys[jwk.alg] = await jose.importJWK(jwk, jwk.alg);
  return { bench, gateway, joseKeys };
}

// What a jose-based gateway does per request besides verifying: read the header, build the
// request to forward. The fair comparison for AuthGateway.authenticate().
async function joseGateway(request, alg) {
  const token = request.headers.get("authorization")?.slice(7);
  const { payload } = await jose.jwtVerify(token, state.joseKeys[alg], { algorithms: [alg] });
  const headers = new Headers(request.headers);
  headers.set("authorization", `Bearer ${token}`);
  const forwarded = new Request("http://origin" + new URL(request.url).pathname, { method: request.method, headers, redirect: "manual" });
  return Boolean(payload.sub && forwarded);
}

export default {
  async fetch(request, env) {
    state ??= await prepare(env);
    const url = new URL(request.url);
    const lib = url.searchParams.get("lib");
    const alg = url.searchParams.get("alg");
    const n = Number(url.searchParams.get("n") ?? 1);
    const token = state.bench.tokens[alg];
    if (!token) return new Response("ready");
    let ok = 0;
    for (let i = 0; i < n; i++) {
      if (lib === "ida") {
        const outcome = await state.gateway.authenticate(new Request("http://gateway/x", { headers: { authorization: `Bearer ${token}` } }));
        if (outcome.status === "authenticated") ok++;
      } else if (lib === "jose+forward") {
        if (await joseGateway(new Request("http://gateway/x", { headers: { authorization: `Bearer ${token}` } }), alg)) ok++;
      } else {
        const { payload } = await jose.jwtVerify(token, state.joseKeys[alg], { algorithms: [alg] });
        if (payload.sub) ok++;
      }
    }
    return Response.json({ ok });
  },
};
