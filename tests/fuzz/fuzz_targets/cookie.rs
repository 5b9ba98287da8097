//! Cookie headers of any shape: reading and stripping never panic, and any value the gateway
//! writes reads back unchanged.
#![no_main]
use ida_refresh::core::cookie::{read_cookie, session_cookie, strip_cookies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = read_cookie(text, "__Host-ida-rt");
        let _ = strip_cookies(text, &["__Host-ida-at", "__Host-ida-rt"]);
        let written = session_cookie("__Host-ida-rt", text, "Lax", 60);
        let value = written["__Host-ida-rt=".len()..].split(';').next().unwrap_or_default();
        assert_eq!(read_cookie(&format!("__Host-ida-rt={value}"), "__Host-ida-rt").as_deref(), Some(text));
    }
});
