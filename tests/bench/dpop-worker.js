// Verifies N requests carrying a DPoP-bound access token and a fresh proof each, inside workerd,
// with AuthGateway.authenticate() or with the jose-based verifier of dpop-jose.js, for
// tests/bench/dpop-verify.mjs. Proofs are made (by the `dpop` package) in a request of their own, so
// the timed request only verifies. Timing is taken outside.
//
//   /?make=ES256&n=1000                  -> makes N proofs for the next run  ("made")
//   /?lib=ida|jose&alg=ES256&n=1000      -> {"ok": <requests accepted>}, using the made proofs
//   /?noop                               -> "ready": the empty request subtracted
import { AuthGateway } from "./pkg/workerd.js";
import * as jose from "./jose/index.js";
import * as DPoP from "./dpop/index.js";
import { joseDpopVerifier } from "./dpop-jose.js";

const HTU = "http://gateway/x";
let state;

async function prepare(env) {
  const bench = JSON.parse(env.BENCH);
  const gateway = new AuthGateway({
    baseUrl: "http://127.0.0.1:9/api/v1",
    upstream: "http://127.0.0.1:9",
    keys: { jwks: { keys: [bench.asJwk] } },
    algorithms: ["ES256"],
  });
  const joseVerify = joseDpopVerifier(jose, await jose.importJWK(bench.asJwk, "ES256"));
  const keys = {};
  for (const [alg, { privateJwk, publicJwk }] of Object.entries(bench.proofKeys)) {
    const params = alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
    keys[alg] = {
      privateKey: await crypto.subtle.importKey("jwk", privateJwk, params, false, ["sign"]),
      publicKey: await crypto.subtle.importKey("jwk", publicJwk, params, true, ["verify"]),
    };
  }
  return { bench, gateway, joseVerify, keys, made: [] };
}

const incoming = (token, proof) => new Request(HTU, { headers: { authorization: `DPoP ${token}`, dpop: proof } });

export default {
  async fetch(request, env) {
    try {
      state ??= await prepare(env);
      const url = new URL(request.url);
      const alg = url.searchParams.get("alg") ?? url.searchParams.get("make");
      const n = Number(url.searchParams.get("n") ?? 1);
      if (!alg) return new Response("ready");
      const token = state.bench.tokens[alg];
      if (url.searchParams.has("make")) {
        state.made = [];
        for (let i = 0; i < n; i++) state.made.push(await DPoP.generateProof(state.keys[alg], HTU, "GET", undefined, token));
        return new Response("made");
      }
      const lib = url.searchParams.get("lib");
      const proofs = state.made.splice(0, n);
      if (proofs.length !== n) throw new Error(`only ${proofs.length} proofs made`);
      let ok = 0;
      if (lib === "ida") {
        for (const proof of proofs) {
          const outcome = await state.gateway.authenticate(incoming(token, proof));
          if (outcome.status === "authenticated" && outcome.request != null && outcome.dpopThumbprint) ok++;
        }
      } else if (lib === "jose") {
        for (const proof of proofs) if (await state.joseVerify(incoming(token, proof))) ok++;
      } else {
        throw new Error(`unknown lib ${lib}`);
      }
      return Response.json({ ok });
    } catch (e) {
      return new Response(`dpop-worker: ${e?.stack ?? e}`, { status: 500 });
    }
  },
};
