//! Access-token decoding for the client side: the payload is read, NOT verified (the client
//! cannot hold the signing key). It only drives expiry and is handed to the app as `claims`.
//! The reader is the core's own (see `json.rs`); the gateway's verification reads payloads with
//! the same one and the same time rule (`time_claim_ms`); a test and a fuzz target hold it to
//! jwt-compact's reading.

use super::base64::decode_url;
use super::error::Error;
use super::json::Json;

/// A JWT payload: the JSON object exactly as the token carries it. JavaScript gets it through
/// `JSON.parse`, so claims beyond 2^53 keep JS number semantics.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims(String);

impl Claims {
    /// The payload's JSON text.
    pub fn json(&self) -> &str {
        &self.0
    }
}

/// Decoded JWT payload plus the times the session logic needs (milliseconds since the epoch).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Decoded {
    /// The whole payload.
    pub claims: Option<Claims>,
    /// `exp` in milliseconds (whole seconds: a fractional `exp` is truncated, as jwt-compact does).
    pub expires_at_ms: Option<f64>,
    /// `iat` in milliseconds.
    pub issued_at_ms: Option<f64>,
}

/// Largest `exp`/`iat`/`nbf` magnitude, in seconds: the range of a JS `Date`.
const MAX_TIME_S: f64 = 8.64e12;

/// A time claim (`exp`, `iat`, `nbf`) of a payload's members, in milliseconds: `Some(None)` when
/// absent, `None` when malformed: not a number of seconds within a JS Date's range, or given
/// twice (ambiguous: JSON.parse and serde disagree on which one counts). Fractions are
/// truncated, as jwt-compact does. The client's decoding and the gateway's checks share it.
pub fn time_claim_ms(members: &[(String, Json)], name: &str) -> Option<Option<f64>> {
    let mut found = members.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_f64());
    match (found.next(), found.next()) {
        (None, _) => Some(None),
        (Some(Some(s)), None) if s.abs() <= MAX_TIME_S => Some(Some(s.trunc() * 1000.0)),
        _ => None,
    }
}

/// Reads an access token. A JWT is three base64url parts whose header is a JSON object with a
/// string `alg` (and no `cty` other than JSON or null); anything else is opaque (no claims): servers
/// may use opaque access tokens. A JWT whose payload is not a JSON object, or whose `exp`,
/// `nbf` or `iat` is present but not a number of seconds within a JS Date's range, is a
/// `bad_response`: its expiry cannot be trusted.
pub fn decode(token: &str) -> Result<Decoded, Error> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Ok(Decoded::default());
    };
    let header = decode_url(header).and_then(|h| Json::parse(&h));
    let is_jwt = header.as_ref().is_some_and(|h| {
        h.get("alg").is_some_and(|a| a.as_str().is_some())
            && match h.get("cty") {
                None | Some(Json::Null) => true,
                Some(c) => c.as_str().is_some_and(|c| c.eq_ignore_ascii_case("json")),
            }
    });
    let payload = decode_url(payload);
    if !is_jwt || payload.is_none() || decode_url(signature).is_none() {
        return Ok(Decoded::default());
    }
    let malformed = || Error::bad_response("has an access token whose claims are malformed");
    let text = payload.and_then(|p| String::from_utf8(p).ok()).ok_or_else(malformed)?;
    let Some(Json::Object(members)) = Json::parse(text.as_bytes()) else {
        return Err(malformed());
    };
    let time = |name: &str| time_claim_ms(&members, name).ok_or_else(malformed);
    let expires_at_ms = time("exp")?;
    let issued_at_ms = time("iat")?;
    time("nbf")?;
    Ok(Decoded { claims: Some(Claims(text)), expires_at_ms, issued_at_ms })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A JWT with the given header and payload JSON and a dummy signature.
    pub(crate) fn jwt(header: &str, payload: &str) -> String {
        use base64ct::{Base64UrlUnpadded, Encoding};
        format!("{}.{}.c2ln", Base64UrlUnpadded::encode_string(header.as_bytes()), Base64UrlUnpadded::encode_string(payload.as_bytes()))
    }

    const HS: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn reads_exp_iat_and_claims() {
        let d = decode(&jwt(HS, r#"{"sub":"u1","iat":1700000000,"exp":1700000060,"roles":["a"]}"#)).unwrap();
        assert_eq!(d.expires_at_ms, Some(1_700_000_060_000.0));
        assert_eq!(d.issued_at_ms, Some(1_700_000_000_000.0));
        let claims = Json::parse(d.claims.unwrap().json().as_bytes()).unwrap();
        assert_eq!(claims.get("sub").and_then(Json::as_str), Some("u1"));
        assert_eq!(claims.get("exp").and_then(Json::as_f64), Some(1_700_000_060.0));
        assert_eq!(claims.get("roles"), Some(&Json::Array(vec![Json::String("a".into())])));
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

/// The decoder against jwt-compact's reading of the same tokens (the gateway's library).
#[cfg(test)]
mod agrees_with_jwt_compact {
    use super::tests::jwt;
    use super::*;

    /// `exp` and `iat` in milliseconds.
    type Times = (Option<f64>, Option<f64>);

    /// What jwt-compact makes of a token: `None` = not a JWT; `Some(Err)` = malformed claims.
    fn reference(token: &str) -> Option<Result<Times, ()>> {
        let untrusted = jwt_compact::UntrustedToken::new(token).ok()?;
        Some(
            untrusted
                .deserialize_claims_unchecked::<serde_json::Map<String, serde_json::Value>>()
                .map(|c| (c.expiration.map(|t| t.timestamp_millis() as f64), c.issued_at.map(|t| t.timestamp_millis() as f64)))
                .map_err(|_| ()),
        )
    }

    #[test]
    fn same_expiry_same_verdict() {
        let headers = [
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#,
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256","cty":"JSON"}"#,
            r#"{"alg":"HS256","cty":null}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":1}"#,
            "[]",
            r#"{"alg":"HS256","cty":"JWT"}"#,
        ];
        let payloads = [
            r#"{"sub":"u","iat":1700000000,"exp":1700000060}"#,
            r#"{"exp":1700000060.9,"nbf":1}"#,
            r#"{"exp":-5}"#,
            r#"{"exp":0}"#,
            r#"{"exp":"1"}"#,
            r#"{"exp":null}"#,
            r#"{"iat":true}"#,
            r#"{"exp":1e300}"#,
            r#"{"exp":1e12}"#,
            "{}",
            "[]",
            "1",
            "\"x\"",
            r#"{"a":{"b":[1,2,{"c":null}]},"exp":1700000060}"#,
            r#"{"big":12345678901234567890123,"exp":2}"#,
            "{",
            r#"{"exp":1,"exp":2}"#,
        ];
        for header in headers {
            for payload in payloads {
                let token = jwt(header, payload);
                let ours = decode(&token);
                match reference(&token) {
                    None => assert_eq!(ours, Ok(Decoded::default()), "{header} {payload}"),
                    Some(Err(())) => assert!(ours.is_err(), "{header} {payload}"),
                    Some(Ok(times)) => {
                        let d = ours.unwrap_or_else(|e| panic!("{header} {payload}: {e}"));
                        assert_eq!((d.expires_at_ms, d.issued_at_ms), times, "{header} {payload}");
                    }
                }
            }
        }
    }
}
