//! The exported `AuthGateway`: terminates auth in an edge worker. The browser holds only
//! HttpOnly cookies; the gateway verifies the access token, refreshes it through
//! `/auth/refresh` when it has expired, and forwards an authenticated request to the origin.
//!
//! Workers forbid awaiting a promise created by another request, so nothing here shares
//! promises between requests. The policy lives in the core, over an injected clock: the key
//! set and its JWKS fetches (`core::keyset`), single flight of refreshes (`core::flight`),
//! token checks (`core::verify`), cookies and CSRF (`core::cookie`). This adapter reads the
//! request, carries out what the core decides (fetch, wait with its own timer, WebCrypto) and
//! answers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response};

use super::crypto::{verify_imported, ImportedKey, KeyCache};
use super::error::{to_js, JsError};
use super::fetch::{response_body, Transport};
use super::global::{global_fetch, method, promise, sleep};
use super::options::OptionReader;
use super::refresh::Endpoint;
use crate::core::cookie::{clear_cookie, forged, origin_of, read_cookie, session_cookie, strip_cookies, valid_name, SAME_SITE};
use crate::core::dpop_check::{need, Mode, Need};
use crate::core::error::{Error, ErrorCode};
use crate::core::flight::{flight_key, FlightKey, FlightLimits, Flights, Join, Poll, Ticket};
use crate::core::json::{hex_digit, push_decimal, Json, ObjectWriter};
use crate::core::keyset::{FetchTicket, KeyLookup, KeySet, KeySetTiming};
use crate::core::request::{normalize_base_url, validate_timeout_ms, MAX_BODY_BYTES};
use crate::core::response::TokenSet;
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::token;
use crate::core::verify::{parse_jwks, read_token, Alg, HmacKey, Policy, PublicKey, Rejection, VerifiedClaims, MAX_TOKEN_BYTES};

#[wasm_bindgen(typescript_custom_section)]
const TS_GATEWAY: &str = r#"
/** Signature algorithms the gateway verifies. */
export type GatewayAlgorithm = "HS256" | "RS256" | "ES256" | "EdDSA";

export interface GatewayOptions {
  /** The auth API (POST {baseUrl}/auth/refresh). */
  baseUrl?: string;
  /** "oauth2" refreshes with the RFC 6749 grant at tokenUrl (with clientId, scope?, clientSecret?). */
  protocol?: "ida" | "oauth2";
  tokenUrl?: string;
  clientId?: string;
  scope?: string;
  /** A confidential client's secret (HTTP Basic): fine in a worker, never in a browser. */
  clientSecret?: string;
  /** The origin: a URL (scheme, host, port; the request's path and query are kept) or an object with fetch(), e.g. a service binding. */
  upstream: string | { fetch(request: Request): Promise<Response> };
  /** Verification keys: an HS256 secret, a static JWKS, and/or a JWKS URL (cached 10 min, refetched on an unknown kid at most every 30 s). */
  keys: { hs256Secret?: string; jwks?: { keys: object[] } | string; jwksUrl?: string };
  /** The allowlist; the algorithm used is the key's, and the token header must agree. */
  algorithms: GatewayAlgorithm[];
  issuer?: string;
  audience?: string;
  /** Leeway for exp, nbf and iat (default 30). */
  leewaySeconds?: number;
  /** Cookie names and SameSite (default { accessToken: "__Host-ida-at", refreshToken: "__Host-ida-rt", sameSite: "Lax" }). */
  cookies?: { accessToken?: string; refreshToken?: string; sameSite?: "Strict" | "Lax" | "None" };
  /** Client-sent identity headers to drop before forwarding (Authorization is always replaced). */
  stripHeaders?: string[];
  /** Timeout of the refresh call (default 5000). */
  refreshTimeoutMs?: number;
  /** Max-Age of the refresh cookie when the refresh token carries no expiry (default 30 days). */
  refreshCookieMaxAgeSeconds?: number;
  /** A Durable Object namespace bound to the exported RefreshCoordinator class. */
  coordinator?: { idFromName(name: string): unknown; get(id: unknown): { fetch(input: string, init?: RequestInit): Promise<Response> } };
  /** Least time between JWKS refetches for an unknown kid (default 30). */
  jwksCooldownSeconds?: number;
  /** Origins (scheme://host[:port]) besides the request's own whose cookie-authenticated unsafe requests (POST, PUT, ...) are accepted. */
  allowedOrigins?: string[];
  /** fetch for the refresh and JWKS calls. */
  fetch?: RefreshOptions["fetch"];
  /** Extra headers on the refresh call. */
  headers?: RefreshOptions["headers"];
  /** DPoP (RFC 9449): "allowed" (default: a token with cnf.jkt needs a valid proof, others are Bearer), "required" (unbound tokens refused) or "off". */
  dpop?: "off" | "allowed" | "required";
  /** The origin clients address (scheme://host[:port]) when the gateway sees another behind a proxy: a proof's htu is checked against it plus the request's path. */
  publicOrigin?: string;
  /** How old a proof's iat may be, plus leewaySeconds (default 60). */
  dpopMaxAgeSeconds?: number;
  /** Issue nonces (DPoP-Nonce) and refuse proofs without a current one (401 use_dpop_nonce). */
  dpopNonce?: boolean;
  /** The nonces' HMAC secret (at least 32 bytes): give every isolate the same one, or a nonce from one isolate is refused by another. */
  dpopNonceSecret?: string;
}

export interface AuthOutcome {
  status: "authenticated" | "refreshed" | "unauthenticated" | "unavailable" | "forbidden";
  claims: Record<string, unknown> | null;
  /** What to forward: Authorization set, client identity headers and the gateway's cookies stripped. */
  request: Request | null;
  /** Set-Cookie values to add to the response (one Headers.append each). */
  setCookies: string[];
  /** The RFC 7638 thumbprint of the key whose DPoP proof came with the token; null for a Bearer token. */
  dpopThumbprint: string | null;
  /** For "unauthenticated": the WWW-Authenticate value handle() would send (Bearer, or the DPoP error with algs=); else null. */
  challenge: string | null;
  /** The DPoP-Nonce header to send back (the nonce a proof lacked, or the next one when the gateway issues nonces); else null. */
  dpopNonce: string | null;
}

export class AuthGateway {
  /** Throws RefreshError("invalid_argument") for a bad configuration. */
  constructor(options: GatewayOptions);
  /** Protects everything it is given: forwards authenticated requests, answers 401/403/503 itself. */
  handle(request: Request, ctx?: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
  /** The decision without forwarding, for workers with public routes. `ctx` lets a background JWKS refresh outlive the request. */
  authenticate(request: Request, ctx?: { waitUntil(promise: Promise<unknown>): void }): Promise<AuthOutcome>;
  /** Refresh calls sent by this instance (metrics). */
  readonly refreshCalls: number;
  /** JWKS fetches made by this instance (metrics). */
  readonly jwksFetches: number;
}
"#;

#[wasm_bindgen(module = "/src/js/gateway.js")]
extern "C" {
    /// `{ status, claims, request, setCookies, dpopThumbprint, challenge, dpopNonce }` in one crossing.
    #[wasm_bindgen(js_name = outcome)]
    fn js_outcome(
        status: &str,
        claims: Option<&str>,
        request: Option<Request>,
        set_cookies: Array,
        dpop_thumbprint: Option<&str>,
        challenge: Option<&str>,
        dpop_nonce: Option<&str>,
    ) -> JsValue;

    /// The request to forward (see gateway.js); `None` and `undefined` keep what the request has.
    #[wasm_bindgen(catch, js_name = forwardRequest)]
    fn forward_request(request: &Request, origin: Option<&str>, authorization: Option<&str>, cookie: &JsValue, strip: &Array) -> Result<Request, JsValue>;

    /// WebCrypto verify, resolving to `accepted` or to an "unauthenticated" outcome.
    #[wasm_bindgen(js_name = verifyThen)]
    fn verify_then(params: &JsValue, key: &JsValue, signature: &[u8], data: &[u8], accepted: JsValue) -> Promise;

    /// A DPoP request's two WebCrypto checks (the token's skipped when its params are
    /// undefined), resolving to what `decide(tokenHolds, proofHolds)` returns.
    #[wasm_bindgen(js_name = verifyProofThen)]
    #[allow(clippy::too_many_arguments)]
    fn verify_proof_then(
        token_params: &JsValue,
        token_key: &JsValue,
        token_signature: &[u8],
        token_data: &[u8],
        params: &JsValue,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
        decide: &JsValue,
    ) -> Promise;
}

/// A JWKS body over this is a failed fetch (bounded on the decoded bytes).
const JWKS_MAX_BYTES: usize = 64 * 1024;
/// How long a successful refresh answers later requests still carrying the rotated cookie:
/// browsers keep sending the old cookie until the Set-Cookie lands.
const RESULT_TTL_MS: f64 = 30_000.0;
/// Successful refreshes kept for late requests (least recently used evicted beyond it).
const MAX_RESULTS: usize = 2_048;
/// Refreshes in flight at once in one isolate; beyond it a new one is answered 503.
const MAX_IN_FLIGHT: usize = 4_096;
/// What the Durable Object's answer may take beyond the refresh timeout.
const COORDINATOR_SLACK_MS: u32 = 500;
/// How often a waiting request looks at the shared state again.
const POLL_MS: f64 = 10.0;

/// Terminates auth in front of an origin (see the TypeScript declaration).
#[wasm_bindgen(skip_typescript)]
pub struct AuthGateway {
    gateway: Rc<Gateway>,
}

enum Upstream {
    Origin(String),
    Binding(Function),
}

struct CookieNames {
    access: String,
    refresh: String,
    same_site: String,
}

struct Gateway {
    endpoint: Endpoint,
    jwks: Option<(String, Transport)>,
    upstream: Upstream,
    policy: Policy,
    hmac: Option<HmacKey>,
    keys: RefCell<KeySet>,
    crypto: KeyCache,
    cookies: CookieNames,
    /// `stripHeaders`, lowercased, as the JS array the forwarding snippet takes.
    strip: Array,
    allowed_origins: Vec<String>,
    refresh_max_age_s: u64,
    coordinator: Option<JsValue>,
    flights: RefCell<Flights<TokenSet, Error>>,
    refresh_calls: Cell<u32>,
    jwks_fetches: Cell<u32>,
    dpop: Dpop,
}

/// Where a request's decision ended.
enum Status {
    Authenticated,
    Refreshed,
    Unauthenticated {
        token_presented: bool,
    },
    Unavailable {
        retry_after_s: u64,
    },
    Forbidden,
    /// 401 with a DPoP challenge.
    DpopRefused(Challenge),
}

struct Outcome {
    status: Status,
    claims: Option<VerifiedClaims>,
    request: Option<Request>,
    set_cookies: Vec<String>,
    /// The DPoP proof that came with the token, when one was needed.
    dpop: Option<Accepted>,
}

/// Why a token was not accepted: refused (401), or its key could not be had (503).
enum Refusal {
    Rejected(Rejection),
    Unavailable(u64),
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// What can be decided without waiting.
enum Fast {
    /// Decided.
    Done(Outcome),
    /// One WebCrypto signature check left (claims already passed); `accepted` if it holds.
    Verify { key: ImportedKey, signature: Vec<u8>, data: String, accepted: Outcome },
    /// A DPoP request whose checks passed and whose keys are imported: the token's signature
    /// (unless HS256, checked already) and the proof's left, then the proof's `jti`.
    VerifyProof { token: Option<(ImportedKey, Vec<u8>, String)>, key: ImportedKey, proof: CheckedProof, accepted: Outcome },
    /// A refresh, a JWKS fetch or a key import is needed: the async path.
    Slow,
}

/// The credentials a request carries.
struct Presented {
    cookie_header: String,
    /// The `Authorization` header reads exactly `Bearer <token>` (forwarded as it is).
    bearer: bool,
    /// The token came in the `Authorization` header, not a cookie.
    token_from_header: bool,
    /// The `Authorization` scheme is `DPoP` (read only when DPoP is not off).
    dpop_scheme: bool,
    token: Option<String>,
    refresh_cookie: Option<String>,
    /// Cookie credentials on a cross-site unsafe request.
    forged: bool,
}

fn err(e: Error) -> JsValue {
    to_js(&e, None)
}

#[wasm_bindgen]
impl AuthGateway {
    /// Validates the configuration.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<AuthGateway, JsValue> {
        Ok(AuthGateway { gateway: Rc::new(Gateway::from_options(&options).map_err(err)?) })
    }

    /// Authenticates and forwards, or answers 401 / 403 / 503 itself.
    pub fn handle(&self, request: Request, ctx: JsValue) -> Promise {
        let gw = self.gateway.clone();
        let decided = gw.decide_now(&request);
        promise(async move {
            let outcome = match decided {
                Fast::Done(outcome) => outcome,
                Fast::Verify { key, signature, data, accepted } => {
                    if verify_imported(key, &signature, data.as_bytes()).await {
                        accepted
                    } else {
                        Outcome::only(Status::Unauthenticated { token_presented: true }, Vec::new())
                    }
                }
                Fast::VerifyProof { token, key, proof, accepted } => {
                    let token_holds = match token {
                        Some((key, signature, data)) => verify_imported(key, &signature, data.as_bytes()).await,
                        None => true,
                    };
                    let proof_holds = token_holds && verify_imported(key, &proof.signature, proof.signing_input.as_bytes()).await;
                    gw.proof_outcome(token_holds, proof_holds, proof, accepted)
                }
                Fast::Slow => gw.authenticate(&request, &ctx).await,
            };
            gw.respond(outcome).await.map(JsValue::from)
        })
    }

    /// The decision only: `{ status, claims, request, setCookies }`. Decided at once when the
    /// token's key is at hand (HS256, or a cached WebCrypto key: one signature check left).
    pub fn authenticate(&self, request: Request, ctx: JsValue) -> Promise {
        match self.gateway.decide_now(&request) {
            Fast::Done(outcome) => Promise::resolve(&outcome.to_js()),
            Fast::Verify { key, signature, data, accepted } => verify_then(&key.params, &key.key, &signature, data.as_bytes(), accepted.to_js()),
            Fast::VerifyProof { token, key, proof, accepted } => {
                // Both checks in one JS call; the verdict comes back once, always (so the
                // closure is never left behind).
                let (signature, data) = (proof.signature.clone(), proof.signing_input.clone());
                let (token_params, token_key, token_signature, token_data) = match token {
                    Some((k, s, d)) => (k.params, k.key, s, d),
                    None => (JsValue::UNDEFINED, JsValue::UNDEFINED, Vec::new(), String::new()),
                };
                let gw = self.gateway.clone();
                let decide =
                    Closure::once_into_js(move |token_holds: bool, proof_holds: bool| gw.proof_outcome(token_holds, proof_holds, proof, accepted).to_js());
                verify_proof_then(
                    &token_params,
                    &token_key,
                    &token_signature,
                    token_data.as_bytes(),
                    &key.params,
                    &key.key,
                    &signature,
                    data.as_bytes(),
                    &decide,
                )
            }
            Fast::Slow => {
                let gw = self.gateway.clone();
                promise(async move { Ok(gw.authenticate(&request, &ctx).await.to_js()) })
            }
        }
    }

    /// Refresh calls this instance has sent to the auth API (for tests and metrics).
    #[wasm_bindgen(getter, js_name = refreshCalls)]
    pub fn refresh_calls(&self) -> u32 {
        self.gateway.refresh_calls.get()
    }

    /// JWKS fetches this instance has made (for tests and metrics).
    #[wasm_bindgen(getter, js_name = jwksFetches)]
    pub fn jwks_fetches(&self) -> u32 {
        self.gateway.jwks_fetches.get()
    }
}

mod dpop;
mod keys;
mod options;
mod outcome;
mod refresh;
mod respond;

use dpop::{Accepted, Challenge, CheckedProof, Dpop};

fn now() -> f64 {
    js_sys::Date::now()
}

impl Gateway {
    /// Reads the credentials: the Bearer header, else the access cookie; the refresh cookie;
    /// and whether cookie credentials come with a forged cross-site request.
    fn presented(&self, request: &Request) -> Presented {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let cookie_header = header("cookie").unwrap_or_default();
        let authorization = header("authorization");
        let mut dpop_scheme = false;
        let bearer = authorization.as_deref().and_then(|a| {
            let (scheme, token) = a.trim().split_once(' ')?;
            dpop_scheme = self.dpop.mode != Mode::Off && scheme.eq_ignore_ascii_case("dpop");
            (dpop_scheme || scheme.eq_ignore_ascii_case("bearer")).then(|| token.trim().to_owned())
        });
        let from_cookie = bearer.is_none();
        // Forwarded untouched only when it already reads exactly `Bearer <token>`.
        let has_bearer = bearer.as_deref().is_some_and(|t| authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) == Some(t));
        let token = bearer.or_else(|| read_cookie(&cookie_header, &self.cookies.access)).filter(|t| !t.is_empty());
        let refresh_cookie = read_cookie(&cookie_header, &self.cookies.refresh).filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES);
        // Cross-site with cookie credentials: the access cookie when it is the token, and the
        // refresh cookie whenever it is present (an expired Bearer token would bring it into use).
        let forged = ((from_cookie && token.is_some()) || refresh_cookie.is_some()) && {
            let url = request.url();
            let own = origin_of(&url).unwrap_or_default();
            forged(&request.method(), header("sec-fetch-site").as_deref(), header("origin").as_deref(), own, &self.allowed_origins)
        };
        Presented { cookie_header, bearer: has_bearer, token_from_header: !from_cookie, dpop_scheme, token, refresh_cookie, forged }
    }

    /// The decision when nothing needs waiting for: a refused or forged request, an HS256
    /// token, or a token whose WebCrypto key is imported already (the signature check left).
    fn decide_now(&self, request: &Request) -> Fast {
        let presented = self.presented(request);
        let Presented { token, refresh_cookie, forged, token_from_header, .. } = &presented;
        // A Bearer request is judged on its header; its cookies matter only if it is refreshed.
        if *forged && !token_from_header {
            return Fast::Done(Outcome::only(Status::Forbidden, Vec::new()));
        }
        let Some(token) = token else {
            return if refresh_cookie.is_some() {
                Fast::Slow
            } else {
                Fast::Done(Outcome::only(Status::Unauthenticated { token_presented: false }, Vec::new()))
            };
        };
        // With the coordinator, remembering a proof is a call: the async path.
        if presented.dpop_scheme && self.coordinator.is_some() {
            return Fast::Slow;
        }
        let refused = || Fast::Done(Outcome::only(Status::Unauthenticated { token_presented: true }, Vec::new()));
        let Ok(parsed) = read_token(token, &self.policy, self.hmac.is_some()) else { return refused() };
        let mut webcrypto = None;
        match (parsed.alg, &self.hmac) {
            (Alg::Hs256, Some(hmac)) => {
                if parsed.verify_hmac(hmac).is_err() {
                    return refused();
                }
            }
            _ => {
                let mut keys = self.keys.borrow_mut();
                let now_ms = now();
                if keys.refresh_due_at(now_ms) {
                    return Fast::Slow;
                }
                let Some(key) = keys.peek(parsed.kid.as_deref(), now_ms) else { return Fast::Slow };
                let Some(imported) = self.crypto.cached(&key) else { return Fast::Slow };
                if parsed.agrees_with(&key).is_err() {
                    return refused();
                }
                webcrypto = Some((imported, parsed.signature.clone(), parsed.signing_input.to_owned()));
            }
        }
        match parsed.claims(&self.policy, now()) {
            // A DPoP request whose proof passes the checks that need no key, and whose key is
            // imported already. Anything else (a refusal included) is judged on the async path.
            Ok(claims) if presented.dpop_scheme => {
                let Ok(Some(proof)) = self.check_proof(request, &presented, token, &claims) else { return Fast::Slow };
                let Some(key) = self.dpop.keys.cached(&proof.key) else { return Fast::Slow };
                let accepted = self.forward(request, token, claims, Status::Authenticated, Vec::new(), &presented);
                Fast::VerifyProof { token: webcrypto, key, proof, accepted }
            }
            // A bound token without the DPoP scheme, or an unbound one where DPoP is required:
            // refused on the async path, once the token's signature is known.
            Ok(claims) if need(self.dpop.mode, claims.jkt.is_some(), presented.dpop_scheme) != Need::Nothing => Fast::Slow,
            Ok(claims) => {
                let accepted = self.forward(request, token, claims, Status::Authenticated, Vec::new(), &presented);
                match webcrypto {
                    None => Fast::Done(accepted),
                    Some((key, signature, data)) => Fast::Verify { key, signature, data, accepted },
                }
            }
            // An expired token is refreshed only once its signature is known good: the async path.
            Err(Rejection::Expired) if refresh_cookie.is_some() => Fast::Slow,
            Err(_) => refused(),
        }
    }

    async fn authenticate(self: &Rc<Self>, request: &Request, ctx: &JsValue) -> Outcome {
        let presented = self.presented(request);
        let Presented { token, refresh_cookie, forged, token_from_header, .. } = &presented;
        if *forged && !token_from_header {
            return Outcome::only(Status::Forbidden, Vec::new());
        }
        if let Some(token) = &token {
            match self.verify(token, ctx).await {
                Ok(claims) => {
                    return match self.check_dpop(request, &presented, token, &claims).await {
                        Ok(dpop) => Outcome { dpop, ..self.forward(request, token, claims, Status::Authenticated, Vec::new(), &presented) },
                        Err(status) => Outcome::only(status, Vec::new()),
                    };
                }
                // Only a missing or expired token is refreshed; any other failure is final.
                Err(Refusal::Rejected(Rejection::Expired)) if refresh_cookie.is_some() => {}
                Err(Refusal::Unavailable(retry_after_s)) => return Outcome::only(Status::Unavailable { retry_after_s }, Vec::new()),
                Err(Refusal::Rejected(_)) => return Outcome::only(Gateway::token_refused(&presented), Vec::new()),
            }
        }
        let Some(refresh_token) = refresh_cookie else {
            return Outcome::only(Status::Unauthenticated { token_presented: token.is_some() }, Vec::new());
        };
        if *forged {
            return Outcome::only(Status::Forbidden, Vec::new());
        }
        // A late request answered from a stored result whose access token has expired since
        // continues that session with the result's own (newer) refresh token. That may be a
        // stored result too (a chain of rotations within the window); a real refresh ends it.
        let mut used = refresh_token.clone();
        let mut continued = 0;
        loop {
            let tokens = match self.refresh_shared(&used).await {
                Ok(tokens) => tokens,
                Err(e) if e.code == ErrorCode::InvalidRefreshToken => {
                    let clear = vec![clear_cookie(&self.cookies.access, &self.cookies.same_site), clear_cookie(&self.cookies.refresh, &self.cookies.same_site)];
                    return Outcome::only(Status::Unauthenticated { token_presented: true }, clear);
                }
                Err(e) => return Outcome::unavailable(e.retry_after_ms.map_or(5, |ms| (ms / 1000.0).ceil().clamp(1.0, 3600.0) as u64)),
            };
            // From here on the refresh token may have been rotated: a failure below (keys
            // unavailable, a token the gateway cannot accept) still hands the new refresh cookie
            // back, or the user would be signed out once the stored result has expired. Not the
            // access cookie: one the gateway cannot verify would be refused (401) next time,
            // while the old, expired one leads to a refresh with the new refresh cookie.
            let rotated = match &tokens.refresh_token {
                Some(next) if next.expose() != used => vec![self.refresh_cookie(next.expose())],
                _ => Vec::new(),
            };
            let Some(access) = tokens.access_token.as_ref() else {
                return Outcome::only(Status::Unavailable { retry_after_s: 5 }, rotated);
            };
            match self.verify(access.expose(), ctx).await {
                // The gateway's own refresh makes no proofs: a bound token cannot be used here.
                Ok(claims) if need(self.dpop.mode, claims.jkt.is_some(), false) != Need::Nothing => {
                    return Outcome::only(Status::DpopRefused(Challenge::InvalidToken), rotated);
                }
                Ok(claims) => {
                    let cookies = self.session_cookies(&tokens, &used);
                    return self.forward(request, access.expose(), claims, Status::Refreshed, cookies, &presented);
                }
                Err(Refusal::Rejected(Rejection::Expired)) if continued < 4 && tokens.refresh_token.as_ref().is_some_and(|next| next.expose() != used) => {
                    used = tokens.refresh_token.as_ref().map(|t| t.expose().to_owned()).unwrap_or_default();
                    continued += 1;
                }
                Err(Refusal::Unavailable(retry_after_s)) => return Outcome::only(Status::Unavailable { retry_after_s }, rotated),
                // The auth server's own token does not verify: a configuration problem.
                Err(Refusal::Rejected(_)) => return Outcome::only(Status::Unavailable { retry_after_s: 5 }, rotated),
            }
        }
    }
}

impl Gateway {
    /// A refused token, in the scheme it came with (RFC 9449 section 7.1).
    fn token_refused(presented: &Presented) -> Status {
        if presented.dpop_scheme {
            Status::DpopRefused(Challenge::InvalidToken)
        } else {
            Status::Unauthenticated { token_presented: true }
        }
    }

    /// The outcome of a DPoP request once both signatures are judged.
    fn proof_outcome(&self, token_holds: bool, proof_holds: bool, proof: CheckedProof, accepted: Outcome) -> Outcome {
        if !token_holds {
            return Outcome::only(Status::DpopRefused(Challenge::InvalidToken), Vec::new());
        }
        if !proof_holds {
            return Outcome::only(Status::DpopRefused(Challenge::InvalidProof), Vec::new());
        }
        match self.remember_proof(proof) {
            Ok((dpop, ..)) => Outcome { dpop: Some(dpop), ..accepted },
            Err(status) => Outcome::only(status, Vec::new()),
        }
    }
}

impl From<JsError> for Error {
    fn from(e: JsError) -> Self {
        e.error
    }
}
