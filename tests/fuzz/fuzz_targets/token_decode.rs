//! Access-token decoding (JWT payloads, unverified) and stored session records never panic
//! (the JSON reader itself is held to serde_json by the `json` target); and the decoder reads
//! any payload as jwt-compact does (the gateway's library): the input is also used as the
//! payload of a JWT, and both must agree on whether its claims are usable and on `exp` / `iat`.
#![no_main]
use ida_refresh::core::{session::Session, token};
use libfuzzer_sys::fuzz_target;

fn b64(bytes: &[u8]) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::encode_string(bytes)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token::decode(text);
        let _ = Session::from_record(text);
    }
    let jwt = format!("{}.{}.c2ln", b64(br#"{"alg":"HS256"}"#), b64(data));
    let ours = token::decode(&jwt);
    let reference = jwt_compact::UntrustedToken::new(&jwt).ok().map(|t| t.deserialize_claims_unchecked::<serde_json::Map<String, serde_json::Value>>());
    // chrono (under jwt-compact) and a JS Date end at different years; far times are skipped.
    let far = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .is_some_and(|v| ["exp", "iat", "nbf"].iter().any(|k| v.get(k).and_then(serde_json::Value::as_f64).is_some_and(|t| t.abs() > 8e12)));
    if far {
        return;
    }
    match (ours, reference) {
        (Ok(d), Some(Ok(c))) => {
            let ms = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis() as f64);
            // Within a second: the two float parsers may round a 17-digit `exp` differently.
            for (a, b) in [(d.expires_at_ms, ms(c.expiration)), (d.issued_at_ms, ms(c.issued_at))] {
                assert_eq!(a.is_some(), b.is_some(), "time presence differs");
                assert!(a.zip(b).is_none_or(|(a, b)| (a - b).abs() <= 1000.0), "times differ: {a:?} {b:?}");
            }
        }
        (Err(_), Some(Err(_))) => {}
        (ours, reference) => panic!("verdicts differ: ours ok = {}, jwt-compact = {:?}", ours.is_ok(), reference.map(|r| r.is_ok())),
    }
});
