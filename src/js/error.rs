//! The ONE conversion from core errors to a JS `RefreshError` (a real `Error` subclass with
//! `name`, `code`, `status`, `retryable`, `retryAfterMs` and, where there was one, `cause`).

use wasm_bindgen::prelude::*;

use crate::core::error::Error;

#[wasm_bindgen(module = "/src/js/refresh_error.js")]
extern "C" {
    #[wasm_bindgen(js_name = refreshError)]
    fn refresh_error(
        message: &str,
        code: &str,
        status: Option<u16>,
        retryable: bool,
        retry_after_ms: Option<f64>,
        server_error: Option<&str>,
        cause: Option<&JsValue>,
    ) -> JsValue;
}

/// Builds the JS error. `cause` is the underlying JS exception (e.g. fetch's TypeError).
pub fn to_js(error: &Error, cause: Option<&JsValue>) -> JsValue {
    refresh_error(&error.message, error.code.as_str(), error.status, error.retryable(), error.retry_after_ms, error.server_error.as_deref(), cause)
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
