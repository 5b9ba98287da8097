//! The exported `AuthGateway`: terminates auth in an edge worker. The browser holds only
//! HttpOnly cookies; the gateway verifies the access token, refreshes it through
//! `/auth/refresh` when it has expired, and forwards an authenticated request to the origin.
//!
//! Workers forbid awaiting a promise created by another request, so nothing here shares
//! promises between requests: concurrent requests carrying the same expired cookie share one
//! refresh through a Durable Object (`coordinator`) or, without one, through a per-isolate
//! table that later requests poll with their own timers.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, Response};

use super::crypto::{sha256_hex, KeyCache};
use super::error::{to_js, JsError};
use super::fetch::Transport;
use super::global::{global_fetch, method, promise, sleep};
use super::options::OptionReader;
use super::refresh::Endpoint;
use crate::core::cookie::{clear_cookie, read_cookie, session_cookie, strip_cookies, valid_name, SAME_SITE};
use crate::core::error::{Error, ErrorCode};
use crate::core::json::{Json, ObjectWriter};
use crate::core::request::{normalize_base_url, validate_timeout_ms};
use crate::core::response::TokenSet;
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::token;
use crate::core::verify::{check_header, parse_jwks, Alg, Policy, PublicKey, Rejection, MAX_TOKEN_BYTES};

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
  /** fetch for the refresh and JWKS calls. */
  fetch?: RefreshOptions["fetch"];
  /** Extra headers on the refresh call. */
  headers?: RefreshOptions["headers"];
}

export interface AuthOutcome {
  status: "authenticated" | "refreshed" | "unauthenticated" | "unavailable";
  claims: Record<string, unknown> | null;
  /** What to forward: Authorization set, client identity headers and the gateway's cookies stripped. */
  request: Request | null;
  /** Set-Cookie values to add to the response (one Headers.append each). */
  setCookies: string[];
}

export class AuthGateway {
  /** Throws RefreshError("invalid_argument") for a bad configuration. */
  constructor(options: GatewayOptions);
  /** Protects everything it is given: forwards authenticated requests, answers 401/503 itself. */
  handle(request: Request, ctx?: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
  /** The decision without forwarding, for workers with public routes. */
  authenticate(request: Request): Promise<AuthOutcome>;
  /** Refresh calls sent by this instance (metrics). */
  readonly refreshCalls: number;
  /** JWKS fetches made by this instance (metrics). */
  readonly jwksFetches: number;
}
"#;

const GATEWAY_OPTIONS: [&str; 20] = [
    "baseUrl", "protocol", "tokenUrl", "clientId", "scope", "clientSecret", "upstream", "keys", "algorithms", "issuer", "audience",
    "leewaySeconds", "cookies", "stripHeaders", "refreshTimeoutMs", "refreshCookieMaxAgeSeconds", "coordinator", "fetch", "headers",
    "jwksCooldownSeconds",
];
const JWKS_MAX_AGE_MS: f64 = 10.0 * 60_000.0;
const JWKS_TIMEOUT_MS: u32 = 5_000;
const JWKS_MAX_BYTES: usize = 64 * 1024;
/// How long a finished refresh answers later requests carrying the same (now rotated) refresh
/// cookie: browsers keep sending the old cookie until the Set-Cookie lands.
const RESULT_TTL_MS: f64 = 30_000.0;
const RESULT_CACHE_MAX: usize = 1_000;
const POLL_MS: f64 = 10.0;

/// Terminates auth in front of an origin (see the TypeScript declaration).
#[wasm_bindgen(skip_typescript)]
pub struct AuthGateway {
    inner: Rc<Gateway>,
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

struct RemoteJwks {
    url: String,
    fetched_at: f64,
    attempted_at: f64,
}

enum Shared {
    InFlight(f64),
    Done(f64, Result<TokenSet, Error>),
}

struct Gateway {
    endpoint: Endpoint,
    jwks_transport: Transport,
    upstream: Upstream,
    policy: Policy,
    hmac: Option<Vec<u8>>,
    static_keys: Vec<PublicKey>,
    remote: RefCell<Option<RemoteJwks>>,
    /// The static keys followed by the remote ones; replaced, never mutated, on a JWKS fetch.
    keys: RefCell<Rc<[PublicKey]>>,
    crypto: KeyCache,
    cookies: CookieNames,
    strip: Vec<String>,
    refresh_max_age_s: u64,
    coordinator: Option<JsValue>,
    shared: RefCell<HashMap<String, Shared>>,
    refresh_timeout_ms: u32,
    refresh_calls: Cell<u32>,
    jwks_cooldown_ms: f64,
    jwks_fetches: Cell<u32>,
}

/// Where a request's decision ended.
enum Status {
    Authenticated,
    Refreshed,
    Unauthenticated { token_presented: bool },
    Unavailable { retry_after_s: u64 },
}

struct Outcome {
    status: Status,
    claims: Option<Map<String, Value>>,
    request: Option<Request>,
    set_cookies: Vec<String>,
}

fn err(e: Error) -> JsValue {
    to_js(&e, None)
}

#[wasm_bindgen]
impl AuthGateway {
    /// Validates the configuration.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<AuthGateway, JsValue> {
        Ok(AuthGateway { inner: Rc::new(Gateway::from_options(&options).map_err(err)?) })
    }

    /// Authenticates and forwards, or answers 401 / 503 itself.
    pub fn handle(&self, request: Request, _ctx: JsValue) -> Promise {
        let gw = self.inner.clone();
        promise(async move {
            let outcome = gw.authenticate(&request).await;
            gw.respond(outcome).await.map(JsValue::from)
        })
    }

    /// The decision only: `{ status, claims, request, setCookies }`.
    pub fn authenticate(&self, request: Request) -> Promise {
        let gw = self.inner.clone();
        promise(async move { Ok(gw.authenticate(&request).await.to_js()) })
    }

    /// Refresh calls this instance has sent to the auth API (for tests and metrics).
    #[wasm_bindgen(getter, js_name = refreshCalls)]
    pub fn refresh_calls(&self) -> u32 {
        self.inner.refresh_calls.get()
    }

    /// JWKS fetches this instance has made (for tests and metrics).
    #[wasm_bindgen(getter, js_name = jwksFetches)]
    pub fn jwks_fetches(&self) -> u32 {
        self.inner.jwks_fetches.get()
    }
}

impl Gateway {
    fn from_options(value: &JsValue) -> Result<Self, Error> {
        let options = OptionReader::new(value, "AuthGateway", &GATEWAY_OPTIONS)?;
        let timeout = options.number("refreshTimeoutMs")?.map(validate_timeout_ms).transpose()?.unwrap_or(5_000);
        let endpoint = Endpoint::from_options(&options)?;
        let mut transport = endpoint.transport.clone();
        transport.timeout_ms = timeout;
        let endpoint = Endpoint { protocol: endpoint.protocol, transport: transport.clone() };
        let jwks_transport = Transport { timeout_ms: JWKS_TIMEOUT_MS, headers: Vec::new(), credentials: None, ..transport };

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
        let hmac = keys.string("hs256Secret")?.map(String::into_bytes);
        if hmac.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(Error::invalid_argument("keys.hs256Secret", "must be at least 32 bytes"));
        }
        let static_keys = match keys.get("jwks")? {
            None => Vec::new(),
            Some(v) => {
                let text = v.as_string().or_else(|| js_sys::JSON::stringify(&v).ok().and_then(|s| s.as_string())).unwrap_or_default();
                parse_jwks(text.as_bytes(), &algorithms)?
            }
        };
        let remote = keys
            .string("jwksUrl")?
            .map(|url| {
                let ok = url.starts_with("https://") || url.starts_with("http://");
                ok.then_some(RemoteJwks { url, fetched_at: f64::NEG_INFINITY, attempted_at: f64::NEG_INFINITY })
                    .ok_or_else(|| Error::invalid_argument("keys.jwksUrl", "must be an http(s) URL"))
            })
            .transpose()?;
        let asymmetric = algorithms.iter().any(|a| *a != Alg::Hs256);
        if algorithms.contains(&Alg::Hs256) && hmac.is_none() {
            return Err(Error::invalid_argument("algorithms", "HS256 needs keys.hs256Secret"));
        }
        if asymmetric && static_keys.is_empty() && remote.is_none() {
            return Err(Error::invalid_argument("algorithms", "RS256/ES256/EdDSA need keys.jwks or keys.jwksUrl"));
        }

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

        let strip = match options.get("stripHeaders")? {
            None => Vec::new(),
            Some(v) if Array::is_array(&v) => Array::from(&v)
                .iter()
                .map(|h| h.as_string().map(|s| s.to_ascii_lowercase()).ok_or_else(|| Error::invalid_argument("stripHeaders", "must be an array of header names")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Error::invalid_argument("stripHeaders", "must be an array of header names")),
        };
        let leeway_s = options.number("leewaySeconds")?.unwrap_or(30.0);
        if !(0.0..=3600.0).contains(&leeway_s) {
            return Err(Error::invalid_argument("leewaySeconds", "must be from 0 to 3600"));
        }
        let refresh_max_age_s = options.number("refreshCookieMaxAgeSeconds")?.unwrap_or(30.0 * 86_400.0);
        if !(1.0..=400.0 * 86_400.0).contains(&refresh_max_age_s) {
            return Err(Error::invalid_argument("refreshCookieMaxAgeSeconds", "must be from 1 to 34560000 (400 days)"));
        }
        let jwks_cooldown_ms = options.number("jwksCooldownSeconds")?.unwrap_or(30.0) * 1000.0;
        if !(0.0..=3_600_000.0).contains(&jwks_cooldown_ms) {
            return Err(Error::invalid_argument("jwksCooldownSeconds", "must be from 0 to 3600"));
        }
        let coordinator = options.get("coordinator")?;
        if let Some(c) = &coordinator {
            if method(c, "idFromName").is_none() || method(c, "get").is_none() {
                return Err(Error::invalid_argument("coordinator", "must be a Durable Object namespace binding"));
            }
        }
        Ok(Self {
            endpoint,
            jwks_transport,
            upstream,
            policy: Policy { algorithms, issuer: options.string("issuer")?, audience: options.string("audience")?, leeway_s },
            hmac,
            keys: RefCell::new(static_keys.clone().into()),
            static_keys,
            remote: RefCell::new(remote),
            crypto: KeyCache::default(),
            cookies,
            strip,
            refresh_max_age_s: refresh_max_age_s as u64,
            coordinator,
            shared: RefCell::new(HashMap::new()),
            refresh_timeout_ms: timeout,
            refresh_calls: Cell::new(0),
            jwks_cooldown_ms,
            jwks_fetches: Cell::new(0),
        })
    }

    async fn authenticate(&self, request: &Request) -> Outcome {
        let headers = request.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let cookie_header = header("cookie").unwrap_or_default();
        let bearer = header("authorization").and_then(|a| {
            let (scheme, token) = a.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
        });
        let token = bearer.or_else(|| read_cookie(&cookie_header, &self.cookies.access)).filter(|t| !t.is_empty());
        let refresh_cookie = read_cookie(&cookie_header, &self.cookies.refresh).filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES);

        if let Some(token) = &token {
            match self.verify(token).await {
                Ok(claims) => return self.forward(request, token, claims, Status::Authenticated, Vec::new()),
                // Only a missing or expired token is refreshed; any other failure is final.
                Err(Rejection::Expired) if refresh_cookie.is_some() => {}
                Err(_) => return Outcome::unauthenticated(true, Vec::new()),
            }
        }
        let Some(refresh_token) = refresh_cookie else {
            return Outcome::unauthenticated(token.is_some(), Vec::new());
        };
        match self.refresh_shared(&refresh_token).await {
            Ok(tokens) => {
                let Some(access) = tokens.access_token.as_ref() else {
                    return Outcome::unavailable(5);
                };
                let Ok(claims) = self.verify(access.expose()).await else {
                    // The auth server's own token does not verify: a configuration problem.
                    return Outcome::unavailable(5);
                };
                let cookies = self.session_cookies(&tokens, &refresh_token, &claims);
                self.forward(request, access.expose(), claims, Status::Refreshed, cookies)
            }
            Err(e) if e.code == ErrorCode::InvalidRefreshToken => {
                let clear = vec![clear_cookie(&self.cookies.access, &self.cookies.same_site), clear_cookie(&self.cookies.refresh, &self.cookies.same_site)];
                Outcome::unauthenticated(true, clear)
            }
            Err(e) => Outcome::unavailable(e.retry_after_ms.map_or(5, |ms| (ms / 1000.0).ceil().clamp(1.0, 3600.0) as u64)),
        }
    }

    /// Verifies an access token: header and key choice in the core, the signature here (HS256
    /// in Rust, the rest through WebCrypto), claims in the core.
    async fn verify(&self, token: &str) -> Result<Map<String, Value>, Rejection> {
        match self.verify_with(token, &self.keys(false).await).await {
            Err(Rejection::UnknownKey) => self.verify_with(token, &self.keys(true).await).await,
            other => other,
        }
    }

    async fn verify_with(&self, token: &str, keys: &[PublicKey]) -> Result<Map<String, Value>, Rejection> {
        let checked = check_header(token, &self.policy, self.hmac.is_some(), keys)?;
        let verified = match (checked.key, &self.hmac) {
            (None, Some(secret)) => checked.verify_hmac(secret)?,
            (Some(key), _) if self.crypto.verify(key, &checked.signature, checked.signing_input.as_bytes()).await => checked.signature_verified()?,
            (Some(_), _) => return Err(Rejection::Signature),
            (None, None) => return Err(Rejection::Algorithm),
        };
        verified.check(&self.policy, js_sys::Date::now())
    }

    /// The static keys plus the remote JWKS, fetched when stale (10 min) or, for an unknown
    /// kid, at most every 30 s. A fetch failure keeps the keys we had.
    async fn keys(&self, unknown_kid: bool) -> Rc<[PublicKey]> {
        let now = js_sys::Date::now();
        let due = self.remote.borrow().as_ref().and_then(|r| {
            let stale = now - r.fetched_at > JWKS_MAX_AGE_MS;
            let may_retry = now - r.attempted_at > self.jwks_cooldown_ms || r.fetched_at == f64::NEG_INFINITY && now - r.attempted_at > 1_000.0;
            ((stale || unknown_kid) && may_retry).then(|| r.url.clone())
        });
        if let Some(url) = due {
            if let Some(r) = self.remote.borrow_mut().as_mut() {
                r.attempted_at = now;
            }
            self.jwks_fetches.set(self.jwks_fetches.get() + 1);
            let fetched = self.jwks_transport.get(&url, JWKS_MAX_BYTES).await.ok().filter(|raw| raw.status == 200);
            if let Some(remote) = fetched.and_then(|raw| parse_jwks(&raw.body, &self.policy.algorithms).ok()) {
                *self.keys.borrow_mut() = self.static_keys.iter().cloned().chain(remote).collect();
                if let Some(r) = self.remote.borrow_mut().as_mut() {
                    r.fetched_at = now;
                }
            }
        }
        self.keys.borrow().clone()
    }

    /// One refresh per refresh token, however many requests carry it: through the Durable
    /// Object when configured, else through this isolate's table.
    async fn refresh_shared(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        if let Some(coordinator) = &self.coordinator {
            return self.refresh_via_coordinator(coordinator, refresh_token).await;
        }
        let now = js_sys::Date::now();
        let first = {
            let mut shared = self.shared.borrow_mut();
            shared.retain(|_, s| match s {
                Shared::InFlight(since) => now - *since < f64::from(self.refresh_timeout_ms) + 5_000.0,
                Shared::Done(at, _) => now - *at < RESULT_TTL_MS,
            });
            if shared.len() >= RESULT_CACHE_MAX {
                shared.clear();
            }
            let first = !shared.contains_key(refresh_token);
            if first {
                shared.insert(refresh_token.to_owned(), Shared::InFlight(now));
            }
            first
        };
        if first {
            let result = self.refresh_now(refresh_token).await;
            self.shared.borrow_mut().insert(refresh_token.to_owned(), Shared::Done(js_sys::Date::now(), result.clone()));
            return result;
        }
        // Another request is refreshing this token: wait for its result with our own timer.
        let deadline = now + f64::from(self.refresh_timeout_ms) + 1_000.0;
        loop {
            if let Some(Shared::Done(_, result)) = self.shared.borrow().get(refresh_token) {
                return result.clone();
            }
            if js_sys::Date::now() > deadline || !self.shared.borrow().contains_key(refresh_token) {
                return self.refresh_now(refresh_token).await;
            }
            sleep(POLL_MS).await;
        }
    }

    async fn refresh_now(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        self.refresh_calls.set(self.refresh_calls.get() + 1);
        self.endpoint.exchange(&RefreshToken::new(refresh_token)).await.map(|(tokens, _)| tokens).map_err(|e| e.error)
    }

    async fn refresh_via_coordinator(&self, namespace: &JsValue, refresh_token: &str) -> Result<TokenSet, Error> {
        let unavailable = || Error::new(ErrorCode::ServerError, "the refresh coordinator failed");
        let name = sha256_hex(refresh_token).await.ok_or_else(unavailable)?;
        let id = method(namespace, "idFromName").ok_or_else(unavailable)?.call1(namespace, &name.into()).map_err(|_| unavailable())?;
        let stub = method(namespace, "get").ok_or_else(unavailable)?.call1(namespace, &id).map_err(|_| unavailable())?;
        let body = ObjectWriter::default().string("refreshToken", refresh_token).raw("options", &self.endpoint.to_options_json()).finish();
        let init = Object::new();
        let _ = Reflect::set(&init, &"method".into(), &"POST".into());
        let _ = Reflect::set(&init, &"body".into(), &body.into());
        let fetch = method(&stub, "fetch").ok_or_else(unavailable)?;
        let pending = fetch.call2(&stub, &"https://refresh-coordinator.internal/refresh".into(), &init).map_err(|_| unavailable())?;
        let response: Response = JsFuture::from(Promise::resolve(&pending)).await.map_err(|_| unavailable())?.dyn_into().map_err(|_| unavailable())?;
        let text = JsFuture::from(response.text().map_err(|_| unavailable())?).await.map_err(|_| unavailable())?.as_string().unwrap_or_default();
        let reply = Json::parse(text.as_bytes()).ok_or_else(unavailable)?;
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
    fn session_cookies(&self, tokens: &TokenSet, old_refresh: &str, claims: &Map<String, Value>) -> Vec<String> {
        let now_s = js_sys::Date::now() / 1000.0;
        let until = |exp: Option<f64>| exp.map(|e| (e - now_s).max(0.0).floor() as u64);
        let access_max_age = until(claims.get("exp").and_then(Value::as_f64)).unwrap_or(300);
        let refresh = tokens.refresh_token.as_ref().map_or(old_refresh, |t| t.expose());
        let refresh_exp = token::decode(refresh).ok().and_then(|d| d.expires_at_ms).map(|ms| ms / 1000.0);
        let refresh_max_age = until(refresh_exp).unwrap_or(self.refresh_max_age_s);
        let access = tokens.access_token.as_ref().map_or("", |t| t.expose());
        vec![
            session_cookie(&self.cookies.access, access, &self.cookies.same_site, access_max_age),
            session_cookie(&self.cookies.refresh, refresh, &self.cookies.same_site, refresh_max_age),
        ]
    }

    /// The request to forward: a fresh Authorization, the client's identity headers and the
    /// gateway's cookies removed, the URL moved to the origin.
    fn forward(&self, request: &Request, token: &str, claims: Map<String, Value>, status: Status, set_cookies: Vec<String>) -> Outcome {
        let build = || -> Result<Request, JsValue> {
            let headers = Headers::new_with_headers(&request.headers())?;
            for name in &self.strip {
                headers.delete(name)?;
            }
            headers.set("Authorization", &format!("Bearer {token}"))?;
            match headers.get("cookie")?.and_then(|c| strip_cookies(&c, &[&self.cookies.access, &self.cookies.refresh])) {
                Some(rest) => headers.set("Cookie", &rest)?,
                None => headers.delete("Cookie")?,
            }
            // One Request, built once: redirects go back to the client, as a proxy should.
            let init = Object::new();
            Reflect::set(&init, &"method".into(), &request.method().into())?;
            Reflect::set(&init, &"headers".into(), &headers)?;
            Reflect::set(&init, &"redirect".into(), &"manual".into())?;
            if let Some(body) = request.body() {
                Reflect::set(&init, &"body".into(), &body)?;
                Reflect::set(&init, &"duplex".into(), &"half".into())?;
            }
            let url = match &self.upstream {
                Upstream::Origin(origin) => {
                    let url = web_sys::Url::new(&request.url())?;
                    format!("{origin}{}{}", url.pathname(), url.search())
                }
                Upstream::Binding(_) => request.url(),
            };
            Request::new_with_str_and_init(&url, init.unchecked_ref())
        };
        match build() {
            Ok(forwarded) => Outcome { status, claims: Some(claims), request: Some(forwarded), set_cookies },
            Err(_) => Outcome::unavailable(5),
        }
    }

    async fn respond(&self, outcome: Outcome) -> Result<Response, JsValue> {
        let response = match (&outcome.status, &outcome.request) {
            (Status::Authenticated | Status::Refreshed, Some(forwarded)) => {
                let pending = match &self.upstream {
                    Upstream::Binding(f) => Promise::resolve(&f.call1(&JsValue::UNDEFINED, forwarded)?),
                    Upstream::Origin(_) => match &self.endpoint.transport.fetch {
                        Some(f) => Promise::resolve(&f.call1(&JsValue::UNDEFINED, forwarded)?),
                        None => global_fetch(forwarded, &JsValue::UNDEFINED)?,
                    },
                };
                match JsFuture::from(pending).await {
                    // A copy, so its headers can be changed.
                    Ok(r) => Response::new_with_opt_readable_stream_and_init(r.unchecked_ref::<Response>().body().as_ref(), r.unchecked_ref())?,
                    Err(_) => error_response(502, "bad_gateway", "the origin could not be reached", &[])?,
                }
            }
            (Status::Unavailable { retry_after_s }, _) => {
                error_response(503, "temporarily_unavailable", "authentication is temporarily unavailable", &[("Retry-After", &retry_after_s.to_string())])?
            }
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

fn read_algorithms(options: &OptionReader) -> Result<Vec<Alg>, Error> {
    let bad = || Error::invalid_argument("algorithms", "must be a non-empty array of \"HS256\", \"RS256\", \"ES256\", \"EdDSA\"");
    let value = options.get("algorithms")?.ok_or_else(bad)?;
    if !Array::is_array(&value) {
        return Err(bad());
    }
    let algs: Vec<Alg> = Array::from(&value).iter().map(|a| a.as_string().and_then(|s| Alg::from_name(&s)).ok_or_else(bad)).collect::<Result<_, _>>()?;
    if algs.is_empty() { Err(bad()) } else { Ok(algs) }
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
    fn unauthenticated(token_presented: bool, set_cookies: Vec<String>) -> Self {
        Self { status: Status::Unauthenticated { token_presented }, claims: None, request: None, set_cookies }
    }

    fn unavailable(retry_after_s: u64) -> Self {
        Self { status: Status::Unavailable { retry_after_s }, claims: None, request: None, set_cookies: Vec::new() }
    }

    fn to_js(&self) -> JsValue {
        let o = Object::new();
        let status = match self.status {
            Status::Authenticated => "authenticated",
            Status::Refreshed => "refreshed",
            Status::Unauthenticated { .. } => "unauthenticated",
            Status::Unavailable { .. } => "unavailable",
        };
        let claims = self
            .claims
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok())
            .and_then(|j| js_sys::JSON::parse(&j).ok())
            .unwrap_or(JsValue::NULL);
        let cookies: Array = self.set_cookies.iter().map(|c| JsValue::from_str(c)).collect();
        for (k, v) in [
            ("status", status.into()),
            ("claims", claims),
            ("request", self.request.as_ref().map_or(JsValue::NULL, JsValue::from)),
            ("setCookies", cookies.into()),
        ] {
            let _ = Reflect::set(&o, &k.into(), &v);
        }
        o.into()
    }
}

impl From<JsError> for Error {
    fn from(e: JsError) -> Self {
        e.error
    }
}

