//! One refresh per refresh token (core::flight): leading it, directly or through the
//! RefreshCoordinator Durable Object, and waiting for it.

use super::*;

impl Gateway {
    /// One refresh per refresh token, however many requests carry it (core::flight): the
    /// first request refreshes (through the Durable Object when configured), the others poll
    /// for its outcome with their own timers; a success also answers late requests.
    pub(super) async fn refresh_shared(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        let key = flight_key(refresh_token);
        let busy = || Error { retry_after_ms: Some(1_000.0), ..Error::new(ErrorCode::ServerError, "too many refreshes in flight") };
        let joined = self.flights.borrow_mut().join(key, now());
        let mut ticket = match joined {
            Join::Done(tokens) => return Ok(tokens),
            Join::Busy => return Err(busy()),
            Join::Lead(ticket) => return self.lead(ticket, key, refresh_token).await,
            Join::Follow(ticket) => ticket,
        };
        loop {
            sleep(POLL_MS).await;
            let polled = self.flights.borrow_mut().poll(&mut ticket, now());
            match polled {
                Poll::Pending => {}
                Poll::Ready(outcome) => return outcome,
                Poll::Gone => return Err(busy()),
            }
        }
    }

    pub(super) async fn lead(&self, ticket: Ticket, key: FlightKey, refresh_token: &str) -> Result<TokenSet, Error> {
        // If this request is dropped mid-refresh, its followers are told at once (503).
        let guard = Abandon { flights: &self.flights, ticket: Some(ticket) };
        let outcome = match &self.coordinator {
            Some(namespace) => self.refresh_via_coordinator(namespace, key, refresh_token).await,
            None => self.refresh_now(refresh_token).await,
        };
        guard.finish(outcome.clone());
        outcome
    }

    pub(super) async fn refresh_now(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        self.refresh_calls.set(self.refresh_calls.get() + 1);
        self.endpoint.exchange(&RefreshToken::new(refresh_token)).await.map(|(tokens, _)| tokens).map_err(|e| e.error)
    }

    pub(super) async fn refresh_via_coordinator(&self, namespace: &JsValue, key: FlightKey, refresh_token: &str) -> Result<TokenSet, Error> {
        let unavailable = || Error::new(ErrorCode::ServerError, "the refresh coordinator failed");
        let name = hex(&key);
        let body = ObjectWriter::default().string("refreshToken", refresh_token).raw("options", &self.endpoint.to_options_json()).finish();
        // The object refreshes within the same timeout; its answer gets a little more on top.
        let reply = coordinator_call(namespace, &name, "refresh", body, self.endpoint.transport.timeout_ms).await.ok_or_else(unavailable)?;
        if let Some(e) = reply.get("error") {
            let code = match e.get("code").and_then(Json::as_str) {
                Some("invalid_refresh_token") => ErrorCode::InvalidRefreshToken,
                Some("rate_limited") => ErrorCode::RateLimited,
                _ => ErrorCode::ServerError,
            };
            return Err(Error { retry_after_ms: e.get("retryAfterMs").and_then(Json::as_f64), ..Error::new(code, "the refresh failed") });
        }
        let result = reply.get("result").ok_or_else(unavailable)?;
        let text = |k: &str| result.get(k).and_then(Json::as_str).filter(|s| !s.is_empty());
        let access = text("accessToken").map(AccessToken::new);
        let decoded = access.as_ref().map(|a| token::decode(a.expose())).transpose()?.unwrap_or_default();
        Ok(TokenSet {
            expires_at_ms: result.get("expiresAt").and_then(Json::as_f64),
            refresh_token: text("refreshToken").map(RefreshToken::new),
            access_token: access,
            issued_at_ms: decoded.issued_at_ms,
            expiry_from_token: decoded.expires_at_ms.is_some(),
            claims: decoded.claims,
            ..TokenSet::default()
        })
    }
}

/// Lower-case hex: the name of a Durable Object for a hash.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().flat_map(|b| [hex_digit(u32::from(b >> 4)), hex_digit(u32::from(b & 15))]).collect()
}

/// One call to the RefreshCoordinator object `name` (`path`: "refresh" or "dpop-jti") with a
/// JSON body: its JSON answer, or `None` for any failure. The answer may take `timeout_ms` (the
/// object's own work) plus a little.
pub(super) async fn coordinator_call(namespace: &JsValue, name: &str, path: &str, body: String, timeout_ms: u32) -> Option<Json> {
    let id = method(namespace, "idFromName")?.call1(namespace, &name.into()).ok()?;
    let stub = method(namespace, "get")?.call1(namespace, &id).ok()?;
    let init = Object::new();
    let _ = Reflect::set(&init, &"method".into(), &"POST".into());
    let _ = Reflect::set(&init, &"body".into(), &body.into());
    let url = ["https://refresh-coordinator.internal/", path].concat();
    let pending = method(&stub, "fetch")?.call2(&stub, &url.into(), &init).ok()?;
    let text = response_body(Promise::resolve(&pending), MAX_BODY_BYTES, timeout_ms.saturating_add(COORDINATOR_SLACK_MS)).await.ok()?;
    Json::parse(&text)
}

/// A leading request's place in the flight table: reported as abandoned if dropped before its
/// outcome (the request was cancelled), so its followers are answered at once instead of
/// waiting out the flight's timeout.
struct Abandon<'a> {
    flights: &'a RefCell<Flights<TokenSet, Error>>,
    ticket: Option<Ticket>,
}

impl Abandon<'_> {
    fn finish(mut self, outcome: Result<TokenSet, Error>) {
        if let Some(ticket) = self.ticket.take() {
            self.flights.borrow_mut().finish(ticket, outcome, now());
        }
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            if let Ok(mut flights) = self.flights.try_borrow_mut() {
                flights.abandon(ticket);
            }
        }
    }
}
