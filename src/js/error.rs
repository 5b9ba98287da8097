//! The ONE conversion from core errors to a JS `RefreshError` (a real `Error` subclass with
//! `name`, `code`, `status`, `retryable`, `retryAfterMs` and, where there was one, `cause`).

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::error::Error;

#[wasm_bindgen(module = "/src/js/refresh_error.js")]
extern "C" {
    #[wasm_bindgen(js_name = RefreshError)]
    type JsRefreshError;

    #[wasm_bindgen(constructor, js_class = "RefreshError")]
    fn new(message: &str, details: &Object) -> JsRefreshError;
}

/// Builds the JS error. `cause` is the underlying JS exception (e.g. fetch's TypeError).
pub fn to_js(error: &Error, cause: Option<&JsValue>) -> JsValue {
    let details = Object::new();
    let set = |key: &str, value: JsValue| {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&details, &JsValue::from_str(key), &value);
    };
    set("code", error.code.as_str().into());
    set("status", error.status.map_or(JsValue::NULL, JsValue::from));
    set("retryable", error.retryable().into());
    set("retryAfterMs", error.retry_after_ms.map_or(JsValue::NULL, JsValue::from));
    if let Some(server_error) = &error.server_error {
        set("serverError", server_error.as_str().into());
    }
    if let Some(cause) = cause {
        set("cause", cause.clone());
    }
    JsRefreshError::new(&error.message, &details).into()
}

/// A core error that may carry the JS exception behind it.
pub struct JsError {
    /// The error.
    pub error: Error,
    /// The JS value that caused it, if any.
    pub cause: Option<JsValue>,
}

impl From<Error> for JsError {
    fn from(error: Error) -> Self {
        Self { error, cause: None }
    }
}

impl From<Error> for JsValue {
    fn from(e: Error) -> Self {
        to_js(&e, None)
    }
}

impl From<JsError> for JsValue {
    fn from(e: JsError) -> Self {
        to_js(&e.error, e.cause.as_ref())
    }
}
