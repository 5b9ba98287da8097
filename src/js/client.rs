//! The exported `RefreshClient`: a session manager for single-page apps. Decisions come from
//! `core::session::SessionState`; this file carries them out with fetch, timers, storage,
//! BroadcastChannel and JS events.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::dpop::DpopSession;
use super::error::{to_js, JsError};
use super::global::{global, global_fetch, has_global, is_node, promise, sleep, spawn, Interval, Listener, Timer};
use super::options::OptionReader;
use super::refresh::{refresh_options, tokens_to_js, Endpoint};
use super::storage::{Read, Store};
use crate::core::error::{Error, ErrorCode};
use crate::core::policy::RetryPolicy;
use crate::core::session::{ClientPolicy, Demand, Failure, Plan, Session, SessionState};

#[wasm_bindgen(typescript_custom_section)]
const TS_CLIENT: &str = r#"
import type { RefreshError } from "../refresh-error.js";

/** A signed-in session (the same shape as RefreshResult). */
export type Session = RefreshResult;

/** A storage adapter: sync or Promise-returning; a Workers KV namespace fits as is. */
export type StorageAdapter =
  | { get(key: string): string | null | undefined | Promise<string | null | undefined>; set(key: string, value: string): unknown; remove(key: string): unknown }
  | { get(key: string): string | null | undefined | Promise<string | null | undefined>; put(key: string, value: string): unknown; delete(key: string): unknown };

/** Retries of one refresh series, and the cooldown after a failed one. */
export interface RetryOptions {
  /** Attempts per series, the first included (default 4). */
  maxAttempts?: number;
  /** Full-jitter exponential backoff base (default 200 ms). */
  baseDelayMs?: number;
  /** Backoff ceiling; a Retry-After beyond it ends the series (default 30000 ms). */
  maxDelayMs?: number;
  /** Nothing is sent for this long after a failed series, or the Retry-After if longer (default 30000 ms). */
  cooldownMs?: number;
  /** The longest Retry-After honoured for the cooldown; a longer one counts as this (default 600000 ms). */
  maxCooldownMs?: number;
}

export interface RefreshClientOptions extends Omit<RefreshOptions, "dpop" | "dpopNonce"> {
  /** Seeds the session when storage holds none. */
  refreshToken?: string;
  /** Seeds the session's access token (with refreshToken) when storage holds none. */
  accessToken?: string;
  /** Where the session is kept (default "memory"). */
  storage?: "memory" | "localStorage" | "sessionStorage" | StorageAdapter;
  /** Storage key and BroadcastChannel name (default "ida-refresh.session"). */
  storageKey?: string;
  /** Refresh proactively before expiry (default true). */
  autoRefresh?: boolean;
  /** Refresh this long before expiry (default 60; at most 20% of the token's lifetime). */
  refreshMarginSeconds?: number;
  retry?: RetryOptions;
  /** Share refreshes and sign-outs between tabs (default: true where a browser's BroadcastChannel exists, false in Node). */
  crossTab?: boolean;
}

/** Why a session ended. */
export type SignedOutReason = "invalid_refresh_token" | "signOut" | "otherTab";

/** Event name -> listener argument. */
export interface RefreshClientEventMap {
  refreshed: Session;
  signedOut: { reason: SignedOutReason };
  error: RefreshError;
}

export class RefreshClient {
  /** Throws RefreshError("invalid_argument") for bad options; never for a bad stored session. */
  constructor(options?: RefreshClientOptions);
  /** Refreshes now (single flight: concurrent calls share one request). */
  refresh(): Promise<Session>;
  /** A token with more than the margin left, refreshing if needed; null when signed out or in cookie mode. */
  getAccessToken(): Promise<string | null>;
  /** fetch with `Authorization: Bearer`; on a 401 refreshes once and retries once. */
  authFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Replaces the session (and ends any cooldown). */
  setSession(tokens: { refreshToken: string; accessToken?: string }): Promise<void>;
  /** The current session, or null. */
  readonly session: Session | null;
  /** Ends the session here and in every other tab. */
  signOut(): Promise<void>;
  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof RefreshClientEventMap>(event: K, listener: (detail: RefreshClientEventMap[K]) => void): () => void;
  /** Stops every timer, listener and channel. */
  dispose(): void;
}
"#;

const CLIENT_OPTIONS: [&str; 9] =
    ["refreshToken", "accessToken", "storage", "storageKey", "autoRefresh", "refreshMarginSeconds", "retry", "crossTab", "dpop"];
const EVENTS: [&str; 3] = ["refreshed", "signedOut", "error"];
/// How long a tab waits for another tab's announced refresh before sending its own.
const PEER_WAIT_MS: f64 = 1_000.0;
/// With other tabs around, a tab announces its refresh and listens this long for a competing
/// announcement; the lower tab id goes ahead, the other waits for its result. Lockless: a tab
/// that vanishes costs the others at most PEER_WAIT_MS, never a hang.
const CLAIM_MS: f64 = 25.0;

/// A session manager for single-page apps (see the TypeScript declaration).
#[wasm_bindgen(skip_typescript)]
pub struct RefreshClient {
    inner: Rc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    state: RefCell<SessionState>,
    store: Store,
    /// The session as JS sees it, rebuilt when the session changes.
    session_js: RefCell<JsValue>,
    /// One `Set` of listeners per event.
    listeners: [js_sys::Set; 3],
    /// The single flight: every caller awaits this promise.
    flight: RefCell<Option<Promise>>,
    /// A pending async storage load.
    loading: RefCell<Option<Promise>>,
    background: RefCell<Background>,
    tab_id: f64,
    peer_busy_until: Cell<f64>,
    /// Another tab has spoken on the channel.
    peers_seen: Cell<bool>,
    /// A lower-id tab announced a refresh while we were claiming ours.
    claim_lost: Cell<bool>,
    peer_arrived: RefCell<Vec<Function>>,
    disposed: Cell<bool>,
    /// DPoP hook: the session's key pair and nonces (option `dpop`).
    dpop: Option<DpopSession>,
}

/// Timers, listeners and the channel: dropping this stops them all.
#[derive(Default)]
struct Background {
    /// The armed timer and the moment it is for.
    due: Option<(f64, Timer)>,
    interval: Option<Interval>,
    listeners: Vec<Listener>,
    channel: Option<web_sys::BroadcastChannel>,
    on_message: Option<Closure<dyn FnMut(web_sys::MessageEvent)>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn err(e: Error) -> JsValue {
    to_js(&e, None)
}

fn disposed_error() -> JsValue {
    err(Error::invalid_argument("RefreshClient", "is disposed"))
}

#[wasm_bindgen]
impl RefreshClient {
    /// Reads the options and the stored session; starts timers and the cross-tab channel.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<RefreshClient, JsValue> {
        let mut known = refresh_options();
        known.extend_from_slice(&CLIENT_OPTIONS);
        let options = OptionReader::new(&options, "RefreshClient", &known).map_err(err)?;
        let endpoint = Endpoint::from_options(&options).map_err(err)?;
        let policy = read_policy(&options).map_err(err)?;
        let key = options.string("storageKey")?.unwrap_or_else(|| "ida-refresh.session".to_owned());
        if key.is_empty() {
            return Err(err(Error::invalid_argument("storageKey", "must be a non-empty string")));
        }
        let cross_tab = options.boolean("crossTab")?.unwrap_or(has_global("BroadcastChannel") && !is_node());
        let seed_refresh = options.string("refreshToken")?;
        let seed_access = options.string("accessToken")?;
        if seed_access.is_some() && seed_refresh.is_none() {
            return Err(err(Error::invalid_argument("accessToken", "needs a refreshToken beside it")));
        }
        let seed = match &seed_refresh {
            Some(rt) => Some(Session::seed(rt, seed_access.as_deref(), now()).map_err(err)?),
            None => None,
        };
        let (store, unavailable) = Store::new(options.get("storage")?, key.clone()).map_err(err)?;
        let dpop = DpopSession::from_option(options.get("dpop")?, &key).map_err(err)?;

        let inner = Rc::new(Inner {
            endpoint,
            state: RefCell::new(SessionState::new(policy, js_sys::Math::random())),
            store,
            session_js: RefCell::new(JsValue::NULL),
            listeners: [js_sys::Set::new(&JsValue::UNDEFINED), js_sys::Set::new(&JsValue::UNDEFINED), js_sys::Set::new(&JsValue::UNDEFINED)],
            flight: RefCell::new(None),
            loading: RefCell::new(None),
            background: RefCell::new(Background::default()),
            tab_id: js_sys::Math::random(),
            peer_busy_until: Cell::new(0.0),
            peers_seen: Cell::new(false),
            claim_lost: Cell::new(false),
            peer_arrived: RefCell::new(Vec::new()),
            disposed: Cell::new(false),
            dpop,
        });
        if let Some(e) = unavailable {
            inner.emit_later("error", to_js(&e, None));
        }
        match inner.store.read() {
            Read::Now(stored) => inner.finish_load(stored, seed),
            pending => {
                let weak = Rc::downgrade(&inner);
                let load = promise(async move {
                    let Some(inner) = weak.upgrade() else { return Ok(JsValue::UNDEFINED) };
                    let stored = inner.store.settle(pending).await;
                    inner.finish_load(stored, seed);
                    inner.loading.borrow_mut().take();
                    Ok(JsValue::UNDEFINED)
                });
                *inner.loading.borrow_mut() = Some(load);
            }
        }
        Inner::start_background(&inner, cross_tab);
        Ok(RefreshClient { inner })
    }

    /// Refreshes now; concurrent calls share one request.
    pub fn refresh(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            inner.demand(Demand::Explicit).await?;
            Ok(inner.session_js.borrow().clone())
        })
    }

    /// A token with more than the margin left, refreshing if needed; null when signed out.
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            let token = inner.demand(Demand::Token).await?;
            Ok(token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)))
        })
    }

    /// fetch with the access token; one refresh and one retry on a 401.
    #[wasm_bindgen(js_name = authFetch)]
    pub fn auth_fetch(&self, input: JsValue, init: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            inner.auth_fetch(input, init).await
        })
    }

    /// Replaces the session with the given tokens.
    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, tokens: JsValue) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            let reader = OptionReader::new(&tokens, "setSession()", &["refreshToken", "accessToken"]).map_err(err)?;
            let refresh = reader.string("refreshToken")?.ok_or_else(|| err(Error::invalid_argument("refreshToken", "must be a non-empty string")))?;
            let session = Session::seed(&refresh, reader.string("accessToken")?.as_deref(), now()).map_err(err)?;
            inner.state.borrow_mut().replace(Some(session));
            inner.session_changed();
            inner.persist_and_broadcast().await;
            Inner::reschedule(&inner);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The current session, or null.
    #[wasm_bindgen(getter)]
    pub fn session(&self) -> JsValue {
        self.inner.session_js.borrow().clone()
    }

    /// Ends the session here and in every tab.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            inner.end_session("signOut").await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Subscribes to "refreshed", "signedOut" or "error"; returns the unsubscribe function.
    pub fn on(&self, event: &str, listener: JsValue) -> Result<JsValue, JsValue> {
        let index = EVENTS.iter().position(|e| *e == event).ok_or_else(|| {
            err(Error::invalid_argument("event", "must be \"refreshed\", \"signedOut\" or \"error\""))
        })?;
        if !listener.is_function() {
            return Err(err(Error::invalid_argument("listener", "must be a function")));
        }
        let set = &self.inner.listeners[index];
        set.add(&listener);
        // Set.prototype.delete bound to this listener: no Rust closure to leak.
        let delete: Function = Reflect::get(set, &"delete".into())?.dyn_into()?;
        Ok(delete.bind1(set, &listener).into())
    }

    /// DPoP hook: the key's thumbprint, or null (DPoP off, or the key not loaded yet).
    #[wasm_bindgen(getter, js_name = dpopThumbprint)]
    pub fn dpop_thumbprint(&self) -> JsValue {
        self.inner.dpop.as_ref().and_then(DpopSession::thumbprint).map_or(JsValue::NULL, JsValue::from)
    }

    /// DPoP hook: `{ Authorization, DPoP }` for a request made without authFetch.
    #[wasm_bindgen(js_name = dpopHeaders)]
    pub fn dpop_headers(&self, method: String, url: String) -> Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.ready().await?;
            let dpop = inner.dpop.as_ref().ok_or_else(|| err(Error::invalid_argument("dpop", "is not enabled on this RefreshClient")))?;
            let token = inner.demand(Demand::Token).await?;
            let bound = inner.state.borrow().session().is_some_and(Session::is_dpop);
            dpop.headers(&method, &url, token.as_deref(), bound).await
        })
    }

    /// Stops every timer, listener and channel. Later calls reject.
    pub fn dispose(&self) {
        self.inner.disposed.set(true);
        drop(self.inner.background.take());
        for set in &self.inner.listeners {
            set.clear();
        }
        for resolve in self.inner.peer_arrived.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

fn read_policy(options: &OptionReader) -> Result<ClientPolicy, Error> {
    let defaults = RetryPolicy::default();
    let retry_value = options.get("retry")?.unwrap_or(JsValue::UNDEFINED);
    let retry = OptionReader::nested(&retry_value, "retry", "retry.", &["maxAttempts", "baseDelayMs", "maxDelayMs", "cooldownMs", "maxCooldownMs"])?;
    let attempts = retry.number("maxAttempts")?.unwrap_or(f64::from(defaults.max_attempts));
    if attempts.fract() != 0.0 || !(1.0..=100.0).contains(&attempts) {
        return Err(Error::invalid_argument("retry.maxAttempts", "must be a whole number from 1 to 100"));
    }
    let policy = RetryPolicy {
        max_attempts: attempts as u32,
        base_delay_ms: retry.number("baseDelayMs")?.unwrap_or(defaults.base_delay_ms),
        max_delay_ms: retry.number("maxDelayMs")?.unwrap_or(defaults.max_delay_ms),
        cooldown_ms: retry.number("cooldownMs")?.unwrap_or(defaults.cooldown_ms),
        max_cooldown_ms: retry.number("maxCooldownMs")?.unwrap_or(defaults.max_cooldown_ms),
    };
    policy.validate()?;
    let margin_s = options.number("refreshMarginSeconds")?.unwrap_or(60.0);
    if !(0.0..=86_400.0).contains(&margin_s) {
        return Err(Error::invalid_argument("refreshMarginSeconds", "must be from 0 to 86400"));
    }
    Ok(ClientPolicy { margin_ms: margin_s * 1000.0, retry: policy, auto_refresh: options.boolean("autoRefresh")?.unwrap_or(true) })
}

impl Inner {
    async fn ready(&self) -> Result<(), JsValue> {
        if self.disposed.get() {
            return Err(disposed_error());
        }
        let pending = self.loading.borrow().clone();
        if let Some(p) = pending {
            let _ = JsFuture::from(p).await;
        }
        Ok(())
    }

    /// Takes the stored session, or the seed when storage holds none. A corrupt record is
    /// discarded with an `error`; it never stops the client.
    fn finish_load(self: &Rc<Self>, stored: Result<Option<String>, Error>, seed: Option<Session>) {
        let stored = match stored {
            Ok(Some(text)) => match Session::from_record(&text) {
                Ok(session) => Some(session),
                Err(e) => {
                    self.emit_later("error", err(e));
                    let inner = self.clone();
                    spawn(async move {
                        let _ = inner.store.write(None).await;
                    });
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.emit_later("error", err(e));
                None
            }
        };
        let seeded = stored.is_none() && seed.is_some();
        self.state.borrow_mut().replace(stored.or(seed));
        self.session_changed();
        if seeded {
            let inner = self.clone();
            spawn(async move { inner.persist().await });
        }
        Inner::reschedule(self);
    }

    fn start_background(inner: &Rc<Self>, cross_tab: bool) {
        let mut bg = inner.background.borrow_mut();
        let weak = Rc::downgrade(inner);
        let tick = move || {
            if let Some(inner) = weak.upgrade() {
                Inner::tick(&inner);
            }
        };
        // A wall-clock check every second survives sleep and throttled background tabs,
        // where one long setTimeout fires late.
        bg.interval = Some(Interval::start(1_000.0, tick.clone()));
        let document = global("document");
        if let Some(doc) = &document {
            bg.listeners.extend(Listener::on(doc, "visibilitychange", tick.clone()));
        }
        let this = js_sys::global().into();
        bg.listeners.extend(Listener::on(&this, "pageshow", tick.clone()));
        let weak = Rc::downgrade(inner);
        bg.listeners.extend(Listener::on(&this, "online", move || {
            if let Some(inner) = weak.upgrade() {
                inner.state.borrow_mut().end_cooldown();
                Inner::tick(&inner);
            }
        }));
        if cross_tab {
            if let Ok(channel) = web_sys::BroadcastChannel::new(&["ida-refresh:", inner.store.key()].concat()) {
                let weak = Rc::downgrade(inner);
                let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                    if let Some(inner) = weak.upgrade() {
                        Inner::on_message(&inner, event.data());
                    }
                });
                channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                bg.channel = Some(channel);
                bg.on_message = Some(on_message);
                drop(bg);
                inner.broadcast("hello", None);
            }
        }
    }

    /// Timers and events land here: refresh when due, end a refused session once its access
    /// token expires.
    fn tick(inner: &Rc<Self>) {
        if inner.disposed.get() || inner.loading.borrow().is_some() {
            return;
        }
        let plan = inner.state.borrow().tick(now());
        match plan {
            Plan::Refresh => {
                // Failures surface as `error` / `signedOut` events.
                let _ = Inner::flight(inner);
            }
            Plan::End => {
                let inner = inner.clone();
                spawn(async move { inner.end_session("invalid_refresh_token").await });
            }
            // Timers may fire a little early by the wall clock: arm again.
            _ => Inner::reschedule(inner),
        }
    }

    /// Arms a timer for the exact moment the state is next due (the interval is the backstop).
    fn reschedule(inner: &Rc<Self>) {
        if inner.disposed.get() {
            return;
        }
        let due = inner.state.borrow().due_at_ms();
        let armed = inner.background.borrow().due.as_ref().map(|(at, _)| *at);
        // The 1 s tick lands here too: a timer already armed for this moment stays.
        if due.is_some() && due == armed && due.is_some_and(|at| at > now()) {
            return;
        }
        let weak = Rc::downgrade(inner);
        let timer = due.map(|at| {
            // A few ms late rather than early: the wall clock and the timer clock differ.
            let timer = Timer::start((at - now()).max(0.0) + 5.0, move || {
                if let Some(inner) = weak.upgrade() {
                    Inner::tick(&inner);
                }
            });
            timer.unref();
            (at, timer)
        });
        inner.background.borrow_mut().due = timer;
    }

    /// Meets a demand: serve, fail at once, or join the single flight.
    async fn demand(self: &Rc<Self>, demand: Demand) -> Result<Option<String>, JsValue> {
        let mut plan = self.state.borrow().plan(&demand, now());
        if plan == Plan::SignedOut && !self.store.is_memory() {
            // Another client (a tab without a channel) may have signed in since.
            self.sync_from_storage().await;
            plan = self.state.borrow().plan(&demand, now());
        }
        let token = |t: Option<crate::core::secret::AccessToken>| t.map(|t| t.expose().to_owned());
        match plan {
            Plan::Serve(t) => {
                // Traffic starts a due proactive refresh itself, without waiting for it: timers
                // fire late in a busy event loop or a throttled tab.
                if !self.disposed.get() && self.state.borrow().tick(now()) == Plan::Refresh {
                    let _ = Inner::flight(self);
                }
                Ok(token(t))
            }
            Plan::Fail(e) => Err(err(e)),
            Plan::SignedOut if demand == Demand::Token => Ok(None),
            Plan::SignedOut => Err(err(Error::invalid_argument("session", "there is no session: call setSession() first"))),
            Plan::End => {
                self.end_session("invalid_refresh_token").await;
                if demand == Demand::Token { Ok(None) } else { Err(err(Error::new(ErrorCode::InvalidRefreshToken, "the session has ended"))) }
            }
            Plan::Refresh => {
                let outcome = JsFuture::from(Inner::flight(self)).await;
                let session = self.state.borrow().session().cloned();
                match (outcome, session) {
                    (Ok(_), Some(s)) => Ok(token(s.access_token)),
                    (Ok(_), None) => Ok(None),
                    // A failed refresh still serves a token that has not expired.
                    (Err(_), Some(s)) if demand == Demand::Token && s.access_usable(now(), self.state.borrow().policy().margin_ms) => {
                        Ok(token(s.access_token))
                    }
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    /// The shared refresh promise: created by the first caller, joined by every other.
    fn flight(inner: &Rc<Self>) -> Promise {
        if let Some(p) = inner.flight.borrow().clone() {
            return p;
        }
        let me = inner.clone();
        let promise = promise(async move {
            let result = me.series().await;
            me.flight.borrow_mut().take();
            Inner::reschedule(&me);
            result.map(|()| me.session_js.borrow().clone()).map_err(JsValue::from)
        });
        // The future may have finished synchronously only if it never awaited; it always does.
        *inner.flight.borrow_mut() = Some(promise.clone());
        promise
    }

    /// One refresh series: up to `retry.maxAttempts` requests with backoff.
    async fn series(self: &Rc<Self>) -> Result<(), JsError> {
        let epoch = self.state.borrow().epoch();
        // The session this flight was started for: if another tab replaces it before we send,
        // its session is the answer, unless that one needs a refresh already.
        let before = self.state.borrow().session().map(|s| (s.refresh_token.clone(), s.updated_at_ms));
        let superseded = |me: &Self| {
            let changed = me.state.borrow().session().map(|s| (s.refresh_token.clone(), s.updated_at_ms)) != before;
            changed && me.state.borrow().plan(&Demand::Token, now()) != Plan::Refresh
        };
        self.wait_for_peer().await;
        self.sync_from_storage().await;
        if superseded(self) {
            return Ok(());
        }
        if self.peers_seen.get() && !self.claim().await {
            self.wait_for_peer().await;
            self.sync_from_storage().await;
            if superseded(self) {
                return Ok(());
            }
        }
        let Some(started_with) = self.state.borrow().session().cloned() else {
            return Err(Error::invalid_argument("session", "there is no session: call setSession() first").into());
        };
        let sent = started_with.refresh_token.clone();
        let mut attempt = 1;
        loop {
            self.announce_refreshing();
            // DPoP hook: the session's key proves every refresh request.
            let outcome = self.endpoint.exchange_with(&sent, self.dpop.as_ref()).await;
            if self.state.borrow().epoch() != epoch {
                // Signed out or replaced meanwhile: this answer belongs to a session that is gone.
                return outcome.map(drop);
            }
            // Storage is read again: a tab that rotated during our request wins.
            self.sync_from_storage().await;
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

    fn retry_delay(&self, attempt: u32, error: &Error) -> Option<f64> {
        self.state.borrow().policy().retry.delay_after(attempt, error, js_sys::Math::random())
    }

    /// Re-reads storage (another tab may have rotated) and adopts a newer session. Returns
    /// the session to refresh with.
    async fn sync_from_storage(self: &Rc<Self>) -> Option<Session> {
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

    async fn persist(&self) {
        let record = self.state.borrow().session().map(Session::to_record);
        if let Err(e) = self.store.write(record.as_deref()).await {
            self.emit("error", err(e));
        }
    }

    async fn persist_and_broadcast(&self) {
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
    async fn end_session(self: &Rc<Self>, reason: &str) {
        let had_session = self.state.borrow().session().is_some();
        self.state.borrow_mut().replace(None);
        self.session_changed();
        self.persist().await;
        // DPoP hook: a session's key ends with it (the tab that ended it deletes the stored one).
        if let Some(d) = &self.dpop {
            if let Err(e) = d.end(reason != "otherTab").await {
                self.emit("error", err(e));
            }
        }
        if reason != "otherTab" {
            self.broadcast("signedOut", None);
        }
        Inner::reschedule(self);
        if had_session {
            let detail = Object::new();
            let _ = Reflect::set(&detail, &"reason".into(), &reason.into());
            self.emit("signedOut", detail.into());
        }
    }

    fn session_changed(&self) {
        let js = match self.state.borrow().session() {
            Some(s) => tokens_to_js(s.access_token.as_ref(), Some(&s.refresh_token), s.expires_at_ms, s.claims.as_ref()),
            None => JsValue::NULL,
        };
        *self.session_js.borrow_mut() = js;
    }

    fn emit(&self, event: &str, detail: JsValue) {
        let Some(index) = EVENTS.iter().position(|e| *e == event) else { return };
        // A copy: listeners may unsubscribe while we iterate. A throwing listener must not
        // break the client or the other listeners.
        for listener in Array::from(&self.listeners[index]).iter() {
            if let Some(f) = listener.dyn_ref::<Function>() {
                let _ = f.call1(&JsValue::UNDEFINED, &detail);
            }
        }
    }

    /// Emits after the current task, so listeners added right after the constructor hear it.
    fn emit_later(self: &Rc<Self>, event: &'static str, detail: JsValue) {
        let inner = self.clone();
        spawn(async move { inner.emit(event, detail) });
    }

    // ---- cross-tab ------------------------------------------------------------------------

    fn broadcast(&self, kind: &str, record: Option<&str>) {
        let bg = self.background.borrow();
        let Some(channel) = &bg.channel else { return };
        let message = Object::new();
        let _ = Reflect::set(&message, &"type".into(), &kind.into());
        let _ = Reflect::set(&message, &"from".into(), &self.tab_id.into());
        if let Some(r) = record {
            let _ = Reflect::set(&message, &"record".into(), &r.into());
        }
        let _ = channel.post_message(&message);
    }

    fn announce_refreshing(&self) {
        self.broadcast("refreshing", None);
    }

    /// Announces a refresh and listens for a competing one; true when this tab goes ahead. A
    /// tab that announced first wins; simultaneous announcements go to the lower tab id.
    async fn claim(&self) -> bool {
        if self.peer_busy_until.get() > now() {
            return false;
        }
        self.claim_lost.set(false);
        self.announce_refreshing();
        sleep(CLAIM_MS).await;
        !self.claim_lost.get()
    }

    fn on_message(inner: &Rc<Self>, data: JsValue) {
        if !data.is_object() {
            return;
        }
        let field = |k: &str| Reflect::get(&data, &k.into()).unwrap_or(JsValue::UNDEFINED);
        if inner.disposed.get() || field("from").as_f64() == Some(inner.tab_id) {
            return;
        }
        inner.peers_seen.set(true);
        let from = field("from").as_f64().unwrap_or(f64::INFINITY);
        match field("type").as_string().as_deref() {
            Some("hello") => inner.broadcast("here", None),
            Some("refreshing") => {
                inner.peer_busy_until.set(now() + PEER_WAIT_MS);
                if from < inner.tab_id {
                    inner.claim_lost.set(true);
                }
            }
            Some("session") => {
                inner.peer_busy_until.set(0.0);
                let Some(Ok(session)) = field("record").as_string().map(|r| Session::from_record(&r)) else { return };
                if inner.state.borrow_mut().adopt(session) {
                    inner.session_changed();
                    let me = inner.clone();
                    // sessionStorage is per tab: keep our own copy current.
                    spawn(async move { me.persist().await });
                    Inner::reschedule(inner);
                    inner.emit("refreshed", inner.session_js.borrow().clone());
                }
                inner.wake_peer_waiters();
            }
            Some("signedOut") => {
                inner.peer_busy_until.set(0.0);
                inner.wake_peer_waiters();
                let me = inner.clone();
                spawn(async move { me.end_session("otherTab").await });
            }
            _ => {}
        }
    }

    /// If another tab announced a refresh, waits (at most a second) for its result instead of
    /// sending a second request with the same refresh token.
    async fn wait_for_peer(&self) {
        let remaining = self.peer_busy_until.get() - now();
        if remaining <= 0.0 || self.background.borrow().channel.is_none() {
            return;
        }
        let mut resolve = None;
        let arrived = Promise::new(&mut |r, _| resolve = Some(r));
        if let Some(r) = resolve {
            self.peer_arrived.borrow_mut().push(r);
        }
        let timer = Timer::start(remaining.min(PEER_WAIT_MS), || ());
        let _ = JsFuture::from(Promise::race(&Array::of2(&arrived, timer.promise()))).await;
    }

    fn wake_peer_waiters(&self) {
        for resolve in self.peer_arrived.take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    // ---- authFetch ------------------------------------------------------------------------

    async fn auth_fetch(self: &Rc<Self>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
        let ctor: Function = global("Request").ok_or_else(|| err(Error::invalid_argument("authFetch", "there is no Request here")))?.dyn_into()?;
        let args = if init.is_undefined() { Array::of1(&input) } else { Array::of2(&input, &init) };
        // Built once and cloned per send, so a request with a body can be replayed.
        let original: web_sys::Request = Reflect::construct(&ctor, &args)?.dyn_into()?;
        let token = self.demand(Demand::Token).await?;
        let cookie_mode = self.state.borrow().session().is_some_and(|s| s.cookie_mode);
        let first = self.send(&ctor, &original.clone()?, token.as_deref(), cookie_mode).await?;
        let had_session = self.state.borrow().session().is_some();
        if first.status() != 401 || !had_session {
            return Ok(first.into());
        }
        let retry_token = match self.demand(Demand::Unauthorized(token)).await {
            Ok(t) => t,
            // The refresh failed: the app gets the 401 as it is (and an error/signedOut event).
            Err(_) => return Ok(first.into()),
        };
        if self.state.borrow().session().is_none() {
            return Ok(first.into());
        }
        let cookie_mode = self.state.borrow().session().is_some_and(|s| s.cookie_mode);
        Ok(self.send(&ctor, &original, retry_token.as_deref(), cookie_mode).await?.into())
    }

    async fn send(&self, ctor: &Function, request: &web_sys::Request, token: Option<&str>, cookie_mode: bool) -> Result<web_sys::Response, JsValue> {
        // DPoP hook: a DPoP-bound token goes with `Authorization: DPoP` and a fresh proof per
        // send, once more when a resource server asks for a nonce (dpop.js).
        let dpop_bound = self.state.borrow().session().is_some_and(Session::is_dpop);
        if let (Some(d), Some(t), true) = (&self.dpop, token, dpop_bound) {
            let send = self.endpoint.transport.fetch.clone().map_or_else(|| global("fetch").unwrap_or_default(), JsValue::from);
            return d.fetch(&send, request, t).await?.dyn_into();
        }
        let request = if cookie_mode {
            let init = Object::new();
            Reflect::set(&init, &"credentials".into(), &"include".into())?;
            Reflect::construct(ctor, &Array::of2(request, &init))?.dyn_into::<web_sys::Request>()?
        } else {
            request.clone()?
        };
        if let Some(t) = token {
            request.headers().set("Authorization", &["Bearer ", t].concat())?;
        }
        let pending = match &self.endpoint.transport.fetch {
            Some(f) => Promise::resolve(&f.call1(&JsValue::UNDEFINED, &request)?),
            None => global_fetch(&request, &JsValue::UNDEFINED)?,
        };
        JsFuture::from(pending).await?.dyn_into()
    }
}
