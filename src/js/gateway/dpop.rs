//! DPoP at the gateway (`core::dpop_check` decides): the request's `DPoP` header and URL in,
//! the proof's signature through WebCrypto (imported keys cached by their RFC 7638 text), its
//! `jti` remembered in this isolate and, when the RefreshCoordinator Durable Object is bound,
//! across isolates; nonces handed out.

use super::super::global::global;
use super::refresh::{coordinator_call, hex};
use super::*;
use crate::core::dpop::htu;
use crate::core::dpop_check::{need, read_proof, Expected, Mode, Need, Nonces, ProofTiming, Remember, ReplayKey, ReplayWindow, MAX_REMEMBERED};

/// Imported proof keys kept per isolate (a client keeps its key for a session: most requests
/// find theirs here; a full cache is emptied and refilled).
const MAX_PROOF_KEYS: usize = 1_024;

/// What a refused DPoP request is told (RFC 9449 section 7.1 and 9).
pub(super) enum Challenge {
    /// The proof is missing or fails a check.
    InvalidProof,
    /// The token is not usable with the scheme it came with (a bound token as Bearer, an
    /// unbound one as DPoP, or any unbound one when DPoP is required).
    InvalidToken,
    /// No current nonce in the proof: this one is.
    UseNonce(String),
}

/// A request whose proof held.
pub(super) struct Accepted {
    /// The key's thumbprint (`AuthOutcome.dpopThumbprint`).
    pub thumbprint: String,
    /// The nonce to hand back (`DPoP-Nonce`) when the gateway issues them.
    pub nonce: Option<String>,
}

/// A proof that passed every check but its signature and its `jti`.
pub(super) struct CheckedProof {
    /// The `jwk` and the algorithm it signs with.
    pub key: PublicKey,
    pub signature: Vec<u8>,
    pub signing_input: String,
    replay: ReplayKey,
    accepted: Accepted,
}

/// The DPoP settings and state of one gateway.
pub(super) struct Dpop {
    pub mode: Mode,
    /// `publicOrigin`: the origin clients address (the gateway behind a proxy sees another).
    pub public_origin: Option<String>,
    pub timing: ProofTiming,
    /// `dpopNonce`: whether proofs must carry a nonce of ours.
    pub nonce: bool,
    /// From `dpopNonceSecret`, else drawn at first use (per isolate).
    pub nonces: RefCell<Option<Nonces>>,
    pub window: RefCell<ReplayWindow>,
    pub keys: KeyCache,
}

impl Dpop {
    pub(super) fn new(mode: Mode, public_origin: Option<String>, timing: ProofTiming, nonce: bool, secret: Option<&[u8]>) -> Self {
        Self {
            mode,
            public_origin,
            timing,
            nonce,
            nonces: RefCell::new(secret.and_then(Nonces::new)),
            window: RefCell::new(ReplayWindow::new(timing, MAX_REMEMBERED)),
            keys: KeyCache::with_capacity(MAX_PROOF_KEYS),
        }
    }

    /// The nonce to hand out now, when the gateway issues them. Without a configured secret one
    /// is drawn on first use (Workers forbid random numbers outside a request).
    fn current_nonce(&self, now_ms: f64) -> Option<String> {
        if !self.nonce {
            return None;
        }
        let mut nonces = self.nonces.borrow_mut();
        if nonces.is_none() {
            *nonces = random_bytes().and_then(|secret| Nonces::new(&secret));
        }
        nonces.as_ref().map(|n| n.current(now_ms))
    }

    /// The `htu` the request was addressed to: its URL, or its path under `publicOrigin`.
    fn request_htu(&self, url: &str) -> Option<String> {
        match &self.public_origin {
            Some(origin) => {
                let path = url.find("//").and_then(|i| url[i + 2..].find('/').map(|j| &url[i + 2 + j..])).unwrap_or("/");
                htu(&[origin.as_str(), path].concat())
            }
            None => htu(url),
        }
    }
}

fn random_bytes() -> Option<Vec<u8>> {
    let crypto = global("crypto")?;
    let bytes = js_sys::Uint8Array::new_with_length(32);
    method(&crypto, "getRandomValues")?.call1(&crypto, &bytes).ok()?;
    Some(bytes.to_vec())
}

impl Gateway {
    /// What DPoP asks of a request whose token verified: nothing (a Bearer token), or a proof
    /// that passes every check. `Err` is the refusal (401 with a DPoP challenge, or 503 when the
    /// coordinator cannot be asked).
    pub(super) async fn check_dpop(&self, request: &Request, presented: &Presented, token: &str, claims: &VerifiedClaims) -> Result<Option<Accepted>, Status> {
        let Some(proof) = self.check_proof(request, presented, token, claims)? else { return Ok(None) };
        if !self.dpop.keys.verify(&proof.key, &proof.signature, proof.signing_input.as_bytes()).await {
            return Err(Status::DpopRefused(Challenge::InvalidProof));
        }
        let (accepted, key, until) = self.remember_proof(proof)?;
        if let Some(namespace) = &self.coordinator {
            self.remember_across(namespace, key, until).await?;
        }
        Ok(Some(accepted))
    }

    /// Every check of the proof that needs no key and changes nothing: the scheme, the header,
    /// the claims against the request and the token, the nonce, and whether its `jti` is
    /// already refused (a replay costs no WebCrypto call). `None`: no proof is needed.
    pub(super) fn check_proof(&self, request: &Request, presented: &Presented, token: &str, claims: &VerifiedClaims) -> Result<Option<CheckedProof>, Status> {
        let dpop = &self.dpop;
        match need(dpop.mode, claims.jkt.is_some(), presented.dpop_scheme) {
            Need::Nothing => return Ok(None),
            Need::Refuse => return Err(Status::DpopRefused(Challenge::InvalidToken)),
            Need::Proof => {}
        }
        let refused = |_| Status::DpopRefused(Challenge::InvalidProof);
        let header = request.headers().get("dpop").ok().flatten();
        let proof = read_proof(header.as_deref()).map_err(refused)?;
        let url = dpop.request_htu(&request.url()).ok_or(Status::DpopRefused(Challenge::InvalidProof))?;
        let (method, jkt) = (request.method(), claims.jkt.as_deref().unwrap_or_default());
        let expected = Expected { method: &method, htu: &url, token, jkt };
        let thumbprint = proof.check(&expected, dpop.timing, now()).map_err(refused)?;
        let nonce = dpop.current_nonce(now());
        if let Some(current) = &nonce {
            let accepted = dpop.nonces.borrow().as_ref().is_some_and(|n| n.accepts(proof.nonce(), now()));
            if !accepted {
                return Err(Status::DpopRefused(Challenge::UseNonce(current.clone())));
            }
        }
        let replay = proof.replay_key();
        if dpop.window.borrow().refuses(replay) {
            return Err(Status::DpopRefused(Challenge::InvalidProof));
        }
        let signing_input = proof.signing_input.to_owned();
        Ok(Some(CheckedProof { key: proof.key, signature: proof.signature, signing_input, replay, accepted: Accepted { thumbprint, nonce } }))
    }

    /// A proof whose signature held: its `jti` remembered in this isolate (check and insert in
    /// one step), or refused as a replay. Returns what the coordinator must remember too.
    pub(super) fn remember_proof(&self, proof: CheckedProof) -> Result<(Accepted, ReplayKey, f64), Status> {
        let remembered = self.dpop.window.borrow_mut().remember(proof.replay, now());
        match remembered {
            Remember::Fresh(until) => Ok((proof.accepted, proof.replay, until)),
            Remember::Replayed | Remember::TooOld => Err(Status::DpopRefused(Challenge::InvalidProof)),
        }
    }

    /// Asks the Durable Object named by the `jti`'s hash whether it saw it (one object per
    /// `jti`: it keeps the expiry in its storage and forgets it with an alarm).
    async fn remember_across(&self, namespace: &JsValue, key: ReplayKey, until: f64) -> Result<(), Status> {
        let body = ObjectWriter::default().integer("until", until).finish();
        let reply = coordinator_call(namespace, &["dpop-jti:", &hex(&key.jti)].concat(), "dpop-jti", body, self.endpoint.transport.timeout_ms).await;
        match reply.as_ref().and_then(|r| r.get("fresh")) {
            Some(Json::Bool(true)) => Ok(()),
            Some(Json::Bool(false)) => Err(Status::DpopRefused(Challenge::InvalidProof)),
            _ => Err(Status::Unavailable { retry_after_s: 1 }),
        }
    }
}

/// The `WWW-Authenticate` value of a DPoP refusal.
pub(super) fn challenge_header(challenge: &Challenge) -> String {
    let error = match challenge {
        Challenge::InvalidProof => "invalid_dpop_proof",
        Challenge::InvalidToken => "invalid_token",
        Challenge::UseNonce(_) => "use_dpop_nonce",
    };
    ["DPoP error=\"", error, "\", algs=\"", crate::core::dpop_check::PROOF_ALGS, "\""].concat()
}
