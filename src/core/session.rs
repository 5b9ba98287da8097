//! The session and the state machine of RefreshClient. Pure: the adapter feeds it the clock,
//! responses, storage reads and messages from other tabs, and carries out what it decides
//! (send a request, serve a token, fail at once, end the session).

use super::error::{Error, ErrorCode};
use super::json::{Json, ObjectWriter};
use super::policy::{effective_margin_ms, estimate_skew_ms, RetryPolicy};
use super::response::TokenSet;
use super::secret::{AccessToken, RefreshToken};
use super::token::{self, Claims};

/// A signed-in session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The access token; `None` in cookie mode or before the first refresh.
    pub access_token: Option<AccessToken>,
    /// The refresh token (always present: a session without one cannot be kept).
    pub refresh_token: RefreshToken,
    /// Access-token expiry as the server states it (`exp`), or local (`expires_in`).
    pub expires_at_ms: Option<f64>,
    /// The access token's decoded payload.
    pub claims: Option<Claims>,
    /// Server clock minus local clock, applied to `expires_at_ms`.
    pub skew_ms: f64,
    /// The access token's lifetime (for the 20% margin cap).
    pub lifetime_ms: Option<f64>,
    /// The server answered refreshes with no access token: it keeps the session in cookies.
    pub cookie_mode: bool,
    /// Local time of the last change; the newest session wins across tabs.
    pub updated_at_ms: f64,
    /// The `token_type` of the last refresh (`DPoP` decides the Authorization scheme).
    pub token_type: Option<String>,
}

impl Session {
    /// A session from tokens the app already holds (`setSession`, constructor seeds).
    pub fn seed(refresh_token: &str, access_token: Option<&str>, now_ms: f64) -> Result<Self, Error> {
        if refresh_token.is_empty() {
            return Err(Error::invalid_argument("refreshToken", "must be a non-empty string"));
        }
        if access_token == Some("") {
            return Err(Error::invalid_argument("accessToken", "must be a non-empty string"));
        }
        let decoded = access_token
            .map(token::decode)
            .transpose()
            .map_err(|_| Error::invalid_argument("accessToken", "is a JWT with malformed claims"))?
            .unwrap_or_default();
        Ok(Self {
            access_token: access_token.map(AccessToken::new),
            refresh_token: RefreshToken::new(refresh_token),
            expires_at_ms: decoded.expires_at_ms,
            lifetime_ms: decoded.issued_at_ms.zip(decoded.expires_at_ms).map(|(iat, exp)| exp - iat),
            claims: decoded.claims,
            // No response to measure against: a seeded token's iat may be old.
            skew_ms: 0.0,
            cookie_mode: false,
            updated_at_ms: now_ms,
            token_type: None,
        })
    }

    /// A seeded session's `token_type`, as the app knows it (a DPoP-bound session's first
    /// request then says DPoP instead of learning it from a refused Bearer one).
    pub fn with_token_type(self, token_type: Option<String>) -> Result<Self, Error> {
        match token_type {
            Some(t) if !t.eq_ignore_ascii_case("Bearer") && !super::dpop::is_dpop_token_type(&t) => {
                Err(Error::invalid_argument("tokenType", "must be \"Bearer\" or \"DPoP\""))
            }
            token_type => Ok(Self { token_type, ..self }),
        }
    }

    /// The session after a successful refresh. A response without a refresh token keeps the
    /// current one; a response without an access token means cookie mode.
    pub fn after_refresh(&self, tokens: TokenSet, date_header_ms: Option<f64>, received_at_ms: f64) -> Self {
        let mut skew_ms = if tokens.expiry_from_token { estimate_skew_ms(date_header_ms, tokens.issued_at_ms, received_at_ms) } else { 0.0 };
        let lifetime_ms = match (tokens.issued_at_ms, tokens.expires_at_ms) {
            (Some(iat), Some(exp)) => {
                // Whole-second clocks must not make a short token look expired on arrival
                // (a refresh storm): locally it keeps at least half its lifetime.
                skew_ms = skew_ms.min(exp - received_at_ms - (exp - iat) / 2.0);
                Some(exp - iat)
            }
            (None, Some(exp)) => Some(exp - skew_ms - received_at_ms),
            _ => None,
        };
        Self {
            cookie_mode: tokens.access_token.is_none(),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.unwrap_or_else(|| self.refresh_token.clone()),
            expires_at_ms: tokens.expires_at_ms,
            claims: tokens.claims,
            skew_ms,
            lifetime_ms,
            updated_at_ms: received_at_ms,
            token_type: tokens.token_type,
        }
    }

    /// Expiry on the local clock.
    pub fn local_expiry_ms(&self) -> Option<f64> {
        self.expires_at_ms.map(|e| e - self.skew_ms)
    }

    /// An access token that has not expired (unknown expiry counts as valid).
    pub fn access_valid(&self, now_ms: f64) -> bool {
        self.access_token.is_some() && self.local_expiry_ms().is_none_or(|e| now_ms < e)
    }

    /// An access token with more than the margin left.
    fn access_fresh(&self, now_ms: f64, margin_ms: f64) -> bool {
        self.access_left(now_ms, effective_margin_ms(margin_ms, self.lifetime_ms))
    }

    /// An access token still worth sending while refreshing fails: a quarter of the margin
    /// left, so it does not expire on its way to the resource server.
    pub fn access_usable(&self, now_ms: f64, margin_ms: f64) -> bool {
        self.access_left(now_ms, effective_margin_ms(margin_ms, self.lifetime_ms) / 4.0)
    }

    fn access_left(&self, now_ms: f64, at_least_ms: f64) -> bool {
        self.access_token.is_some() && self.local_expiry_ms().is_none_or(|e| now_ms < e - at_least_ms)
    }

    /// Whether the access token is DPoP-bound: the server said `token_type` DPoP.
    pub fn is_dpop(&self) -> bool {
        self.token_type.as_deref().is_some_and(super::dpop::is_dpop_token_type)
    }

    /// The JSON kept in storage: `{"v":1,"refreshToken":…,"accessToken":…,"expiresAt":…,
    /// "skewMs":…,"lifetimeMs":…,"tokenType":…,"cookieMode":…,"updatedAt":…}`, times as whole milliseconds.
    /// Claims are not stored: they are decoded again on load.
    pub fn to_record(&self) -> String {
        let mut record = ObjectWriter::default();
        record.integer("v", 1.0).string("refreshToken", self.refresh_token.expose());
        if let Some(access) = &self.access_token {
            record.string("accessToken", access.expose());
        }
        for (name, value) in
            [("expiresAt", self.expires_at_ms), ("skewMs", Some(self.skew_ms)), ("lifetimeMs", self.lifetime_ms), ("updatedAt", Some(self.updated_at_ms))]
        {
            if let Some(value) = value {
                record.integer(name, value);
            }
        }
        if let Some(token_type) = &self.token_type {
            record.string("tokenType", token_type);
        }
        record.boolean("cookieMode", self.cookie_mode).finish()
    }

    /// Reads a stored record. Anything else is a `storage_error` (the caller discards it).
    pub fn from_record(text: &str) -> Result<Self, Error> {
        let corrupt = || Error::new(ErrorCode::StorageError, "the stored session is corrupt and was discarded");
        let record = Json::parse(text.as_bytes()).filter(|r| r.get("v").and_then(Json::as_f64) == Some(1.0)).ok_or_else(corrupt)?;
        // Absent or null: `None`; the expected type: `Some`; anything else: corrupt.
        let member = |name: &str| record.get(name).filter(|v| !matches!(v, Json::Null));
        let number = |name: &str| member(name).map(|v| v.as_f64().ok_or_else(corrupt)).transpose();
        let string = |name: &str| member(name).map(|v| v.as_str().ok_or_else(corrupt)).transpose();
        let cookie_mode = match member("cookieMode") {
            None => false,
            Some(Json::Bool(b)) => *b,
            Some(_) => return Err(corrupt()),
        };
        let refresh_token = string("refreshToken")?.ok_or_else(corrupt)?;
        let mut session = Self::seed(refresh_token, string("accessToken")?, number("updatedAt")?.unwrap_or(0.0)).map_err(|_| corrupt())?;
        session.expires_at_ms = number("expiresAt")?;
        session.skew_ms = number("skewMs")?.unwrap_or(0.0);
        session.lifetime_ms = number("lifetimeMs")?;
        session.cookie_mode = cookie_mode;
        session.token_type = string("tokenType")?.map(str::to_owned);
        Ok(session)
    }
}

/// RefreshClient's timing options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientPolicy {
    /// Refresh this long before expiry (capped at 20% of the lifetime).
    pub margin_ms: f64,
    /// Retries and cooldown.
    pub retry: RetryPolicy,
    /// Refresh proactively on timers.
    pub auto_refresh: bool,
}

/// Who is asking for a token.
#[derive(Clone, Debug, PartialEq)]
pub enum Demand {
    /// `getAccessToken()` / `authFetch()`: a token with more than the margin left.
    Token,
    /// `refresh()`: a request, unless one is blocked.
    Explicit,
    /// A resource server answered 401 to this access token (`None`: cookie mode).
    Unauthorized(Option<String>),
}

/// What to do for a demand.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Answer with this token (`None` in cookie mode) and send nothing.
    Serve(Option<AccessToken>),
    /// Send a refresh request (joining the one in flight, if any).
    Refresh,
    /// Fail at once with this error; nothing is sent (cooldown, or a refused refresh token).
    Fail(Error),
    /// The refresh token was refused and the access token has now expired: end the session.
    End,
    /// There is no session.
    SignedOut,
}

/// The outcome of a failed refresh series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The session stays; a cooldown runs; the app gets an `error` event.
    Kept,
    /// The refresh token was refused but the access token still works: it is served until it
    /// expires, then the session ends.
    Refused,
    /// The refresh token was refused and nothing valid is left: the session ends now.
    End,
}

/// RefreshClient's state.
#[derive(Clone, Debug)]
pub struct SessionState {
    policy: ClientPolicy,
    session: Option<Session>,
    cooldown_until_ms: Option<f64>,
    last_error: Option<Error>,
    refused: Option<Error>,
    epoch: u64,
    /// When the session last ended (here or in another tab): nothing last updated before then
    /// is adopted, so a refresh answered just before a sign-out cannot bring the session back.
    ended_at_ms: f64,
    /// Per-client random in [0, 1): spreads proactive refreshes of several tabs over a quarter
    /// of the margin, so the first tab's result usually reaches the others in time.
    jitter: f64,
}

impl SessionState {
    /// An empty state.
    pub fn new(policy: ClientPolicy, jitter: f64) -> Self {
        Self {
            policy,
            session: None,
            cooldown_until_ms: None,
            last_error: None,
            refused: None,
            epoch: 0,
            ended_at_ms: f64::NEG_INFINITY,
            jitter: jitter.clamp(0.0, 1.0),
        }
    }

    /// The current session.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The policy in force.
    pub fn policy(&self) -> &ClientPolicy {
        &self.policy
    }

    /// Changes whenever the session is replaced or ended by the app: a refresh that started in
    /// an older epoch must not apply its result.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn cooling(&self, now_ms: f64) -> bool {
        self.cooldown_until_ms.is_some_and(|until| now_ms < until)
    }

    /// Decides how to meet a demand.
    pub fn plan(&self, demand: &Demand, now_ms: f64) -> Plan {
        let Some(session) = &self.session else { return Plan::SignedOut };
        let valid = session.access_valid(now_ms);
        if let Some(refused) = &self.refused {
            return match demand {
                _ if !valid => Plan::End,
                Demand::Token => Plan::Serve(session.access_token.clone()),
                _ => Plan::Fail(refused.clone()),
            };
        }
        let blocked = |serve_valid: bool| match &self.last_error {
            Some(e) if self.cooling(now_ms) => Some(if serve_valid && session.access_usable(now_ms, self.policy.margin_ms) {
                Plan::Serve(session.access_token.clone())
            } else {
                Plan::Fail(e.clone())
            }),
            _ => None,
        };
        match demand {
            Demand::Token if session.cookie_mode => Plan::Serve(None),
            Demand::Token if session.access_fresh(now_ms, self.policy.margin_ms) => Plan::Serve(session.access_token.clone()),
            Demand::Token => blocked(true).unwrap_or(Plan::Refresh),
            Demand::Unauthorized(used) if valid && session.access_token.as_ref().map(|t| t.expose()) != used.as_deref() => {
                Plan::Serve(session.access_token.clone())
            }
            Demand::Unauthorized(_) | Demand::Explicit => blocked(false).unwrap_or(Plan::Refresh),
        }
    }

    /// When timers should next look (`None`: nothing scheduled). Proactive refresh happens
    /// 1.2 to 1.45 margins before expiry: the new token is in place before the old one leaves
    /// the margin, so callers never wait for it; a session with no access token (an expired or
    /// missing one) is due at once; one with no expiry is never due.
    pub fn due_at_ms(&self) -> Option<f64> {
        let session = self.session.as_ref()?;
        if self.refused.is_some() {
            return session.local_expiry_ms();
        }
        if !self.policy.auto_refresh || session.cookie_mode {
            return None;
        }
        let due = match (&session.access_token, session.local_expiry_ms()) {
            (None, _) => 0.0,
            (Some(_), None) => return None,
            (Some(_), Some(expiry)) => {
                let margin = effective_margin_ms(self.policy.margin_ms, session.lifetime_ms);
                expiry - margin * (1.2 + 0.25 * self.jitter)
            }
        };
        Some(match self.cooldown_until_ms {
            Some(until) if self.last_error.is_some() => due.max(until),
            _ => due,
        })
    }

    /// What a timer tick should do now.
    pub fn tick(&self, now_ms: f64) -> Plan {
        match self.due_at_ms() {
            Some(due) if now_ms >= due => match self.plan(&Demand::Explicit, now_ms) {
                Plan::Fail(_) => Plan::Serve(None),
                other => other,
            },
            _ => Plan::Serve(None),
        }
    }

    /// The app set (or cleared) the session: a new epoch, no cooldown, no refusal.
    pub fn replace(&mut self, session: Option<Session>) {
        self.epoch += 1;
        self.session = session;
        self.end_cooldown();
        self.refused = None;
    }

    /// The session ended at `at_ms`, here or in another tab that said when: a new epoch, and
    /// from now on no session last updated before `at_ms` is adopted. A session set after
    /// `at_ms` (a sign-in that crossed the message) stays; returns whether ours ended.
    pub fn end(&mut self, at_ms: f64) -> bool {
        self.ended_at_ms = self.ended_at_ms.max(at_ms);
        if self.session.as_ref().is_some_and(|s| s.updated_at_ms > at_ms) {
            return false;
        }
        self.replace(None);
        true
    }

    /// A session seen in storage or sent by another tab. Taken when it differs, is not older
    /// than ours and is newer than the last sign-out (the same millisecond counts as before:
    /// `Date.now()` is coarse); returns whether it was.
    pub fn adopt(&mut self, incoming: Session) -> bool {
        let newer = incoming.updated_at_ms > self.ended_at_ms
            && match &self.session {
                Some(current) => *current != incoming && incoming.updated_at_ms >= current.updated_at_ms,
                None => true,
            };
        if newer {
            if self.session.as_ref().is_none_or(|s| s.refresh_token != incoming.refresh_token) {
                self.refused = None;
                self.end_cooldown();
            }
            self.session = Some(incoming);
        }
        newer
    }

    /// A refresh succeeded.
    pub fn succeed(&mut self, session: Session) {
        self.session = Some(session);
        self.end_cooldown();
        self.refused = None;
    }

    /// A refresh series failed with `error`.
    pub fn fail(&mut self, error: Error, now_ms: f64) -> Failure {
        if error.code == ErrorCode::InvalidRefreshToken {
            if self.session.as_ref().is_some_and(|s| s.access_valid(now_ms)) {
                self.refused = Some(error);
                return Failure::Refused;
            }
            return Failure::End;
        }
        self.cooldown_until_ms = Some(now_ms + self.policy.retry.cooldown_after(&error));
        self.last_error = Some(error);
        Failure::Kept
    }

    /// Ends a cooldown early (the browser came back online, or the app set a session).
    pub fn end_cooldown(&mut self) {
        self.cooldown_until_ms = None;
        self.last_error = None;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
