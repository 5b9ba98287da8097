//! Access tokens and their keys: the verification, and the key set's JWKS fetches (the
//! policy is `core::keyset`'s; this carries it out).

use super::*;

impl Gateway {
    /// Verifies an access token: structure, header and claims in the core; the signature with
    /// the cached HMAC state, or through WebCrypto with the key the key set finds.
    pub(super) async fn verify(self: &Rc<Self>, token: &str, ctx: &JsValue) -> Result<VerifiedClaims, Refusal> {
        let parsed = read_token(token, &self.policy, self.hmac.is_some())?;
        match (parsed.alg, &self.hmac) {
            (Alg::Hs256, Some(hmac)) => parsed.verify_hmac(hmac)?,
            _ => {
                let key = self.key_for(parsed.kid.as_deref(), ctx).await?;
                parsed.agrees_with(&key)?;
                if !self.crypto.verify(&key, &parsed.signature, parsed.signing_input.as_bytes()).await {
                    return Err(Rejection::Signature.into());
                }
            }
        }
        Ok(parsed.claims(&self.policy, now())?)
    }

    /// The key a token names, as the key set decides: found, unknown (401), or unavailable
    /// (503); fetching the JWKS or waiting for a fetch in flight on the way.
    pub(super) async fn key_for(self: &Rc<Self>, kid: Option<&str>, ctx: &JsValue) -> Result<Rc<PublicKey>, Refusal> {
        let mut decision = self.keys.borrow_mut().lookup(kid, now());
        let due = self.keys.borrow_mut().refresh_due(now());
        if let Some(ticket) = due {
            let gw = self.clone();
            let background = promise(async move {
                gw.fetch_jwks(ticket).await;
                Ok(JsValue::UNDEFINED)
            });
            match method(ctx, "waitUntil") {
                Some(wait_until) => drop(wait_until.call1(ctx, &background)),
                None => drop(background),
            }
        }
        loop {
            decision = match decision {
                KeyLookup::Found(key) => return Ok(key),
                KeyLookup::Unknown => return Err(Rejection::UnknownKey.into()),
                KeyLookup::Unavailable { retry_after_s } => return Err(Refusal::Unavailable(retry_after_s)),
                KeyLookup::Fetch(ticket) => {
                    self.fetch_jwks(ticket).await;
                    self.keys.borrow_mut().lookup_after_wait(kid, now())
                }
                KeyLookup::Wait => {
                    sleep(POLL_MS).await;
                    self.keys.borrow_mut().lookup_after_wait(kid, now())
                }
            };
        }
    }

    /// One JWKS fetch, reported to the key set (any failure: network, status, body, cap).
    pub(super) async fn fetch_jwks(&self, ticket: FetchTicket) {
        let Some((url, transport)) = &self.jwks else { return };
        self.jwks_fetches.set(self.jwks_fetches.get() + 1);
        let fetched = transport.get(url, JWKS_MAX_BYTES).await.ok().filter(|raw| raw.status == 200);
        let keys = fetched.and_then(|raw| parse_jwks(&raw.body, &self.policy.algorithms).ok());
        self.keys.borrow_mut().fetched(ticket, keys, now());
    }
}
