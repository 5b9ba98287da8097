// Runs N access-token verifications per request inside workerd, with ida-refresh's
// AuthGateway.authenticate() or with jose's jwtVerify, for tests/bench/verify.mjs. Timing is
// taken outside: workerd's clocks do not advance during CPU work.
//
//   /?lib=ida|jose|jose+forward&alg=HS256&n=1000   -> {"ok": <calls that verified>}
//   ...&check=1                                     -> also checks what ida's outcome carries
//   /?noop (no alg)                                 -> "ready": the empty request subtracted
// Any failure answers 500 with the error, so the driver stops instead of timing errors.
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

// The incoming request, built alike for ida and jose+forward.
const incoming = (token) => new Request("http://gateway/x", { headers: { authorization: `Bearer ${token}` } });

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

// authenticate() returns a Promise today; `await` also takes a plain outcome, should it ever
// answer synchronously. The forwarded request is read, as a gateway would: were it ever built
// lazily, on first access, the loop still pays for it like jose+forward does.
async function ida(token) {
  const outcome = await state.gateway.authenticate(incoming(token));
  return outcome?.status === "authenticated" && outcome.request != null;
}

async function checkIda(token) {
  const outcome = await state.gateway.authenticate(incoming(token));
  if (outcome?.status !== "authenticated") throw new Error(`status ${outcome?.status}`);
  if (!(outcome.request instanceof Request)) throw new Error("outcome.request is not a Request");
  if (outcome.request.headers.get("authorization") !== `Bearer ${token}`) throw new Error("the forwarded request lacks the token");
  if (!outcome.claims || outcome.claims.sub !== "bench") throw new Error("claims.sub is not the token's");
}

export default {
  async fetch(request, env) {
    try {
      state ??= await prepare(env);
      const url = new URL(request.url);
      const lib = url.searchParams.get("lib");
      const alg = url.searchParams.get("alg");
      const n = Number(url.searchParams.get("n") ?? 1);
      const token = state.bench.tokens[alg];
      if (!token) return new Response("ready");
      if (url.searchParams.has("check") && lib === "ida") await checkIda(token);
      let ok = 0;
      if (lib === "ida") {
        for (let i = 0; i < n; i++) if (await ida(token)) ok++;
      } else if (lib === "jose+forward") {
        for (let i = 0; i < n; i++) if (await joseGateway(incoming(token), alg)) ok++;
      } else if (lib === "jose") {
        for (let i = 0; i < n; i++) {
          const { payload } = await jose.jwtVerify(token, state.joseKeys[alg], { algorithms: [alg] });
          if (payload.sub) ok++;
        }
      } else {
        throw new Error(`unknown lib ${lib}`);
      }
      return Response.json({ ok });
    } catch (e) {
      return new Response(`verify-worker: ${e?.stack ?? e}`, { status: 500 });
    }
  },
};
