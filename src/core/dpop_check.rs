//! The gateway's side of DPoP (RFC 9449 sections 4.3 and 7): which requests need a proof, the
//! proof's structure and claims, its replay window and the gateway's nonces. Pure rules over an
//! injected clock; the adapter reads the request, checks the proof's signature with WebCrypto
//! and carries out what is decided here.
//!
//! Order of the checks: everything that needs no key (size, structure, header, claims, the
//! binding to the token) first; the signature next; the `jti` is remembered last, so a proof
//! that does not verify cannot take a place in the replay window. Remembering is check-and-insert
//! in one step (no await between), so two copies of one proof racing in one isolate cannot both
//! pass.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::base64::{decode_url, encode_url};
use super::dpop::htu;
use super::json::Json;
use super::jwk::{has_private_member, public_jwk, KeyType};
use super::token::time_claim_ms;
use super::verify::{Alg, PublicKey};

/// A `DPoP` header longer than this is refused unparsed.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The algorithms a proof may be signed with, as the `algs` of a challenge. `Ed25519` (RFC 9864's
/// fully specified name, which panva's `dpop` writes) is accepted as EdDSA with Ed25519.
pub const PROOF_ALGS: &str = "ES256 EdDSA RS256";
/// Proofs remembered at once per isolate (about 80 bytes each); beyond it the window shortens
/// (see `ReplayWindow`).
pub const MAX_REMEMBERED: usize = 65_536;
/// A nonce is good in the window it was issued in and the next one.
pub const NONCE_WINDOW_MS: f64 = 60_000.0;
/// `jti` and `nonce` longer than this are refused (a proof is small; these are ids).
const MAX_ID_BYTES: usize = 256;

/// The `dpop` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// DPoP is not looked at (a `DPoP` authorization scheme is no token).
    Off,
    /// A token bound to a key (`cnf.jkt`) needs a proof; others are Bearer tokens.
    Allowed,
    /// Every token must be bound and come with a proof.
    Required,
}

/// What a verified token asks of its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing more: a Bearer token.
    Nothing,
    /// A valid proof for the token's key.
    Proof,
    /// Refused as `invalid_token`: a bound token presented without the DPoP scheme, an unbound
    /// token presented with it, or an unbound token where DPoP is required.
    Refuse,
}

/// The rule of RFC 9449 section 7.1 and the `dpop` option: `bound` is whether the token carries
/// `cnf.jkt`, `dpop_scheme` whether it came as `Authorization: DPoP`.
pub fn need(mode: Mode, bound: bool, dpop_scheme: bool) -> Need {
    match (mode, bound, dpop_scheme) {
        (Mode::Off, _, _) => Need::Nothing,
        (_, true, true) => Need::Proof,
        (Mode::Allowed, false, false) => Need::Nothing,
        _ => Need::Refuse,
    }
}

/// Why a proof was refused. For logs and tests only: every one gets the same answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofRejection {
    /// No `DPoP` header.
    Missing,
    /// More than one `DPoP` header (a fetch API joins them with a comma).
    Multiple,
    /// Over `MAX_PROOF_BYTES`.
    TooLarge,
    /// Not a compact JWS with JSON object header and payload, a member given twice, `crit`.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// `alg` not one of `PROOF_ALGS`, or not the `jwk`'s.
    Algorithm,
    /// No usable public `jwk` in the header, or one with a private member.
    Key,
    /// `htm`, `htu`, `iat` or `jti` missing or of the wrong type.
    Claims,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URL (or carries a query or fragment).
    Url,
    /// `iat` outside the accepted window.
    Time,
    /// `ath` missing or not the hash of the presented token.
    TokenHash,
    /// The `jwk`'s thumbprint is not the token's `cnf.jkt`.
    Thumbprint,
    /// No nonce, or not a current one (answered `use_dpop_nonce`).
    Nonce,
    /// The signature does not verify with the `jwk`.
    Signature,
    /// The `jti` was seen within the window.
    Replayed,
}

/// base64url SHA-256: a key's thumbprint of its RFC 7638 text, a token's `ath`.
pub fn sha256_url(text: &str) -> String {
    encode_url(&Sha256::digest(text.as_bytes()))
}

/// A proof whose structure and header passed.
pub struct Proof<'p> {
    /// The `jwk`, public members only, with the algorithm the proof is signed with.
    pub key: PublicKey,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'p str,
    /// The decoded signature.
    pub signature: Vec<u8>,
    htm: String,
    htu: String,
    iat_ms: f64,
    jti: String,
    ath: Option<String>,
    nonce: Option<String>,
}

impl std::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proof").field("alg", &self.key.alg).field("htm", &self.htm).finish_non_exhaustive()
    }
}

/// Whether an object has a member twice (read differently by different libraries: refused).
fn has_duplicates(members: &[(String, Json)]) -> bool {
    let mut names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.windows(2).any(|pair| pair[0] == pair[1])
}

/// Reads the value of the `DPoP` header: its size, structure, header and claim types.
pub fn read_proof(header: Option<&str>) -> Result<Proof<'_>, ProofRejection> {
    let proof = header.ok_or(ProofRejection::Missing)?;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofRejection::TooLarge);
    }
    if proof.contains(',') {
        return Err(ProofRejection::Multiple);
    }
    let proof = proof.trim();
    let (signing_input, signature) = proof.rsplit_once('.').ok_or(ProofRejection::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(ProofRejection::Malformed)?;
    let object = |part: &str| match decode_url(part).and_then(|bytes| Json::parse(&bytes)) {
        Some(Json::Object(members)) if !has_duplicates(&members) => Ok(Json::Object(members)),
        _ => Err(ProofRejection::Malformed),
    };
    let (header, payload) = (object(header)?, object(payload)?);
    let signature = decode_url(signature).ok_or(ProofRejection::Malformed)?;
    if ["crit", "jku", "x5u", "x5c"].iter().any(|m| header.get(m).is_some()) {
        return Err(ProofRejection::Malformed);
    }
    if !header.get("typ").and_then(Json::as_str).is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(ProofRejection::Type);
    }
    let alg = match header.get("alg").and_then(Json::as_str) {
        Some("ES256") => Alg::Es256,
        Some("RS256") => Alg::Rs256,
        Some("EdDSA" | "Ed25519") => Alg::EdDsa,
        _ => return Err(ProofRejection::Algorithm),
    };
    let jwk = header.get("jwk").filter(|j| matches!(j, Json::Object(_))).ok_or(ProofRejection::Key)?;
    if has_private_member(jwk) {
        return Err(ProofRejection::Key);
    }
    let (key_type, jwk) = public_jwk(jwk).ok_or(ProofRejection::Key)?;
    let key_alg = match key_type {
        KeyType::Rsa => Alg::Rs256,
        KeyType::P256 => Alg::Es256,
        KeyType::Ed25519 => Alg::EdDsa,
    };
    if key_alg != alg {
        return Err(ProofRejection::Algorithm);
    }
    let Json::Object(members) = &payload else { return Err(ProofRejection::Malformed) };
    let text = |name: &str| payload.get(name).and_then(Json::as_str).map(str::to_owned);
    let optional = |name: &str| match payload.get(name) {
        None => Ok(None),
        Some(Json::String(s)) if s.len() <= MAX_ID_BYTES => Ok(Some(s.clone())),
        Some(_) => Err(ProofRejection::Claims),
    };
    let (Some(htm), Some(htu), Some(Some(iat_ms)), Some(jti)) = (text("htm"), text("htu"), time_claim_ms(members, "iat"), text("jti")) else {
        return Err(ProofRejection::Claims);
    };
    if jti.is_empty() || jti.len() > MAX_ID_BYTES {
        return Err(ProofRejection::Claims);
    }
    let (ath, nonce) = (optional("ath")?, optional("nonce")?);
    Ok(Proof { key: PublicKey { kid: None, alg, jwk }, signing_input, signature, htm, htu, iat_ms, jti, ath, nonce })
}

/// What the request says a proof must match.
pub struct Expected<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's `htu` (`dpop::htu` of the URL the client addressed).
    pub htu: &'a str,
    /// The presented access token.
    pub token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
}

/// The proofs' time rules.
#[derive(Clone, Copy, Debug)]
pub struct ProofTiming {
    /// `dpopMaxAgeSeconds`: how old an `iat` may be (plus the leeway).
    pub max_age_ms: f64,
    /// The clock leeway, both ways.
    pub leeway_ms: f64,
}

impl Proof<'_> {
    /// The claim checks against the request and the token (RFC 9449 section 4.3, steps 8-12),
    /// before the signature. Returns the key's thumbprint.
    pub fn check(&self, expected: &Expected, timing: ProofTiming, now_ms: f64) -> Result<String, ProofRejection> {
        if self.htm != expected.method {
            return Err(ProofRejection::Method);
        }
        // The proof's htu is the URL without query and fragment: one that carries them is not
        // a proof for this request (htu() would drop them silently).
        if self.htu.contains(['?', '#']) || htu(&self.htu).as_deref() != Some(expected.htu) {
            return Err(ProofRejection::Url);
        }
        if self.iat_ms < now_ms - timing.max_age_ms - timing.leeway_ms || self.iat_ms > now_ms + timing.leeway_ms {
            return Err(ProofRejection::Time);
        }
        if self.ath.as_deref() != Some(&sha256_url(expected.token)) {
            return Err(ProofRejection::TokenHash);
        }
        let thumbprint = sha256_url(&self.key.jwk);
        if thumbprint != expected.jkt {
            return Err(ProofRejection::Thumbprint);
        }
        Ok(thumbprint)
    }

    /// The nonce the proof carries.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// What the replay window keeps of this proof: its `iat` and its `jti`'s hash (never the
    /// `jti` itself).
    pub fn replay_key(&self) -> ReplayKey {
        ReplayKey { iat_ms: self.iat_ms as i64, jti: jti_hash(&self.jti) }
    }
}

/// A proof in the replay window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey {
    /// Its `iat` in ms (whole seconds): the window's order.
    pub iat_ms: i64,
    /// The first 128 bits of the SHA-256 of its `jti`.
    pub jti: [u8; 16],
}

fn jti_hash(jti: &str) -> [u8; 16] {
    let digest = Sha256::digest(jti.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// What remembering a proof found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Remember {
    /// Not seen: remembered now, until the returned time (ms), when its `iat` is too old anyway.
    Fresh(f64),
    /// Seen within the window: a replay.
    Replayed,
    /// As old as a proof the full window had to forget: refused, since it could be that one.
    TooOld,
}

/// The `jti`s of accepted proofs, each until its `iat` is too old to pass `check` anyway.
///
/// Bounded without ever letting a replay through: the entries are ordered by `iat`, and when
/// the window is full the oldest is forgotten and the window's floor rises to its `iat`; from
/// then on every proof with an `iat` at or below the floor is refused. So under a flood the
/// window shortens (to `capacity` proofs' worth of time: 65,536 proofs are 13 s at 5,000 per
/// second) instead of refusing every new proof, and what it costs falls on proofs older than
/// that, which a client making a fresh proof per request does not send.
pub struct ReplayWindow {
    timing: ProofTiming,
    capacity: usize,
    seen: HashSet<[u8; 16]>,
    /// Oldest `iat` first: the only entry ever taken out is the oldest (expired, or evicted).
    by_iat: BinaryHeap<Reverse<ReplayKey>>,
    floor_ms: i64,
}

impl ReplayWindow {
    /// An empty window.
    pub fn new(timing: ProofTiming, capacity: usize) -> Self {
        Self { timing, capacity: capacity.max(1), seen: HashSet::new(), by_iat: BinaryHeap::new(), floor_ms: i64::MIN }
    }

    /// Checks and remembers in one step (a proof whose `check` passed at `now_ms`).
    pub fn remember(&mut self, key: ReplayKey, now_ms: f64) -> Remember {
        let span_ms = self.timing.max_age_ms + self.timing.leeway_ms;
        // Expired: an iat this old fails check() from now on.
        while let Some(Reverse(oldest)) = self.by_iat.peek().copied() {
            if oldest.iat_ms as f64 >= now_ms - span_ms {
                break;
            }
            self.forget_oldest();
        }
        if self.seen.contains(&key.jti) {
            return Remember::Replayed;
        }
        if key.iat_ms <= self.floor_ms {
            return Remember::TooOld;
        }
        while self.seen.len() >= self.capacity {
            let Some(oldest) = self.forget_oldest() else { break };
            self.floor_ms = self.floor_ms.max(oldest.iat_ms);
            if key.iat_ms <= self.floor_ms {
                return Remember::TooOld;
            }
        }
        self.seen.insert(key.jti);
        self.by_iat.push(Reverse(key));
        Remember::Fresh(key.iat_ms as f64 + span_ms)
    }

    /// Whether a proof would be refused now (a look before its signature is checked: a replay
    /// costs no WebCrypto call). `remember` decides.
    pub fn refuses(&self, key: ReplayKey) -> bool {
        self.seen.contains(&key.jti) || key.iat_ms <= self.floor_ms
    }

    fn forget_oldest(&mut self) -> Option<ReplayKey> {
        let Reverse(oldest) = self.by_iat.pop()?;
        self.seen.remove(&oldest.jti);
        Some(oldest)
    }

    /// Entries held (tests and metrics).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Stateless nonces: base64url of the first 128 bits of HMAC-SHA256(secret, window number).
/// Any isolate with the same secret issues and accepts the same nonces; the one of the current
/// window and of the previous one are accepted (a nonce lives 60 to 120 s).
pub struct Nonces(Hmac<Sha256>);

impl Nonces {
    /// From a secret (the `dpopNonceSecret` option, or random bytes per isolate).
    pub fn new(secret: &[u8]) -> Option<Self> {
        Hmac::new_from_slice(secret).ok().map(Self)
    }

    fn at(&self, window: i64) -> String {
        let mut mac = self.0.clone();
        mac.update(b"ida-refresh dpop nonce ");
        mac.update(&window.to_be_bytes());
        encode_url(&mac.finalize().into_bytes()[..16])
    }

    fn window(now_ms: f64) -> i64 {
        (now_ms / NONCE_WINDOW_MS).floor() as i64
    }

    /// The nonce to hand out now.
    pub fn current(&self, now_ms: f64) -> String {
        self.at(Self::window(now_ms))
    }

    /// Whether a proof's nonce is current.
    pub fn accepts(&self, nonce: Option<&str>, now_ms: f64) -> bool {
        let Some(nonce) = nonce else { return false };
        let window = Self::window(now_ms);
        nonce == self.at(window) || nonce == self.at(window - 1)
    }
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    const NOW: f64 = 1_700_000_000_000.0;
    const TIMING: ProofTiming = ProofTiming { max_age_ms: 60_000.0, leeway_ms: 30_000.0 };
    const JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const TOKEN: &str = "the.access.token";
    const URL: &str = "https://api.example/x";

    fn b64(s: &str) -> String {
        Base64UrlUnpadded::encode_string(s.as_bytes())
    }

    fn proof(header: serde_json::Value, claims: serde_json::Value) -> String {
        format!("{}.{}.AAAA", b64(&header.to_string()), b64(&claims.to_string()))
    }

    fn header() -> serde_json::Value {
        serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": serde_json::from_str::<serde_json::Value>(JWK).unwrap()})
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"htm": "GET", "htu": URL, "iat": NOW / 1000.0, "jti": "j-1", "ath": sha256_url(TOKEN)})
    }

    fn jkt() -> String {
        sha256_url(&public_jwk(&Json::parse(JWK.as_bytes()).unwrap()).unwrap().1)
    }

    fn judge(text: &str, now_ms: f64) -> Result<String, ProofRejection> {
        let jkt = jkt();
        let expected = Expected { method: "GET", htu: URL, token: TOKEN, jkt: &jkt };
        read_proof(Some(text))?.check(&expected, TIMING, now_ms)
    }

    fn with(mut base: serde_json::Value, patch: serde_json::Value) -> serde_json::Value {
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        base
    }

    #[test]
    fn rfc7638_thumbprint_of_the_rfc_example_key() {
        // RFC 7638 section 3.1: the thumbprint of its example RSA key.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB","alg":"RS256","kid":"2011-04-29"}}"#);
        let text = public_jwk(&Json::parse(jwk.as_bytes()).unwrap()).unwrap().1;
        assert_eq!(sha256_url(&text), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn the_mode_decides_what_a_token_needs() {
        use Need::*;
        assert_eq!(need(Mode::Off, true, false), Nothing);
        assert_eq!(need(Mode::Allowed, false, false), Nothing, "a Bearer token");
        assert_eq!(need(Mode::Allowed, true, true), Proof);
        assert_eq!(need(Mode::Allowed, true, false), Refuse, "a bound token used as Bearer (RFC 9449 7.1)");
        assert_eq!(need(Mode::Allowed, false, true), Refuse, "an unbound token with the DPoP scheme");
        assert_eq!(need(Mode::Required, false, false), Refuse);
        assert_eq!(need(Mode::Required, true, true), Proof);
    }

    #[test]
    fn a_good_proof_passes_and_gives_the_thumbprint() {
        assert_eq!(judge(&proof(header(), claims()), NOW), Ok(jkt()));
        let ed = serde_json::json!({"typ": "dpop+jwt", "alg": "Ed25519", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}});
        let text = proof(ed, claims());
        let read = read_proof(Some(&text)).unwrap();
        assert_eq!(read.key.alg, Alg::EdDsa, "Ed25519 is EdDSA with Ed25519");
    }

    #[test]
    fn hostile_proofs_are_refused_for_what_they_are() {
        use ProofRejection::*;
        let s = NOW / 1000.0;
        let cases: Vec<(ProofRejection, String)> = vec![
            (Method, proof(header(), with(claims(), serde_json::json!({"htm": "POST"})))),
            (Method, proof(header(), with(claims(), serde_json::json!({"htm": "get"})))),
            (Url, proof(header(), with(claims(), serde_json::json!({"htu": "https://api.example/other"})))),
            (Url, proof(header(), with(claims(), serde_json::json!({"htu": "https://api.example/x?a=1"})))),
            (Url, proof(header(), with(claims(), serde_json::json!({"htu": "https://api.example/x#f"})))),
            (Url, proof(header(), with(claims(), serde_json::json!({"htu": "https://evil.example/x"})))),
            (Url, proof(header(), with(claims(), serde_json::json!({"htu": "/x"})))),
            (Time, proof(header(), with(claims(), serde_json::json!({"iat": s - 91.0})))),
            (Time, proof(header(), with(claims(), serde_json::json!({"iat": s + 31.0})))),
            (Claims, proof(header(), with(claims(), serde_json::json!({"iat": "now"})))),
            (Claims, proof(header(), with(claims(), serde_json::json!({"jti": null})))),
            (Claims, proof(header(), with(claims(), serde_json::json!({"jti": ""})))),
            (Claims, proof(header(), with(claims(), serde_json::json!({"htm": null})))),
            (Claims, proof(header(), with(claims(), serde_json::json!({"ath": 7})))),
            (TokenHash, proof(header(), with(claims(), serde_json::json!({"ath": null})))),
            (TokenHash, proof(header(), with(claims(), serde_json::json!({"ath": sha256_url("another.token")})))),
            (Type, proof(with(header(), serde_json::json!({"typ": "JWT"})), claims())),
            (Type, proof(with(header(), serde_json::json!({"typ": null})), claims())),
            (Algorithm, proof(with(header(), serde_json::json!({"alg": "none"})), claims())),
            (Algorithm, proof(with(header(), serde_json::json!({"alg": "HS256"})), claims())),
            (Algorithm, proof(with(header(), serde_json::json!({"alg": "ES384"})), claims())),
            (Algorithm, proof(with(header(), serde_json::json!({"alg": "RS256"})), claims())),
            (Key, proof(with(header(), serde_json::json!({"jwk": null})), claims())),
            (Key, proof(with(header(), serde_json::json!({"jwk": {"kty": "oct", "k": "c2VjcmV0"}})), claims())),
            (Key, proof(with(header(), serde_json::json!({"jwk": with(header()["jwk"].clone(), serde_json::json!({"d": "PRIVATE"}))})), claims())),
            (Key, proof(with(header(), serde_json::json!({"jwk": "a string"})), claims())),
            (Malformed, proof(with(header(), serde_json::json!({"crit": ["exp"]})), claims())),
            (Malformed, proof(with(header(), serde_json::json!({"x5c": []})), claims())),
            (Malformed, "not a proof".into()),
            (Malformed, format!("{}.{}.!!", b64(&header().to_string()), b64(&claims().to_string()))),
            (Malformed, format!("{}.{}.AAAA", b64(r#"{"typ":"dpop+jwt","alg":"ES256","alg":"none"}"#), b64(&claims().to_string()))),
            (Multiple, format!("{}, {}", proof(header(), claims()), proof(header(), claims()))),
            (TooLarge, proof(header(), with(claims(), serde_json::json!({"pad": "a".repeat(MAX_PROOF_BYTES)})))),
        ];
        for (want, text) in &cases {
            assert_eq!(judge(text, NOW).err(), Some(*want), "{want:?}: {text:.60}");
        }
        assert_eq!(read_proof(None).err(), Some(Missing));
        let jkt = "another-thumbprint";
        let expected = Expected { method: "GET", htu: URL, token: TOKEN, jkt };
        assert_eq!(read_proof(Some(&proof(header(), claims()))).unwrap().check(&expected, TIMING, NOW).err(), Some(Thumbprint));
        assert!(judge(&proof(header(), with(claims(), serde_json::json!({"iat": s - 89.0}))), NOW).is_ok(), "max age + leeway");
        assert!(judge(&proof(header(), with(claims(), serde_json::json!({"iat": s + 29.0}))), NOW).is_ok(), "leeway ahead");
        let text = proof(header(), claims());
        let printed = format!("{:?}", read_proof(Some(&text)).unwrap());
        assert!(!printed.contains("j-1") && !printed.contains(&sha256_url(TOKEN)), "{printed}");
    }

    fn key(jti: &str, iat_ms: f64) -> ReplayKey {
        ReplayKey { iat_ms: iat_ms as i64, jti: jti_hash(jti) }
    }

    #[test]
    fn a_jti_is_refused_within_its_window_and_forgotten_when_its_iat_is_too_old() {
        let mut window = ReplayWindow::new(TIMING, 100);
        let k = key("j-1", NOW);
        assert_eq!(window.remember(k, NOW), Remember::Fresh(NOW + 90_000.0), "until iat + max age + leeway");
        assert_eq!(window.remember(k, NOW + 1.0), Remember::Replayed);
        assert!(window.refuses(k) && !window.refuses(key("j-2", NOW)));
        assert_eq!(window.remember(key("j-1", NOW - 5_000.0), NOW + 2.0), Remember::Replayed, "the jti counts, not its iat");
        assert_eq!(window.remember(k, NOW + 90_000.0), Remember::Replayed, "still within the window");
        // After that check() refuses any proof with this iat: the entry may go.
        assert!(matches!(window.remember(key("other", NOW + 90_001.0), NOW + 90_001.0), Remember::Fresh(_)));
        assert_eq!(window.len(), 1, "j-1 expired");
        assert_ne!(jti_hash("j-1"), jti_hash("j-2"));
    }

    #[test]
    fn a_full_window_forgets_its_oldest_and_refuses_anything_as_old() {
        let mut window = ReplayWindow::new(TIMING, 3);
        for (i, jti) in ["a", "b", "c"].iter().enumerate() {
            assert!(matches!(window.remember(key(jti, NOW + 1_000.0 * i as f64), NOW), Remember::Fresh(_)));
        }
        assert!(matches!(window.remember(key("d", NOW + 3_000.0), NOW + 3_000.0), Remember::Fresh(_)), "room made: a is forgotten");
        assert_eq!(window.len(), 3);
        assert_eq!(window.remember(key("a", NOW), NOW + 3_000.0), Remember::TooOld, "a's replay is still refused");
        assert_eq!(window.remember(key("z", NOW - 1_000.0), NOW + 3_000.0), Remember::TooOld, "as old as the floor: could be a forgotten one");
        assert_eq!(window.remember(key("b", NOW + 1_000.0), NOW + 3_000.0), Remember::Replayed, "b is still held");
        assert_eq!(window.remember(key("old", NOW + 500.0), NOW + 3_000.0), Remember::TooOld, "older than what is held, with the window full");
        assert!(matches!(window.remember(key("e", NOW + 4_000.0), NOW + 4_000.0), Remember::Fresh(_)));
        // A flood of fresh proofs (one a second: more than the window holds within one `iat`
        // second would refuse the newest) never lets a replay through, held or forgotten.
        let mut accepted = Vec::new();
        for i in 0..50 {
            let now = NOW + 5_000.0 + f64::from(i) * 1_000.0;
            let k = key(&format!("f{i}"), now);
            assert!(matches!(window.remember(k, now), Remember::Fresh(_)), "{i}");
            accepted.push(k);
        }
        for k in accepted {
            assert!(!matches!(window.remember(k, NOW + 55_000.0), Remember::Fresh(_)), "a replay is refused");
        }
    }

    #[test]
    fn nonces_are_the_same_for_the_same_secret_and_live_two_windows() {
        let a = Nonces::new(b"a nonce secret of thirty-two bytes!").unwrap();
        let b = Nonces::new(b"a nonce secret of thirty-two bytes!").unwrap();
        let other = Nonces::new(b"another secret of thirty-two bytes").unwrap();
        let nonce = a.current(NOW);
        assert_eq!(nonce.len(), 22);
        assert!(b.accepts(Some(&nonce), NOW), "another isolate with the same secret");
        assert!(!other.accepts(Some(&nonce), NOW));
        let start = (NOW / NONCE_WINDOW_MS).floor() * NONCE_WINDOW_MS;
        assert!(a.accepts(Some(&nonce), start + NONCE_WINDOW_MS + 59_999.0), "the next window still takes it");
        assert!(!a.accepts(Some(&nonce), start + 2.0 * NONCE_WINDOW_MS), "two windows on: stale");
        assert!(!a.accepts(Some(&nonce), start - 1.0), "not before it was issued");
        assert!(!a.accepts(None, NOW));
        assert!(!a.accepts(Some(""), NOW));
        assert_ne!(a.current(NOW), a.current(NOW + NONCE_WINDOW_MS));
        assert_eq!(format!("{a:?}"), "Nonces([redacted])");
    }
}
