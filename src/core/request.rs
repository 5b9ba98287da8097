//! Building the ida refresh request. Pure data: the adapter sends it.

use super::error::Error;
use super::secret::RefreshToken;

/// The production ida API.
pub const DEFAULT_BASE_URL: &str = "https://adid.dev/api/v1";
/// Default request timeout.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// Largest response body read; anything longer is cut off there and is a `bad_response`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `POST {url}` with a JSON `body`. No `Debug`: the body holds the refresh token.
pub struct RefreshRequest {
    /// Absolute (or, in a page, path-absolute) URL of the refresh endpoint.
    pub url: String,
    /// Exactly `{"refreshToken":"<token>"}`.
    pub body: String,
}

/// Checks a base URL: `http(s)://…` or a path starting with `/` (resolved by the page). A
/// trailing slash is dropped.
pub fn normalize_base_url(base_url: &str) -> Result<String, Error> {
    let trimmed = base_url.trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let has_host = ["http://", "https://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len());
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
    #[derive(serde::Serialize)]
    struct Body<'a> {
        #[serde(rename = "refreshToken")]
        refresh_token: &'a str,
    }
    // Serializing a struct of one &str cannot fail; the fallback keeps this panic-free anyway.
    let body = serde_json::to_string(&Body { refresh_token: token.expose() }).unwrap_or_default();
    RefreshRequest { url: format!("{base_url}/auth/refresh"), body }
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
