//! Building the ida refresh request. Pure data: the adapter sends it.

use super::base64::encode_standard;
use super::error::Error;
use super::json::{hex_digit, ObjectWriter};
use super::secret::RefreshToken;

/// The production ida API.
pub const DEFAULT_BASE_URL: &str = "https://adid.dev/api/v1";
/// Default request timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// Largest response body read; anything longer is cut off there and is a `bad_response`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `POST {url}`. No `Debug`: the body holds the refresh token.
pub struct RefreshRequest {
    /// Absolute (or, in a page, path-absolute) URL of the refresh endpoint.
    pub url: String,
    /// The body: exactly `{"refreshToken":"<token>"}` for ida, a form for OAuth 2.0.
    pub body: String,
    /// The body's media type.
    pub content_type: &'static str,
    /// An `Authorization` header (OAuth 2.0 client secret, HTTP Basic).
    pub authorization: Option<String>,
}

/// An OAuth 2.0 client (RFC 6749 section 6).
#[derive(Clone)]
pub struct OAuth2Client {
    /// The token endpoint.
    pub token_url: String,
    /// `client_id`.
    pub client_id: String,
    /// `scope` to request (narrower than granted, or none to keep it).
    pub scope: Option<String>,
    /// A confidential client's secret, sent with HTTP Basic (RFC 6749 2.3.1).
    pub client_secret: Option<String>,
}

/// The refresh_token grant: a form body, and HTTP Basic when there is a client secret (then
/// `client_id` travels in the header only).
pub fn oauth2_refresh_request(client: &OAuth2Client, token: &RefreshToken) -> RefreshRequest {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token.expose())];
    if client.client_secret.is_none() {
        form.push(("client_id", &client.client_id));
    }
    if let Some(scope) = &client.scope {
        form.push(("scope", scope));
    }
    // A plain loop: a map, collect and join would each be another function in the wasm.
    let mut body = String::new();
    for (k, v) in form {
        let separator = if body.is_empty() { "" } else { "&" };
        body.push_str(&[separator, k, "=", &form_encode(v)].concat());
    }
    let authorization = client.client_secret.as_ref().map(|secret| {
        let pair = [&form_encode(&client.client_id), ":", &form_encode(secret)].concat();
        ["Basic ", &encode_standard(pair.as_bytes())].concat()
    });
    RefreshRequest { url: client.token_url.clone(), body, content_type: "application/x-www-form-urlencoded", authorization }
}

/// application/x-www-form-urlencoded encoding of one value.
fn form_encode(value: &str) -> String {
    let form_safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*');
    percent_encode(value, form_safe, true)
}

/// `%XX` (uppercase hex) for every byte `keep` refuses, and `+` for a space in a form
/// (`space_as_plus`); the form encoding and the gateway's cookie values both use it.
pub fn percent_encode(value: &str, keep: impl Fn(u8) -> bool, space_as_plus: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push('%');
            out.push(hex_digit(u32::from(b) >> 4));
            out.push(hex_digit(u32::from(b)));
        }
    }
    out
}

/// Checks a base URL: `http(s)://…` or a path starting with `/` (resolved by the page). A
/// trailing slash is dropped.
pub fn normalize_base_url(base_url: &str) -> Result<String, Error> {
    let trimmed = base_url.trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let has_host = ["http://", "https://"].iter().any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
    let is_path = base_url.starts_with('/') && !base_url.starts_with("//");
    if !(has_host || is_path) || base_url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_argument("baseUrl", "must be an http(s) URL or a path starting with /"));
    }
    Ok(trimmed.to_owned())
}

/// Checks `timeoutMs`: a whole number of milliseconds from 1 to 2^31-1 (setTimeout's range).
pub fn validate_timeout_ms(value: f64) -> Result<u32, Error> {
    if value.fract() == 0.0 && (1.0..=2_147_483_647.0).contains(&value) {
        Ok(value as u32)
    } else {
        Err(Error::invalid_argument("timeoutMs", "must be a whole number of milliseconds from 1 to 2147483647"))
    }
}

/// The ida request: `POST {base}/auth/refresh` with `{"refreshToken": ...}`.
pub fn ida_refresh_request(base_url: &str, token: &RefreshToken) -> RefreshRequest {
    let body = ObjectWriter::default().string("refreshToken", token.expose()).finish();
    RefreshRequest { url: [base_url, "/auth/refresh"].concat(), body, content_type: "application/json", authorization: None }
}

/// Checks the refresh-token argument.
pub fn validate_refresh_token(token: &str) -> Result<RefreshToken, Error> {
    if token.is_empty() {
        return Err(Error::invalid_argument("refreshToken", "must be a non-empty string"));
    }
    Ok(RefreshToken::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_exact_body_and_url() {
        let base = normalize_base_url("http://localhost:8080/api/v1/").unwrap();
        let req = ida_refresh_request(&base, &RefreshToken::new("rt_\"quoted\"\\x"));
        assert_eq!(req.url, "http://localhost:8080/api/v1/auth/refresh");
        assert_eq!(req.body, r#"{"refreshToken":"rt_\"quoted\"\\x"}"#);
    }

    #[test]
    fn oauth2_form_and_basic_auth() {
        let mut client = OAuth2Client {
            token_url: "https://as.example/token".into(),
            client_id: "app 1".into(),
            scope: Some("openid offline_access".into()),
            client_secret: None,
        };
        let req = oauth2_refresh_request(&client, &RefreshToken::new("r/t+=&x"));
        assert_eq!(req.body, "grant_type=refresh_token&refresh_token=r%2Ft%2B%3D%26x&client_id=app+1&scope=openid+offline_access");
        assert_eq!((req.content_type, req.authorization.as_deref()), ("application/x-www-form-urlencoded", None));
        client.client_secret = Some("s3cr:t".into());
        client.scope = None;
        let req = oauth2_refresh_request(&client, &RefreshToken::new("rt"));
        assert_eq!(req.body, "grant_type=refresh_token&refresh_token=rt", "client_id goes in the Basic header only");
        // base64("app+1:s3cr%3At")
        assert_eq!(req.authorization.as_deref(), Some("Basic YXBwKzE6czNjciUzQXQ="));
    }

    #[test]
    fn base_urls() {
        assert_eq!(normalize_base_url(DEFAULT_BASE_URL).unwrap(), DEFAULT_BASE_URL);
        assert_eq!(normalize_base_url("/api/v1///").unwrap(), "/api/v1");
        assert_eq!(normalize_base_url("HTTPS://x.dev").unwrap(), "HTTPS://x.dev");
        for bad in ["", "ftp://x", "localhost:8080", "http://", "//evil.dev/api", "http://a b", "javascript:alert(1)"] {
            let err = normalize_base_url(bad).unwrap_err();
            assert!(err.message.starts_with("baseUrl:"), "{bad}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(validate_timeout_ms(1.0), Ok(1));
        assert_eq!(validate_timeout_ms(10_000.0), Ok(10_000));
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, 3e9] {
            assert!(validate_timeout_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_token_is_rejected() {
        assert_eq!(validate_refresh_token("").unwrap_err().code, crate::core::error::ErrorCode::InvalidArgument);
    }
}
