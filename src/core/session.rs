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
mod tests {
    use super::super::token::tests::jwt;
    use super::*;

    const MIN: f64 = 60_000.0;
    const T0: f64 = 1_700_000_000_000.0;

    fn policy() -> ClientPolicy {
        ClientPolicy { margin_ms: MIN, retry: RetryPolicy::default(), auto_refresh: true }
    }
    fn at(iat_s: f64, exp_s: f64) -> String {
        jwt(r#"{"alg":"HS256"}"#, &format!(r#"{{"sub":"u","iat":{iat_s},"exp":{exp_s}}}"#))
    }
    fn tokens(access: Option<String>, refresh: Option<&str>) -> TokenSet {
        let decoded = access.as_deref().map(|a| token::decode(a).unwrap()).unwrap_or_default();
        TokenSet {
            access_token: access.map(AccessToken::new),
            refresh_token: refresh.map(RefreshToken::new),
            expires_at_ms: decoded.expires_at_ms,
            expiry_from_token: decoded.expires_at_ms.is_some(),
            issued_at_ms: decoded.issued_at_ms,
            claims: decoded.claims,
            ..TokenSet::default()
        }
    }
    /// Received at the end of the second `iat` names: the skew estimate is then exactly 0.
    const RECEIVED: f64 = T0 + 1000.0;

    /// A session whose 1-hour access token was issued at `T0` by a server whose clock agrees.
    fn state_with_fresh_session() -> SessionState {
        let mut state = SessionState::new(policy(), 0.0);
        let seed = Session::seed("rt0", None, T0).unwrap();
        let s = seed.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), Some("rt1")), None, RECEIVED);
        state.succeed(s);
        state
    }
    fn token_of(plan: Plan) -> Option<String> {
        match plan {
            Plan::Serve(t) => t.map(|t| t.expose().to_owned()),
            other => panic!("expected Serve, got {other:?}"),
        }
    }

    #[test]
    fn serves_until_the_margin_then_refreshes() {
        let state = state_with_fresh_session();
        assert!(token_of(state.plan(&Demand::Token, T0 + 10.0 * MIN)).is_some());
        assert_eq!(state.plan(&Demand::Token, T0 + 59.5 * MIN), Plan::Refresh, "inside the 60 s margin");
        assert_eq!(state.plan(&Demand::Explicit, T0 + MIN), Plan::Refresh, "refresh() always asks");
        assert_eq!(state.due_at_ms(), Some(T0 + 60.0 * MIN - 1.2 * MIN));
        assert_eq!(state.tick(T0 + 58.0 * MIN), Plan::Serve(None));
        assert!(token_of(state.plan(&Demand::Token, T0 + 58.9 * MIN)).is_some(), "due, yet still served without waiting");
        assert_eq!(state.tick(T0 + 59.0 * MIN), Plan::Refresh);
    }

    #[test]
    fn margin_is_capped_by_a_fifth_of_a_short_lifetime() {
        let mut state = SessionState::new(policy(), 0.0);
        let s = Session::seed("rt", None, T0).unwrap().after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 10.0)), None), None, RECEIVED);
        state.succeed(s);
        assert_eq!(state.due_at_ms(), Some(T0 + 10_000.0 - 2_400.0));
    }

    #[test]
    fn jitter_spreads_tabs_over_a_quarter_margin_before_the_margin() {
        let mut a = state_with_fresh_session();
        a.jitter = 1.0;
        assert_eq!(a.due_at_ms(), Some(T0 + 60.0 * MIN - 1.45 * MIN));
    }

    #[test]
    fn clock_skew_of_hours_still_refreshes_on_time() {
        // The client's clock is 3 hours behind: the server's `exp` looks 3h+1h away locally.
        let skew = 3.0 * 3600.0 * 1000.0;
        let local_now = T0 - skew;
        let for_date = |date: Option<f64>| {
            let mut state = SessionState::new(policy(), 0.0);
            let s = Session::seed("rt", None, local_now).unwrap();
            state.succeed(s.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), None), date, local_now));
            state
        };
        for state in [for_date(Some(T0)), for_date(None)] {
            let due = state.due_at_ms().unwrap();
            assert!((due - (local_now + 58.8 * MIN)).abs() <= 1_000.0, "due {} s after receipt", (due - local_now) / 1000.0);
            assert!(state.plan(&Demand::Token, local_now + 30.0 * MIN) != Plan::Refresh);
            assert_eq!(state.plan(&Demand::Token, local_now + 59.9 * MIN), Plan::Refresh);
        }
        // Client clock 3 hours ahead: the token must not look expired forever (no storm).
        let ahead = T0 + skew;
        let mut state = SessionState::new(policy(), 0.0);
        let s = Session::seed("rt", None, ahead).unwrap();
        state.succeed(s.after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 3600.0)), None), None, ahead));
        assert!(token_of(state.plan(&Demand::Token, ahead + MIN)).is_some(), "fresh right after refresh");
    }

    #[test]
    fn short_tokens_never_look_expired_on_arrival() {
        // A 1 s token received late in its issuing second: the estimate would leave it ~0 s.
        let s = Session::seed("rt", None, T0).unwrap().after_refresh(tokens(Some(at(T0 / 1000.0, T0 / 1000.0 + 1.0)), None), None, T0 + 999.0);
        assert!(s.local_expiry_ms().unwrap() >= T0 + 999.0 + 500.0, "keeps half its lifetime");
    }

    #[test]
    fn expired_or_missing_access_token_is_due_at_once_and_no_expiry_never() {
        let mut state = SessionState::new(policy(), 0.0);
        state.replace(Some(Session::seed("rt", Some(&at(1.0, 2.0)), T0).unwrap()));
        assert_eq!(state.tick(T0), Plan::Refresh, "expired at start");
        state.replace(Some(Session::seed("rt", None, T0).unwrap()));
        assert_eq!(state.tick(T0), Plan::Refresh, "refresh token only");
        state.replace(Some(Session::seed("rt", Some("opaque"), T0).unwrap()));
        assert_eq!(state.due_at_ms(), None, "no expiry: on demand only");
        assert_eq!(token_of(state.plan(&Demand::Token, T0 + 1e9)).as_deref(), Some("opaque"));
        assert_eq!(state.plan(&Demand::Unauthorized(Some("opaque".into())), T0), Plan::Refresh);
    }

    #[test]
    fn unauthorized_refreshes_only_the_token_that_was_refused() {
        let state = state_with_fresh_session();
        let current = token_of(state.plan(&Demand::Token, T0)).unwrap();
        assert_eq!(state.plan(&Demand::Unauthorized(Some(current.clone())), T0), Plan::Refresh);
        assert_eq!(token_of(state.plan(&Demand::Unauthorized(Some("older".into())), T0)), Some(current));
    }

    #[test]
    fn failed_series_cools_down_but_keeps_serving_a_valid_token() {
        let mut state = state_with_fresh_session();
        let now = T0 + 59.5 * MIN;
        let err = Error { retry_after_ms: Some(60_000.0), ..Error::new(ErrorCode::ServerError, "down") };
        assert_eq!(state.fail(err.clone(), now), Failure::Kept);
        assert!(token_of(state.plan(&Demand::Token, now + 1.0)).is_some(), "still valid: served");
        assert_eq!(state.plan(&Demand::Explicit, now + 1.0), Plan::Fail(err.clone()), "refresh() fails at once");
        assert_eq!(state.tick(now + 1.0), Plan::Serve(None), "timers send nothing in the cooldown");
        assert_eq!(state.plan(&Demand::Token, T0 + 60.0 * MIN - 1_000.0), Plan::Fail(err.clone()), "a second from expiry: not worth sending");
        assert_eq!(state.plan(&Demand::Token, T0 + 60.0 * MIN + 1.0), Plan::Fail(err), "expired and cooling: the last error");
        assert_eq!(state.plan(&Demand::Token, now + 60_001.0), Plan::Refresh, "cooldown over");
        state.end_cooldown();
        assert_eq!(state.plan(&Demand::Explicit, now + 2.0), Plan::Refresh, "online ends it");
    }

    #[test]
    fn retry_after_longer_than_the_cooldown_extends_it() {
        let mut state = state_with_fresh_session();
        let err = Error { retry_after_ms: Some(120_000.0), ..Error::new(ErrorCode::RateLimited, "slow down") };
        state.fail(err, T0);
        assert!(matches!(state.plan(&Demand::Explicit, T0 + 100_000.0), Plan::Fail(_)));
        assert_eq!(state.plan(&Demand::Explicit, T0 + 120_000.0), Plan::Refresh);
    }

    #[test]
    fn an_absurd_retry_after_cools_down_for_at_most_max_cooldown() {
        let mut state = state_with_fresh_session();
        // `Retry-After: 99999999` (about 3 years) through the real header parser.
        let retry_after_ms = super::super::http_date::parse_retry_after("99999999", T0);
        assert_eq!(retry_after_ms, Some(99_999_999_000.0));
        let err = Error { retry_after_ms, ..Error::new(ErrorCode::RateLimited, "slow down") };
        state.fail(err, T0);
        assert!(matches!(state.plan(&Demand::Explicit, T0 + 599_999.0), Plan::Fail(_)), "still cooling");
        assert_eq!(state.plan(&Demand::Explicit, T0 + 600_000.0), Plan::Refresh, "cooldown over after maxCooldownMs");
    }

    #[test]
    fn refused_refresh_token_ends_the_session_only_once_the_access_token_expires() {
        let mut state = state_with_fresh_session();
        let refused = Error::new(ErrorCode::InvalidRefreshToken, "no");
        assert_eq!(state.fail(refused.clone(), T0 + MIN), Failure::Refused);
        assert!(token_of(state.plan(&Demand::Token, T0 + 2.0 * MIN)).is_some());
        assert_eq!(state.plan(&Demand::Explicit, T0 + 2.0 * MIN), Plan::Fail(refused.clone()));
        assert_eq!(state.due_at_ms(), Some(T0 + 60.0 * MIN));
        assert_eq!(state.tick(T0 + 60.0 * MIN), Plan::End);
        assert_eq!(state.plan(&Demand::Token, T0 + 61.0 * MIN), Plan::End);

        let mut expired = SessionState::new(policy(), 0.0);
        expired.replace(Some(Session::seed("rt", None, T0).unwrap()));
        assert_eq!(expired.fail(refused, T0), Failure::End);
    }

    #[test]
    fn rotation_keeps_the_old_refresh_token_when_none_comes_back() {
        let s = Session::seed("rt-old", None, T0).unwrap();
        assert_eq!(s.after_refresh(tokens(Some("at".into()), None), None, T0).refresh_token.expose(), "rt-old");
        assert_eq!(s.after_refresh(tokens(Some("at".into()), Some("rt-new")), None, T0).refresh_token.expose(), "rt-new");
        let cookie = s.after_refresh(TokenSet::default(), None, T0);
        assert!(cookie.cookie_mode);
        let mut state = SessionState::new(policy(), 0.0);
        state.succeed(cookie);
        assert_eq!(state.plan(&Demand::Token, T0), Plan::Serve(None));
        assert_eq!(state.due_at_ms(), None);
        assert_eq!(state.plan(&Demand::Unauthorized(None), T0), Plan::Refresh);
    }

    #[test]
    fn newer_sessions_from_other_tabs_win() {
        let mut state = state_with_fresh_session();
        let mut theirs = state.session().unwrap().clone();
        theirs.refresh_token = RefreshToken::new("rt-from-tab-b");
        theirs.updated_at_ms += 5.0;
        state.fail(Error::new(ErrorCode::Network, "x"), T0);
        assert!(state.adopt(theirs.clone()));
        assert_eq!(state.plan(&Demand::Explicit, T0), Plan::Refresh, "a new refresh token ends the cooldown");
        let mut stale = theirs.clone();
        stale.refresh_token = RefreshToken::new("rt-stale");
        stale.updated_at_ms -= 10.0;
        assert!(!state.adopt(stale));
        assert!(!state.adopt(theirs), "same session: no change");
        assert_eq!(state.session().unwrap().refresh_token.expose(), "rt-from-tab-b");
    }

    #[test]
    fn app_changes_start_a_new_epoch() {
        let mut state = state_with_fresh_session();
        let e = state.epoch();
        state.replace(None);
        assert_ne!(state.epoch(), e);
        assert_eq!(state.plan(&Demand::Token, T0), Plan::SignedOut);
    }

    #[test]
    fn a_session_from_before_a_sign_out_never_comes_back() {
        let mut state = state_with_fresh_session();
        let refreshed_elsewhere = state.session().unwrap().clone();
        let signed_out_at = refreshed_elsewhere.updated_at_ms + 5.0;
        let e = state.epoch();
        assert!(state.end(signed_out_at));
        assert_ne!(state.epoch(), e);
        assert!(!state.adopt(refreshed_elsewhere.clone()), "a refresh answered before the sign-out, arriving after it");
        let same_ms = Session { updated_at_ms: signed_out_at, ..refreshed_elsewhere.clone() };
        assert!(!state.adopt(same_ms), "answered in the millisecond of the sign-out");
        let signed_in_again = Session::seed("rt-new", None, signed_out_at + 1.0).unwrap();
        assert!(state.adopt(signed_in_again.clone()));
        assert!(!state.end(signed_out_at), "a sign-in after the sign-out survives its late message");
        assert_eq!(state.session(), Some(&signed_in_again));
        assert!(!state.adopt(refreshed_elsewhere), "the later message did not lower the mark");
    }

    #[test]
    fn records_round_trip_and_corruption_is_an_error() {
        let state = state_with_fresh_session();
        let s = state.session().unwrap();
        let back = Session::from_record(&s.to_record()).unwrap();
        assert_eq!(&back, s);
        assert!(!format!("{back:?}").contains("rt1"), "Debug stays redacted");
        let dpop = Session { token_type: Some("DPoP".into()), ..s.clone() };
        let back = Session::from_record(&dpop.to_record()).unwrap();
        assert!(back.is_dpop() && !s.is_dpop());
        assert_eq!(back, dpop);
        for bad in [
            "",
            "null",
            "{}",
            "[]",
            r#"{"v":2,"refreshToken":"x"}"#,
            r#"{"v":1,"refreshToken":""}"#,
            r#"{"v":1,"refreshToken":"x","accessToken":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJ4In0.c2ln"}"#,
            r#"{"v":1,"refreshToken":7}"#,
        ] {
            assert_eq!(Session::from_record(bad).unwrap_err().code, ErrorCode::StorageError, "{bad}");
        }
    }

    #[test]
    fn seeds_are_validated() {
        assert!(Session::seed("", None, T0).is_err());
        assert!(Session::seed("rt", Some(""), T0).is_err());
        let seed = || Session::seed("rt", None, T0).unwrap();
        assert!(seed().with_token_type(Some("dpop".into())).unwrap().is_dpop());
        assert!(!seed().with_token_type(Some("Bearer".into())).unwrap().is_dpop());
        assert!(!seed().with_token_type(None).unwrap().is_dpop());
        assert_eq!(seed().with_token_type(Some("MAC".into())).unwrap_err().code, ErrorCode::InvalidArgument);
        let bad_claims = jwt(r#"{"alg":"HS256"}"#, r#"{"exp":"soon"}"#);
        assert!(Session::seed("rt", Some(&bad_claims), T0).unwrap_err().message.starts_with("accessToken"));
    }
}
