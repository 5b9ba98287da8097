// The gateway's hot path crosses the wasm boundary once each way: Rust decides, and these
// build what JS needs in one call (src/js/gateway.rs).

// AuthOutcome from its parts; the claims arrive as the token's payload text, parsed here once.
export function outcome(status, claims, request, setCookies, dpopThumbprint, challenge, dpopNonce) {
  return {
    status,
    claims: claims === undefined ? null : JSON.parse(claims),
    request: request ?? null,
    setCookies,
    dpopThumbprint: dpopThumbprint ?? null,
    challenge: challenge ?? null,
    dpopNonce: dpopNonce ?? null,
  };
}

// A WebCrypto signature check: `accepted` (built already) if it holds, else the refusal.
export function verifyThen(params, key, signature, data, accepted) {
  // Outcome::challenge() of a presented token that was refused.
  const refused = () => outcome("unauthenticated", undefined, null, [], undefined, 'Bearer error="invalid_token"');
  // Copies: the arguments are views into wasm memory, which a later allocation may move.
  return crypto.subtle.verify(params, key, signature.slice(), data.slice()).then((ok) => (ok ? accepted : refused()), refused);
}

// A DPoP request's two checks at once: the token's (skipped when `tokenParams` is undefined: an
// HS256 token, checked in Rust) and the proof's; `decide(tokenHolds, proofHolds)` is called once
// in every case and gives the outcome.
export function verifyProofThen(tokenParams, tokenKey, tokenSignature, tokenData, params, key, signature, data, decide) {
  const check = (p, k, s, d) => (p === undefined ? true : crypto.subtle.verify(p, k, s.slice(), d.slice()));
  return Promise.all([check(tokenParams, tokenKey, tokenSignature, tokenData), check(params, key, signature, data)]).then(
    ([tokenHolds, proofHolds]) => decide(tokenHolds, proofHolds),
    () => decide(false, false),
  );
}

// The request to forward: the URL moved to `origin` (undefined: kept, for a service binding),
// the client's identity headers removed, Authorization set (undefined: the request's own Bearer
// header is the token), the Cookie header replaced (a string), removed (null) or kept
// (undefined); redirects go back to the client, as a proxy should.
export function forwardRequest(request, origin, authorization, cookie, strip) {
  let url = request.url;
  if (origin !== undefined) {
    const path = url.indexOf("/", url.indexOf("//") + 2);
    url = origin + (path < 0 ? "/" : url.slice(path));
  }
  const headers = new Headers(request.headers);
  for (const name of strip) headers.delete(name);
  if (authorization !== undefined) headers.set("authorization", authorization);
  if (cookie === null) headers.delete("cookie");
  else if (cookie !== undefined) headers.set("cookie", cookie);
  const init = { method: request.method, headers, redirect: "manual" };
  if (request.body) {
    init.body = request.body;
    init.duplex = "half";
  }
  return new Request(url, init);
}
