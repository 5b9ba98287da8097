//! A request's outcome: what handle() answers and authenticate() reports, from one rule.

use super::*;

impl Outcome {
    /// The `WWW-Authenticate` value of a 401 for this outcome (a refused token, a refused proof,
    /// nothing presented); what handle() sends and authenticate() reports.
    pub(super) fn challenge(&self) -> String {
        match &self.status {
            Status::DpopRefused(challenge) => dpop::challenge_header(challenge),
            Status::Unauthenticated { token_presented: false } => "Bearer".to_owned(),
            _ => "Bearer error=\"invalid_token\"".to_owned(),
        }
    }

    /// The `DPoP-Nonce` to send back: the one a proof lacked, or a fresh one for the next proof.
    pub(super) fn dpop_nonce(&self) -> Option<&str> {
        match &self.status {
            Status::DpopRefused(Challenge::UseNonce(nonce)) => Some(nonce),
            _ => self.dpop.as_ref().and_then(|d| d.nonce.as_deref()),
        }
    }

    pub(super) fn only(status: Status, set_cookies: Vec<String>) -> Self {
        Self { status, claims: None, request: None, set_cookies, dpop: None }
    }

    pub(super) fn unavailable(retry_after_s: u64) -> Self {
        Self::only(Status::Unavailable { retry_after_s }, Vec::new())
    }

    pub(super) fn to_js(&self) -> JsValue {
        let status = match self.status {
            Status::Authenticated => "authenticated",
            Status::Refreshed => "refreshed",
            Status::Unauthenticated { .. } | Status::DpopRefused(_) => "unauthenticated",
            Status::Unavailable { .. } => "unavailable",
            Status::Forbidden => "forbidden",
        };
        let cookies: Array = self.set_cookies.iter().map(|c| JsValue::from_str(c)).collect();
        let thumbprint = self.dpop.as_ref().map(|d| d.thumbprint.as_str());
        let challenge = (status == "unauthenticated").then(|| self.challenge());
        js_outcome(status, self.claims.as_ref().map(|c| c.json.as_str()), self.request.clone(), cookies, thumbprint, challenge.as_deref(), self.dpop_nonce())
    }
}
