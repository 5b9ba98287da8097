//! Retry-After values and HTTP dates never panic and never give a negative wait, and the core's
//! HTTP-date reader agrees with the httpdate crate's on every input (the same dates accepted,
//! the same instant read). One deliberate difference: httpdate does not look at the byte
//! between an RFC 850 date's year and its time; the core wants the space there.
#![no_main]
use ida_refresh::core::http_date::{parse_http_date, parse_retry_after};
use libfuzzer_sys::fuzz_target;

fn reference(text: &str) -> Option<f64> {
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as f64)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = parse_http_date(text);
    let theirs = reference(text);
    if ours.is_none() && theirs.is_some() {
        // Only the RFC 850 separator may differ: with a space there, both must agree.
        let trimmed = text.trim();
        let comma = trimmed.find(", ").expect("httpdate accepted a date that is not RFC 850 and we refused it");
        let at = comma + 2 + 9;
        assert_ne!(trimmed.as_bytes()[at], b' ', "httpdate accepts {text:?}, we refuse it");
        let spaced = format!("{} {}", &trimmed[..at], &trimmed[at + 1..]);
        assert_eq!(parse_http_date(&spaced), theirs, "{spaced:?}");
    } else {
        assert_eq!(ours, theirs, "{text:?}");
    }
    if let Some(wait) = parse_retry_after(text, 1_700_000_000_000.0) {
        assert!(wait >= 0.0);
    }
});
