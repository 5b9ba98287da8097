//! The exported `refresh()`: one exchange of a refresh token for new tokens.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::error::JsError;
use super::fetch::{RawResponse, Transport, TRANSPORT_OPTIONS};
use super::options::OptionReader;
use crate::core::error::Error;
use crate::core::request::{ida_refresh_request, normalize_base_url, validate_refresh_token, DEFAULT_BASE_URL, MAX_BODY_BYTES};
use crate::core::response::{interpret, HttpResponse, TokenSet};
use crate::core::secret::{AccessToken, RefreshToken};
use serde_json::{Map, Value};

#[wasm_bindgen(typescript_custom_section)]
const TS_REFRESH: &str = r#"
/** Codes of a RefreshError. */
export type RefreshErrorCode =
  | "invalid_argument" | "invalid_refresh_token" | "rate_limited" | "server_error"
  | "network" | "timeout" | "bad_response" | "unexpected_status";

/** Options of refresh(). */
export interface RefreshOptions {
  /** The auth API, e.g. "https://adid.dev/api/v1" (default) or "/api/v1" in a page. */
  baseUrl?: string;
  /** Abort the request after this many milliseconds (default 10000). */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string> | Headers | [string, string][];
  /** fetch's credentials mode; "include" when the server keeps the session in cookies. */
  credentials?: "omit" | "same-origin" | "include";
  /** A fetch-compatible function (or an object with fetch(), e.g. a service binding). */
  fetch?: ((input: string, init: RequestInit) => Promise<Response>) | { fetch(input: string, init: RequestInit): Promise<Response> };
}

/** What a successful refresh returns. Every field is null when the server answered with an empty body (cookie mode). */
export interface RefreshResult {
  accessToken: string | null;
  refreshToken: string | null;
  /** Access-token expiry in ms since the epoch: the JWT's exp, else expires_in from arrival. */
  expiresAt: number | null;
  /** The access token's decoded (unverified) JWT payload; null for opaque tokens. */
  claims: Record<string, unknown> | null;
}

/** Exchanges a refresh token for new tokens: POST {baseUrl}/auth/refresh. Rejects with RefreshError. */
export function refresh(refreshToken: string, options?: RefreshOptions): Promise<RefreshResult>;
"#;

/// The options `refresh()` accepts.
pub const REFRESH_OPTIONS: [&str; 5] = ["baseUrl", TRANSPORT_OPTIONS[0], TRANSPORT_OPTIONS[1], TRANSPORT_OPTIONS[2], TRANSPORT_OPTIONS[3]];

/// Where and how to refresh: the parsed options of `refresh()`.
#[derive(Clone)]
pub struct Endpoint {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// How requests are sent.
    pub transport: Transport,
}

impl Endpoint {
    /// Reads `baseUrl` and the transport options.
    pub fn from_options(options: &OptionReader) -> Result<Self, Error> {
        let base_url = normalize_base_url(&options.string("baseUrl")?.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()))?;
        Ok(Self { base_url, transport: Transport::from_options(options)? })
    }

    /// One refresh request and the core's reading of its answer.
    pub async fn exchange(&self, token: &RefreshToken) -> Result<(TokenSet, RawResponse), JsError> {
        let request = ida_refresh_request(&self.base_url, token);
        let raw = self.transport.post_json(&request.url, &request.body, MAX_BODY_BYTES).await?;
        let response = HttpResponse { status: raw.status, retry_after: raw.retry_after.as_deref(), body: &raw.body };
        let tokens = interpret(&response, raw.received_at_ms)?;
        Ok((tokens, raw))
    }
}

/// Exchanges a refresh token for new tokens (see the TypeScript declaration above).
#[wasm_bindgen(skip_typescript)]
pub async fn refresh(refresh_token: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let token = refresh_token
        .as_string()
        .ok_or_else(|| Error::invalid_argument("refreshToken", "must be a non-empty string"))
        .and_then(|t| validate_refresh_token(&t))
        .map_err(JsError::from)?;
    let options = OptionReader::new(&options, "refresh()", &REFRESH_OPTIONS).map_err(JsError::from)?;
    let endpoint = Endpoint::from_options(&options).map_err(JsError::from)?;
    let (t, _) = endpoint.exchange(&token).await?;
    Ok(tokens_to_js(t.access_token.as_ref(), t.refresh_token.as_ref(), t.expires_at_ms, t.claims.as_ref()))
}

/// `{ accessToken, refreshToken, expiresAt, claims }` as a plain JS object: the shape of both
/// RefreshResult and Session.
pub fn tokens_to_js(
    access: Option<&AccessToken>,
    refresh: Option<&RefreshToken>,
    expires_at_ms: Option<f64>,
    claims: Option<&Map<String, Value>>,
) -> JsValue {
    let object = Object::new();
    let string = |s: Option<&str>| s.map_or(JsValue::NULL, JsValue::from_str);
    let claims = claims
        .and_then(|c| serde_json::to_string(c).ok())
        // JSON.parse keeps JS number semantics for claims beyond 2^53 (serde-wasm-bindgen errors).
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .unwrap_or(JsValue::NULL);
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
