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
}

export interface AuthOutcome {
  status: "authenticated" | "refreshed" | "unauthenticated" | "unavailable" | "forbidden";
  claims: Record<string, unknown> | null;
  /** What to forward: Authorization set, client identity headers and the gateway's cookies stripped. */
  request: Request | null;
  /** Set-Cookie values to add to the response (one Headers.append each). */
  setCookies: string[];
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
    /// `{ status, claims, request, setCookies }` in one crossing.
    #[wasm_bindgen(js_name = outcome)]
    fn js_outcome(status: &str, claims: Option<&str>, request: Option<Request>, set_cookies: Array) -> JsValue;

    /// The request to forward (see gateway.js); `None` and `undefined` keep what the request has.
    #[wasm_bindgen(catch, js_name = forwardRequest)]
    fn forward_request(request: &Request, origin: Option<&str>, authorization: Option<&str>, cookie: &JsValue, strip: &Array) -> Result<Request, JsValue>;

    /// WebCrypto verify, resolving to `accepted` or to an "unauthenticated" outcome.
    #[wasm_bindgen(js_name = verifyThen)]
    fn verify_then(params: &JsValue, key: &JsValue, signature: &[u8], data: &[u8], accepted: JsValue) -> Promise;
}

const GATEWAY_OPTIONS: [&str; 21] = [
    "baseUrl", "protocol", "tokenUrl", "clientId", "scope", "clientSecret", "upstream", "keys", "algorithms", "issuer", "audience",
    "leewaySeconds", "cookies", "stripHeaders", "refreshTimeoutMs", "refreshCookieMaxAgeSeconds", "coordinator", "fetch", "headers",
    "jwksCooldownSeconds", "allowedOrigins",
];
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
}

/// Where a request's decision ended.
enum Status {
    Authenticated,
    Refreshed,
    Unauthenticated { token_presented: bool },
    Unavailable { retry_after_s: u64 },
    Forbidden,
}

struct Outcome {
    status: Status,
    claims: Option<VerifiedClaims>,
    request: Option<Request>,
    set_cookies: Vec<String>,
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
            Fast::Verify { key, signature, data, accepted } => {
                verify_then(&key.params, &key.key, &signature, data.as_bytes(), accepted.to_js())
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

fn now() -> f64 {
    js_sys::Date::now()
}

impl Gateway {
    fn from_options(value: &JsValue) -> Result<Self, Error> {
        let options = OptionReader::new(value, "AuthGateway", &GATEWAY_OPTIONS)?;
        let timeout = options.number("refreshTimeoutMs")?.map(validate_timeout_ms).transpose()?.unwrap_or(5_000);
        let endpoint = Endpoint::from_options(&options)?;
        let transport = Transport { timeout_ms: timeout, ..endpoint.transport.clone() };
        let endpoint = Endpoint { protocol: endpoint.protocol, transport: transport.clone() };

        let upstream = match options.get("upstream")? {
            Some(v) if v.is_string() => Upstream::Origin(normalize_base_url(&v.as_string().unwrap_or_default()).map_err(|_| {
                Error::invalid_argument("upstream", "must be an http(s) URL or an object with fetch()")
            })?),
            Some(v) => Upstream::Binding(
                method(&v, "fetch")
                    .map(|f| f.bind0(&v))
                    .ok_or_else(|| Error::invalid_argument("upstream", "must be an http(s) URL or an object with fetch()"))?,
            ),
            None => return Err(Error::invalid_argument("upstream", "is required")),
        };

        let algorithms = read_algorithms(&options)?;
        let keys_value = options.get("keys")?.ok_or_else(|| Error::invalid_argument("keys", "is required"))?;
        let keys = OptionReader::nested(&keys_value, "keys", "keys.", &["hs256Secret", "jwks", "jwksUrl"])?;
        let secret = keys.string("hs256Secret")?;
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(Error::invalid_argument("keys.hs256Secret", "must be at least 32 bytes"));
        }
        let hmac = secret.and_then(|s| HmacKey::new(s.as_bytes()));
        let static_keys = match keys.get("jwks")? {
            None => Vec::new(),
            Some(v) => {
                let text = v.as_string().or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string())).unwrap_or_default();
                parse_jwks(text.as_bytes(), &algorithms)?
            }
        };
        let jwks_url = keys.string("jwksUrl")?;
        if jwks_url.as_ref().is_some_and(|url| !url.starts_with("https://") && !url.starts_with("http://")) {
            return Err(Error::invalid_argument("keys.jwksUrl", "must be an http(s) URL"));
        }
        if algorithms.contains(&Alg::Hs256) && hmac.is_none() {
            return Err(Error::invalid_argument("algorithms", "HS256 needs keys.hs256Secret"));
        }
        if algorithms.iter().any(|a| *a != Alg::Hs256) && static_keys.is_empty() && jwks_url.is_none() {
            return Err(Error::invalid_argument("algorithms", "RS256/ES256/EdDSA need keys.jwks or keys.jwksUrl"));
        }
        let cooldown_s = options.number("jwksCooldownSeconds")?.unwrap_or(30.0);
        if !(0.0..=3600.0).contains(&cooldown_s) {
            return Err(Error::invalid_argument("jwksCooldownSeconds", "must be from 0 to 3600"));
        }
        let timing = KeySetTiming { cooldown_ms: cooldown_s * 1000.0, ..KeySetTiming::default() };
        let jwks = jwks_url.map(|url| {
            let transport = Transport { timeout_ms: timing.timeout_ms as u32, headers: Vec::new(), credentials: None, ..transport.clone() };
            (url, transport)
        });

        let cookies_value = options.get("cookies")?.unwrap_or(JsValue::UNDEFINED);
        let c = OptionReader::nested(&cookies_value, "cookies", "cookies.", &["accessToken", "refreshToken", "sameSite"])?;
        let cookies = CookieNames {
            access: c.string("accessToken")?.unwrap_or_else(|| "__Host-ida-at".into()),
            refresh: c.string("refreshToken")?.unwrap_or_else(|| "__Host-ida-rt".into()),
            same_site: c.one_of("sameSite", &SAME_SITE)?.unwrap_or_else(|| "Lax".into()),
        };
        for (name, value) in [("cookies.accessToken", &cookies.access), ("cookies.refreshToken", &cookies.refresh)] {
            if !valid_name(value) {
                return Err(Error::invalid_argument(name, "must be a valid cookie name"));
            }
        }
        if cookies.access == cookies.refresh {
            return Err(Error::invalid_argument("cookies", "the two cookie names must differ"));
        }

        let strip = string_list(&options, "stripHeaders", "must be an array of header names")?
            .into_iter()
            .map(|h| JsValue::from_str(&h.to_ascii_lowercase()))
            .collect();
        let allowed_origins = string_list(&options, "allowedOrigins", "must be an array of origins (scheme://host[:port])")?;
        if allowed_origins.iter().any(|o| origin_of(o) != Some(o.as_str())) {
            return Err(Error::invalid_argument("allowedOrigins", "must be an array of origins (scheme://host[:port])"));
        }
        let leeway_s = options.number("leewaySeconds")?.unwrap_or(30.0);
        if !(0.0..=3600.0).contains(&leeway_s) {
            return Err(Error::invalid_argument("leewaySeconds", "must be from 0 to 3600"));
        }
        let refresh_max_age_s = options.number("refreshCookieMaxAgeSeconds")?.unwrap_or(30.0 * 86_400.0);
        if !(1.0..=400.0 * 86_400.0).contains(&refresh_max_age_s) {
            return Err(Error::invalid_argument("refreshCookieMaxAgeSeconds", "must be from 1 to 34560000 (400 days)"));
        }
        let coordinator = options.get("coordinator")?;
        if let Some(c) = &coordinator {
            if method(c, "idFromName").is_none() || method(c, "get").is_none() {
                return Err(Error::invalid_argument("coordinator", "must be a Durable Object namespace binding"));
            }
            // The object refreshes with its own global fetch: a fetch option would silently stop applying.
            if endpoint.transport.fetch.is_some() {
                return Err(Error::invalid_argument("fetch", "cannot be combined with coordinator (the Durable Object refreshes with its own fetch)"));
            }
        }
        let limits = FlightLimits {
            max_in_flight: MAX_IN_FLIGHT,
            max_results: MAX_RESULTS,
            result_ttl_ms: RESULT_TTL_MS,
            // Past every leader's own deadline (the refresh, or the coordinator's answer).
            flight_timeout_ms: f64::from(timeout) + f64::from(COORDINATOR_SLACK_MS) + 1_000.0,
        };
        Ok(Self {
            endpoint,
            keys: RefCell::new(KeySet::new(static_keys, jwks.is_some(), timing)),
            jwks,
            upstream,
            policy: Policy { algorithms, issuer: options.string("issuer")?, audience: options.string("audience")?, leeway_s },
            hmac,
            crypto: KeyCache::default(),
            cookies,
            strip,
            allowed_origins,
            refresh_max_age_s: refresh_max_age_s as u64,
            coordinator,
            flights: RefCell::new(Flights::new(limits)),
            refresh_calls: Cell::new(0),
            jwks_fetches: Cell::new(0),
        })
    }

    /// Reads the credentials: the Bearer header, else the access cookie; the refresh cookie;
    /// and whether cookie credentials come with a forged cross-site request.
    fn presented(&self, request: &Request) -> Presented {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let cookie_header = header("cookie").unwrap_or_default();
        let authorization = header("authorization");
        let bearer = authorization.as_deref().and_then(|a| {
            let (scheme, token) = a.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
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
        Presented { cookie_header, bearer: has_bearer, token_from_header: !from_cookie, token, refresh_cookie, forged }
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
            return if refresh_cookie.is_some() { Fast::Slow } else { Fast::Done(Outcome::only(Status::Unauthenticated { token_presented: false }, Vec::new())) };
        };
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
                Ok(claims) => return self.forward(request, token, claims, Status::Authenticated, Vec::new(), &presented),
                // Only a missing or expired token is refreshed; any other failure is final.
                Err(Refusal::Rejected(Rejection::Expired)) if refresh_cookie.is_some() => {}
                Err(Refusal::Unavailable(retry_after_s)) => return Outcome::only(Status::Unavailable { retry_after_s }, Vec::new()),
                Err(Refusal::Rejected(_)) => return Outcome::only(Status::Unauthenticated { token_presented: true }, Vec::new()),
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

    /// Verifies an access token: structure, header and claims in the core; the signature with
    /// the cached HMAC state, or through WebCrypto with the key the key set finds.
    async fn verify(self: &Rc<Self>, token: &str, ctx: &JsValue) -> Result<VerifiedClaims, Refusal> {
        let parsed = read_token(token, &self.policy, self.hmac.is_some())?;
        match (parsed.alg, &self.hmac) {
            (Alg::Hs256, Some(hmac)) => parsed.verify_hmac(hmac)?,
            _ => {
                let key = self.key_for(parsed.kid.as_deref(), ctx).await?;
                parsed.agrees_with(&key)?;
                if !self.crypto.verify(&key, &parsed.signature, parsed.signing_input.as_bytes()).await {
                    return Err(Rejection::Signature.into());
                }
            }
        }
        Ok(parsed.claims(&self.policy, now())?)
    }

    /// The key a token names, as the key set decides: found, unknown (401), or unavailable
    /// (503); fetching the JWKS or waiting for a fetch in flight on the way.
    async fn key_for(self: &Rc<Self>, kid: Option<&str>, ctx: &JsValue) -> Result<Rc<PublicKey>, Refusal> {
        let mut decision = self.keys.borrow_mut().lookup(kid, now());
        let due = self.keys.borrow_mut().refresh_due(now());
        if let Some(ticket) = due {
            let gw = self.clone();
            let background = promise(async move {
                gw.fetch_jwks(ticket).await;
                Ok(JsValue::UNDEFINED)
            });
            match method(ctx, "waitUntil") {
                Some(wait_until) => drop(wait_until.call1(ctx, &background)),
                None => drop(background),
            }
        }
        loop {
            decision = match decision {
                KeyLookup::Found(key) => return Ok(key),
                KeyLookup::Unknown => return Err(Rejection::UnknownKey.into()),
                KeyLookup::Unavailable { retry_after_s } => return Err(Refusal::Unavailable(retry_after_s)),
                KeyLookup::Fetch(ticket) => {
                    self.fetch_jwks(ticket).await;
                    self.keys.borrow_mut().lookup_after_wait(kid, now())
                }
                KeyLookup::Wait => {
                    sleep(POLL_MS).await;
                    self.keys.borrow_mut().lookup_after_wait(kid, now())
                }
            };
        }
    }

    /// One JWKS fetch, reported to the key set (any failure: network, status, body, cap).
    async fn fetch_jwks(&self, ticket: FetchTicket) {
        let Some((url, transport)) = &self.jwks else { return };
        self.jwks_fetches.set(self.jwks_fetches.get() + 1);
        let fetched = transport.get(url, JWKS_MAX_BYTES).await.ok().filter(|raw| raw.status == 200);
        let keys = fetched.and_then(|raw| parse_jwks(&raw.body, &self.policy.algorithms).ok());
        self.keys.borrow_mut().fetched(ticket, keys, now());
    }

    /// One refresh per refresh token, however many requests carry it (core::flight): the
    /// first request refreshes (through the Durable Object when configured), the others poll
    /// for its outcome with their own timers; a success also answers late requests.
    async fn refresh_shared(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        let key = flight_key(refresh_token);
        let busy = || Error { retry_after_ms: Some(1_000.0), ..Error::new(ErrorCode::ServerError, "too many refreshes in flight") };
        let joined = self.flights.borrow_mut().join(key, now());
        let mut ticket = match joined {
            Join::Done(tokens) => return Ok(tokens),
            Join::Busy => return Err(busy()),
            Join::Lead(ticket) => return self.lead(ticket, key, refresh_token).await,
            Join::Follow(ticket) => ticket,
        };
        loop {
            sleep(POLL_MS).await;
            let polled = self.flights.borrow_mut().poll(&mut ticket, now());
            match polled {
                Poll::Pending => {}
                Poll::Ready(outcome) => return outcome,
                Poll::Gone => return Err(busy()),
            }
        }
    }

    async fn lead(&self, ticket: Ticket, key: FlightKey, refresh_token: &str) -> Result<TokenSet, Error> {
        // If this request is dropped mid-refresh, its followers are told at once (503).
        let guard = Abandon { flights: &self.flights, ticket: Some(ticket) };
        let outcome = match &self.coordinator {
            Some(namespace) => self.refresh_via_coordinator(namespace, key, refresh_token).await,
            None => self.refresh_now(refresh_token).await,
        };
        guard.finish(outcome.clone());
        outcome
    }

    async fn refresh_now(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        self.refresh_calls.set(self.refresh_calls.get() + 1);
        self.endpoint.exchange(&RefreshToken::new(refresh_token)).await.map(|(tokens, _)| tokens).map_err(|e| e.error)
    }

    async fn refresh_via_coordinator(&self, namespace: &JsValue, key: FlightKey, refresh_token: &str) -> Result<TokenSet, Error> {
        let unavailable = || Error::new(ErrorCode::ServerError, "the refresh coordinator failed");
        let name: String = key.iter().flat_map(|b| [hex_digit(u32::from(b >> 4)), hex_digit(u32::from(b & 15))]).collect();
        let id = method(namespace, "idFromName").ok_or_else(unavailable)?.call1(namespace, &name.into()).map_err(|_| unavailable())?;
        let stub = method(namespace, "get").ok_or_else(unavailable)?.call1(namespace, &id).map_err(|_| unavailable())?;
        let body = ObjectWriter::default().string("refreshToken", refresh_token).raw("options", &self.endpoint.to_options_json()).finish();
        let init = Object::new();
        let _ = Reflect::set(&init, &"method".into(), &"POST".into());
        let _ = Reflect::set(&init, &"body".into(), &body.into());
        let fetch = method(&stub, "fetch").ok_or_else(unavailable)?;
        let pending = fetch.call2(&stub, &"https://refresh-coordinator.internal/refresh".into(), &init).map_err(|_| unavailable())?;
        // The object refreshes within the same timeout; its answer gets a little more on top.
        let within = self.endpoint.transport.timeout_ms.saturating_add(COORDINATOR_SLACK_MS);
        let text = response_body(Promise::resolve(&pending), MAX_BODY_BYTES, within).await.map_err(|_| unavailable())?;
        let reply = Json::parse(&text).ok_or_else(unavailable)?;
        if let Some(e) = reply.get("error") {
            let code = match e.get("code").and_then(Json::as_str) {
                Some("invalid_refresh_token") => ErrorCode::InvalidRefreshToken,
                Some("rate_limited") => ErrorCode::RateLimited,
                _ => ErrorCode::ServerError,
            };
            return Err(Error { retry_after_ms: e.get("retryAfterMs").and_then(Json::as_f64), ..Error::new(code, "the refresh failed") });
        }
        let result = reply.get("result").ok_or_else(unavailable)?;
        let text = |k: &str| result.get(k).and_then(Json::as_str).filter(|s| !s.is_empty());
        let access = text("accessToken").map(AccessToken::new);
        let decoded = access.as_ref().map(|a| token::decode(a.expose())).transpose()?.unwrap_or_default();
        Ok(TokenSet {
            expires_at_ms: result.get("expiresAt").and_then(Json::as_f64),
            refresh_token: text("refreshToken").map(RefreshToken::new),
            access_token: access,
            issued_at_ms: decoded.issued_at_ms,
            expiry_from_token: decoded.expires_at_ms.is_some(),
            claims: decoded.claims,
            ..TokenSet::default()
        })
    }

    /// Set-Cookie values for a refreshed session: Max-Age from the access token's expiry, and
    /// from the refresh token's own `exp` when it is a JWT (else the configured default).
    fn session_cookies(&self, tokens: &TokenSet, old_refresh: &str) -> Vec<String> {
        let until = until_s(now());
        let refresh = tokens.refresh_token.as_ref().map_or(old_refresh, |t| t.expose());
        let access = tokens.access_token.as_ref().map_or("", |t| t.expose());
        vec![
            session_cookie(&self.cookies.access, access, &self.cookies.same_site, tokens.expires_at_ms.map_or(300, until)),
            self.refresh_cookie(refresh),
        ]
    }

    /// The refresh cookie alone: Max-Age from the token's own `exp` when it is a JWT.
    fn refresh_cookie(&self, refresh: &str) -> String {
        let max_age = token::decode(refresh).ok().and_then(|d| d.expires_at_ms).map_or(self.refresh_max_age_s, until_s(now()));
        session_cookie(&self.cookies.refresh, refresh, &self.cookies.same_site, max_age)
    }

    /// The request to forward: a fresh Authorization, the client's identity headers and the
    /// gateway's cookies removed, the URL moved to the origin. Built in one JS call.
    fn forward(&self, request: &Request, token: &str, claims: VerifiedClaims, status: Status, set_cookies: Vec<String>, presented: &Presented) -> Outcome {
        let (cookie_header, bearer) = (presented.cookie_header.as_str(), presented.bearer && matches!(status, Status::Authenticated));
        let own = [self.cookies.access.as_str(), self.cookies.refresh.as_str()];
        let cookie = if own.iter().any(|name| cookie_header.contains(name)) {
            strip_cookies(cookie_header, &own).map_or(JsValue::NULL, |rest| JsValue::from_str(&rest))
        } else {
            JsValue::UNDEFINED
        };
        let origin = match &self.upstream {
            Upstream::Origin(origin) => Some(origin.as_str()),
            Upstream::Binding(_) => None,
        };
        let authorization = (!bearer).then(|| ["Bearer ", token].concat());
        match forward_request(request, origin, authorization.as_deref(), &cookie, &self.strip) {
            Ok(forwarded) => Outcome { status, claims: Some(claims), request: Some(forwarded), set_cookies },
            Err(_) => Outcome::only(Status::Unavailable { retry_after_s: 5 }, set_cookies),
        }
    }

    async fn respond(&self, outcome: Outcome) -> Result<Response, JsValue> {
        let response = match (&outcome.status, &outcome.request) {
            (Status::Authenticated | Status::Refreshed, Some(forwarded)) => {
                let pending = match &self.upstream {
                    Upstream::Binding(f) => f.call1(&JsValue::UNDEFINED, forwarded).map(|p| Promise::resolve(&p)),
                    Upstream::Origin(_) => match &self.endpoint.transport.fetch {
                        Some(f) => f.call1(&JsValue::UNDEFINED, forwarded).map(|p| Promise::resolve(&p)),
                        None => global_fetch(forwarded, &JsValue::UNDEFINED),
                    },
                };
                let answered = match pending {
                    Ok(pending) => JsFuture::from(pending).await.ok().and_then(|r| r.dyn_into::<Response>().ok()),
                    Err(_) => None,
                };
                match answered {
                    // A copy, so its headers can be changed; a response that cannot be copied
                    // (a 101 WebSocket upgrade) goes back as it is, without our cookies.
                    Some(r) => match Response::new_with_opt_readable_stream_and_init(r.body().as_ref(), r.unchecked_ref()) {
                        Ok(copy) => copy,
                        Err(_) => return Ok(r),
                    },
                    None => error_response(502, "bad_gateway", "the origin could not be reached", &[])?,
                }
            }
            (Status::Unavailable { retry_after_s }, _) => {
                let mut seconds = String::new();
                push_decimal(&mut seconds, *retry_after_s as i64);
                error_response(503, "temporarily_unavailable", "authentication is temporarily unavailable", &[("Retry-After", &seconds)])?
            }
            (Status::Forbidden, _) => error_response(403, "forbidden", "cross-site requests with cookie credentials are refused", &[])?,
            (Status::Unauthenticated { token_presented: false }, _) => {
                error_response(401, "invalid_request", "authentication is required", &[("WWW-Authenticate", "Bearer")])?
            }
            (Status::Unauthenticated { token_presented: true }, _) | (_, None) => {
                error_response(401, "invalid_token", "the access token is missing, expired or invalid", &[("WWW-Authenticate", "Bearer error=\"invalid_token\"")])?
            }
        };
        for cookie in &outcome.set_cookies {
            response.headers().append("Set-Cookie", cookie)?;
        }
        Ok(response)
    }
}

/// A leading request's place in the flight table: reported as abandoned if dropped before its
/// outcome (the request was cancelled), so a follower takes over instead of waiting out the
/// flight's timeout.
struct Abandon<'a> {
    flights: &'a RefCell<Flights<TokenSet, Error>>,
    ticket: Option<Ticket>,
}

impl Abandon<'_> {
    fn finish(mut self, outcome: Result<TokenSet, Error>) {
        if let Some(ticket) = self.ticket.take() {
            self.flights.borrow_mut().finish(ticket, outcome, now());
        }
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            if let Ok(mut flights) = self.flights.try_borrow_mut() {
                flights.abandon(ticket);
            }
        }
    }
}

/// Whole seconds from `now_ms` until a time in ms (0 when past): a cookie's Max-Age.
fn until_s(now_ms: f64) -> impl Fn(f64) -> u64 {
    move |at_ms| ((at_ms - now_ms) / 1000.0).max(0.0).floor() as u64
}

fn read_algorithms(options: &OptionReader) -> Result<Vec<Alg>, Error> {
    let bad = || Error::invalid_argument("algorithms", "must be a non-empty array of \"HS256\", \"RS256\", \"ES256\", \"EdDSA\"");
    let value = options.get("algorithms")?.ok_or_else(bad)?;
    if !Array::is_array(&value) {
        return Err(bad());
    }
    let algs: Vec<Alg> = Array::from(&value).iter().map(|a| a.as_string().and_then(|s| Alg::from_name(&s)).ok_or_else(bad)).collect::<Result<_, _>>()?;
    if algs.is_empty() { Err(bad()) } else { Ok(algs) }
}

/// An optional array of strings.
fn string_list(options: &OptionReader, name: &str, problem: &str) -> Result<Vec<String>, Error> {
    match options.get(name)? {
        None => Ok(Vec::new()),
        Some(v) if Array::is_array(&v) => Array::from(&v).iter().map(|s| s.as_string().ok_or_else(|| Error::invalid_argument(name, problem))).collect(),
        Some(_) => Err(Error::invalid_argument(name, problem)),
    }
}

fn error_response(status: u16, error: &str, description: &str, extra: &[(&str, &str)]) -> Result<Response, JsValue> {
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    for (k, v) in extra {
        headers.set(k, v)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    let body = ObjectWriter::default().string("error", error).string("error_description", description).finish();
    Response::new_with_opt_str_and_init(Some(&body), &init)
}

impl Outcome {
    fn only(status: Status, set_cookies: Vec<String>) -> Self {
        Self { status, claims: None, request: None, set_cookies }
    }

    fn unavailable(retry_after_s: u64) -> Self {
        Self::only(Status::Unavailable { retry_after_s }, Vec::new())
    }

    fn to_js(&self) -> JsValue {
        let status = match self.status {
            Status::Authenticated => "authenticated",
            Status::Refreshed => "refreshed",
            Status::Unauthenticated { .. } => "unauthenticated",
            Status::Unavailable { .. } => "unavailable",
            Status::Forbidden => "forbidden",
        };
        let cookies: Array = self.set_cookies.iter().map(|c| JsValue::from_str(c)).collect();
        js_outcome(status, self.claims.as_ref().map(|c| c.json.as_str()), self.request.clone(), cookies)
    }
}

impl From<JsError> for Error {
    fn from(e: JsError) -> Self {
        e.error
    }
}
