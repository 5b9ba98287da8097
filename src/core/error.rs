//! The one error type of the protocol core. Messages are plain English and never contain token
//! material: they are built only from static text, option names, numbers and HTTP statuses.

use std::fmt;

/// What went wrong, as a stable machine-readable code (the `code` of a JS `RefreshError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A bad argument or option; no request was sent.
    InvalidArgument,
    /// The server refused the refresh token (400, 401, 403): the session is over.
    InvalidRefreshToken,
    /// 429 Too Many Requests.
    RateLimited,
    /// A 5xx answer.
    ServerError,
    /// The request never got an HTTP answer (DNS, refused, reset, CORS).
    Network,
    /// No answer within the timeout.
    Timeout,
    /// A 2xx whose body is not the expected JSON, or too large.
    BadResponse,
    /// Any other HTTP status.
    UnexpectedStatus,
    /// The session storage failed, or held a value that is not a session.
    StorageError,
    /// OAuth 2.0 `invalid_client`: client authentication failed.
    InvalidClient,
    /// OAuth 2.0 `unauthorized_client`: this client may not use the refresh_token grant.
    UnauthorizedClient,
    /// OAuth 2.0 `invalid_scope`.
    InvalidScope,
    /// OAuth 2.0 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// OAuth 2.0 `invalid_request`: the server found the request malformed.
    InvalidRequest,
    /// DPoP (RFC 9449): the server refused the proof (`invalid_dpop_proof`) or kept asking for
    /// a nonce. The session is not over: the refresh token was not judged.
    DpopError,
}

impl ErrorCode {
    /// The code as JavaScript sees it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid_argument",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::BadResponse => "bad_response",
            Self::UnexpectedStatus => "unexpected_status",
            Self::StorageError => "storage_error",
            Self::InvalidClient => "invalid_client",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidRequest => "invalid_request",
            Self::DpopError => "dpop_error",
        }
    }

    /// Whether a request that failed this way may still have used up a rotating refresh token:
    /// no answer (the server may have rotated before the connection failed), or a 2xx whose
    /// body could not be read. An error status is an answer that rotated nothing.
    pub fn may_have_used_token(self) -> bool {
        matches!(self, Self::Network | Self::Timeout | Self::BadResponse | Self::StorageError)
    }

    /// Whether trying again later can succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Self::RateLimited | Self::ServerError | Self::Network | Self::Timeout)
    }
}

/// A failed refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    /// The kind of failure.
    pub code: ErrorCode,
    /// A sentence for people. Never contains a token.
    pub message: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// How long the server asked us to wait (429 / 503 Retry-After), in milliseconds.
    pub retry_after_ms: Option<f64>,
    /// The OAuth 2.0 `error` code the server sent (never its description, which could echo a
    /// token).
    pub server_error: Option<String>,
}

impl Error {
    /// An error with no HTTP status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status: None, retry_after_ms: None, server_error: None }
    }

    /// An `invalid_argument` error naming the option or argument at fault.
    pub fn invalid_argument(name: &str, problem: &str) -> Self {
        Self::new(ErrorCode::InvalidArgument, [name, ": ", problem].concat())
    }

    /// A `bad_response` error.
    pub fn bad_response(problem: &str) -> Self {
        Self::new(ErrorCode::BadResponse, ["the refresh response ", problem].concat())
    }

    /// Whether trying again later can succeed.
    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
