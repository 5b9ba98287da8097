//! Public JSON Web Keys in their RFC 7638 form: the required public members only, in
//! lexicographic order, without whitespace. That one text is what WebCrypto imports, what a key
//! cache is keyed by, and the input of the key's thumbprint (base64url SHA-256 of it), so a
//! verifier and a DPoP client can never disagree about which key they mean.

use super::json::{Json, ObjectWriter};

/// The key types the library verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `kty` RSA (RS256).
    Rsa,
    /// `kty` EC, `crv` P-256 (ES256).
    P256,
    /// `kty` OKP, `crv` Ed25519 (EdDSA).
    Ed25519,
}

/// The members a key type requires (RFC 7638 section 3.2), already in lexicographic order.
fn required_members(kty: &str, crv: Option<&str>) -> Option<(KeyType, &'static [&'static str])> {
    Some(match (kty, crv) {
        ("RSA", _) => (KeyType::Rsa, &["e", "kty", "n"]),
        ("EC", Some("P-256")) => (KeyType::P256, &["crv", "kty", "x", "y"]),
        ("OKP", Some("Ed25519")) => (KeyType::Ed25519, &["crv", "kty", "x"]),
        _ => return None,
    })
}

/// The RFC 7638 text of a JWK's public part, or `None` when its type is not one we verify with
/// or a required member is missing or not a string. Private members are dropped, never copied.
pub fn public_jwk(jwk: &Json) -> Option<(KeyType, String)> {
    let s = |name: &str| jwk.get(name).and_then(Json::as_str);
    let (key_type, members) = required_members(s("kty")?, s("crv"))?;
    let mut public = ObjectWriter::default();
    for m in members {
        public.string(m, s(m)?);
    }
    Some((key_type, public.finish()))
}

/// Whether a JWK carries any private key member (RFC 7518 section 6: `d` for EC and OKP,
/// `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth` for RSA; `k` is a symmetric secret).
pub fn has_private_member(jwk: &Json) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|m| jwk.get(m).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> Option<(KeyType, String)> {
        public_jwk(&Json::parse(text.as_bytes())?)
    }

    #[test]
    fn rfc7638_example_key_gives_the_canonical_text() {
        // RFC 7638 section 3.1: the example RSA key, its members reordered and `alg`/`kid` dropped.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB","alg":"RS256","kid":"2011-04-29"}}"#);
        let (kind, text) = public(&jwk).unwrap();
        assert_eq!(kind, KeyType::Rsa);
        assert_eq!(text, format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#));
    }

    #[test]
    fn ec_and_okp_keep_only_their_public_members_in_order() {
        let ec = r#"{"y":"Y","x":"X","kty":"EC","crv":"P-256","d":"PRIVATE","use":"sig"}"#;
        assert_eq!(public(ec).unwrap(), (KeyType::P256, r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#.into()));
        let okp = r#"{"x":"X","kty":"OKP","crv":"Ed25519","d":"PRIVATE"}"#;
        assert_eq!(public(okp).unwrap(), (KeyType::Ed25519, r#"{"crv":"Ed25519","kty":"OKP","x":"X"}"#.into()));
    }

    #[test]
    fn unusable_keys_are_refused() {
        for jwk in [
            r#"{"kty":"EC","crv":"P-384","x":"X","y":"Y"}"#,
            r#"{"kty":"OKP","crv":"X25519","x":"X"}"#,
            r#"{"kty":"oct","k":"c2VjcmV0"}"#,
            r#"{"kty":"EC","crv":"P-256","x":"X"}"#,
            r#"{"kty":"RSA","n":7,"e":"AQAB"}"#,
            r#"{"crv":"P-256","x":"X","y":"Y"}"#,
        ] {
            assert_eq!(public(jwk), None, "{jwk}");
        }
    }

    #[test]
    fn private_members_are_seen() {
        let has = |t: &str| has_private_member(&Json::parse(t.as_bytes()).unwrap());
        assert!(has(r#"{"kty":"EC","d":"x"}"#));
        assert!(has(r#"{"kty":"RSA","qi":"x"}"#));
        assert!(has(r#"{"kty":"oct","k":"x"}"#));
        assert!(!has(r#"{"kty":"EC","crv":"P-256","x":"X","y":"Y"}"#));
    }
}
