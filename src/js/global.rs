//! Globals reached through the global object, never through `window`: the same code runs in
//! pages, dedicated and service workers, workerd and Node.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn global_fetch(url: &str, init: &JsValue) -> Result<Promise, JsValue>;

    /// The global `setTimeout` (a number in pages, an object in Node: keep it opaque).
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &Function, ms: u32) -> JsValue;

    /// The global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);
}

/// Whether the global object has a property (e.g. `fetch`, `BroadcastChannel`).
pub fn has_global(name: &str) -> bool {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).is_ok_and(|v| !v.is_undefined())
}
