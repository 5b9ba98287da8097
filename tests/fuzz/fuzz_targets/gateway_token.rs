//! The gateway's token checks (header, key choice, HS256, claims) never panic and never accept
//! a token the fuzzer made without the key.
#![no_main]
use ida_refresh::core::verify::{read_token, Alg, HmacKey, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let policy = Policy { algorithms: vec![Alg::Hs256, Alg::Rs256], issuer: None, audience: None, leeway_s: 30.0 };
        let Some(key) = HmacKey::new(b"fuzz-secret-that-the-fuzzer-does-not-know") else { return };
        if let Ok(parsed) = read_token(token, &policy, true) {
            if parsed.verify_hmac(&key).is_ok() {
                let _ = parsed.claims(&policy, 1_700_000_000_000.0);
                panic!("a token verified without the key");
            }
        }
    }
});
