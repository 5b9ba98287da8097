// The gateway's hot path crosses the wasm boundary once each way: Rust decides, and these
// build what JS needs in one call (src/js/gateway.rs).

// AuthOutcome from its parts; the claims arrive as the token's payload text, parsed here once.
export function outcome(status, claims, request, setCookies) {
  return { status, claims: claims === undefined ? null : JSON.parse(claims), request: request ?? null, setCookies };
}

// A WebCrypto signature check whose verdict picks one of two outcomes already built.
export function verifyThen(params, key, signature, data, accepted, refused) {
  return crypto.subtle.verify(params, key, signature, data).then((ok) => (ok ? accepted : refused), () => refused);
}
