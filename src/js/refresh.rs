//! The exported `refresh()`: one exchange of a refresh token for new tokens.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

use super::dpop::{wants_nonce, DpopSession};
use super::error::JsError;
use super::fetch::{RawResponse, Transport, TRANSPORT_OPTIONS};
use super::global::{has_global, promise};
use super::options::OptionReader;
use crate::core::error::Error;
use crate::core::request::{
    ida_refresh_request, normalize_base_url, oauth2_refresh_request, validate_refresh_token, OAuth2Client, DEFAULT_BASE_URL, MAX_BODY_BYTES,
};
use crate::core::response::{interpret, Dialect, HttpResponse, TokenSet};
use crate::core::secret::{AccessToken, RefreshToken};
use crate::core::token::Claims;

#[wasm_bindgen(typescript_custom_section)]
const TS_REFRESH: &str = r#"
/** Codes of a RefreshError. */
export type RefreshErrorCode =
  | "invalid_argument" | "invalid_refresh_token" | "rate_limited" | "server_error"
  | "network" | "timeout" | "bad_response" | "unexpected_status" | "storage_error"
  | "invalid_client" | "unauthorized_client" | "invalid_scope" | "unsupported_grant_type" | "invalid_request"
  | "dpop_error";

/** Options of refresh(). */
export interface RefreshOptions {
  /** "ida" (default): POST {baseUrl}/auth/refresh with JSON. "oauth2": the RFC 6749 refresh_token grant at tokenUrl. */
  protocol?: "ida" | "oauth2";
  /** The auth API, e.g. "https://adid.dev/api/v1" (default) or "/api/v1" in a page (ida). */
  baseUrl?: string;
  /** The token endpoint (oauth2, required). */
  tokenUrl?: string;
  /** client_id (oauth2, required). */
  clientId?: string;
  /** scope to request (oauth2). */
  scope?: string;
  /** A confidential client's secret, sent with HTTP Basic (oauth2). Refused where a browser can see it. */
  clientSecret?: string;
  /** Abort the request after this many milliseconds (default 10000). */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string> | Headers | [string, string][];
  /** fetch's credentials mode; "include" when the server keeps the session in cookies. */
  credentials?: "omit" | "same-origin" | "include";
  /** A fetch-compatible function (or an object with fetch(), e.g. a service binding). */
  fetch?: FetchFunction | { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  /** DPoP (RFC 9449): the request carries a proof by this key pair (see createDpopKeyPair). */
  dpop?: CryptoKeyPair;
  /** The server's last DPoP-Nonce, sent in the proof (with dpop). */
  dpopNonce?: string;
}

/** fetch as ida-refresh calls it: the global fetch fits, and so does any function of its shape. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** What a successful refresh returns. Every field is null when the server answered with an empty body (cookie mode). */
export interface RefreshResult {
  accessToken: string | null;
  refreshToken: string | null;
  /** Access-token expiry in ms since the epoch: the JWT's exp, else expires_in from arrival. */
  expiresAt: number | null;
  /** The access token's decoded (unverified) JWT payload; null for opaque tokens. */
  claims: Record<string, unknown> | null;
  /** oauth2, or with dpop: the token_type ("Bearer", "DPoP"; null when the server sent none). */
  tokenType?: string | null;
  /** With dpop: the last DPoP-Nonce the server sent, or null. */
  dpopNonce?: string | null;
  /** oauth2 only: scope and id_token of the response. */
  scope?: string | null;
  idToken?: string | null;
}

/** Exchanges a refresh token for new tokens: POST {baseUrl}/auth/refresh. Rejects with RefreshError. */
export function refresh(refreshToken: string, options?: RefreshOptions): Promise<RefreshResult>;
"#;

/// The endpoint options (both dialects); with TRANSPORT_OPTIONS, what `refresh()` accepts.
pub const ENDPOINT_OPTIONS: [&str; 6] = ["baseUrl", "protocol", "tokenUrl", "clientId", "scope", "clientSecret"];

/// The options `refresh()` accepts.
pub fn refresh_options() -> Vec<&'static str> {
    // Slices, not iterator chains: each chain's fold is another function in the wasm.
    [ENDPOINT_OPTIONS.as_slice(), TRANSPORT_OPTIONS.as_slice()].concat()
}

/// Which server, in which dialect.
#[derive(Clone)]
pub enum Protocol {
    /// `POST {base_url}/auth/refresh` with JSON.
    Ida {
        /// Base URL without a trailing slash.
        base_url: String,
    },
    /// RFC 6749 section 6 against a token endpoint.
    OAuth2(OAuth2Client),
}

/// Where and how to refresh: the parsed options of `refresh()`.
#[derive(Clone)]
pub struct Endpoint {
    /// The server and its dialect.
    pub protocol: Protocol,
    /// How requests are sent.
    pub transport: Transport,
}

impl Endpoint {
    /// Reads the endpoint and transport options.
    pub fn from_options(options: &OptionReader) -> Result<Self, Error> {
        let protocol = match options.one_of("protocol", &["ida", "oauth2"])?.as_deref() {
            Some("oauth2") => {
                let token_url = options.string("tokenUrl")?.ok_or_else(|| Error::invalid_argument("tokenUrl", "is required with protocol \"oauth2\""))?;
                let token_url =
                    normalize_base_url(&token_url).map_err(|_| Error::invalid_argument("tokenUrl", "must be an http(s) URL or a path starting with /"))?;
                let client_id = options
                    .string("clientId")?
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| Error::invalid_argument("clientId", "is required with protocol \"oauth2\""))?;
                let client_secret = options.string("clientSecret")?;
                if client_secret.is_some() && (has_global("document") || has_global("window")) {
                    return Err(Error::invalid_argument("clientSecret", "must not be used where a browser can see it; register a public client"));
                }
                Protocol::OAuth2(OAuth2Client { token_url, client_id, scope: options.string("scope")?, client_secret })
            }
            _ => {
                for name in &ENDPOINT_OPTIONS[2..] {
                    if options.get(name)?.is_some() {
                        return Err(Error::invalid_argument(name, "needs protocol: \"oauth2\""));
                    }
                }
                Protocol::Ida { base_url: normalize_base_url(&options.string("baseUrl")?.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()))? }
            }
        };
        Ok(Self { protocol, transport: Transport::from_options(options)? })
    }

    /// The URL refresh requests go to.
    pub fn token_url(&self) -> &str {
        match &self.protocol {
            Protocol::Ida { base_url } => base_url,
            Protocol::OAuth2(c) => &c.token_url,
        }
    }

    /// The endpoint as `refresh()` options in JSON (the gateway hands them to its Durable Object).
    #[cfg(feature = "gateway")]
    pub fn to_options_json(&self) -> String {
        let mut options = crate::core::json::ObjectWriter::default();
        match &self.protocol {
            Protocol::Ida { base_url } => {
                options.string("baseUrl", base_url);
            }
            Protocol::OAuth2(c) => {
                options.string("protocol", "oauth2").string("tokenUrl", &c.token_url).string("clientId", &c.client_id);
                for (name, value) in [("scope", &c.scope), ("clientSecret", &c.client_secret)] {
                    if let Some(value) = value {
                        options.string(name, value);
                    }
                }
            }
        }
        if !self.transport.headers.is_empty() {
            let mut headers = crate::core::json::ObjectWriter::default();
            for (name, value) in &self.transport.headers {
                headers.string(name, value);
            }
            options.raw("headers", &headers.finish());
        }
        options.integer("timeoutMs", f64::from(self.transport.timeout_ms)).finish()
    }

    /// One refresh request and the core's reading of its answer.
    pub async fn exchange(&self, token: &RefreshToken) -> Result<(TokenSet, RawResponse), JsError> {
        self.exchange_with(token, None).await
    }

    /// One refresh request, with a DPoP proof when `dpop` is given: a `use_dpop_nonce` refusal
    /// that brings a nonce is sent once more with it, in the same call.
    pub async fn exchange_with(&self, token: &RefreshToken, dpop: Option<&DpopSession>) -> Result<(TokenSet, RawResponse), JsError> {
        let (request, dialect) = match &self.protocol {
            Protocol::Ida { base_url } => (ida_refresh_request(base_url, token), Dialect::Ida),
            Protocol::OAuth2(client) => (oauth2_refresh_request(client, token), Dialect::OAuth2),
        };
        let mut nonce_retry = dpop.is_some();
        loop {
            let proof = match dpop {
                Some(d) => Some(d.proof("POST", &request.url, None).await?),
                None => None,
            };
            let raw = self.transport.post(&request, proof.as_deref(), MAX_BODY_BYTES).await?;
            let kept = dpop.and_then(|d| d.remember(&request.url, raw.dpop_nonce.as_deref()));
            let response = HttpResponse { status: raw.status, retry_after: raw.retry_after.as_deref(), body: &raw.body };
            match interpret(&response, dialect, raw.received_at_ms) {
                Ok(tokens) => return Ok((tokens, raw)),
                Err(e) if nonce_retry && wants_nonce(&e, raw.dpop_nonce.as_deref(), kept.as_deref()) => nonce_retry = false,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Exchanges a refresh token for new tokens (see the TypeScript declaration above).
#[wasm_bindgen(skip_typescript)]
pub fn refresh(refresh_token: JsValue, options: JsValue) -> Promise {
    promise(async move {
        let token = refresh_token
            .as_string()
            .ok_or_else(|| Error::invalid_argument("refreshToken", "must be a non-empty string"))
            .and_then(|t| validate_refresh_token(&t))
            .map_err(JsError::from)?;
        let mut known = refresh_options();
        known.extend_from_slice(&["dpop", "dpopNonce"]);
        let options = OptionReader::new(&options, "refresh()", &known).map_err(JsError::from)?;
        let endpoint = Endpoint::from_options(&options).map_err(JsError::from)?;
        let nonce = options.string("dpopNonce").map_err(JsError::from)?;
        let dpop = match options.get("dpop").map_err(JsError::from)? {
            Some(pair) => Some(DpopSession::fixed(pair, nonce.as_deref(), endpoint.token_url()).map_err(JsError::from)?),
            None if nonce.is_some() => return Err(Error::invalid_argument("dpopNonce", "needs dpop").into()),
            None => None,
        };
        let (t, _) = endpoint.exchange_with(&token, dpop.as_ref()).await?;
        let result = tokens_to_js(t.access_token.as_ref(), t.refresh_token.as_ref(), t.expires_at_ms, t.claims.as_ref());
        let set = |key: &str, value: Option<&str>| {
            let _ = Reflect::set(&result, &key.into(), &value.map_or(JsValue::NULL, JsValue::from_str));
        };
        // The extras appear only where they mean something: plain ida results keep four fields.
        if dpop.is_some() || matches!(endpoint.protocol, Protocol::OAuth2(_)) {
            set("tokenType", t.token_type.as_deref());
        }
        if let Protocol::OAuth2(_) = endpoint.protocol {
            set("scope", t.scope.as_deref());
            set("idToken", t.id_token.as_deref());
        }
        if let Some(d) = &dpop {
            set("dpopNonce", d.remember(endpoint.token_url(), None).as_deref());
        }
        Ok(result)
    })
}

/// `{ accessToken, refreshToken, expiresAt, claims }` as a plain JS object: the shape of both
/// RefreshResult and Session.
pub fn tokens_to_js(access: Option<&AccessToken>, refresh: Option<&RefreshToken>, expires_at_ms: Option<f64>, claims: Option<&Claims>) -> JsValue {
    let object = Object::new();
    let string = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
    // JSON.parse keeps JS number semantics for claims beyond 2^53 (serde-wasm-bindgen errors).
    let claims = claims.and_then(|c| js_sys::JSON::parse(c.json()).ok()).unwrap_or(JsValue::NULL);
    for (key, value) in [
        ("accessToken", string(access.map(AccessToken::expose))),
        ("refreshToken", string(refresh.map(RefreshToken::expose))),
        ("expiresAt", expires_at_ms.map_or(JsValue::NULL, JsValue::from)),
        ("claims", claims),
    ] {
        let _ = Reflect::set(&object, &JsValue::from_str(key), &value);
    }
    object.into()
}
