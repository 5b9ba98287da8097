//! The core's base64 held to base64ct: unpadded base64url decoding accepts exactly what
//! base64ct's strict decoder accepts and gives the same bytes, and standard padded encoding
//! gives base64ct's text.
#![no_main]
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use ida_refresh::core::base64::{decode_url, encode_standard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert_eq!(encode_standard(data), Base64::encode_string(data));
    let encoded = Base64UrlUnpadded::encode_string(data);
    assert_eq!(decode_url(&encoded).as_deref(), Some(data));
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(decode_url(text), Base64UrlUnpadded::decode_vec(text).ok(), "{text:?}");
    }
});
