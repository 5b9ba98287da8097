//! Where RefreshClient keeps the session: memory, Web Storage, or an adapter object with
//! `get`/`set`/`remove` or `get`/`put`/`delete`, sync or Promise-returning (a Workers KV
//! namespace works as is). A failing backend falls back to memory; the caller reports it.

use std::cell::RefCell;

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::global::{global, method};
use crate::core::error::{Error, ErrorCode};

enum Backend {
    Memory,
    /// `localStorage` / `sessionStorage`: getItem / setItem / removeItem, synchronous.
    Web(JsValue),
    /// An app-provided object.
    Adapter {
        target: JsValue,
        get: Function,
        set: Function,
        remove: Function,
    },
}

/// The session store of one client.
pub struct Store {
    key: String,
    backend: RefCell<Backend>,
}

/// A value that may still be arriving from an async backend.
pub enum Read {
    /// Known now.
    Now(Result<Option<String>, Error>),
    /// A Promise from an adapter.
    Later(Promise),
}

fn storage_error(what: &str) -> Error {
    Error::new(ErrorCode::StorageError, ["session storage failed to ", what, "; the session is kept in memory"].concat())
}

impl Store {
    /// Reads the `storage` option. `Err` for a bad option; `Ok((store, Some(error)))` when the
    /// requested Web Storage is unavailable here (the store is memory then).
    pub fn new(option: Option<JsValue>, key: String) -> Result<(Self, Option<Error>), Error> {
        let mut unavailable = None;
        let backend = match option {
            None => Backend::Memory,
            Some(v) if v.as_string().as_deref() == Some("memory") => Backend::Memory,
            Some(v) if matches!(v.as_string().as_deref(), Some("localStorage" | "sessionStorage")) => {
                let name = v.as_string().unwrap_or_default();
                // Reading localStorage itself throws in sandboxed frames; Node has none.
                match global(&name) {
                    Some(storage) => Backend::Web(storage),
                    None => {
                        unavailable =
                            Some(Error::new(ErrorCode::StorageError, [name.as_str(), " is not available here; the session is kept in memory"].concat()));
                        Backend::Memory
                    }
                }
            }
            Some(v) if v.is_object() && !v.is_function() => {
                let either = |a: &str, b: &str| method(&v, a).or_else(|| method(&v, b));
                let adapter = (method(&v, "get"), either("set", "put"), either("remove", "delete"));
                match adapter {
                    (Some(get), Some(set), Some(remove)) => Backend::Adapter { target: v, get, set, remove },
                    _ => return Err(Error::invalid_argument("storage", "an adapter needs get() and set()/put() and remove()/delete()")),
                }
            }
            Some(_) => return Err(Error::invalid_argument("storage", "must be \"memory\", \"localStorage\", \"sessionStorage\" or an adapter object")),
        };
        Ok((Self { key, backend: RefCell::new(backend) }, unavailable))
    }

    /// The storage key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the session lives only in this client's memory.
    pub fn is_memory(&self) -> bool {
        matches!(*self.backend.borrow(), Backend::Memory)
    }

    /// Starts reading the stored record.
    pub fn read(&self) -> Read {
        self.read_key(&self.key)
    }

    /// Starts reading the record stored under `key` (the session's key, or one beside it).
    pub fn read_key(&self, key: &str) -> Read {
        let key = JsValue::from_str(key);
        let text = |v: JsValue| if v.is_null() || v.is_undefined() { Ok(None) } else { v.as_string().map(Some).ok_or_else(|| storage_error("read")) };
        match &*self.backend.borrow() {
            Backend::Memory => Read::Now(Ok(None)),
            Backend::Web(storage) => Read::Now(call(storage, "getItem", &key, None).map_err(|_| storage_error("read")).and_then(text)),
            Backend::Adapter { target, get, .. } => match get.call1(target, &key) {
                Err(_) => Read::Now(Err(storage_error("read"))),
                Ok(v) => match thenable(&v) {
                    Some(p) => Read::Later(p),
                    None => Read::Now(text(v)),
                },
            },
        }
    }

    /// Reads the stored record, waiting for an async backend. A failure switches to memory.
    pub async fn load(&self) -> Result<Option<String>, Error> {
        self.settle(self.read()).await
    }

    /// Finishes a read started with `read()`. A failure switches to memory.
    pub async fn settle(&self, read: Read) -> Result<Option<String>, Error> {
        let result = match read {
            Read::Now(r) => r,
            Read::Later(p) => match JsFuture::from(p).await {
                Ok(v) if v.is_null() || v.is_undefined() => Ok(None),
                Ok(v) => v.as_string().map(Some).ok_or_else(|| storage_error("read")),
                Err(_) => Err(storage_error("read")),
            },
        };
        if result.is_err() {
            self.fall_back();
        }
        result
    }

    /// Writes the record (`None` removes it). A failure switches to memory.
    pub async fn write(&self, record: Option<&str>) -> Result<(), Error> {
        self.write_key(&self.key, record).await
    }

    /// Writes the record under `key` (`None` removes it). A failure switches to memory.
    pub async fn write_key(&self, key: &str, record: Option<&str>) -> Result<(), Error> {
        let key = JsValue::from_str(key);
        let outcome = match (&*self.backend.borrow(), record) {
            (Backend::Memory, _) => Ok(JsValue::UNDEFINED),
            (Backend::Web(storage), Some(r)) => call(storage, "setItem", &key, Some(&r.into())),
            (Backend::Web(storage), None) => call(storage, "removeItem", &key, None),
            (Backend::Adapter { target, set, .. }, Some(r)) => set.call2(target, &key, &r.into()),
            (Backend::Adapter { target, remove, .. }, None) => remove.call1(target, &key),
        };
        let settled = match outcome.map(|v| thenable(&v)) {
            Ok(Some(p)) => JsFuture::from(p).await.map(drop),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        settled.map_err(|_| {
            self.fall_back();
            storage_error(if record.is_some() { "save" } else { "clear" })
        })
    }

    fn fall_back(&self) {
        *self.backend.borrow_mut() = Backend::Memory;
    }
}

/// A Promise (or any thenable) as a Promise; `None` for a plain value.
pub fn thenable(value: &JsValue) -> Option<Promise> {
    method(value, "then").map(|_| Promise::resolve(value))
}

fn call(target: &JsValue, name: &str, key: &JsValue, value: Option<&JsValue>) -> Result<JsValue, JsValue> {
    let f = method(target, name).ok_or(JsValue::UNDEFINED)?;
    match value {
        Some(v) => f.call2(target, key, v),
        None => f.call1(target, key),
    }
}
