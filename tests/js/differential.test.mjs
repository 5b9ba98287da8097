// Differential test: tokens made by jose (valid, expired, not yet valid, tampered, wrong key,
// wrong issuer or audience, no exp, alg none), per algorithm; AuthGateway and jose's jwtVerify,
// configured with the same policy, must agree on accept/reject for every one.
// Where the two differ by design (ida also refuses a future iat, jku/x5u/jwk headers and odd
// typ values; jose ignores them), the cases are left out here and covered by the gateway tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as jose from "jose";
import { AuthGateway } from "../../pkg/node.js";

const ISSUER = "https://issuer.test";
const AUDIENCE = "api";
const LEEWAY = 30;
const now = () => Math.floor(Date.now() / 1000);

test("differential: AuthGateway agrees with jose on every token", async () => {
  const secret = new TextEncoder().encode("differential-hs256-secret-32-bytes!!");
  const algs = {
    HS256: { sign: secret, verify: secret },
    RS256: await jose.generateKeyPair("RS256", { extractable: true }),
    ES256: await jose.generateKeyPair("ES256", { extractable: true }),
    EdDSA: await jose.generateKeyPair("Ed25519", { extractable: true }),
  };
  const other = {
    HS256: new TextEncoder().encode("another-hs256-secret-of-32-bytes!!!!"),
    RS256: (await jose.generateKeyPair("RS256")).privateKey,
    ES256: (await jose.generateKeyPair("ES256")).privateKey,
    EdDSA: (await jose.generateKeyPair("Ed25519")).privateKey,
  };
  const jwks = { keys: [] };
  for (const alg of ["RS256", "ES256", "EdDSA"]) jwks.keys.push({ ...(await jose.exportJWK(algs[alg].publicKey)), kid: alg, alg });

  const gateway = new AuthGateway({
    baseUrl: "http://127.0.0.1:9/api/v1", upstream: "http://127.0.0.1:9",
    keys: { hs256Secret: new TextDecoder().decode(secret), jwks },
    algorithms: Object.keys(algs), issuer: ISSUER, audience: AUDIENCE, leewaySeconds: LEEWAY,
  });
  const localJwks = jose.createLocalJWKSet(jwks);
  const joseAccepts = async (token, alg) => {
    const key = alg === "HS256" ? secret : localJwks;
    try {
      await jose.jwtVerify(token, key, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE, clockTolerance: LEEWAY, requiredClaims: ["exp"] });
      return true;
    } catch {
      return false;
    }
  };
  const idaAccepts = async (token) => {
    const outcome = await gateway.authenticate(new Request("http://gateway/x", { headers: { authorization: `Bearer ${token}` } }));
    return outcome.status === "authenticated";
  };

  const make = async (alg, { claims = {}, key, omitExp = false } = {}) => {
    const payload = { sub: "user-1", iat: now() - 5, iss: ISSUER, aud: AUDIENCE, exp: now() + 300, ...claims };
    if (omitExp) delete payload.exp;
    const jwt = new jose.SignJWT(payload).setProtectedHeader({ alg, ...(alg === "HS256" ? {} : { kid: alg }) });
    return jwt.sign(key ?? (alg === "HS256" ? algs.HS256.sign : algs[alg].privateKey));
  };
  const cases = [];
  for (const alg of Object.keys(algs)) {
    const valid = await make(alg);
    const [h, p, s] = valid.split(".");
    cases.push(
      [alg, "valid", valid, true],
      [alg, "expired within leeway", await make(alg, { claims: { exp: now() - 10 } }), true],
      [alg, "expired beyond leeway", await make(alg, { claims: { exp: now() - 120 } }), false],
      [alg, "nbf within leeway", await make(alg, { claims: { nbf: now() + 10 } }), true],
      [alg, "nbf beyond leeway", await make(alg, { claims: { nbf: now() + 120 } }), false],
      [alg, "wrong issuer", await make(alg, { claims: { iss: "https://evil.test" } }), false],
      [alg, "wrong audience", await make(alg, { claims: { aud: "other" } }), false],
      [alg, "audience list with ours", await make(alg, { claims: { aud: ["other", AUDIENCE] } }), true],
      [alg, "no exp", await make(alg, { omitExp: true }), false],
      [alg, "signed by another key", await make(alg, { key: other[alg] }), false],
      [alg, "tampered payload", `${h}.${jose.base64url.encode(JSON.stringify({ sub: "admin", iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }))}.${s}`, false],
      [alg, "tampered signature", `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`, false],
      [alg, "alg none", `${jose.base64url.encode(JSON.stringify({ alg: "none" }))}.${p}.`, false],
    );
  }
  cases.push(["HS256", "unsecured JWT", new jose.UnsecuredJWT({ sub: "x", iss: ISSUER, aud: AUDIENCE, exp: now() + 300 }).encode(), false]);

  let agreed = 0;
  for (const [alg, name, token, expected] of cases) {
    const [ida, ref] = [await idaAccepts(token), await joseAccepts(token, alg)];
    assert.equal(ref, expected, `jose on ${alg} ${name}`);
    assert.equal(ida, ref, `ida and jose disagree on ${alg} ${name}`);
    agreed++;
  }
  console.log(`differential: ${agreed} tokens, ida-refresh and jose agree on every one`);
});
