//! DPoP (RFC 9449) for the client side. src/js/platform.js awaits WebCrypto and the key store and
//! keeps nonces; everything it encodes or decides comes from the sync functions here (exported to
//! it through `dpopWire`, not to apps), which hand over to `core::dpop`. Rust keeps no async DPoP
//! step of its own beyond awaiting one promise per request: in wasm each async step costs a state
//! machine, and the browser build has a size gate. Nothing here implements Debug: a key pair or a
//! proof is never printed.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::JsError;
use crate::core::base64::encode_url;
use crate::core::dpop::{proof_signing_input, ProofClaims};
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::jwk::{public_jwk, KeyType};

#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    /// platform.js's DPoP state of one refresh() call or one RefreshClient.
    pub type DpopSession;
    /// `None` when `fixed` and `option` are both absent or false; throws for a malformed option.
    #[wasm_bindgen(js_name = dpopSession, catch)]
    fn dpop_session(fixed: &JsValue, option: &JsValue, name: &str) -> Result<Option<DpopSession>, JsValue>;
    /// The key's thumbprint once it is loaded.
    #[wasm_bindgen(method)]
    pub fn thumbprint(this: &DpopSession) -> Option<String>;
    #[wasm_bindgen(method)]
    fn forget(this: &DpopSession, delete_stored: bool) -> Promise;
    /// Keeps a `DPoP-Nonce` of `url`'s origin; the nonce now kept for it.
    #[wasm_bindgen(method)]
    pub fn remember(this: &DpopSession, url: &str, nonce: Option<&str>) -> Option<String>;
    #[wasm_bindgen(method, js_name = proof)]
    fn proof_promise(this: &DpopSession, method: &str, url: &str, access_token: Option<&str>) -> Promise;
    #[wasm_bindgen(method, js_name = fetch)]
    fn fetch_promise(this: &DpopSession, send: &JsValue, request: &web_sys::Request, token: &str) -> Promise;
    #[wasm_bindgen(method, js_name = headers)]
    fn headers_promise(this: &DpopSession, method: &str, url: &str, token: Option<&str>, dpop_bound: bool) -> Promise;
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

fn refused(cause: JsValue) -> JsError {
    JsError { error: Error::new(ErrorCode::DpopError, "the DPoP proof could not be made"), cause: Some(cause) }
}

impl DpopSession {
    /// For `refresh()`: the app's key pair and nonce.
    pub fn fixed(key_pair: JsValue, nonce: Option<&str>, url: &str) -> Result<Self, Error> {
        let session = dpop_session(&key_pair, &JsValue::UNDEFINED, "").ok().flatten();
        let session = session.ok_or_else(|| Error::invalid_argument("dpop", "must be a CryptoKeyPair (see createDpopKeyPair)"))?;
        if nonce.is_some() && session.remember(url, nonce).as_deref() != nonce {
            return Err(Error::invalid_argument("dpopNonce", "must be a DPoP-Nonce value"));
        }
        Ok(session)
    }

    /// For a RefreshClient: the `dpop` option, `true` or `{ keyStore }`; `None` when DPoP is off.
    /// The key is stored under `name` (the storageKey).
    pub fn from_option(value: Option<JsValue>, name: &str) -> Result<Option<Self>, Error> {
        let value = value.unwrap_or_default();
        dpop_session(&JsValue::UNDEFINED, &value, name).map_err(|_| Error::invalid_argument("dpop", "must be true or { keyStore } (with get, set and delete)"))
    }

    /// A proof for `method url` (bound to `access_token` when given), with the origin's nonce.
    pub async fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> Result<String, JsError> {
        let proof = JsFuture::from(self.proof_promise(method, url, access_token)).await.map_err(refused)?;
        proof.as_string().ok_or_else(|| refused(JsValue::UNDEFINED))
    }

    /// fetch (`send`) with `Authorization: DPoP <token>` and a fresh proof, once more when a 401
    /// asks for a nonce.
    pub async fn fetch(&self, send: &JsValue, request: &web_sys::Request, token: &str) -> Result<JsValue, JsValue> {
        JsFuture::from(self.fetch_promise(send, request, token)).await
    }

    /// `{ Authorization?, DPoP }` for a request with `token` (the DPoP scheme when
    /// `dpop_bound`, else Bearer).
    pub async fn headers(&self, method: &str, url: &str, token: Option<&str>, dpop_bound: bool) -> Result<JsValue, JsValue> {
        JsFuture::from(self.headers_promise(method, url, token, dpop_bound)).await.map_err(|e| refused(e).into())
    }

    /// The session is over: its key is dropped (and deleted from the store with
    /// `delete_stored`); the next session makes a new one.
    pub async fn end(&self, delete_stored: bool) -> Result<(), Error> {
        let deleted = JsFuture::from(self.forget(delete_stored)).await;
        deleted.map(drop).map_err(|_| Error::new(ErrorCode::StorageError, "the DPoP key store failed to delete the key"))
    }
}

/// Whether a refused refresh should go again with the nonce the server just sent (and the
/// session kept: a malformed one is not).
pub fn wants_nonce(error: &Error, sent: Option<&str>, kept: Option<&str>) -> bool {
    error.code == ErrorCode::DpopError && error.server_error.as_deref() == Some("use_dpop_nonce") && sent.is_some() && sent == kept
}

// ---- the sync functions platform.js calls (wired by the package entries) ----------------------

/// The RFC 7638 text of an exported public JWK; refuses what is not an ES256 (P-256) key.
#[wasm_bindgen(js_name = dpopPublicJwk, skip_typescript)]
pub fn dpop_public_jwk(exported: &str) -> Result<String, JsValue> {
    match Json::parse(exported.as_bytes()).as_ref().and_then(public_jwk) {
        Some((KeyType::P256, jwk)) => Ok(jwk),
        _ => Err(Error::invalid_argument("keyPair", "must be an ES256 (ECDSA P-256) CryptoKeyPair").into()),
    }
}

/// `base64url(header).base64url(claims)` of a proof (`core::dpop::proof_signing_input`). An
/// empty `ath` or `nonce` is none (platform.js passes them so: fewer conversions in the build).
#[wasm_bindgen(js_name = dpopSigningInput, skip_typescript)]
pub fn dpop_signing_input(jwk: &str, htm: &str, htu: &str, jti: &[u8], ath: &[u8], nonce: &str) -> Result<String, JsValue> {
    let claims = ProofClaims { htm, htu, now_ms: js_sys::Date::now(), jti, ath: (!ath.is_empty()).then_some(ath), nonce: (!nonce.is_empty()).then_some(nonce) };
    Ok(proof_signing_input(jwk, &claims)?)
}

/// Unpadded base64url (a proof's signature, a thumbprint's SHA-256).
#[wasm_bindgen(js_name = dpopBase64Url, skip_typescript)]
pub fn dpop_base64_url(bytes: &[u8]) -> String {
    encode_url(bytes)
}
