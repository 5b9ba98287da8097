//! Base64: the standard alphabet with padding (HTTP Basic) and the unpadded URL-safe one of
//! JWTs (RFC 4648 sections 4 and 5). Decoding is strict: no padding, no whitespace, and the
//! unused low bits of the last character must be zero, so one text has one meaning.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with `=` padding.
pub fn encode_standard(bytes: &[u8]) -> String {
    encode(bytes, STANDARD, true)
}

/// Unpadded base64url (JWS, thumbprints).
pub fn encode_url(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE, false)
}

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Sextet values of the URL-safe alphabet; 0xff marks a byte outside it.
const URL_SEXTETS: [u8; 256] = {
    let mut table = [0xff; 256];
    let alphabet = URL_SAFE;
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Unpadded base64url to bytes; `None` for anything else. (The gateway decodes every token:
/// one table look-up per character, four at a time.)
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    let sextets = |chunk: &[u8]| {
        chunk.iter().try_fold(0u32, |n, &c| {
            let v = URL_SEXTETS[usize::from(c)];
            (v != 0xff).then(|| (n << 6) | u32::from(v))
        })
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    let mut chunks = bytes.chunks_exact(4);
    for chunk in &mut chunks {
        let n = sextets(chunk)?;
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let rest = chunks.remainder();
    let n = sextets(rest)?;
    // The unused low bits of the last character must be zero: one text, one meaning.
    match rest.len() {
        0 => {}
        2 if n & 0xf == 0 => out.push((n >> 4) as u8),
        3 if n & 0x3 == 0 => out.extend_from_slice(&[(n >> 10) as u8, (n >> 2) as u8]),
        _ => return None,
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
            assert_eq!(encode_url(&bytes), text);
            assert_eq!(decode_url(&text), Some(bytes));
        }
    }
}
