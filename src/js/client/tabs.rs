//! The cross-tab adapter: carries out core/tabs.rs with BroadcastChannel messages, a Web Lock
//! (`navigator.locks`) held around one refresh request, a marker in shared storage written
//! before each request, and timers. Where Web Locks are missing it runs the core's lockless
//! claim instead.

use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::{now, Client};
use crate::core::error::{Error, ErrorCode};
use crate::core::secret::RefreshToken;
use crate::core::session::Session;
use crate::core::tabs::{fingerprint, Claim, Heard, Marker, Step, HEARTBEAT_MS, LOCK_LINGER_MS};
use crate::js::global::{sleep, spawn, Interval};

/// How often a tab waiting for the lock asks for it again (with jitter). Waiters poll with
/// `ifAvailable` rather than queue: a queued request granted to a tab that froze meanwhile
/// would hold the lock without ever running.
const LOCK_POLL_MS: f64 = 40.0;

/// The outcome of a tab's turn.
pub(super) enum Turn {
    /// Send now; the lock (where there are Web Locks) is held until this is dropped.
    Send(Option<HeldLock>),
    /// Another tab's session answered the refresh.
    Superseded,
    /// The refresh must not be sent; `report` the error as an event the first time.
    Refused { error: Error, report: bool },
}

/// A held Web Lock: released when dropped.
pub(super) struct HeldLock {
    release: Function,
}

impl HeldLock {
    /// Lets go of the lock `LOCK_LINGER_MS` from now, without holding up the caller.
    pub(super) fn release_soon(self) {
        spawn(async move {
            sleep(LOCK_LINGER_MS).await;
            drop(self);
        });
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::UNDEFINED);
    }
}

/// While a request runs: the heartbeat that tells waiting tabs this one is alive.
pub(super) struct Sending {
    _heartbeat: Option<Interval>,
}

enum LockTry {
    Held(HeldLock),
    Taken,
    /// No usable Web Locks here.
    Unsupported,
}

/// Hears a message from another tab: `(type, from, data)`.
pub(super) type OnMessage = Closure<dyn FnMut(JsValue, f64, JsValue, JsValue)>;

#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    #[wasm_bindgen(js_name = tryLock)]
    fn try_lock_js(name: &str) -> Promise;
    /// The channel, or undefined; `on_message(type, from, data, at)` hears each message from another tab (`at`: its Date.now()).
    #[wasm_bindgen(js_name = openChannel)]
    pub(super) fn open_channel(name: &str, on_message: &OnMessage) -> JsValue;
    fn post(channel: &JsValue, kind: &str, from: f64, data: Option<&str>);
    #[wasm_bindgen(catch, js_name = closeChannel)]
    pub(super) fn close_channel(channel: &JsValue) -> Result<(), JsValue>;
    /// The 1 s check and the page events (`on_page(online)`); returns the function that stops them.
    #[wasm_bindgen(catch, js_name = watchPage)]
    pub(super) fn watch_page(on_page: &Closure<dyn FnMut(bool)>) -> Result<Function, JsValue>;
    #[wasm_bindgen(catch, js_name = waitPeer)]
    fn wait_peer(waiters: &Array, ms: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, js_name = wakePeers)]
    pub(super) fn wake_peers(waiters: &Array) -> Result<(), JsValue>;
}

/// Asks for the lock without queueing (see platform.js).
async fn try_lock(name: &str) -> LockTry {
    match JsFuture::from(try_lock_js(name)).await {
        Ok(release) if release.is_function() => LockTry::Held(HeldLock { release: release.unchecked_into() }),
        Ok(taken) if taken.is_null() => LockTry::Taken,
        _ => LockTry::Unsupported,
    }
}

fn refused(message: &str) -> Error {
    Error::new(ErrorCode::Timeout, message)
}

impl Client {
    pub(super) fn cross_tab(&self) -> bool {
        self.background.borrow().channel.is_some()
    }

    fn marker_key(&self) -> String {
        [self.store.key(), ":sending"].concat()
    }

    fn lock_name(&self) -> String {
        ["ida-refresh:", self.store.key()].concat()
    }

    fn our_fingerprint(&self) -> Option<u64> {
        self.state.borrow().session().map(|s| fingerprint(s.refresh_token.expose()))
    }

    async fn stored_marker(&self) -> Option<Marker> {
        if self.store.is_memory() {
            return None;
        }
        let text = self.store.settle(self.store.read_key(&self.marker_key())).await.ok().flatten()?;
        Marker::from_record(&text)
    }

    /// Waits until this tab may send the session's refresh token (core/tabs.rs decides),
    /// reading storage again before every decision. Every wait is bounded by the core.
    pub(super) async fn take_turn(self: &Rc<Self>, superseded: &dyn Fn(&Self) -> bool) -> Turn {
        self.sync_from_storage().await;
        if superseded(self) {
            return Turn::Superseded;
        }
        if !self.cross_tab() {
            return Turn::Send(None);
        }
        let started = now();
        let mut announced_until = 0.0;
        loop {
            if self.disposed.get() {
                // Nothing more to do here; the current session is the answer.
                return Turn::Superseded;
            }
            let mut lock = None;
            let claim = match self.wait_for_lock(started, superseded).await {
                LockTry::Held(held) => {
                    lock = Some(held);
                    Claim::Locked
                }
                LockTry::Taken => Claim::LockTimedOut,
                LockTry::Unsupported => Claim::Lockless,
            };
            // Read again after the lock: the tab that held it may have rotated meanwhile.
            self.sync_from_storage().await;
            if superseded(self) {
                return Turn::Superseded;
            }
            let Some(ours) = self.our_fingerprint() else { return Turn::Send(lock) };
            let marker = self.stored_marker().await;
            let step = self.tabs.borrow_mut().step(now(), ours, marker.as_ref(), claim);
            match step {
                Step::Send => return Turn::Send(lock),
                Step::Listen(until) => {
                    if until != announced_until {
                        announced_until = until;
                        self.broadcast("claiming", None);
                    }
                    self.wait_for_peer(until).await;
                }
                Step::Wait(until) => {
                    drop(lock);
                    self.wait_for_peer(until).await;
                }
                Step::Spent { first } => {
                    return Turn::Refused {
                        error: refused("the refresh token was sent by another tab that has not handed its result over; it is not sent twice"),
                        report: first,
                    }
                }
                Step::GiveUp => return Turn::Refused { error: refused("another tab holds the refresh lock and does not answer"), report: false },
            }
            self.sync_from_storage().await;
            if superseded(self) {
                return Turn::Superseded;
            }
        }
    }

    /// Polls for the lock until the core's deadline (later while the holder keeps speaking).
    async fn wait_for_lock(&self, started: f64, superseded: &dyn Fn(&Self) -> bool) -> LockTry {
        let name = self.lock_name();
        loop {
            match try_lock(&name).await {
                LockTry::Taken if now() < self.tabs.borrow().wait_until(started) && !superseded(self) && !self.disposed.get() => {
                    sleep(LOCK_POLL_MS * (0.5 + js_sys::Math::random())).await;
                }
                other => return other,
            }
        }
    }

    /// Just before sending `token`: the marker in shared storage, the announcement, and the
    /// heartbeat while the request runs.
    pub(super) async fn announce_send(self: &Rc<Self>, token: &RefreshToken) -> Sending {
        if !self.cross_tab() {
            return Sending { _heartbeat: None };
        }
        let marker = self.marker_for(token);
        if !self.store.is_memory() {
            let _ = self.store.write_key(&self.marker_key(), Some(&marker)).await;
        }
        self.broadcast("sending", Some(&marker));
        let weak = Rc::downgrade(self);
        let heartbeat = Interval::start(HEARTBEAT_MS, move || {
            if let Some(client) = weak.upgrade() {
                client.broadcast("claiming", None);
            }
        });
        Sending { _heartbeat: Some(heartbeat) }
    }

    /// The server answered the request for `token` with an error: it was not used up.
    pub(super) async fn declare_unspent(&self, token: &RefreshToken) {
        if !self.cross_tab() {
            return;
        }
        self.clear_marker().await;
        self.broadcast("unspent", Some(&self.marker_for(token)));
    }

    /// The marker of a send of `token` by this tab, now, as stored and posted.
    fn marker_for(&self, token: &RefreshToken) -> String {
        Marker { token: fingerprint(token.expose()), tab: self.tabs.borrow().id(), at_ms: now() }.to_record()
    }

    /// Removes the marker (on sign-out, so that storage is left empty).
    pub(super) async fn clear_marker(&self) {
        if self.cross_tab() && !self.store.is_memory() {
            let _ = self.store.write_key(&self.marker_key(), None).await;
        }
    }

    /// Posts a message: `payload` is the session record ("session") or a marker ("sending",
    /// "unspent").
    pub(super) fn broadcast(&self, kind: &str, payload: Option<&str>) {
        let bg = self.background.borrow();
        let Some(channel) = &bg.channel else { return };
        post(channel, kind, self.tabs.borrow().id(), payload);
    }

    pub(super) fn on_message(client: &Rc<Self>, kind: JsValue, from: f64, data: JsValue, sent_at: Option<f64>) {
        if client.disposed.get() {
            return;
        }
        let payload = data.as_string();
        let marker = payload.as_deref().and_then(Marker::from_record).filter(|m| m.tab == from);
        let heard = |what: Heard| client.tabs.borrow_mut().heard(from, what, now());
        match (kind.as_string().as_deref(), payload.as_deref()) {
            (Some("claiming"), _) => heard(Heard::Claiming),
            (Some("sending"), _) => {
                if let Some(m) = &marker {
                    heard(Heard::Sending(m));
                }
            }
            (Some("unspent"), _) => {
                if let Some(m) = marker {
                    heard(Heard::Unspent(m.token));
                }
                client.wake_peer_waiters();
            }
            (Some("session"), Some(record)) => {
                heard(Heard::Done);
                if let Ok(session) = Session::from_record(record) {
                    if client.state.borrow_mut().adopt(session) {
                        client.session_changed();
                        let me = client.clone();
                        // sessionStorage is per tab: keep our own copy current.
                        spawn(async move { me.persist().await });
                        Client::reschedule(client);
                        client.emit("refreshed", client.session_js.borrow().clone());
                    }
                }
                client.wake_peer_waiters();
            }
            (Some("signedOut"), _) => {
                heard(Heard::Done);
                client.wake_peer_waiters();
                // As of when it was said (a peer that did not say: on arrival).
                let at = sent_at.filter(|t| t.is_finite()).unwrap_or_else(now);
                let me = client.clone();
                spawn(async move { me.end_session_at("otherTab", at).await });
            }
            _ => {}
        }
    }

    /// Waits until `until`, or until another tab's result (or word that it failed) arrives.
    async fn wait_for_peer(&self, until: f64) {
        let remaining = until - now();
        if remaining <= 0.0 || self.disposed.get() {
            return;
        }
        if let Ok(wait) = wait_peer(&self.peer_arrived, remaining) {
            let _ = JsFuture::from(wait).await;
        }
    }

    pub(super) fn wake_peer_waiters(&self) {
        let _ = wake_peers(&self.peer_arrived);
    }
}
