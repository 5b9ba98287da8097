//! authFetch: the access token on the request, one refresh and one retry on a 401.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::{err, Client};
use crate::core::error::Error;
use crate::core::session::{Demand, Session};
use crate::js::global::global;

#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = newRequest)]
    fn new_request(input: &JsValue, init: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = sendRequest)]
    fn send_request(fetch: &JsValue, request: &web_sys::Request, token: Option<&str>, cookie_mode: bool) -> Promise;
}

impl Client {
    // ---- authFetch ------------------------------------------------------------------------

    pub(super) async fn auth_fetch(self: &Rc<Self>, input: JsValue, init: JsValue) -> Result<JsValue, JsValue> {
        // Built once and cloned per send, so a request with a body can be replayed.
        let original = new_request(&input, &init)?;
        if original.is_undefined() {
            return Err(err(Error::invalid_argument("authFetch", "there is no Request here")));
        }
        let original: web_sys::Request = original.unchecked_into();
        let token = self.demand(Demand::Token).await?;
        let cookie_mode = self.state.borrow().session().is_some_and(|s| s.cookie_mode);
        let first = self.send(&original.clone()?, token.as_deref(), cookie_mode).await?;
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
        Ok(self.send(&original, retry_token.as_deref(), cookie_mode).await?.into())
    }

    pub(super) async fn send(&self, request: &web_sys::Request, token: Option<&str>, cookie_mode: bool) -> Result<web_sys::Response, JsValue> {
        // A DPoP-bound token goes with `Authorization: DPoP` and a fresh proof per send, once
        // more when a resource server asks for a nonce (platform.js).
        let dpop_bound = self.state.borrow().session().is_some_and(Session::is_dpop);
        if let (Some(d), Some(t), true) = (&self.dpop, token, dpop_bound) {
            let send = self.endpoint.transport.fetch.clone().map_or_else(|| global("fetch").unwrap_or_default(), JsValue::from);
            return d.fetch(&send, request, t).await?.dyn_into();
        }
        let fetch = self.endpoint.transport.fetch.clone().map_or(JsValue::UNDEFINED, JsValue::from);
        let pending = send_request(&fetch, request, token, cookie_mode);
        JsFuture::from(pending).await?.dyn_into()
    }
}
