//! Timing policy: refresh margin, clock skew, retry backoff with full jitter, and cooldown.

use super::error::Error;

/// `retry` options of RefreshClient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in one series, the first included.
    pub max_attempts: u32,
    /// Backoff base: attempt n waits up to `base * 2^(n-1)`.
    pub base_delay_ms: f64,
    /// Largest backoff; a Retry-After beyond it ends the series.
    pub max_delay_ms: f64,
    /// After a failed series, nothing is sent for this long (or the Retry-After, if longer).
    pub cooldown_ms: f64,
    /// The longest Retry-After honoured for the cooldown: one absurd header must not block a
    /// tab for years.
    pub max_cooldown_ms: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base_delay_ms: 200.0, max_delay_ms: 30_000.0, cooldown_ms: 30_000.0, max_cooldown_ms: 600_000.0 }
    }
}

impl RetryPolicy {
    /// Checks ranges; the error names the option.
    pub fn validate(&self) -> Result<(), Error> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=86_400_000.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid_argument(name, "must be a number of milliseconds from 0 to 86400000"))
            }
        };
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::invalid_argument("retry.maxAttempts", "must be a whole number from 1 to 100"));
        }
        ms("retry.baseDelayMs", self.base_delay_ms)?;
        ms("retry.maxDelayMs", self.max_delay_ms)?;
        ms("retry.cooldownMs", self.cooldown_ms)?;
        ms("retry.maxCooldownMs", self.max_cooldown_ms)
    }

    /// How long to wait after failed attempt number `attempt` (1-based) before the next one;
    /// `None` ends the series. `random` is uniform in [0, 1).
    pub fn delay_after(&self, attempt: u32, error: &Error, random: f64) -> Option<f64> {
        if !error.retryable() || attempt >= self.max_attempts {
            return None;
        }
        let exponent = attempt.saturating_sub(1).min(52) as i32;
        let ceiling = (self.base_delay_ms * 2f64.powi(exponent)).min(self.max_delay_ms);
        let jittered = random.clamp(0.0, 1.0) * ceiling;
        match error.retry_after_ms {
            Some(wait) if wait > self.max_delay_ms => None,
            Some(wait) => Some(jittered.max(wait)),
            None => Some(jittered),
        }
    }

    /// How long the cooldown after a failed series lasts: `cooldownMs`, or the Retry-After if
    /// longer, and never more than `maxCooldownMs` (one `Retry-After: 99999999` must not block
    /// a tab for years).
    pub fn cooldown_after(&self, error: &Error) -> f64 {
        self.cooldown_ms.max(error.retry_after_ms.unwrap_or(0.0)).min(self.max_cooldown_ms)
    }
}

/// The margin actually used: the configured one, but at most 20% of the token's lifetime, so
/// a short-lived token is not refreshed the moment it arrives.
pub fn effective_margin_ms(margin_ms: f64, lifetime_ms: Option<f64>) -> f64 {
    match lifetime_ms {
        Some(lifetime) if lifetime > 0.0 => margin_ms.min(lifetime * 0.2),
        _ => margin_ms,
    }
}

/// Server clock minus local clock, in ms. From the response's `Date` header when readable,
/// else from the token's `iat`, else 0. Both are whole seconds, so the end of that second is
/// taken: the token may look up to a second shorter-lived, never longer (the session keeps
/// short tokens from looking expired on arrival). Used only with an absolute expiry (`exp`): a
/// client clock hours off still refreshes on time.
pub fn estimate_skew_ms(date_header_ms: Option<f64>, issued_at_ms: Option<f64>, received_at_ms: f64) -> f64 {
    match date_header_ms.or(issued_at_ms) {
        Some(server_second) => server_second + 1000.0 - received_at_ms,
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::super::error::ErrorCode;
    use super::*;

    fn err(code: ErrorCode, retry_after_ms: Option<f64>) -> Error {
        Error { retry_after_ms, ..Error::new(code, "x") }
    }

    #[test]
    fn full_jitter_exponential_backoff() {
        let p = RetryPolicy::default();
        let e = err(ErrorCode::Network, None);
        assert_eq!(p.delay_after(1, &e, 0.999_999).map(f64::round), Some(200.0));
        assert_eq!(p.delay_after(2, &e, 0.5), Some(200.0));
        assert_eq!(p.delay_after(3, &e, 1.0), Some(800.0));
        assert_eq!(p.delay_after(1, &e, 0.0), Some(0.0));
        assert_eq!(p.delay_after(4, &e, 0.5), None, "maxAttempts counts the first attempt");
        let wide = RetryPolicy { max_attempts: 100, ..p };
        assert_eq!(wide.delay_after(90, &e, 1.0), Some(30_000.0), "capped at maxDelayMs");
    }

    #[test]
    fn retry_after_is_a_floor_and_too_long_ends_the_series() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_after(1, &err(ErrorCode::RateLimited, Some(5_000.0)), 0.1), Some(5_000.0));
        assert_eq!(p.delay_after(1, &err(ErrorCode::RateLimited, Some(30_001.0)), 0.1), None);
        assert_eq!(p.cooldown_after(&err(ErrorCode::RateLimited, Some(60_000.0))), 60_000.0);
        assert_eq!(p.cooldown_after(&err(ErrorCode::ServerError, None)), 30_000.0);
    }

    #[test]
    fn retry_after_is_capped_for_the_cooldown() {
        let p = RetryPolicy::default();
        assert_eq!(p.cooldown_after(&err(ErrorCode::RateLimited, Some(99_999_999_000.0))), 600_000.0);
        assert_eq!(p.cooldown_after(&err(ErrorCode::RateLimited, Some(f64::INFINITY))), 600_000.0);
        assert_eq!(p.cooldown_after(&err(ErrorCode::RateLimited, Some(600_001.0))), 600_000.0);
        assert_eq!(p.cooldown_after(&err(ErrorCode::RateLimited, Some(599_999.0))), 599_999.0);
        let short = RetryPolicy { max_cooldown_ms: 10_000.0, ..p };
        assert_eq!(short.cooldown_after(&err(ErrorCode::RateLimited, Some(60_000.0))), 10_000.0, "the cooldown is at most maxCooldownMs");
        assert_eq!(short.cooldown_after(&err(ErrorCode::ServerError, None)), 10_000.0, "cooldownMs above the cap is cut to it");
        let none = RetryPolicy { cooldown_ms: 0.0, max_cooldown_ms: 0.0, ..p };
        assert_eq!(none.cooldown_after(&err(ErrorCode::RateLimited, Some(60_000.0))), 0.0);
    }

    #[test]
    fn only_transient_errors_are_retried() {
        let p = RetryPolicy::default();
        for code in [ErrorCode::InvalidRefreshToken, ErrorCode::BadResponse, ErrorCode::UnexpectedStatus, ErrorCode::InvalidArgument] {
            assert_eq!(p.delay_after(1, &err(code, None), 0.5), None, "{code:?}");
        }
        for code in [ErrorCode::Network, ErrorCode::Timeout, ErrorCode::ServerError, ErrorCode::RateLimited] {
            assert!(p.delay_after(1, &err(code, None), 0.5).is_some(), "{code:?}");
        }
    }

    #[test]
    fn validation_names_the_option() {
        let bad = RetryPolicy { max_attempts: 0, ..RetryPolicy::default() };
        assert!(bad.validate().unwrap_err().message.starts_with("retry.maxAttempts"));
        let bad = RetryPolicy { cooldown_ms: f64::NAN, ..RetryPolicy::default() };
        assert!(bad.validate().unwrap_err().message.starts_with("retry.cooldownMs"));
        for v in [f64::NAN, -1.0, 86_400_001.0, f64::INFINITY] {
            let bad = RetryPolicy { max_cooldown_ms: v, ..RetryPolicy::default() };
            assert!(bad.validate().unwrap_err().message.starts_with("retry.maxCooldownMs"), "{v}");
        }
        assert!(RetryPolicy::default().validate().is_ok());
    }

    #[test]
    fn margin_is_at_most_a_fifth_of_the_lifetime() {
        assert_eq!(effective_margin_ms(60_000.0, Some(3_600_000.0)), 60_000.0);
        assert_eq!(effective_margin_ms(60_000.0, Some(10_000.0)), 2_000.0);
        assert_eq!(effective_margin_ms(60_000.0, None), 60_000.0);
    }

    #[test]
    fn skew_from_date_then_iat() {
        // Client clock 3 hours behind the server.
        let received = 1_000_000.0;
        let server_now = received + 3.0 * 3_600_000.0;
        assert_eq!(estimate_skew_ms(Some(server_now), Some(0.0), received), 3.0 * 3_600_000.0 + 1000.0);
        assert_eq!(estimate_skew_ms(None, Some(server_now), received), 3.0 * 3_600_000.0 + 1000.0);
        assert_eq!(estimate_skew_ms(None, None, received), 0.0);
    }
}
