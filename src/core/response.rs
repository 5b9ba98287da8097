//! Interpreting the refresh endpoint's answer. The spec's 200 schema is an empty object, so
//! real servers vary: tokens in JSON (camelCase or snake_case, maybe in a `data` envelope), or
//! an empty body with the session in cookies. Everything here is total: any input gives a
//! result or an `Error`, never a panic.

use super::error::{Error, ErrorCode};
use super::http_date::parse_retry_after;
use super::json::{parse_number, push_decimal, Json};
use super::secret::{AccessToken, RefreshToken};
use super::token::{self, Claims};

/// What the adapter read off the wire.
pub struct HttpResponse<'a> {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` header, when present and readable.
    pub retry_after: Option<&'a str>,
    /// The body, at most `MAX_BODY_BYTES` (the adapter fails earlier when it is longer).
    pub body: &'a [u8],
}

/// The outcome of a successful refresh. Every field may be absent (cookie mode).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TokenSet {
    /// The new access token.
    pub access_token: Option<AccessToken>,
    /// The new refresh token (rotation); absent when the server keeps the old one.
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires, in ms since the epoch (from `exp`, else `expires_in`).
    pub expires_at_ms: Option<f64>,
    /// When the access token was issued, from `iat` (server clock), in ms.
    pub issued_at_ms: Option<f64>,
    /// The decoded JWT payload.
    pub claims: Option<Claims>,
    /// Whether `expires_at_ms` is the token's own `exp` (server clock), not `expires_in`.
    pub expiry_from_token: bool,
    /// OAuth 2.0 `token_type`.
    pub token_type: Option<String>,
    /// OAuth 2.0 `scope` granted.
    pub scope: Option<String>,
    /// OpenID Connect `id_token`.
    pub id_token: Option<String>,
}

/// Which server dialect answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// The ida API: statuses decide, error bodies are not read.
    Ida,
    /// RFC 6749: a 4xx body's `error` decides (section 5.2).
    OAuth2,
}

/// Maps a response to tokens or an error. `now_ms` is when the response arrived: the base for
/// `expires_in` and for Retry-After dates.
pub fn interpret(response: &HttpResponse<'_>, dialect: Dialect, now_ms: f64) -> Result<TokenSet, Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return parse_tokens(response.body, now_ms);
    }
    // Both dialects: a DPoP refusal says nothing about the refresh token.
    if let Some(e) = dpop_error(response.body, status) {
        return Err(e);
    }
    if dialect == Dialect::OAuth2 && (400..500).contains(&status) && status != 429 {
        if let Some(e) = oauth2_error(response.body, status) {
            return Err(e);
        }
    }
    let (code, message) = match status {
        400 | 401 | 403 => (ErrorCode::InvalidRefreshToken, "the server rejected the refresh token"),
        429 => (ErrorCode::RateLimited, "the server is rate limiting refresh requests"),
        500..=599 => (ErrorCode::ServerError, "the auth server failed to answer the refresh request"),
        _ => (ErrorCode::UnexpectedStatus, "the auth server answered with an unexpected status"),
    };
    let retry_after_ms = match code {
        ErrorCode::RateLimited | ErrorCode::ServerError => response.retry_after.and_then(|v| parse_retry_after(v, now_ms)),
        _ => None,
    };
    Err(Error { status: Some(status), retry_after_ms, ..Error::new(code, with_status(message, status, None)) })
}

/// RFC 6749 5.2: `{"error": "invalid_grant", ...}`. Only a well-formed error code is kept; the
/// description and URI are never read (they could echo a token).
fn oauth2_error(body: &[u8], status: u16) -> Option<Error> {
    let value = Json::parse(body)?;
    let name = value.get("error")?.as_str()?;
    let well_formed = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let (code, message) = match name {
        "invalid_grant" => (ErrorCode::InvalidRefreshToken, "the authorization server rejected the refresh token"),
        "invalid_client" => (ErrorCode::InvalidClient, "the authorization server rejected the client credentials"),
        "unauthorized_client" => (ErrorCode::UnauthorizedClient, "this client may not use the refresh_token grant"),
        "invalid_scope" => (ErrorCode::InvalidScope, "the requested scope is invalid or exceeds the granted one"),
        "unsupported_grant_type" => (ErrorCode::UnsupportedGrantType, "the authorization server does not support refresh tokens"),
        "invalid_request" => (ErrorCode::InvalidRequest, "the authorization server found the refresh request malformed"),
        _ => return None,
    };
    Some(Error { status: Some(status), server_error: Some(name.to_owned()), ..Error::new(code, with_status(message, status, Some(name))) })
}

/// RFC 9449 section 5 and 8: a 400 or 401 whose `error` is `invalid_dpop_proof` or
/// `use_dpop_nonce` (the adapter retries the latter once when it came with a `DPoP-Nonce`).
fn dpop_error(body: &[u8], status: u16) -> Option<Error> {
    if !matches!(status, 400 | 401) {
        return None;
    }
    let value = Json::parse(body)?;
    let name = value.get("error")?.as_str()?;
    let message = match name {
        "invalid_dpop_proof" => "the server refused the DPoP proof",
        "use_dpop_nonce" => "the server wants a DPoP nonce",
        _ => return None,
    };
    Some(Error { status: Some(status), server_error: Some(name.to_owned()), ..Error::new(ErrorCode::DpopError, with_status(message, status, Some(name))) })
}

/// "message (HTTP 400, invalid_grant)", without core::fmt.
fn with_status(message: &str, status: u16, server_error: Option<&str>) -> String {
    let mut out = String::from(message);
    out.push_str(" (HTTP ");
    push_decimal(&mut out, i64::from(status));
    if let Some(name) = server_error {
        out.push_str(", ");
        out.push_str(name);
    }
    out.push(')');
    out
}

fn parse_tokens(body: &[u8], now_ms: f64) -> Result<TokenSet, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenSet::default());
    }
    let top = Json::parse(body).ok_or_else(|| Error::bad_response("is not valid JSON"))?;
    if !matches!(top, Json::Object(_)) {
        return Err(Error::bad_response("is not a JSON object"));
    }
    let envelope = top.get("data").filter(|d| matches!(d, Json::Object(_)));
    let field = |names: &[&'static str]| -> Option<(&'static str, &Json)> {
        [Some(&top), envelope].into_iter().flatten().find_map(|obj| names.iter().find_map(|&n| obj.get(n).filter(|v| !matches!(v, Json::Null)).map(|v| (n, v))))
    };

    let access = field(&["accessToken", "access_token", "token"]).map(non_empty_string).transpose()?;
    let refresh = field(&["refreshToken", "refresh_token"]).map(non_empty_string).transpose()?;
    let expires_in = field(&["expiresIn", "expires_in"]).map(seconds).transpose()?;

    let text = |names: &[&'static str]| field(names).map(non_empty_string).transpose().map(|s| s.map(str::to_owned));
    let token_type = text(&["token_type", "tokenType"])?;
    let scope = text(&["scope"])?;
    let id_token = text(&["id_token", "idToken"])?;

    let decoded = access.map(token::decode).transpose()?.unwrap_or_default();
    Ok(TokenSet {
        access_token: access.map(AccessToken::new),
        refresh_token: refresh.map(RefreshToken::new),
        expiry_from_token: decoded.expires_at_ms.is_some(),
        expires_at_ms: decoded.expires_at_ms.or(expires_in.map(|s| now_ms + s * 1000.0)),
        issued_at_ms: decoded.issued_at_ms,
        claims: decoded.claims,
        token_type,
        scope,
        id_token,
    })
}

fn non_empty_string<'a>((name, value): (&str, &'a Json)) -> Result<&'a str, Error> {
    match value.as_str() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(field_error(name, "is not a non-empty string")),
    }
}

fn seconds((name, value): (&str, &Json)) -> Result<f64, Error> {
    let n = match value {
        Json::Number(n) => Some(*n),
        Json::String(s) => decimal(s),
        _ => None,
    };
    n.filter(|n| n.is_finite() && *n >= 0.0).ok_or_else(|| field_error(name, "is not a number of seconds"))
}

/// A numeric string as servers write them: the JSON grammar, plus what Rust's float parser
/// (which read these before) also takes: surrounding space, a leading `+`, leading zeros,
/// `5.` and `.5`.
fn decimal(text: &str) -> Option<f64> {
    let text = text.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    let at = text.bytes().position(|b| b == b'e' || b == b'E').unwrap_or(text.len());
    let (mantissa, exponent) = (text.get(..at)?, text.get(at..)?);
    if !mantissa.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    let normal = [if int.is_empty() { "0" } else { int }, if frac.is_empty() { "" } else { "." }, frac, exponent].concat();
    parse_number(normal.as_bytes())
}

fn field_error(name: &str, problem: &str) -> Error {
    Error::bad_response(&["field ", name, " ", problem].concat())
}

#[cfg(test)]
mod tests {
    use super::super::token::tests::jwt;
    use super::*;

    const NOW: f64 = 1_700_000_000_000.0;

    fn ok(body: &str) -> TokenSet {
        interpret(&HttpResponse { status: 200, retry_after: None, body: body.as_bytes() }, Dialect::Ida, NOW).unwrap()
    }
    fn err(status: u16, retry_after: Option<&str>, body: &str) -> Error {
        interpret(&HttpResponse { status, retry_after, body: body.as_bytes() }, Dialect::Ida, NOW).unwrap_err()
    }

    #[test]
    fn camel_snake_token_and_envelope() {
        let t = ok(r#"{"accessToken":"at1","refreshToken":"rt1","expiresIn":60}"#);
        assert_eq!(t.access_token.unwrap().expose(), "at1");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt1");
        assert_eq!(t.expires_at_ms, Some(NOW + 60_000.0));
        assert_eq!(t.claims, None);

        let t = ok(r#"{"access_token":"at2","refresh_token":"rt2","expires_in":"30","token_type":"Bearer"}"#);
        assert_eq!(t.access_token.unwrap().expose(), "at2");
        assert_eq!(t.expires_at_ms, Some(NOW + 30_000.0));

        for (text, seconds) in [("30", 30.0), (" 30 ", 30.0), ("+30", 30.0), ("030", 30.0), ("30.", 30.0), (".5", 0.5), ("0", 0.0), ("1e2", 100.0), ("00", 0.0)]
        {
            let t = ok(&format!(r#"{{"expires_in":"{text}"}}"#));
            assert_eq!(t.expires_at_ms, Some(NOW + seconds * 1000.0), "{text:?}");
        }
        for text in ["", ".", "+", "-5", "0x10", "inf", "NaN", "1 2", "--1", "+-1", "5e", "e5"] {
            assert_eq!(err(200, None, &format!(r#"{{"expires_in":"{text}"}}"#)).code, ErrorCode::BadResponse, "{text:?}");
        }

        let t = ok(r#"{"token":"at3"}"#);
        assert_eq!(t.access_token.unwrap().expose(), "at3");
        assert_eq!(t.expires_at_ms, None);

        let t = ok(r#"{"success":true,"data":{"accessToken":"at4","refreshToken":"rt4","expiresIn":5}}"#);
        assert_eq!(t.access_token.unwrap().expose(), "at4");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt4");
    }

    #[test]
    fn dpop_refusals_are_dpop_errors_in_both_dialects_and_keep_the_session() {
        for dialect in [Dialect::Ida, Dialect::OAuth2] {
            for (status, name) in [(400, "invalid_dpop_proof"), (401, "use_dpop_nonce")] {
                let body = format!(r#"{{"error":"{name}","error_description":"x"}}"#);
                let e = interpret(&HttpResponse { status, retry_after: None, body: body.as_bytes() }, dialect, NOW).unwrap_err();
                assert_eq!((e.code, e.server_error.as_deref(), e.retryable()), (ErrorCode::DpopError, Some(name), false));
            }
        }
        assert_eq!(err(403, None, r#"{"error":"invalid_dpop_proof"}"#).code, ErrorCode::InvalidRefreshToken);
    }

    #[test]
    fn jwt_exp_wins_over_expires_in() {
        let at = jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"u","iat":1700000000,"exp":1700000300}"#);
        let t = ok(&format!(r#"{{"accessToken":"{at}","expiresIn":60}}"#));
        assert_eq!(t.expires_at_ms, Some(1_700_000_300_000.0));
        assert_eq!(t.issued_at_ms, Some(1_700_000_000_000.0));
        assert!(t.expiry_from_token);
        assert_eq!(Json::parse(t.claims.unwrap().json().as_bytes()).unwrap().get("sub").and_then(Json::as_str), Some("u"));
    }

    #[test]
    fn empty_bodies_and_nulls_are_success_with_nothing() {
        for body in ["", "  \n", "{}", r#"{"accessToken":null,"refreshToken":null,"expiresIn":null}"#, r#"{"data":null}"#] {
            assert_eq!(ok(body), TokenSet::default(), "{body:?}");
        }
        assert_eq!(interpret(&HttpResponse { status: 204, retry_after: None, body: b"" }, Dialect::Ida, NOW), Ok(TokenSet::default()));
    }

    #[test]
    fn bad_shapes_are_bad_response_and_never_echo_values() {
        for body in [
            "not json",
            "{",
            "[]",
            "\"at\"",
            "null",
            r#"{"accessToken":""}"#,
            r#"{"accessToken":42}"#,
            r#"{"refreshToken":{"a":1}}"#,
            r#"{"expiresIn":"soon"}"#,
            r#"{"expires_in":-5}"#,
            r#"{"data":{"accessToken":true}}"#,
            "\u{feff}{}",
        ] {
            let e = err(200, None, body);
            assert_eq!(e.code, ErrorCode::BadResponse, "{body}");
            assert_eq!(e.status, None);
            assert!(!e.retryable());
        }
        let e = err(200, None, r#"{"accessToken":"", "refreshToken":"SECRET-RT"}"#);
        assert!(!e.message.contains("SECRET"));
    }

    #[test]
    fn statuses_map_to_codes() {
        for (status, code) in [
            (400, ErrorCode::InvalidRefreshToken),
            (401, ErrorCode::InvalidRefreshToken),
            (403, ErrorCode::InvalidRefreshToken),
            (429, ErrorCode::RateLimited),
            (500, ErrorCode::ServerError),
            (503, ErrorCode::ServerError),
            (404, ErrorCode::UnexpectedStatus),
            (302, ErrorCode::UnexpectedStatus),
            (418, ErrorCode::UnexpectedStatus),
        ] {
            let e = err(status, None, "");
            assert_eq!((e.code, e.status), (code, Some(status)));
            assert_eq!(e.retryable(), matches!(code, ErrorCode::RateLimited | ErrorCode::ServerError));
        }
    }

    #[test]
    fn oauth2_fields_and_errors() {
        let t = ok(r#"{"access_token":"a","refresh_token":"r","expires_in":300,"token_type":"Bearer","scope":"openid offline_access","id_token":"i.d.t"}"#);
        assert_eq!((t.token_type.as_deref(), t.scope.as_deref(), t.id_token.as_deref()), (Some("Bearer"), Some("openid offline_access"), Some("i.d.t")));
        let oauth = |status: u16, body: &str| interpret(&HttpResponse { status, retry_after: None, body: body.as_bytes() }, Dialect::OAuth2, NOW).unwrap_err();
        for (name, code) in [
            ("invalid_grant", ErrorCode::InvalidRefreshToken),
            ("invalid_client", ErrorCode::InvalidClient),
            ("unauthorized_client", ErrorCode::UnauthorizedClient),
            ("invalid_scope", ErrorCode::InvalidScope),
            ("unsupported_grant_type", ErrorCode::UnsupportedGrantType),
            ("invalid_request", ErrorCode::InvalidRequest),
        ] {
            let e = oauth(400, &format!(r#"{{"error":"{name}","error_description":"token rt_SECRET is bad"}}"#));
            assert_eq!((e.code, e.server_error.as_deref(), e.status), (code, Some(name), Some(400)));
            assert!(!e.message.contains("SECRET"), "{}", e.message);
        }
        assert_eq!(oauth(401, r#"{"error":"invalid_client"}"#).code, ErrorCode::InvalidClient);
        // Unknown or malformed codes fall back to the status rules, and carry no serverError.
        for body in [r#"{"error":"rt_SECRET token"}"#, r#"{"error":"something_new"}"#, "not json", r#"{"error":7}"#] {
            let e = oauth(400, body);
            assert_eq!((e.code, e.server_error), (ErrorCode::InvalidRefreshToken, None), "{body}");
        }
        assert_eq!(err(400, None, r#"{"error":"invalid_client"}"#).code, ErrorCode::InvalidRefreshToken, "the ida dialect ignores bodies");
        assert_eq!(oauth(429, r#"{"error":"invalid_client"}"#).code, ErrorCode::RateLimited);
    }

    #[test]
    fn retry_after_on_429_and_503_only() {
        assert_eq!(err(429, Some("7"), "").retry_after_ms, Some(7000.0));
        assert_eq!(err(503, Some("Tue, 14 Nov 2023 22:13:30 GMT"), "").retry_after_ms, Some(10_000.0));
        assert_eq!(err(429, Some("garbage"), "").retry_after_ms, None);
        assert_eq!(err(401, Some("7"), "").retry_after_ms, None);
    }
}
