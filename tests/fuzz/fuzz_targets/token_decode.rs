//! Access-token decoding (JWT payloads, unverified) and stored session records never panic.
#![no_main]
use ida_refresh::core::{session::Session, token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::decode(text);
        let _ = Session::from_record(text);
    }
});
