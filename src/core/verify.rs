//! Access-token verification policy for the gateway. The algorithm comes from the allowlist and
//! the key's type, never from the token header (the header must merely agree); the key is chosen
//! by `kid`; HS256 is never accepted for a JWKS key. HS256 signatures are checked here (HMAC
//! key state computed once per key); RSA/ECDSA/EdDSA signatures are checked by the adapter
//! through WebCrypto, with the key and bytes this module hands it. Claims: `exp` required;
//! `nbf`, `iat`, `iss`, `aud` checked with leeway. Header, payload and JWKS are read by the
//! core's JSON reader, the one the client uses: one reading of a token everywhere.

use std::rc::Rc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::base64::decode_url;
use super::error::Error;
use super::json::Json;
use super::jwk::{public_jwk, KeyType};
use super::token::time_claim_ms;

/// Tokens longer than this are rejected before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Signature algorithms the gateway can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// HMAC SHA-256, in Rust.
    Hs256,
    /// RSASSA-PKCS1-v1_5 SHA-256, through WebCrypto.
    Rs256,
    /// ECDSA P-256 SHA-256, through WebCrypto.
    Es256,
    /// Ed25519, through WebCrypto where the runtime has it.
    EdDsa,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name, exactly (no case folding: `none`/`None`/`NONE` are all unknown).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Hs256, Self::Rs256, Self::Es256, Self::EdDsa].into_iter().find(|a| a.name() == name)
    }
}

/// Why a token was refused. For logs and tests only: clients are never told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Over `MAX_TOKEN_BYTES`.
    TooLarge,
    /// Not three base64url parts with a JSON object header.
    Malformed,
    /// `alg` not allowed, `none`, or not the key's algorithm.
    Algorithm,
    /// A header member the gateway refuses (`crit`, `jku`, `x5u`, `jwk`, `x5c`, odd `typ`,
    /// a member given twice).
    Header,
    /// No key with that `kid` (or a `kid` was needed).
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// Claims are not a JSON object or have wrongly typed times.
    Claims,
    /// `exp` missing.
    NoExpiry,
    /// Expired beyond the leeway.
    Expired,
    /// `nbf` or `iat` in the future beyond the leeway.
    NotYetValid,
    /// `iss` differs.
    Issuer,
    /// `aud` does not contain the audience.
    Audience,
}

/// A public key from a JWKS.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicKey {
    /// Its `kid`.
    pub kid: Option<String>,
    /// The algorithm its type implies.
    pub alg: Alg,
    /// The public JWK members only, in RFC 7638 form (`jwk::public_jwk`): what WebCrypto
    /// imports, the key's identity for caching its imported form, and its thumbprint input.
    pub jwk: String,
}

/// Verification settings.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The allowlist.
    pub algorithms: Vec<Alg>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Clock leeway for `exp`, `nbf`, `iat`.
    pub leeway_s: f64,
}

/// Parses a JWKS (`{"keys": [...]}`), keeping usable signature keys of allowed algorithms.
/// Symmetric (`oct`) keys are never taken from a JWKS.
pub fn parse_jwks(json: &[u8], allowed: &[Alg]) -> Result<Vec<Rc<PublicKey>>, Error> {
    let bad = || Error::invalid_argument("keys.jwks", "must be a JSON Web Key Set ({\"keys\": [...]})");
    let Some(Json::Array(keys)) = Json::parse(json).as_ref().and_then(|v| v.get("keys")).cloned() else {
        return Err(bad());
    };
    Ok(keys.iter().filter_map(public_key).filter(|k| allowed.contains(&k.alg)).map(Rc::new).collect())
}

fn public_key(jwk: &Json) -> Option<PublicKey> {
    let s = |name: &str| jwk.get(name).and_then(Json::as_str);
    let (key_type, public) = public_jwk(jwk)?;
    let alg = match key_type {
        KeyType::Rsa => Alg::Rs256,
        KeyType::P256 => Alg::Es256,
        KeyType::Ed25519 => Alg::EdDsa,
    };
    if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != alg.name()) {
        return None;
    }
    let kid = match jwk.get("kid") {
        None | Some(Json::Null) => None,
        Some(k) => Some(k.as_str()?.to_owned()),
    };
    Some(PublicKey { kid, alg, jwk: public })
}

/// An HS256 key with its HMAC state (the padded key blocks) computed once.
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha256>);

impl HmacKey {
    /// Prepares a secret.
    pub fn new(secret: &[u8]) -> Option<Self> {
        Hmac::new_from_slice(secret).ok().map(Self)
    }

    fn verifies(&self, data: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.verify_slice(signature).is_ok()
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey([redacted])")
    }
}

/// A token whose structure and header passed: what the key lookup and the signature check need.
pub struct Token<'t> {
    /// The algorithm the header names (allowed by the policy).
    pub alg: Alg,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    /// Decoded only once the signature holds.
    payload: &'t str,
}

impl std::fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing input and the signature are the token: never printed.
        f.debug_struct("Token").field("alg", &self.alg).field("kid", &self.kid).finish_non_exhaustive()
    }
}

/// The first step: size, structure, header rules and the allowlist. HS256 needs a secret.
pub fn read_token<'t>(token: &'t str, policy: &Policy, has_hmac: bool) -> Result<Token<'t>, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(Rejection::Malformed)?;
    let header = decode_url(header).and_then(|h| Json::parse(&h)).ok_or(Rejection::Malformed)?;
    let (Json::Object(members), Some(signature)) = (&header, decode_url(signature)) else {
        return Err(Rejection::Malformed);
    };
    // A member given twice is read differently by different libraries: refuse the ambiguity
    // (sorted, so a header of thousands of members costs n log n, not n squared).
    let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(Rejection::Header);
    }
    if ["crit", "jku", "x5u", "jwk", "x5c"].iter().any(|m| header.get(m).is_some()) {
        return Err(Rejection::Header);
    }
    let text = |name: &str| match header.get(name) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(Rejection::Malformed),
    };
    if text("typ")?.is_some_and(|t| !t.eq_ignore_ascii_case("JWT") && !t.eq_ignore_ascii_case("at+jwt")) {
        return Err(Rejection::Header);
    }
    let alg = text("alg")?.and_then(Alg::from_name).ok_or(Rejection::Algorithm)?;
    if !policy.algorithms.contains(&alg) || (alg == Alg::Hs256 && !has_hmac) {
        return Err(Rejection::Algorithm);
    }
    let kid = text("kid")?.map(str::to_owned);
    Ok(Token { alg, kid, signing_input, signature, payload })
}

/// The key a token names among `keys`: by `kid`, or the only key when it names none.
pub fn find_key<'k>(kid: Option<&str>, keys: &'k [Rc<PublicKey>]) -> Option<&'k Rc<PublicKey>> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

/// Verified claims: the payload exactly as the token carries it.
#[derive(Debug, PartialEq)]
pub struct VerifiedClaims {
    /// The payload's JSON text (handed to `JSON.parse` once, in JS).
    pub json: String,
    /// `exp` in milliseconds.
    pub expires_at_ms: f64,
    /// `cnf.jkt`: the thumbprint of the key the token is bound to (DPoP, RFC 9449 section 6).
    pub jkt: Option<String>,
}

impl Token<'_> {
    /// Whether `key` may verify this token: the header's algorithm must be the key's.
    pub fn agrees_with(&self, key: &PublicKey) -> Result<(), Rejection> {
        if key.alg == self.alg {
            Ok(())
        } else {
            Err(Rejection::Algorithm)
        }
    }

    /// Checks an HS256 signature (constant time).
    pub fn verify_hmac(&self, key: &HmacKey) -> Result<(), Rejection> {
        if self.alg != Alg::Hs256 {
            return Err(Rejection::Algorithm);
        }
        if key.verifies(self.signing_input.as_bytes(), &self.signature) {
            Ok(())
        } else {
            Err(Rejection::Signature)
        }
    }

    /// Applies the claim rules to a token whose signature has been verified: `exp` required;
    /// `nbf`, `iat`, `iss`, `aud` with leeway.
    pub fn claims(self, policy: &Policy, now_ms: f64) -> Result<VerifiedClaims, Rejection> {
        let json = decode_url(self.payload).and_then(|p| String::from_utf8(p).ok()).ok_or(Rejection::Claims)?;
        let parsed = Json::parse(json.as_bytes());
        let Some(Json::Object(members)) = &parsed else {
            return Err(Rejection::Claims);
        };
        let time = |name: &str| time_claim_ms(members, name).ok_or(Rejection::Claims);
        let (exp, nbf, iat) = (time("exp")?, time("nbf")?, time("iat")?);
        let leeway_ms = policy.leeway_s * 1000.0;
        let expires_at_ms = exp.ok_or(Rejection::NoExpiry)?;
        if expires_at_ms + leeway_ms <= now_ms {
            return Err(Rejection::Expired);
        }
        if [nbf, iat].into_iter().flatten().any(|t| t - leeway_ms > now_ms) {
            return Err(Rejection::NotYetValid);
        }
        let claim = |name: &str| parsed.as_ref().and_then(|p| p.get(name));
        if let Some(issuer) = &policy.issuer {
            if claim("iss").and_then(Json::as_str) != Some(issuer) {
                return Err(Rejection::Issuer);
            }
        }
        if let Some(audience) = &policy.audience {
            let ok = match claim("aud") {
                Some(Json::String(a)) => a == audience,
                Some(Json::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(Rejection::Audience);
            }
        }
        // A `jkt` that is not a string still binds the token: to no key a proof can match.
        let jkt = claim("cnf").and_then(|c| c.get("jkt")).map(|j| j.as_str().unwrap_or_default().to_owned());
        Ok(VerifiedClaims { json, expires_at_ms, jkt })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const NOW: f64 = 1_700_000_000_000.0;
    const SECRET: &[u8] = b"gateway-test-secret";

    fn policy() -> Policy {
        Policy { algorithms: vec![Alg::Hs256, Alg::Rs256], issuer: Some("ida".into()), audience: Some("api".into()), leeway_s: 30.0 }
    }

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn sign(header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", Base64UrlUnpadded::encode_string(&mac.finalize().into_bytes()))
    }

    fn hs256(claims: serde_json::Value) -> String {
        sign(r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string())
    }

    fn verify(token: &str) -> Result<VerifiedClaims, Rejection> {
        let p = policy();
        let t = read_token(token, &p, true)?;
        t.verify_hmac(&HmacKey::new(SECRET).unwrap())?;
        t.claims(&p, NOW)
    }

    fn good_claims() -> serde_json::Value {
        serde_json::json!({"sub": "u", "iss": "ida", "aud": ["x", "api"], "exp": NOW / 1000.0 + 60.0, "iat": NOW / 1000.0})
    }

    #[test]
    fn accepts_a_good_hs256_token_and_keeps_the_payload_text() {
        let token = hs256(good_claims());
        let claims = verify(&token).unwrap();
        assert_eq!(claims.json, good_claims().to_string());
        assert_eq!(claims.expires_at_ms, NOW + 60_000.0);
    }

    #[test]
    fn at_jwt_typ_is_accepted_and_odd_typ_refused() {
        let claims = good_claims().to_string();
        assert!(verify(&sign(r#"{"alg":"HS256","typ":"at+jwt"}"#, &claims)).is_ok());
        assert!(verify(&sign(r#"{"alg":"HS256","typ":"AT+JWT"}"#, &claims)).is_ok());
        assert!(verify(&sign(r#"{"alg":"HS256","typ":"JWT"}"#, &claims)).is_ok());
        assert!(verify(&sign(r#"{"alg":"HS256","typ":"jwt"}"#, &claims)).is_ok());
        assert!(verify(&sign(r#"{"alg":"HS256"}"#, &claims)).is_ok(), "typ is optional");
        assert_eq!(verify(&sign(r#"{"alg":"HS256","typ":"dpop+jwt"}"#, &claims)).err(), Some(Rejection::Header));
        assert_eq!(verify(&sign(r#"{"alg":"HS256","typ":1}"#, &claims)).err(), Some(Rejection::Malformed));
    }

    #[test]
    fn claim_rules() {
        let with = |patch: serde_json::Value| {
            let mut c = good_claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            verify(&hs256(c))
        };
        let s = NOW / 1000.0;
        assert_eq!(with(serde_json::json!({"exp": null})).err(), Some(Rejection::NoExpiry));
        assert_eq!(with(serde_json::json!({"exp": s - 31.0})).err(), Some(Rejection::Expired));
        assert!(with(serde_json::json!({"exp": s - 29.0})).is_ok(), "within leeway");
        assert_eq!(with(serde_json::json!({"nbf": s + 31.0})).err(), Some(Rejection::NotYetValid));
        assert!(with(serde_json::json!({"nbf": s + 29.0})).is_ok());
        assert_eq!(with(serde_json::json!({"iat": s + 3600.0})).err(), Some(Rejection::NotYetValid));
        assert_eq!(with(serde_json::json!({"iss": "evil"})).err(), Some(Rejection::Issuer));
        assert_eq!(with(serde_json::json!({"iss": null})).err(), Some(Rejection::Issuer));
        assert_eq!(with(serde_json::json!({"aud": "other"})).err(), Some(Rejection::Audience));
        assert!(with(serde_json::json!({"aud": "api"})).is_ok());
        assert_eq!(with(serde_json::json!({"exp": "soon"})).err(), Some(Rejection::Claims));
        assert_eq!(with(serde_json::json!({"exp": -1e300})).err(), Some(Rejection::Claims));
        assert_eq!(with(serde_json::json!({"nbf": "now"})).err(), Some(Rejection::Claims));
        let twice = format!(r#"{{"iss":"ida","aud":"api","exp":{},"exp":{}}}"#, s + 60.0, s - 600.0);
        assert_eq!(verify(&sign(r#"{"alg":"HS256"}"#, &twice)).err(), Some(Rejection::Claims), "duplicate exp");
        for payload in ["[1]", "\"x\"", "{", &format!("{}{}", "[".repeat(5000), "]".repeat(5000))] {
            assert_eq!(verify(&sign(r#"{"alg":"HS256"}"#, payload)).err(), Some(Rejection::Claims), "{payload:.20}");
        }
    }

    #[test]
    fn header_and_signature_tricks() {
        let good = hs256(good_claims());
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let with_header = |h: &str| format!("{}.{payload}.{sig}", b64(h));
        for alg in ["none", "None", "NONE", "nOnE", "hs256", "HS384", "RS256", ""] {
            assert!(verify(&with_header(&format!(r#"{{"alg":"{alg}"}}"#))).is_err(), "{alg}");
        }
        for h in [
            r#"{"alg":"HS256","crit":["b64"]}"#,
            r#"{"alg":"HS256","jku":"https://evil/jwks"}"#,
            r#"{"alg":"HS256","x5u":"https://evil"}"#,
            r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
            r#"{"alg":"HS256","x5c":[]}"#,
            r#"{"alg":"HS256","typ":"JOSE+evil"}"#,
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"none","alg":"HS256"}"#,
        ] {
            assert_eq!(verify(&with_header(h)).err(), Some(Rejection::Header), "{h}");
        }
        assert_eq!(verify(&with_header(r#"{"alg":"HS256","typ":"at+jwt"}"#)).err(), Some(Rejection::Signature), "the signature covers the header");
        let tampered_payload = format!("{head}.{}.{sig}", b64(r#"{"sub":"admin","exp":9999999999,"iss":"ida","aud":"api"}"#));
        assert_eq!(verify(&tampered_payload).err(), Some(Rejection::Signature));
        for s in ["", "AAAA", &sig[..sig.len() - 2], &"A".repeat(43), &"A".repeat(64)] {
            assert!(verify(&format!("{head}.{payload}.{s}")).is_err(), "signature {s:?}");
        }
        assert_eq!(verify(&"a".repeat(MAX_TOKEN_BYTES + 1)).err(), Some(Rejection::TooLarge));
        for junk in ["", "x", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.e30", "W10.e30.", &format!("{}.e30.", b64("{alg:HS256}"))] {
            assert!(verify(junk).is_err(), "{junk}");
        }
        let no_secret = read_token(&good, &policy(), false);
        assert_eq!(no_secret.err(), Some(Rejection::Algorithm), "no HS256 without a secret");
    }

    #[test]
    fn keys_by_kid_and_type_never_hmac_from_jwks() {
        let jwks = br#"{"keys":[
            {"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB","d":"PRIVATE"},
            {"kty":"EC","crv":"P-256","kid":"e1","x":"AA","y":"AA"},
            {"kty":"oct","kid":"h1","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"lying","alg":"HS256","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":7,"n":"AQAB","e":"AQAB"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"AA"}]}"#;
        let keys = parse_jwks(jwks, &[Alg::Rs256, Alg::Es256]).unwrap();
        assert_eq!(keys.iter().map(|k| k.kid.as_deref().unwrap()).collect::<Vec<_>>(), ["r1", "e1"]);
        assert_eq!(keys[0].jwk, r#"{"e":"AQAB","kty":"RSA","n":"AQAB"}"#, "private members dropped");
        let p = Policy { algorithms: vec![Alg::Rs256, Alg::Es256, Alg::Hs256], ..policy() };
        let token = |h: &str| format!("{}.{}.AAAA", b64(h), b64("{}"));
        let pick = |h: &str| {
            let t = read_token(h, &p, false)?;
            let key = find_key(t.kid.as_deref(), &keys).ok_or(Rejection::UnknownKey)?;
            t.agrees_with(key).map(|()| key.alg)
        };
        assert_eq!(pick(&token(r#"{"alg":"RS256","kid":"r1"}"#)), Ok(Alg::Rs256));
        assert_eq!(pick(&token(r#"{"alg":"ES256","kid":"r1"}"#)), Err(Rejection::Algorithm), "header disagrees with the key");
        assert_eq!(pick(&token(r#"{"alg":"HS256","kid":"r1"}"#)), Err(Rejection::Algorithm), "no HS256 without a secret");
        assert_eq!(pick(&token(r#"{"alg":"RS256","kid":"h1"}"#)), Err(Rejection::UnknownKey));
        assert_eq!(pick(&token(r#"{"alg":"RS256","kid":"../../etc/passwd"}"#)), Err(Rejection::UnknownKey));
        assert_eq!(pick(&token(r#"{"alg":"RS256"}"#)), Err(Rejection::UnknownKey), "kid needed with several keys");
        assert!(parse_jwks(b"[]", &[Alg::Rs256]).is_err());
        assert!(parse_jwks(br#"{"keys":{}}"#, &[Alg::Rs256]).is_err());
        assert!(Alg::from_name("none").is_none());
        assert_eq!(format!("{:?}", HmacKey::new(SECRET).unwrap()), "HmacKey([redacted])");
        let token = sign(r#"{"alg":"HS256","kid":"k"}"#, "{}");
        let printed = format!("{:?}", read_token(&token, &p, true).unwrap());
        assert!(!printed.contains(token.split('.').next().unwrap()) && !printed.contains(token.rsplit('.').next().unwrap()), "{printed}");
    }

    /// The same verdicts as jwt-compact (the gateway's verifier before this reader) on a grid of
    /// tokens signed with the right key.
    #[test]
    fn agrees_with_jwt_compact() {
        use jwt_compact::alg::{Hs256, Hs256Key};
        use jwt_compact::{AlgorithmExt, UntrustedToken};
        let s = NOW / 1000.0;
        let headers = [
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":"k"}"#,
            r#"{"alg":"HS256","kid":3}"#,
            r#"{"alg":"HS256","typ":7}"#,
        ];
        let payloads = [
            format!(r#"{{"exp":{}}}"#, s + 60.0),
            format!(r#"{{"exp":{}.5}}"#, s + 60.0),
            format!(r#"{{"exp":{},"nbf":"x"}}"#, s + 60.0),
            format!(r#"{{"exp":"{}"}}"#, s + 60.0),
            "{}".into(),
            "[]".into(),
            format!(r#"{{"exp":{},"iat":null}}"#, s + 60.0),
            format!(r#"{{"exp":{},"exp":{}}}"#, s + 60.0, s + 61.0),
            r#"{"exp":1e300}"#.into(),
        ];
        let key = Hs256Key::new(SECRET);
        let lax = Policy { issuer: None, audience: None, ..policy() };
        for h in headers {
            for p in &payloads {
                let token = sign(h, p);
                let theirs = UntrustedToken::new(&token).ok().and_then(|t| {
                    Hs256.validator::<serde_json::Map<String, serde_json::Value>>(&key).validate(&t).ok().map(|t| t.claims().expiration.is_some())
                });
                let ours = read_token(&token, &lax, true).and_then(|t| {
                    t.verify_hmac(&HmacKey::new(SECRET).unwrap())?;
                    t.claims(&lax, NOW)
                });
                assert_eq!(ours.is_ok(), theirs == Some(true), "{h} {p}: ours {ours:?}, jwt-compact {theirs:?}");
            }
        }
    }
}
