//! Access-token decoding for the client side: the payload is read, NOT verified (the client
//! cannot hold the signing key). It only drives expiry and is handed to the app as `claims`.

use jwt_compact::UntrustedToken;
use serde_json::{Map, Value};

use super::error::Error;

/// Decoded JWT payload plus the times the session logic needs (milliseconds since the epoch).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Decoded {
    /// The whole payload, `exp`/`nbf`/`iat` included (as whole seconds).
    pub claims: Option<Map<String, Value>>,
    /// `exp` in milliseconds.
    pub expires_at_ms: Option<f64>,
    /// `iat` in milliseconds.
    pub issued_at_ms: Option<f64>,
}

/// Reads an access token. A token that is not a JWT is opaque (no claims): servers may use
/// opaque access tokens. A JWT whose payload is not a JSON object, or whose `exp`, `nbf` or
/// `iat` is not a usable number, is a `bad_response`: its expiry cannot be trusted.
pub fn decode(token: &str) -> Result<Decoded, Error> {
    let Ok(untrusted) = UntrustedToken::new(token) else {
        return Ok(Decoded::default());
    };
    let claims = untrusted
        .deserialize_claims_unchecked::<Map<String, Value>>()
        .map_err(|_| Error::bad_response("has an access token whose claims are malformed"))?;
    let mut payload = claims.custom;
    let mut put = |name: &str, time: Option<chrono::DateTime<chrono::Utc>>| {
        time.map(|t| {
            payload.insert(name.to_owned(), Value::from(t.timestamp()));
            t.timestamp_millis() as f64
        })
    };
    let expires_at_ms = put("exp", claims.expiration);
    let issued_at_ms = put("iat", claims.issued_at);
    put("nbf", claims.not_before);
    Ok(Decoded { claims: Some(payload), expires_at_ms, issued_at_ms })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A JWT with the given header and payload JSON and a dummy signature.
    pub(crate) fn jwt(header: &str, payload: &str) -> String {
        use base64ct::{Base64UrlUnpadded, Encoding};
        format!(
            "{}.{}.c2ln",
            Base64UrlUnpadded::encode_string(header.as_bytes()),
            Base64UrlUnpadded::encode_string(payload.as_bytes())
        )
    }

    const HS: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn reads_exp_iat_and_claims() {
        let d = decode(&jwt(HS, r#"{"sub":"u1","iat":1700000000,"exp":1700000060,"roles":["a"]}"#)).unwrap();
        assert_eq!(d.expires_at_ms, Some(1_700_000_060_000.0));
        assert_eq!(d.issued_at_ms, Some(1_700_000_000_000.0));
        let claims = d.claims.unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["exp"], 1_700_000_060);
        assert_eq!(claims["roles"][0], "a");
    }

    #[test]
    fn opaque_tokens_have_no_claims() {
        for t in ["opaque-token", "a.b", "a.b.c.d", "x.y.z", "", "....", "é.é.é"] {
            assert_eq!(decode(t).unwrap(), Decoded::default(), "{t}");
        }
    }

    #[test]
    fn float_exp_is_truncated_and_missing_exp_is_none() {
        let d = decode(&jwt(HS, r#"{"exp":1700000060.9}"#)).unwrap();
        assert_eq!(d.expires_at_ms, Some(1_700_000_060_000.0));
        let d = decode(&jwt(HS, r#"{"sub":"x"}"#)).unwrap();
        assert_eq!(d.expires_at_ms, None);
        assert!(d.claims.is_some());
    }

    #[test]
    fn malformed_claims_are_bad_response() {
        for payload in [r#"{"exp":"soon"}"#, r#"{"exp":1e300}"#, r#"{"iat":null}"#, "[1,2]", r#""str""#, "{"] {
            let err = decode(&jwt(HS, payload)).unwrap_err();
            assert_eq!(err.code, super::super::error::ErrorCode::BadResponse, "{payload}");
        }
    }
}
