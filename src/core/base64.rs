//! Base64: the standard alphabet with padding (HTTP Basic) and the unpadded URL-safe one of
//! JWTs (RFC 4648 sections 4 and 5). Decoding is strict: no padding, no whitespace, and the
//! unused low bits of the last character must be zero, so one text has one meaning.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding.
pub fn encode_standard(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            out.push(if i <= chunk.len() { char::from(STANDARD[((n >> (18 - 6 * i)) & 63) as usize]) } else { '=' });
        }
    }
    out
}

/// Unpadded base64url to bytes; `None` for anything else.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        let (bytes, unused_bits) = match chunk.len() {
            4 => (3, 0),
            3 => (2, 0xff),
            2 => (1, 0xffff),
            _ => return None,
        };
        if n & unused_bits != 0 {
            return None;
        }
        out.extend_from_slice(&n.to_be_bytes()[1..1 + bytes]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_with_padding() {
        assert_eq!(encode_standard(b""), "");
        assert_eq!(encode_standard(b"a"), "YQ==");
        assert_eq!(encode_standard(b"ab"), "YWI=");
        assert_eq!(encode_standard(b"abc"), "YWJj");
        assert_eq!(encode_standard(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn url_safe_strict() {
        assert_eq!(decode_url("").as_deref(), Some(&b""[..]));
        assert_eq!(decode_url("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode_url("YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode_url("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode_url("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        for bad in ["Y", "YQ==", "YR", "YWJ", "+/8", "YW Jj", "é", "YWJjZ"] {
            assert_eq!(decode_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn agrees_with_base64ct() {
        use base64ct::{Base64UrlUnpadded, Encoding};
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = Base64UrlUnpadded::encode_string(&bytes);
            assert_eq!(decode_url(&text), Some(bytes));
        }
    }
}
