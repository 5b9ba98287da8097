//! WebCrypto for the gateway: RS256, ES256 and EdDSA signatures (SubtleCrypto is native code,
//! 20-50x faster than pure-Rust verification in wasm) and SHA-256 digests. Imported keys are
//! cached: a CryptoKey is plain data, safe to share between requests.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::global::{global, method};
use crate::core::verify::{Alg, PublicKey};

fn subtle() -> Option<JsValue> {
    let crypto = global("crypto")?;
    Reflect::get(&crypto, &"subtle".into()).ok().filter(|s| s.is_object())
}

async fn call(name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let subtle = subtle().ok_or(JsValue::UNDEFINED)?;
    let f = method(&subtle, name).ok_or(JsValue::UNDEFINED)?;
    let promise: Promise = Promise::resolve(&f.apply(&subtle, &args.iter().collect::<Array>())?);
    JsFuture::from(promise).await
}

fn object(pairs: &[(&str, &str)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), &(*v).into());
    }
    o.into()
}

/// (import parameters, verify parameters) for an algorithm.
fn params(alg: Alg) -> Option<(JsValue, JsValue)> {
    match alg {
        Alg::Rs256 => Some((object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]), object(&[("name", "RSASSA-PKCS1-v1_5")]))),
        Alg::Es256 => Some((object(&[("name", "ECDSA"), ("namedCurve", "P-256")]), object(&[("name", "ECDSA"), ("hash", "SHA-256")]))),
        Alg::EdDsa => Some((object(&[("name", "Ed25519")]), object(&[("name", "Ed25519")]))),
        Alg::Hs256 => None,
    }
}

/// An imported key with its algorithm's verify parameters (built once: the hot path reuses both).
#[derive(Clone)]
pub struct ImportedKey {
    /// The CryptoKey.
    pub key: JsValue,
    /// SubtleCrypto's verify parameters for its algorithm.
    pub params: JsValue,
}

/// Imported public keys, by their JWK text.
pub struct KeyCache {
    keys: RefCell<HashMap<String, ImportedKey>>,
    capacity: usize,
}

impl Default for KeyCache {
    /// For keys from the configured JWKS: a full cache means a rotation storm, not an attack.
    fn default() -> Self {
        Self::with_capacity(64)
    }
}

impl KeyCache {
    /// Holding at most `capacity` keys (emptied when full).
    pub fn with_capacity(capacity: usize) -> Self {
        Self { keys: RefCell::new(HashMap::new()), capacity }
    }

    async fn import(&self, key: &PublicKey) -> Option<ImportedKey> {
        if let Some(k) = self.cached(key) {
            return Some(k);
        }
        let (import, params) = params(key.alg)?;
        let jwk = js_sys::JSON::parse(&key.jwk).ok()?;
        let usages = Array::of1(&"verify".into());
        let imported = call("importKey", &["jwk".into(), jwk, import, false.into(), usages.into()]).await.ok()?;
        let imported = ImportedKey { key: imported, params };
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= self.capacity {
            keys.clear();
        }
        keys.insert(key.jwk.clone(), imported.clone());
        Some(imported)
    }

    /// The imported key, if it is already cached (the hot path needs no await).
    pub fn cached(&self, key: &PublicKey) -> Option<ImportedKey> {
        self.keys.borrow().get(&key.jwk).cloned()
    }

    /// Verifies `signature` over `data`. False for a bad signature, a key the runtime cannot
    /// import (e.g. Ed25519 where unsupported) or any WebCrypto error.
    pub async fn verify(&self, key: &PublicKey, signature: &[u8], data: &[u8]) -> bool {
        let Some(imported) = self.import(key).await else { return false };
        verify_imported(imported, signature, data).await
    }
}

/// Verifies with an imported key and its algorithm's parameters.
pub async fn verify_imported(imported: ImportedKey, signature: &[u8], data: &[u8]) -> bool {
    let args = [imported.params, imported.key, Uint8Array::from(signature).into(), Uint8Array::from(data).into()];
    call("verify", &args).await.ok().and_then(|v| v.as_bool()).unwrap_or(false)
}
