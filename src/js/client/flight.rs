//! The single flight: demands, the refresh series with its retries, storage sync, sign-out.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::tabs::Turn;
use super::{err, now, Client};
use crate::core::error::{Error, ErrorCode};
use crate::core::session::{Demand, Failure, Plan, Session};
use crate::js::error::{to_js, JsError};
use crate::js::global::{promise, sleep, spawn};

impl Client {
    /// Meets a demand: serve, fail at once, or join the single flight.
    pub(super) async fn demand(self: &Rc<Self>, demand: Demand) -> Result<Option<String>, JsValue> {
        let mut plan = self.state.borrow().plan(&demand, now());
        if matches!(plan, Plan::SignedOut) && !self.store.is_memory() {
            // Another client (a tab without a channel) may have signed in since.
            self.sync_from_storage().await;
            plan = self.state.borrow().plan(&demand, now());
        }
        let token = |t: Option<crate::core::secret::AccessToken>| t.map(|t| t.expose().to_owned());
        match plan {
            Plan::Serve(t) => {
                // Traffic starts a due proactive refresh itself, without waiting for it: timers
                // fire late in a busy event loop or a throttled tab.
                if !self.disposed.get() && matches!(self.state.borrow().tick(now()), Plan::Refresh) {
                    Client::flight_in_background(self);
                }
                Ok(token(t))
            }
            Plan::Fail(e) => Err(err(e)),
            Plan::SignedOut if matches!(demand, Demand::Token) => Ok(None),
            Plan::SignedOut => Err(err(Error::invalid_argument("session", "there is no session: call setSession() first"))),
            Plan::End => {
                self.end_session("invalid_refresh_token").await;
                if matches!(demand, Demand::Token) {
                    Ok(None)
                } else {
                    Err(err(Error::new(ErrorCode::InvalidRefreshToken, "the session has ended")))
                }
            }
            Plan::Refresh => {
                let outcome = JsFuture::from(Client::flight(self)).await;
                let session = self.state.borrow().session().cloned();
                match (outcome, session) {
                    (Ok(_), Some(s)) => Ok(token(s.access_token)),
                    (Ok(_), None) => Ok(None),
                    // A failed refresh still serves a token that has not expired.
                    (Err(_), Some(s)) if matches!(demand, Demand::Token) && s.access_usable(now(), self.state.borrow().policy().margin_ms) => {
                        Ok(token(s.access_token))
                    }
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    /// The shared refresh promise: created by the first caller, joined by every other.
    pub(super) fn flight(client: &Rc<Self>) -> Promise {
        if let Some(p) = client.flight.borrow().clone() {
            return p;
        }
        let me = client.clone();
        let promise = promise(async move {
            let result = me.series().await;
            me.flight.borrow_mut().take();
            Client::reschedule(&me);
            result.map(|()| me.session_js.borrow().clone()).map_err(JsValue::from)
        });
        // The future may have finished synchronously only if it never awaited; it always does.
        *client.flight.borrow_mut() = Some(promise.clone());
        promise
    }

    /// Starts (or joins) the flight with nobody awaiting it: its failures surface as `error` /
    /// `signedOut` events, and its rejection is handled here, not left to the runtime (Node's
    /// test runner and `--unhandled-rejections=strict` treat one as a crash).
    pub(super) fn flight_in_background(client: &Rc<Self>) {
        let flight = Client::flight(client);
        spawn(async move {
            let _ = JsFuture::from(flight).await;
        });
    }

    /// One refresh series: up to `retry.maxAttempts` requests with backoff.
    pub(super) async fn series(self: &Rc<Self>) -> Result<(), JsError> {
        let epoch = self.state.borrow().epoch();
        // The session this flight was started for: if another tab replaces it before we send,
        // its session is the answer, unless that one needs a refresh already.
        let before = self.state.borrow().session().map(|s| (s.refresh_token.clone(), s.updated_at_ms));
        let superseded = |me: &Self| {
            let changed = me.state.borrow().session().map(|s| (s.refresh_token.clone(), s.updated_at_ms)) != before;
            changed && !matches!(me.state.borrow().plan(&Demand::Token, now()), Plan::Refresh)
        };
        let mut attempt = 1;
        loop {
            // One turn per request: the lock (if any) is held around this request only, and
            // released during the backoff before a retry.
            // Boxed: its state machine stays out of this one's (smaller code).
            let turn: Pin<Box<dyn Future<Output = Turn> + '_>> = Box::pin(self.take_turn(&superseded));
            let lock = match turn.await {
                Turn::Superseded => return Ok(()),
                Turn::Refused { error, report } => {
                    if report {
                        self.emit("error", to_js(&error, None));
                    }
                    return Err(error.into());
                }
                Turn::Send(lock) => lock,
            };
            let Some(started_with) = self.state.borrow().session().cloned() else {
                return Err(Error::invalid_argument("session", "there is no session: call setSession() first").into());
            };
            let sent = started_with.refresh_token.clone();
            let sending = self.announce_send(&sent).await;
            // The session's DPoP key proves every refresh request.
            let outcome = self.endpoint.exchange_with(&sent, self.dpop.as_ref()).await;
            drop(sending);
            if let Err(e) = &outcome {
                if !e.error.code.may_have_used_token() {
                    self.declare_unspent(&sent).await;
                }
            }
            // Storage is read again: a tab that rotated during our request wins. The epoch is
            // checked after that read, so a sign-out heard while it was awaited counts too.
            self.sync_from_storage().await;
            if self.state.borrow().epoch() != epoch {
                // Signed out or replaced meanwhile: this answer belongs to a session that is gone.
                return outcome.map(drop);
            }
            let current = self.state.borrow().session().cloned();
            if current.as_ref().is_some_and(|c| c.refresh_token != sent) {
                return Ok(());
            }
            let base = current.unwrap_or(started_with.clone());
            match outcome {
                Ok((tokens, raw)) => {
                    let date = raw.date.as_deref().and_then(crate::core::http_date::parse_http_date);
                    let session = base.after_refresh(tokens, date, raw.received_at_ms);
                    let dead_on_arrival = session.access_token.is_some() && !session.access_valid(raw.received_at_ms);
                    self.state.borrow_mut().succeed(session);
                    self.session_changed();
                    self.persist_and_broadcast().await;
                    // Kept a little longer: the next holder's view of storage may lag.
                    if let Some(lock) = lock {
                        lock.release_soon();
                    }
                    if dead_on_arrival {
                        // Keep the rotated refresh token, but refreshing again at once would be a
                        // storm: this counts as a failed series, with its cooldown.
                        let e = Error::bad_response("has an access token that had expired when it arrived (check the server's clock)");
                        self.state.borrow_mut().fail(e.clone(), now());
                        self.emit("error", to_js(&e, None));
                        return Err(e.into());
                    }
                    self.emit("refreshed", self.session_js.borrow().clone());
                    return Ok(());
                }
                Err(e) => match self.retry_delay(attempt, &e.error) {
                    Some(delay) => {
                        attempt += 1;
                        drop(lock);
                        sleep(delay).await;
                        if self.state.borrow().epoch() != epoch || self.disposed.get() {
                            return Err(e);
                        }
                    }
                    None => {
                        let failure = self.state.borrow_mut().fail(e.error.clone(), now());
                        match failure {
                            Failure::End => self.end_session("invalid_refresh_token").await,
                            Failure::Kept | Failure::Refused => self.emit("error", to_js(&e.error, e.cause.as_ref())),
                        }
                        return Err(e);
                    }
                },
            }
        }
    }

    pub(super) fn retry_delay(&self, attempt: u32, error: &Error) -> Option<f64> {
        self.state.borrow().policy().retry.delay_after(attempt, error, js_sys::Math::random())
    }

    /// Re-reads storage (another tab may have rotated) and adopts a newer session. Returns
    /// the session to refresh with.
    pub(super) async fn sync_from_storage(self: &Rc<Self>) -> Option<Session> {
        if !self.store.is_memory() {
            match self.store.load().await {
                Ok(Some(text)) => {
                    if let Ok(stored) = Session::from_record(&text) {
                        if self.state.borrow_mut().adopt(stored) {
                            self.session_changed();
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => self.emit("error", err(e)),
            }
        }
        self.state.borrow().session().cloned()
    }

    pub(super) async fn persist(&self) {
        let record = self.state.borrow().session().map(Session::to_record);
        if let Err(e) = self.store.write(record.as_deref()).await {
            self.emit("error", err(e));
        }
    }

    pub(super) async fn persist_and_broadcast(&self) {
        self.persist().await;
        // Read again: an async store may have let the session change while it wrote.
        let record = self.state.borrow().session().map(Session::to_record);
        match record {
            Some(r) => self.broadcast("session", Some(&r)),
            None => self.broadcast("signedOut", None),
        }
    }

    /// Ends the session: memory and storage cleared, other tabs told (unless they told us),
    /// `signedOut` emitted.
    pub(super) async fn end_session(self: &Rc<Self>, reason: &str) {
        self.end_session_at(reason, now()).await;
    }

    /// Ends the session as of `at_ms` (when another tab signed out): a session set here since
    /// stays, and none older is adopted again.
    pub(super) async fn end_session_at(self: &Rc<Self>, reason: &str, at_ms: f64) {
        let had_session = self.state.borrow().session().is_some();
        if !self.state.borrow_mut().end(at_ms) {
            return;
        }
        self.session_changed();
        self.persist().await;
        self.clear_marker().await;
        // A session's DPoP key ends with it (the tab that ended it deletes the stored one).
        if let Some(d) = &self.dpop {
            if let Err(e) = d.end(reason != "otherTab").await {
                self.emit("error", err(e));
            }
        }
        if reason != "otherTab" {
            self.broadcast("signedOut", None);
        }
        Client::reschedule(self);
        if had_session {
            let detail = Object::new();
            let _ = Reflect::set(&detail, &"reason".into(), &reason.into());
            self.emit("signedOut", detail.into());
        }
    }
}
