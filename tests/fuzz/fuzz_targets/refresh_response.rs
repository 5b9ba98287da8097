//! Refresh responses of any status and body, in both dialects, never panic.
#![no_main]
use ida_refresh::core::response::{interpret, Dialect, HttpResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else { return };
    let status = 100 + u16::from(first) * 2;
    let retry_after = std::str::from_utf8(body.get(..body.len().min(32)).unwrap_or_default()).ok();
    for dialect in [Dialect::Ida, Dialect::OAuth2] {
        let _ = interpret(&HttpResponse { status, retry_after, body }, dialect, 1_700_000_000_000.0);
        let _ = interpret(&HttpResponse { status: 200, retry_after: None, body }, dialect, 1_700_000_000_000.0);
    }
});
