//! The gateway's token checks (header, key choice, HS256, claims) never panic and never accept
//! a token the fuzzer made without the key.
#![no_main]
use ida_refresh::core::verify::{check_header, Alg, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let policy = Policy { algorithms: vec![Alg::Hs256, Alg::Rs256], issuer: None, audience: None, leeway_s: 30.0 };
        if let Ok(checked) = check_header(token, &policy, true, &[]) {
            if let Ok(verified) = checked.verify_hmac(b"fuzz-secret-that-the-fuzzer-does-not-know") {
                let _ = verified.check(&policy, 1_700_000_000_000.0);
                panic!("a token verified without the key");
            }
        }
    }
});
