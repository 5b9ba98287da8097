//! DPoP (RFC 9449) for the client side: the exported building blocks, the key pair a
//! RefreshClient keeps (in IndexedDB, memory or an app's key store), nonces per origin and
//! the proof headers. WebCrypto signs and hashes (src/js/dpop.js); the proof text is built by
//! `core::dpop`. Nothing here implements Debug: a key pair or a proof is never printed.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::JsError;
use super::global::{method, promise, spawn};
use crate::core::dpop::{asks_for_nonce, is_nonce, origin, proof, proof_signing_input, thumbprint, ProofClaims};
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::jwk::{public_jwk, KeyType};

#[wasm_bindgen(module = "/src/js/dpop.js")]
extern "C" {
    #[wasm_bindgen(js_name = dpopGenerate)]
    fn generate() -> Promise;
    #[wasm_bindgen(js_name = dpopExportPublic)]
    fn export_public(key_pair: &JsValue) -> Promise;
    #[wasm_bindgen(js_name = dpopSign)]
    fn sign(key_pair: &JsValue, data: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = dpopSha256)]
    fn sha256(data: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = dpopRandom, catch)]
    fn random(n: u32) -> Result<Uint8Array, JsValue>;
    #[wasm_bindgen(js_name = dpopAbsoluteUrl)]
    fn absolute_url(url: &str) -> String;
    #[wasm_bindgen(js_name = dpopIndexedDbStore)]
    fn indexed_db_store() -> JsValue;
}

#[wasm_bindgen(typescript_custom_section)]
const TS_DPOP: &str = r#"
/** A new ES256 key pair for DPoP (RFC 9449), made by WebCrypto; the private key is not extractable. */
export function createDpopKeyPair(): Promise<CryptoKeyPair>;
/** A DPoP proof (RFC 9449 section 4.2) for one request; `ath` when an access token is given. */
export function createDpopProof(keyPair: CryptoKeyPair, request: { method: string; url: string; accessToken?: string; nonce?: string }): Promise<string>;
/** The key's RFC 7638 JWK thumbprint (base64url SHA-256): the `jkt` a server binds tokens to. */
export function dpopThumbprint(keyPair: CryptoKeyPair): Promise<string>;

/** Where a RefreshClient keeps its DPoP key pair (sync or Promise-returning); name is derived from storageKey. */
export interface DpopKeyStore {
  get(name: string): CryptoKeyPair | null | undefined | Promise<CryptoKeyPair | null | undefined>;
  set(name: string, keyPair: CryptoKeyPair): unknown;
  delete(name: string): unknown;
}

export interface RefreshClientOptions {
  /** DPoP (RFC 9449): true keeps the key pair in IndexedDB where there is one (else memory); or your own key store. */
  dpop?: boolean | { keyStore?: DpopKeyStore };
}

export interface RefreshClient {
  /** The DPoP key's RFC 7638 thumbprint; null without dpop or until the key is loaded. */
  readonly dpopThumbprint: string | null;
  /** Authorization (DPoP or Bearer; absent when signed out) and a DPoP proof for a request made without authFetch. */
  dpopHeaders(method: string, url: string): Promise<{ Authorization?: string; DPoP: string }>;
}
"#;

fn crypto_failed(cause: &str) -> Error {
    Error::new(ErrorCode::DpopError, ["WebCrypto could not ", cause].concat())
}

async fn digest(data: &[u8]) -> Result<Vec<u8>, Error> {
    let hash = JsFuture::from(sha256(data)).await.map_err(|_| crypto_failed("hash"))?;
    Ok(Uint8Array::new(&hash).to_vec())
}

/// A DPoP key pair with the RFC 7638 text of its public key (exported once).
#[derive(Clone)]
pub struct DpopKey {
    pair: JsValue,
    jwk: Rc<str>,
}

impl DpopKey {
    /// A new key pair.
    pub async fn generate() -> Result<Self, Error> {
        let pair = JsFuture::from(generate()).await.map_err(|_| crypto_failed("make an ES256 key pair"))?;
        Self::from_pair(pair).await
    }

    /// An app's key pair: it must be an ECDSA P-256 CryptoKeyPair.
    pub async fn from_pair(pair: JsValue) -> Result<Self, Error> {
        let refused = || Error::invalid_argument("keyPair", "must be an ES256 (ECDSA P-256) CryptoKeyPair");
        let has = |name: &str| Reflect::get(&pair, &name.into()).ok().is_some_and(|k| k.is_object());
        if !pair.is_object() || !has("privateKey") || !has("publicKey") {
            return Err(refused());
        }
        let text = JsFuture::from(export_public(&pair)).await.map_err(|_| refused())?.as_string().ok_or_else(refused)?;
        match Json::parse(text.as_bytes()).as_ref().and_then(public_jwk) {
            Some((KeyType::P256, jwk)) => Ok(Self { pair, jwk: jwk.into() }),
            _ => Err(refused()),
        }
    }

    /// The key pair as JS sees it.
    pub fn pair(&self) -> &JsValue {
        &self.pair
    }

    /// The RFC 7638 thumbprint.
    pub async fn thumbprint(&self) -> Result<String, Error> {
        Ok(thumbprint(&digest(self.jwk.as_bytes()).await?))
    }

    /// A proof for `method url`, bound to `access_token` when given.
    pub async fn proof(&self, method: &str, url: &str, access_token: Option<&str>, nonce: Option<&str>) -> Result<String, Error> {
        let ath = match access_token {
            Some(token) => Some(digest(token.as_bytes()).await?),
            None => None,
        };
        let jti = random(16).map_err(|_| crypto_failed("draw random bytes"))?.to_vec();
        let url = absolute_url(url);
        let claims = ProofClaims { htm: method, htu: &url, now_ms: js_sys::Date::now(), jti: &jti, ath: ath.as_deref(), nonce };
        let input = proof_signing_input(&self.jwk, &claims)?;
        let signature = JsFuture::from(sign(&self.pair, input.as_bytes())).await.map_err(|_| crypto_failed("sign the DPoP proof"))?;
        Ok(proof(&input, &Uint8Array::new(&signature).to_vec()))
    }
}

/// The last `DPoP-Nonce` of each origin (a few origins: an app talks to a handful of servers).
#[derive(Default)]
pub struct Nonces(RefCell<Vec<(String, String)>>);

impl Nonces {
    /// The nonce to send to `url`'s origin.
    pub fn get(&self, url: &str) -> Option<String> {
        let origin = origin(&absolute_url(url))?;
        self.0.borrow().iter().find(|(o, _)| *o == origin).map(|(_, n)| n.clone())
    }

    /// Keeps a `DPoP-Nonce` the server at `url` sent; a malformed one is ignored.
    pub fn remember(&self, url: &str, nonce: Option<&str>) {
        let (Some(nonce), Some(origin)) = (nonce.filter(|n| is_nonce(n)), origin(&absolute_url(url))) else { return };
        let mut nonces = self.0.borrow_mut();
        nonces.retain(|(o, _)| *o != origin);
        if nonces.len() >= 16 {
            nonces.remove(0);
        }
        nonces.push((origin, nonce.to_owned()));
    }
}

/// What a refresh request proves with.
pub struct Dpop<'a> {
    /// The key.
    pub key: &'a DpopKey,
    /// Nonces, read and updated.
    pub nonces: &'a Nonces,
}

/// Whether a refused refresh should go again with the nonce the server just sent.
pub fn wants_nonce(error: &Error, nonce: Option<&str>) -> bool {
    error.code == ErrorCode::DpopError && error.server_error.as_deref() == Some("use_dpop_nonce") && nonce.is_some_and(is_nonce)
}

/// Whether a resource server's 401 asks for a nonce (and sent one).
fn resource_wants_nonce(response: &web_sys::Response) -> Option<String> {
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let challenge = header("www-authenticate")?;
    let nonce = header("dpop-nonce").filter(|n| is_nonce(n))?;
    (response.status() == 401 && asks_for_nonce(&challenge)).then_some(nonce)
}

/// The key pair of a RefreshClient: one per session, kept where tabs share it.
pub struct ClientDpop {
    /// `get(name)` / `set(name, keyPair)` / `delete(name)`; `None` keeps it in memory only.
    store: Option<(JsValue, Function, Function, Function)>,
    name: String,
    key: RefCell<Option<DpopKey>>,
    thumbprint: RefCell<Option<String>>,
    /// The single flight of loading or making the key.
    pending: RefCell<Option<Promise>>,
    failure: RefCell<Option<Error>>,
    /// Nonces of every server the client talks to.
    pub nonces: Nonces,
}

impl ClientDpop {
    /// Reads the `dpop` option: `true`, or `{ keyStore }`. `None` when DPoP is off.
    pub fn from_option(value: Option<JsValue>, name: &str) -> Result<Option<Rc<Self>>, Error> {
        let store = match value {
            None => return Ok(None),
            Some(v) if v.as_bool() == Some(false) => return Ok(None),
            Some(v) if v.as_bool() == Some(true) => indexed_db_store(),
            Some(v) if v.is_object() && !v.is_function() => {
                let options = super::options::OptionReader::nested(&v, "dpop", "dpop.", &["keyStore"])?;
                options.get("keyStore")?.unwrap_or_else(indexed_db_store)
            }
            Some(_) => return Err(Error::invalid_argument("dpop", "must be true or { keyStore }")),
        };
        let store = if store.is_null() || store.is_undefined() {
            None
        } else {
            let f = |m: &str| method(&store, m).ok_or_else(|| Error::invalid_argument("dpop.keyStore", "must have get, set and delete methods"));
            Some((store.clone(), f("get")?, f("set")?, f("delete")?))
        };
        let dpop = Rc::new(Self {
            store,
            name: name.to_owned(),
            key: RefCell::new(None),
            thumbprint: RefCell::new(None),
            pending: RefCell::new(None),
            failure: RefCell::new(None),
            nonces: Nonces::default(),
        });
        // Loaded (or made) at once, so the thumbprint is there for the app's sign-in.
        let me = dpop.clone();
        spawn(async move {
            let _ = me.key().await;
        });
        Ok(Some(dpop))
    }

    /// The thumbprint of the key in use, once it is known.
    pub fn thumbprint(&self) -> Option<String> {
        self.thumbprint.borrow().clone()
    }

    async fn call(&self, pick: impl Fn(&(JsValue, Function, Function, Function)) -> &Function, args: &[&JsValue]) -> Result<JsValue, Error> {
        let Some(store) = &self.store else { return Ok(JsValue::UNDEFINED) };
        let name = JsValue::from_str(&self.name);
        let f = pick(store);
        let called = match args {
            [] => f.call1(&store.0, &name),
            [a, ..] => f.call2(&store.0, &name, a),
        };
        let failed = || Error::new(ErrorCode::StorageError, "the DPoP key store failed");
        let value = called.map_err(|_| failed())?;
        JsFuture::from(Promise::resolve(&value)).await.map_err(|_| failed())
    }

    /// The stored key, or a new one (stored, then read back: with two tabs racing, the one kept
    /// is the one both use).
    async fn load_or_create(&self) -> Result<DpopKey, Error> {
        let stored = self.call(|s| &s.1, &[]).await?;
        let key = if stored.is_object() {
            DpopKey::from_pair(stored).await?
        } else {
            let fresh = DpopKey::generate().await?;
            self.call(|s| &s.2, &[fresh.pair()]).await?;
            let kept = self.call(|s| &s.1, &[]).await?;
            if kept.is_object() { DpopKey::from_pair(kept).await? } else { fresh }
        };
        *self.thumbprint.borrow_mut() = Some(key.thumbprint().await?);
        Ok(key)
    }

    /// The session's key, loaded or made once for all concurrent callers.
    pub async fn key(self: &Rc<Self>) -> Result<DpopKey, Error> {
        if let Some(key) = self.key.borrow().clone() {
            return Ok(key);
        }
        let pending = self.pending.borrow().clone();
        let pending = pending.unwrap_or_else(|| {
            let me = self.clone();
            let p = promise(async move {
                let outcome = me.load_or_create().await;
                me.pending.borrow_mut().take();
                match outcome {
                    Ok(key) => {
                        *me.key.borrow_mut() = Some(key);
                        Ok(JsValue::UNDEFINED)
                    }
                    Err(e) => {
                        *me.failure.borrow_mut() = Some(e);
                        Err(JsValue::UNDEFINED)
                    }
                }
            });
            *self.pending.borrow_mut() = Some(p.clone());
            p
        });
        let _ = JsFuture::from(pending).await;
        let key = self.key.borrow().clone();
        key.ok_or_else(|| self.failure.borrow().clone().unwrap_or_else(|| crypto_failed("load the DPoP key")))
    }

    /// The session is over: its key is dropped (and deleted from the store with
    /// `delete_stored`); the next session makes a new one.
    pub async fn forget(&self, delete_stored: bool) -> Result<(), Error> {
        self.key.borrow_mut().take();
        self.thumbprint.borrow_mut().take();
        if delete_stored {
            self.call(|s| &s.3, &[]).await?;
        }
        Ok(())
    }

    /// Sets `Authorization: DPoP <token>` and a fresh proof (with `ath`) on a request.
    pub async fn authorize(self: &Rc<Self>, request: &web_sys::Request, token: &str) -> Result<(), Error> {
        let (authorization, proof) = self.headers(&request.method(), &request.url(), Some(token), true).await?;
        let headers = request.headers();
        let set = |name: &str, value: &str| headers.set(name, value).map_err(|_| Error::invalid_argument("authFetch", "the request's headers are immutable"));
        set("Authorization", authorization.as_deref().unwrap_or_default())?;
        set("DPoP", &proof)
    }

    /// Keeps the answer's `DPoP-Nonce`; true when it is a 401 asking for a nonce it brought.
    pub fn after_response(&self, url: &str, response: &web_sys::Response) -> bool {
        self.nonces.remember(url, response.headers().get("dpop-nonce").ok().flatten().as_deref());
        resource_wants_nonce(response).is_some()
    }

    /// `Authorization` and `DPoP` for a request with `token` (DPoP scheme when `dpop_bound`,
    /// else Bearer; no Authorization without a token).
    pub async fn headers(self: &Rc<Self>, method: &str, url: &str, token: Option<&str>, dpop_bound: bool) -> Result<(Option<String>, String), Error> {
        let key = self.key().await?;
        let bound = token.filter(|_| dpop_bound);
        let proof = key.proof(method, url, bound, self.nonces.get(url).as_deref()).await?;
        let authorization = token.map(|t| [if dpop_bound { "DPoP " } else { "Bearer " }, t].concat());
        Ok((authorization, proof))
    }
}

/// `createDpopKeyPair()`.
#[wasm_bindgen(js_name = createDpopKeyPair, skip_typescript)]
pub fn create_dpop_key_pair() -> Promise {
    promise(async move { Ok(DpopKey::generate().await.map_err(JsError::from)?.pair().clone()) })
}

/// `createDpopProof(keyPair, { method, url, accessToken?, nonce? })`.
#[wasm_bindgen(js_name = createDpopProof, skip_typescript)]
pub fn create_dpop_proof(key_pair: JsValue, request: JsValue) -> Promise {
    promise(async move {
        let options = super::options::OptionReader::new(&request, "createDpopProof()", &["method", "url", "accessToken", "nonce"]).map_err(JsError::from)?;
        let required = |name: &str| options.string(name).and_then(|v| v.ok_or_else(|| Error::invalid_argument(name, "is required")));
        let (method, url) = (required("method").map_err(JsError::from)?, required("url").map_err(JsError::from)?);
        let access = options.string("accessToken").map_err(JsError::from)?;
        let nonce = options.string("nonce").map_err(JsError::from)?;
        let key = DpopKey::from_pair(key_pair).await.map_err(JsError::from)?;
        Ok(key.proof(&method, &url, access.as_deref(), nonce.as_deref()).await.map_err(JsError::from)?.into())
    })
}

/// `dpopThumbprint(keyPair)`.
#[wasm_bindgen(js_name = dpopThumbprint, skip_typescript)]
pub fn dpop_thumbprint(key_pair: JsValue) -> Promise {
    promise(async move {
        let key = DpopKey::from_pair(key_pair).await.map_err(JsError::from)?;
        Ok(key.thumbprint().await.map_err(JsError::from)?.into())
    })
}

/// `{ Authorization?, DPoP }` as a plain object.
pub fn headers_to_js(authorization: Option<String>, proof: String) -> JsValue {
    let object = Object::new();
    if let Some(a) = authorization {
        let _ = Reflect::set(&object, &"Authorization".into(), &a.into());
    }
    let _ = Reflect::set(&object, &"DPoP".into(), &proof.into());
    object.into()
}
