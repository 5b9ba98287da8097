//! DPoP (RFC 9449) rules shared by the client that makes proofs and the gateway that checks them.
//! The client builds a proof's text here (`proof_signing_input`); WebCrypto signs it and the
//! signature is appended base64url-encoded (`base64::encode_url`).

use super::base64::encode_url;
use super::error::Error;
use super::json::ObjectWriter;

/// The `htu` of a request: its URL without query and fragment, with the scheme and host in lower
/// case and a default port dropped (RFC 9449 section 4.3 compares after RFC 3986 section 6.2.2
/// and 6.2.3 normalization), and an empty path written as `/`. `None` for anything that is not
/// an absolute http(s) URL, or that has userinfo (a proof is never made for one).
pub fn htu(url: &str) -> Option<String> {
    let url = url.split(['#', '?']).next().unwrap_or_default();
    // Byte-wise look-ups, not `str` patterns or `format!`: this runs in the browser build,
    // where every pulled-in searcher and formatter counts against the size gate.
    let colon = url.bytes().position(|b| b == b':')?;
    let (scheme, rest) = (url[..colon].to_ascii_lowercase(), url[colon..].strip_prefix("://")?);
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = rest.bytes().position(|b| b == b'/').map_or((rest, "/"), |i| rest.split_at(i));
    if authority.is_empty() || authority.bytes().any(|b| b == b'@') || url.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some([scheme.as_str(), "://", authority, path].concat())
}

/// What one proof says (RFC 9449 section 4.2). The adapter supplies the random `jti` bytes, the
/// clock and, with an access token, its SHA-256 (`ath`).
pub struct ProofClaims<'a> {
    /// The request method.
    pub htm: &'a str,
    /// The request URL without query and fragment, normalized: [`htu`] here, the WHATWG URL
    /// parser in the client (the same RFC 3986 section 6.2.2 and 6.2.3 normalizations, and what
    /// the gateway's runtime hands it).
    pub htu: &'a str,
    /// Now, in ms since the epoch (`iat` is whole seconds).
    pub now_ms: f64,
    /// At least 12 random bytes (96 bits).
    pub jti: &'a [u8],
    /// SHA-256 of the access token the proof goes with.
    pub ath: Option<&'a [u8]>,
    /// The server's last `DPoP-Nonce`.
    pub nonce: Option<&'a str>,
}

/// `base64url(header).base64url(claims)` of an ES256 proof: the bytes to sign. `jwk` is the
/// RFC 7638 text of the public key (`core::jwk::public_jwk`), which carries no private member.
pub fn proof_signing_input(jwk: &str, claims: &ProofClaims<'_>) -> Result<String, Error> {
    let nonce_ok = claims.nonce.is_none_or(is_nonce);
    if !is_method(claims.htm) || claims.jti.len() < 12 || !(claims.htu.starts_with("https://") || claims.htu.starts_with("http://")) || !nonce_ok {
        return Err(Error::invalid_argument("request", "needs an HTTP method, an absolute http(s) URL and a nonce, if any, of RFC 9449's NQCHAR"));
    }
    let header = ["{\"alg\":\"ES256\",\"jwk\":", jwk, ",\"typ\":\"dpop+jwt\"}"].concat();
    let mut payload = ObjectWriter::default();
    payload.string("jti", &encode_url(claims.jti)).string("htm", claims.htm).string("htu", claims.htu).integer("iat", (claims.now_ms / 1000.0).floor());
    if let Some(ath) = claims.ath {
        payload.string("ath", &encode_url(ath));
    }
    if let Some(nonce) = claims.nonce {
        payload.string("nonce", nonce);
    }
    Ok([encode_url(header.as_bytes()).as_str(), ".", &encode_url(payload.finish().as_bytes())].concat())
}

/// An HTTP method: an RFC 9110 token.
fn is_method(method: &str) -> bool {
    !method.is_empty() && method.len() <= 32 && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A `DPoP-Nonce` value (RFC 9449 section 8.1: `1*NQCHAR`), bounded; anything else is ignored
/// when a server sends it and refused when an app passes it.
pub fn is_nonce(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.len() <= 1024 && nonce.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Whether a `token_type` is DPoP (case-insensitive, RFC 6749 section 7.1).
pub fn is_dpop_token_type(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("DPoP")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::base64::decode_url;
    use crate::core::json::Json;

    const JWK: &str = r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#;

    fn part(input: &str, i: usize) -> Json {
        Json::parse(&decode_url(input.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn proof_has_the_rfc9449_header_and_claims() {
        let htu = htu("https://AS.example/token?x=1#f").unwrap();
        let claims = ProofClaims { htm: "POST", htu: &htu, now_ms: 1_700_000_000_999.0, jti: &[7; 16], ath: Some(&[1; 32]), nonce: Some("n-1") };
        let input = proof_signing_input(JWK, &claims).unwrap();
        let header = part(&input, 0);
        assert_eq!(header.get("typ").and_then(Json::as_str), Some("dpop+jwt"));
        assert_eq!(header.get("alg").and_then(Json::as_str), Some("ES256"));
        assert_eq!(header.get("jwk").and_then(|j| j.get("x")).and_then(Json::as_str), Some("X"));
        let payload = part(&input, 1);
        assert_eq!(payload.get("htm").and_then(Json::as_str), Some("POST"));
        assert_eq!(payload.get("htu").and_then(Json::as_str), Some("https://as.example/token"));
        assert_eq!(payload.get("iat").and_then(Json::as_f64), Some(1_700_000_000.0));
        assert_eq!(payload.get("jti").and_then(Json::as_str).map(|j| decode_url(j).unwrap().len()), Some(16));
        assert_eq!(payload.get("ath").and_then(Json::as_str), Some(encode_url(&[1; 32]).as_str()));
        assert_eq!(payload.get("nonce").and_then(Json::as_str), Some("n-1"));
    }

    #[test]
    fn proof_without_token_or_nonce_leaves_them_out_and_bad_input_is_refused() {
        let mut claims = ProofClaims { htm: "GET", htu: "http://localhost:8080/api/v1/me", now_ms: 0.0, jti: &[0; 12], ath: None, nonce: None };
        let payload = part(&proof_signing_input(JWK, &claims).unwrap(), 1);
        assert!(payload.get("ath").is_none() && payload.get("nonce").is_none());
        claims.nonce = Some("bad\"nonce");
        assert!(proof_signing_input(JWK, &claims).is_err());
        claims.nonce = None;
        claims.htm = "GE T";
        assert!(proof_signing_input(JWK, &claims).is_err());
        claims.htm = "GET";
        claims.htu = "/relative";
        assert!(proof_signing_input(JWK, &claims).is_err());
        assert_eq!(htu("/relative"), None);
        claims.htu = "https://a.example/";
        claims.jti = &[0; 11];
        assert!(proof_signing_input(JWK, &claims).is_err());
    }

    #[test]
    fn rfc7638_thumbprint_encoding_of_the_example_key() {
        // RFC 7638 section 3.1: SHA-256 of the example key's canonical text, and its base64url
        // (the client hashes with WebCrypto and encodes with encode_url).
        let hash = [
            55, 54, 203, 177, 120, 124, 184, 48, 156, 119, 238, 140, 55, 5, 197, 225, 111, 251, 158, 133, 151, 21, 144, 31, 30, 76, 89, 177, 17, 130, 245, 123,
        ];
        assert_eq!(encode_url(&hash), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn nonces_and_token_types() {
        assert!(is_nonce("eyJ7S_zG.eyJH0-Z.HX4w-7v") && !is_nonce("") && !is_nonce("a b") && !is_nonce("a\\b"));
        assert!(is_dpop_token_type("dpop") && !is_dpop_token_type("Bearer"));
    }

    #[test]
    fn htu_drops_query_fragment_and_default_port_and_lowers_scheme_and_host() {
        assert_eq!(htu("https://Server.Example.com/token?x=1#f").as_deref(), Some("https://server.example.com/token"));
        assert_eq!(htu("HTTPS://a.example:443/p/Q").as_deref(), Some("https://a.example/p/Q"));
        assert_eq!(htu("http://a.example:80").as_deref(), Some("http://a.example/"));
        assert_eq!(htu("http://localhost:8080/api/v1/auth/refresh").as_deref(), Some("http://localhost:8080/api/v1/auth/refresh"));
        assert_eq!(htu("http://a.example:8443/#x").as_deref(), Some("http://a.example:8443/"));
    }

    #[test]
    fn htu_refuses_what_is_not_an_absolute_http_url() {
        for url in ["/relative", "ftp://a.example/", "https://", "https://user:pw@a.example/", "https://a.example/a b", "javascript:x"] {
            assert_eq!(htu(url), None, "{url}");
        }
    }
}
