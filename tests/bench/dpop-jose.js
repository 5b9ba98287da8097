// The usual way to verify DPoP in JS, for tests/bench/dpop-verify.mjs (in Node and in workerd): jose's
// jwtVerify for the access token, jwtVerify with EmbeddedJWK for the proof (typ dpop+jwt, the
// same algorithms), calculateJwkThumbprint against cnf.jkt, and the same claim checks as
// AuthGateway (htm, htu without query, iat window, jti replay window, ath), then the same
// forwarded Request. The `dpop` package only makes proofs, so this is the peer.
export function joseDpopVerifier(jose, accessKey, { maxAgeS = 60, leewayS = 30 } = {}) {
  const seen = new Map(); // jti -> expiry (ms), in insertion order
  const encoder = new TextEncoder();
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return async function verify(request) {
    const authorization = request.headers.get("authorization");
    if (!authorization?.startsWith("DPoP ")) return false;
    const token = authorization.slice(5);
    const proof = request.headers.get("dpop");
    if (!proof || proof.length > 8192 || proof.includes(",")) return false;
    const { payload: claims } = await jose.jwtVerify(token, accessKey, { algorithms: ["ES256"] });
    const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: ["ES256", "EdDSA", "Ed25519", "RS256"] });
    if (payload.htm !== request.method) return false;
    const url = new URL(request.url);
    if (payload.htu !== url.origin + url.pathname) return false;
    const now = Date.now();
    if (typeof payload.iat !== "number" || payload.iat * 1000 < now - (maxAgeS + leewayS) * 1000 || payload.iat * 1000 > now + leewayS * 1000) return false;
    for (const [jti, until] of seen) {
      if (until > now) break;
      seen.delete(jti);
    }
    if (typeof payload.jti !== "string" || seen.has(payload.jti)) return false;
    if (payload.ath !== b64url(await crypto.subtle.digest("SHA-256", encoder.encode(token)))) return false;
    if ((await jose.calculateJwkThumbprint(protectedHeader.jwk)) !== claims.cnf?.jkt) return false;
    seen.set(payload.jti, now + (maxAgeS + 2 * leewayS) * 1000);
    const headers = new Headers(request.headers);
    headers.delete("dpop");
    headers.set("authorization", `Bearer ${token}`);
    return Boolean(new Request("http://origin" + url.pathname, { method: request.method, headers, redirect: "manual" }));
  };
}
