//! Retry-After values and HTTP dates never panic and never give a negative wait.
#![no_main]
use ida_refresh::core::http_date::{parse_http_date, parse_retry_after};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_http_date(text);
        if let Some(wait) = parse_retry_after(text, 1_700_000_000_000.0) {
            assert!(wait >= 0.0);
        }
    }
});
