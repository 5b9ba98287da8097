//! The gateway's DPoP proof checks (size, structure, header, jwk, claims, binding, replay
//! window) never panic, and never accept a proof for a key they were not given.
#![no_main]
use ida_refresh::core::dpop_check::{read_proof, Expected, ProofTiming, ReplayWindow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let timing = ProofTiming { max_age_ms: 60_000.0, leeway_ms: 30_000.0 };
        // The thumbprint of a key the fuzzer does not have (any SHA-256 it cannot invert).
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let now = 1_700_000_000_000.0;
        if let Ok(proof) = read_proof(Some(text)) {
            let expected = Expected { method: "GET", htu: "https://api.example/x", token: "a.b.c", jkt };
            if proof.check(&expected, timing, now).is_ok() {
                panic!("a proof was bound to a key it does not carry");
            }
            let mut window = ReplayWindow::new(timing, 2);
            let _ = window.remember(proof.replay_key(), now);
            assert!(window.refuses(proof.replay_key()));
        }
    }
});
