//! The exported `RefreshClient`: a session manager for single-page apps. Decisions come from
//! `core::session::SessionState` and `core::tabs`; these modules carry them out. This one holds
//! the JS surface (options, methods, events); `schedule` the timers, `flight` the single flight
//! and storage sync, `tabs` the cross-tab channel and lock, `auth_fetch` authFetch.

mod auth_fetch;
mod flight;
mod schedule;
mod tabs;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use self::schedule::Background;
use super::dpop::DpopSession;
use super::error::to_js;
use super::global::{has_global, is_node, promise, spawn};
use super::options::OptionReader;
use super::refresh::{refresh_options, tokens_to_js, Endpoint};
use super::storage::{Read, Store};
use crate::core::error::Error;
use crate::core::policy::RetryPolicy;
use crate::core::session::{ClientPolicy, Demand, Session, SessionState};
use crate::core::tabs::Tabs;

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
  /** The seeded access token's type (default: Bearer until the first refresh says). */
  tokenType?: "Bearer" | "DPoP";
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
  setSession(tokens: { refreshToken: string; accessToken?: string; tokenType?: "Bearer" | "DPoP" }): Promise<void>;
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

// `catch` on the helpers whose arguments need no conversion: wasm-bindgen would import those
// straight from the snippet, by a path tests/build.sh does not rewrite for the CommonJS build.
#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn listen(set: &js_sys::Set, listener: &JsValue) -> Result<Function, JsValue>;
    #[wasm_bindgen(catch, js_name = emit)]
    fn emit_to(set: &js_sys::Set, detail: &JsValue) -> Result<(), JsValue>;
}

const CLIENT_OPTIONS: [&str; 10] =
    ["refreshToken", "accessToken", "tokenType", "storage", "storageKey", "autoRefresh", "refreshMarginSeconds", "retry", "crossTab", "dpop"];
const EVENTS: [&str; 3] = ["refreshed", "signedOut", "error"];

/// A session manager for single-page apps (see the TypeScript declaration).
#[wasm_bindgen(skip_typescript)]
pub struct RefreshClient {
    client: Rc<Client>,
}

struct Client {
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
    /// What this tab knows of the others' refreshes (the rules live in core/tabs.rs).
    tabs: RefCell<Tabs>,
    /// The waits for another tab's result: a JS array of wake functions (platform.js).
    peer_arrived: Array,
    disposed: Cell<bool>,
    /// The session's DPoP key pair and nonces (option `dpop`).
    dpop: Option<DpopSession>,
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
        Self::create(&options).map_err(err)
    }

    /// Refreshes now; concurrent calls share one request.
    pub fn refresh(&self) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            client.demand(Demand::Explicit).await?;
            Ok(client.session_js.borrow().clone())
        })
    }

    /// A token with more than the margin left, refreshing if needed; null when signed out.
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            let token = client.demand(Demand::Token).await?;
            Ok(token.map_or(JsValue::NULL, |t| JsValue::from_str(&t)))
        })
    }

    /// fetch with the access token; one refresh and one retry on a 401.
    #[wasm_bindgen(js_name = authFetch)]
    pub fn auth_fetch(&self, input: JsValue, init: JsValue) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            client.auth_fetch(input, init).await
        })
    }

    /// Replaces the session with the given tokens.
    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, tokens: JsValue) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            let session = read_tokens(&tokens).map_err(err)?;
            client.state.borrow_mut().replace(Some(session));
            client.session_changed();
            client.persist_and_broadcast().await;
            Client::reschedule(&client);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The current session, or null.
    #[wasm_bindgen(getter)]
    pub fn session(&self) -> JsValue {
        self.client.session_js.borrow().clone()
    }

    /// Ends the session here and in every tab.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            client.end_session("signOut").await;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Subscribes to "refreshed", "signedOut" or "error"; returns the unsubscribe function.
    pub fn on(&self, event: &str, listener: JsValue) -> Result<JsValue, JsValue> {
        let index = EVENTS
            .iter()
            .position(|e| *e == event)
            .ok_or_else(|| err(Error::invalid_argument("event", "must be \"refreshed\", \"signedOut\" or \"error\"")))?;
        if !listener.is_function() {
            return Err(err(Error::invalid_argument("listener", "must be a function")));
        }
        // The unsubscribe function is JS's: no Rust closure to leak.
        Ok(listen(&self.client.listeners[index], &listener)?.into())
    }

    /// The DPoP key's thumbprint, or null (DPoP off, or the key not loaded yet).
    #[wasm_bindgen(getter, js_name = dpopThumbprint)]
    pub fn dpop_thumbprint(&self) -> JsValue {
        self.client.dpop.as_ref().and_then(DpopSession::thumbprint).map_or(JsValue::NULL, JsValue::from)
    }

    /// `{ Authorization, DPoP }` for a request made without authFetch.
    #[wasm_bindgen(js_name = dpopHeaders)]
    pub fn dpop_headers(&self, method: String, url: String) -> Promise {
        let client = self.client.clone();
        promise(async move {
            client.ready().await?;
            let dpop = client.dpop.as_ref().ok_or_else(|| err(Error::invalid_argument("dpop", "is not enabled on this RefreshClient")))?;
            let token = client.demand(Demand::Token).await?;
            let bound = client.state.borrow().session().is_some_and(Session::is_dpop);
            dpop.headers(&method, &url, token.as_deref(), bound).await
        })
    }

    /// Stops every timer, listener and channel. Later calls reject.
    pub fn dispose(&self) {
        self.client.disposed.set(true);
        drop(self.client.background.take());
        for set in &self.client.listeners {
            set.clear();
        }
        self.client.wake_peer_waiters();
    }
}

impl RefreshClient {
    /// The constructor's work. Every failure is a core `Error`, converted to a JS error in one
    /// place (`new`) rather than at each `?` (each conversion site costs code).
    fn create(options: &JsValue) -> Result<RefreshClient, Error> {
        let mut known = refresh_options();
        known.extend_from_slice(&CLIENT_OPTIONS);
        let options = OptionReader::new(options, "RefreshClient", &known)?;
        let endpoint = Endpoint::from_options(&options)?;
        let policy = read_policy(&options)?;
        let key = options.string("storageKey")?.unwrap_or_else(|| "ida-refresh.session".to_owned());
        if key.is_empty() {
            return Err(Error::invalid_argument("storageKey", "must be a non-empty string"));
        }
        let cross_tab = options.boolean("crossTab")?.unwrap_or(has_global("BroadcastChannel") && !is_node());
        let seed = read_seed(&options)?;
        let (store, unavailable) = Store::new(options.get("storage")?, key.clone())?;
        let dpop = DpopSession::from_option(options.get("dpop")?, &key)?;

        let client = Rc::new(Client {
            endpoint,
            state: RefCell::new(SessionState::new(policy, js_sys::Math::random())),
            store,
            session_js: RefCell::new(JsValue::NULL),
            listeners: [js_sys::Set::new(&JsValue::UNDEFINED), js_sys::Set::new(&JsValue::UNDEFINED), js_sys::Set::new(&JsValue::UNDEFINED)],
            flight: RefCell::new(None),
            loading: RefCell::new(None),
            background: RefCell::new(Background::default()),
            tabs: RefCell::new(Tabs::new((js_sys::Math::random() * 9_007_199_254_740_991.0).floor())),
            peer_arrived: Array::new(),
            disposed: Cell::new(false),
            dpop,
        });
        if let Some(e) = unavailable {
            client.emit_later("error", to_js(&e, None));
        }
        match client.store.read() {
            Read::Now(stored) => client.finish_load(stored, seed),
            pending => {
                let weak = Rc::downgrade(&client);
                let load = promise(async move {
                    let Some(client) = weak.upgrade() else { return Ok(JsValue::UNDEFINED) };
                    let stored = client.store.settle(pending).await;
                    client.finish_load(stored, seed);
                    client.loading.borrow_mut().take();
                    Ok(JsValue::UNDEFINED)
                });
                *client.loading.borrow_mut() = Some(load);
            }
        }
        Client::start_background(&client, cross_tab);
        Ok(RefreshClient { client })
    }
}

/// setSession()'s argument as a session.
fn read_tokens(tokens: &JsValue) -> Result<Session, Error> {
    let reader = OptionReader::new(tokens, "setSession()", &["refreshToken", "accessToken", "tokenType"])?;
    read_seed(&reader)?.ok_or_else(|| Error::invalid_argument("refreshToken", "must be a non-empty string"))
}

/// The tokens the app already holds (constructor seeds, setSession()), if any.
fn read_seed(reader: &OptionReader) -> Result<Option<Session>, Error> {
    let access = reader.string("accessToken")?;
    let token_type = reader.string("tokenType")?;
    let Some(refresh) = reader.string("refreshToken")? else {
        return match (access, token_type) {
            (None, None) => Ok(None),
            _ => Err(Error::invalid_argument("refreshToken", "must be given with accessToken or tokenType")),
        };
    };
    Session::seed(&refresh, access.as_deref(), now())?.with_token_type(token_type).map(Some)
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

impl Client {
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
                    let client = self.clone();
                    spawn(async move {
                        let _ = client.store.write(None).await;
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
            let client = self.clone();
            spawn(async move { client.persist().await });
        }
        Client::reschedule(self);
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
        let _ = emit_to(&self.listeners[index], &detail);
    }

    /// Emits after the current task, so listeners added right after the constructor hear it.
    fn emit_later(self: &Rc<Self>, event: &'static str, detail: JsValue) {
        let client = self.clone();
        spawn(async move { client.emit(event, detail) });
    }
}
