//! Access-token verification policy for the gateway. The algorithm comes from the allowlist and
//! the key's type, never from the token header (the header must merely agree); the key is chosen
//! by `kid`; HS256 is never accepted for a JWKS key. HS256 signatures are checked here
//! (jwt-compact); RSA/ECDSA/EdDSA signatures are checked by the adapter through WebCrypto, with
//! the key and bytes this module hands it. Claims: `exp` required; `nbf`, `iat`, `iss`, `aud`
//! checked with leeway.

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{AlgorithmExt, Claims, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::Error;

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
    /// Not three base64url parts with a JSON header.
    Malformed,
    /// `alg` not allowed, `none`, or not the key's algorithm.
    Algorithm,
    /// A header member the gateway refuses (`crit`, `jku`, `x5u`, `jwk`, `x5c`, odd `typ`).
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
    /// The public JWK members only (for WebCrypto `importKey("jwk", ...)`).
    pub jwk: Map<String, Value>,
    /// The key's identity (algorithm and JWK JSON), for caching its imported form.
    pub id: String,
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
pub fn parse_jwks(json: &[u8], allowed: &[Alg]) -> Result<Vec<PublicKey>, Error> {
    let bad = || Error::invalid_argument("keys.jwks", "must be a JSON Web Key Set ({\"keys\": [...]})");
    let value: Value = serde_json::from_slice(json).map_err(|_| bad())?;
    let keys = value.get("keys").and_then(Value::as_array).ok_or_else(bad)?;
    Ok(keys.iter().filter_map(|k| public_key(k.as_object()?)).filter(|k| allowed.contains(&k.alg)).collect())
}

fn public_key(jwk: &Map<String, Value>) -> Option<PublicKey> {
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    let (alg, members): (Alg, &[&str]) = match (s("kty")?, s("crv")) {
        ("RSA", _) => (Alg::Rs256, &["kty", "n", "e"]),
        ("EC", Some("P-256")) => (Alg::Es256, &["kty", "crv", "x", "y"]),
        ("OKP", Some("Ed25519")) => (Alg::EdDsa, &["kty", "crv", "x"]),
        _ => return None,
    };
    if s("use").is_some_and(|u| u != "sig") || s("alg").is_some_and(|a| a != alg.name()) {
        return None;
    }
    let mut public = Map::new();
    for m in members {
        public.insert((*m).to_owned(), Value::String(s(m)?.to_owned()));
    }
    let id = format!("{}:{}", alg.name(), Value::Object(public.clone()));
    Some(PublicKey { kid: s("kid").map(str::to_owned), alg, jwk: public, id })
}

#[derive(Clone, Deserialize)]
struct ExtraHeader {
    crit: Option<Value>,
    jwk: Option<Value>,
    x5c: Option<Value>,
}

/// A token whose header passed and whose key is known.
pub struct Checked<'t, 'k> {
    /// The algorithm (the key's).
    pub alg: Alg,
    /// The key, for asymmetric algorithms (`None` for HS256).
    pub key: Option<&'k PublicKey>,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    untrusted: UntrustedToken<'t, ExtraHeader>,
}

/// The first step: size, structure, header, algorithm and key choice. `Err(UnknownKey)` tells
/// the caller it may refresh a remote JWKS once and try again.
pub fn check_header<'t, 'k>(token: &'t str, policy: &Policy, has_hmac: bool, keys: &'k [PublicKey]) -> Result<Checked<'t, 'k>, Rejection> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }
    let untrusted = UntrustedToken::<ExtraHeader>::try_from(token).map_err(|_| Rejection::Malformed)?;
    let header = untrusted.header();
    let extra = &header.other_fields;
    if extra.crit.is_some() || extra.jwk.is_some() || extra.x5c.is_some() || header.key_set_url.is_some() || header.certificate_url.is_some() {
        return Err(Rejection::Header);
    }
    if header.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("JWT") && !t.eq_ignore_ascii_case("at+jwt")) {
        return Err(Rejection::Header);
    }
    let named = Alg::from_name(untrusted.algorithm()).ok_or(Rejection::Algorithm)?;
    if !policy.algorithms.contains(&named) {
        return Err(Rejection::Algorithm);
    }
    let key = if named == Alg::Hs256 {
        if !has_hmac {
            return Err(Rejection::Algorithm);
        }
        None
    } else {
        let kid = header.key_id.as_deref();
        let key = match kid {
            Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if keys.len() == 1 => keys.first(),
            None => None,
        };
        let key = key.ok_or(Rejection::UnknownKey)?;
        if key.alg != named {
            return Err(Rejection::Algorithm);
        }
        Some(key)
    };
    let signing_input = token.rsplit_once('.').map(|(input, _)| input).ok_or(Rejection::Malformed)?;
    let signature = untrusted.signature_bytes().to_vec();
    Ok(Checked { alg: named, key, signing_input, signature, untrusted })
}

/// Claims whose signature has been verified, before the claim rules.
pub struct Verified(Claims<Map<String, Value>>);

impl Checked<'_, '_> {
    /// Verifies an HS256 signature (constant time, in jwt-compact), reading the claims once.
    pub fn verify_hmac(&self, secret: &[u8]) -> Result<Verified, Rejection> {
        if self.alg != Alg::Hs256 {
            return Err(Rejection::Algorithm);
        }
        match Hs256.validator::<Map<String, Value>>(&Hs256Key::new(secret)).validate(&self.untrusted) {
            Ok(token) => Ok(Verified(token.into_parts().1)),
            // jwt-compact reads the claims after checking the MAC: the signature was fine.
            Err(ValidationError::MalformedClaims(_)) => Err(Rejection::Claims),
            Err(_) => Err(Rejection::Signature),
        }
    }

    /// The claims of a token whose signature the caller verified itself (WebCrypto).
    pub fn signature_verified(&self) -> Result<Verified, Rejection> {
        self.untrusted.deserialize_claims_unchecked().map(Verified).map_err(|_| Rejection::Claims)
    }
}

impl Verified {
    /// Applies the claim rules: `exp` required; `nbf`, `iat`, `iss`, `aud` with leeway.
    pub fn check(self, policy: &Policy, now_ms: f64) -> Result<Map<String, Value>, Rejection> {
        let claims = self.0;
        let leeway_ms = policy.leeway_s * 1000.0;
        let exp = claims.expiration.ok_or(Rejection::NoExpiry)?;
        if (exp.timestamp_millis() as f64) + leeway_ms <= now_ms {
            return Err(Rejection::Expired);
        }
        for t in [claims.not_before, claims.issued_at].into_iter().flatten() {
            if (t.timestamp_millis() as f64) - leeway_ms > now_ms {
                return Err(Rejection::NotYetValid);
            }
        }
        let mut out = claims.custom;
        if let Some(issuer) = &policy.issuer {
            if out.get("iss").and_then(Value::as_str) != Some(issuer) {
                return Err(Rejection::Issuer);
            }
        }
        if let Some(audience) = &policy.audience {
            let ok = match out.get("aud") {
                Some(Value::String(a)) => a == audience,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(Rejection::Audience);
            }
        }
        for (name, time) in [("exp", Some(exp)), ("nbf", claims.not_before), ("iat", claims.issued_at)] {
            if let Some(t) = time {
                out.insert(name.into(), t.timestamp().into());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};
    use jwt_compact::Header;

    const NOW: f64 = 1_700_000_000_000.0;
    const SECRET: &[u8] = b"gateway-test-secret";

    fn policy() -> Policy {
        Policy { algorithms: vec![Alg::Hs256, Alg::Rs256], issuer: Some("ida".into()), audience: Some("api".into()), leeway_s: 30.0 }
    }

    fn hs256(claims: Value) -> String {
        let mut claims = Claims::new(claims);
        claims.expiration = None;
        Hs256.token(&Header::empty(), &claims, &Hs256Key::new(SECRET)).unwrap()
    }

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn verify(token: &str, keys: &[PublicKey]) -> Result<Map<String, Value>, Rejection> {
        let p = policy();
        let checked = check_header(token, &p, true, keys)?;
        let verified = if checked.alg == Alg::Hs256 { checked.verify_hmac(SECRET)? } else { checked.signature_verified()? };
        verified.check(&p, NOW)
    }

    fn good_claims() -> Value {
        serde_json::json!({"sub": "u", "iss": "ida", "aud": ["x", "api"], "exp": NOW / 1000.0 + 60.0, "iat": NOW / 1000.0})
    }

    #[test]
    fn accepts_a_good_hs256_token() {
        let claims = verify(&hs256(good_claims()), &[]).unwrap();
        assert_eq!(claims["sub"], "u");
        assert_eq!(claims["exp"], 1_700_000_060);
    }

    #[test]
    fn claim_rules() {
        let with = |patch: Value| {
            let mut c = good_claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() { c.as_object_mut().unwrap().remove(k); } else { c[k] = v.clone(); }
            }
            verify(&hs256(c), &[])
        };
        let s = NOW / 1000.0;
        assert_eq!(with(serde_json::json!({"exp": null})), Err(Rejection::NoExpiry));
        assert_eq!(with(serde_json::json!({"exp": s - 31.0})), Err(Rejection::Expired));
        assert!(with(serde_json::json!({"exp": s - 29.0})).is_ok(), "within leeway");
        assert_eq!(with(serde_json::json!({"nbf": s + 31.0})), Err(Rejection::NotYetValid));
        assert!(with(serde_json::json!({"nbf": s + 29.0})).is_ok());
        assert_eq!(with(serde_json::json!({"iat": s + 3600.0})), Err(Rejection::NotYetValid));
        assert_eq!(with(serde_json::json!({"iss": "evil"})), Err(Rejection::Issuer));
        assert_eq!(with(serde_json::json!({"iss": null})), Err(Rejection::Issuer));
        assert_eq!(with(serde_json::json!({"aud": "other"})), Err(Rejection::Audience));
        assert!(with(serde_json::json!({"aud": "api"})).is_ok());
        assert_eq!(with(serde_json::json!({"exp": "soon"})), Err(Rejection::Claims));
        assert_eq!(with(serde_json::json!({"exp": -1e300})), Err(Rejection::Claims));
    }

    #[test]
    fn header_and_signature_tricks() {
        let good = hs256(good_claims());
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let with_header = |h: &str| format!("{}.{payload}.{sig}", b64(h));
        for alg in ["none", "None", "NONE", "nOnE", "hs256", "HS384", "RS256", ""] {
            assert!(verify(&with_header(&format!(r#"{{"alg":"{alg}"}}"#)), &[]).is_err(), "{alg}");
        }
        for h in [r#"{"alg":"HS256","crit":["b64"]}"#, r#"{"alg":"HS256","jku":"https://evil/jwks"}"#, r#"{"alg":"HS256","x5u":"https://evil"}"#,
                  r#"{"alg":"HS256","jwk":{"kty":"oct","k":"AAAA"}}"#, r#"{"alg":"HS256","typ":"JOSE+evil"}"#] {
            assert_eq!(verify(&with_header(h), &[]).err(), Some(Rejection::Header), "{h}");
        }
        assert!(verify(&with_header(r#"{"alg":"HS256","typ":"at+jwt"}"#), &[]).is_err(), "typ fine but signature covers the old header");
        let tampered_payload = format!("{head}.{}.{sig}", b64(r#"{"sub":"admin","exp":9999999999,"iss":"ida","aud":"api"}"#));
        assert_eq!(verify(&tampered_payload, &[]).err(), Some(Rejection::Signature));
        for s in ["", "AAAA", &sig[..sig.len() - 2], &"A".repeat(43)] {
            assert!(verify(&format!("{head}.{payload}.{s}"), &[]).is_err(), "signature {s:?}");
        }
        assert_eq!(verify(&"a".repeat(MAX_TOKEN_BYTES + 1), &[]).err(), Some(Rejection::TooLarge));
        for junk in ["", "x", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.e30"] {
            assert!(verify(junk, &[]).is_err(), "{junk}");
        }
    }

    #[test]
    fn keys_by_kid_and_type_never_hmac_from_jwks() {
        let jwks = br#"{"keys":[
            {"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB","d":"PRIVATE"},
            {"kty":"EC","crv":"P-256","kid":"e1","x":"AA","y":"AA"},
            {"kty":"oct","kid":"h1","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"lying","alg":"HS256","n":"AQAB","e":"AQAB"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"AA"}]}"#;
        let keys = parse_jwks(jwks, &[Alg::Rs256, Alg::Es256]).unwrap();
        assert_eq!(keys.iter().map(|k| k.kid.as_deref().unwrap()).collect::<Vec<_>>(), ["r1", "e1"]);
        assert!(!keys[0].jwk.contains_key("d"), "private members dropped");
        let p = Policy { algorithms: vec![Alg::Rs256, Alg::Es256, Alg::Hs256], ..policy() };
        let token = |h: &str| format!("{}.{}.AAAA", b64(h), b64("{}"));
        assert_eq!(check_header(&token(r#"{"alg":"RS256","kid":"r1"}"#), &p, false, &keys).map(|c| c.alg).ok(), Some(Alg::Rs256));
        assert_eq!(check_header(&token(r#"{"alg":"ES256","kid":"r1"}"#), &p, false, &keys).err(), Some(Rejection::Algorithm), "header disagrees with the key");
        assert_eq!(check_header(&token(r#"{"alg":"HS256","kid":"r1"}"#), &p, false, &keys).err(), Some(Rejection::Algorithm), "no HS256 without a secret");
        assert_eq!(check_header(&token(r#"{"alg":"RS256","kid":"h1"}"#), &p, false, &keys).err(), Some(Rejection::UnknownKey));
        assert_eq!(check_header(&token(r#"{"alg":"RS256","kid":"../../etc/passwd"}"#), &p, false, &keys).err(), Some(Rejection::UnknownKey));
        assert_eq!(check_header(&token(r#"{"alg":"RS256"}"#), &p, false, &keys).err(), Some(Rejection::UnknownKey), "kid needed with several keys");
        assert!(parse_jwks(b"[]", &[Alg::Rs256]).is_err());
        assert!(Alg::from_name("none").is_none());
    }
}
