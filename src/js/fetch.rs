//! The fetch transport: builds the request, enforces the timeout with an AbortController
//! (aborting too when the future is dropped unfinished), and reads the body up to a cap of
//! decoded bytes without buffering more.

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, AbortSignal, Headers, RequestCredentials, RequestInit, Response};

use super::error::JsError;
use super::global::{global_fetch, has_global, method, Timer};
use super::options::OptionReader;
use crate::core::error::{Error, ErrorCode};
use crate::core::request::{validate_timeout_ms, RefreshRequest, DEFAULT_TIMEOUT_MS, MAX_BODY_BYTES};

/// How requests are sent: the options shared by `refresh()` and everything built on it.
#[derive(Clone)]
pub struct Transport {
    /// Milliseconds before the request is aborted.
    pub timeout_ms: u32,
    /// Extra request headers, validated.
    pub headers: Vec<(String, String)>,
    /// fetch's `credentials`, when given.
    pub credentials: Option<RequestCredentials>,
    /// A fetch-compatible function used instead of the global one.
    pub fetch: Option<Function>,
}

/// The option names `Transport::from_options` reads.
pub const TRANSPORT_OPTIONS: [&str; 4] = ["timeoutMs", "headers", "credentials", "fetch"];

impl Transport {
    /// Reads `timeoutMs`, `headers`, `credentials` and `fetch`.
    pub fn from_options(options: &OptionReader) -> Result<Self, Error> {
        let timeout_ms = options.number("timeoutMs")?.map(validate_timeout_ms).transpose()?.unwrap_or(DEFAULT_TIMEOUT_MS);
        let credentials =
            options.one_of("credentials", &["omit", "same-origin", "include"])?.and_then(|c| RequestCredentials::from_js_value(&JsValue::from_str(&c)));
        let fetch = match options.get("fetch")? {
            None => None,
            // A service binding or any object with a fetch() method works as is.
            Some(v) if v.is_object() && !v.is_function() => {
                let fetch = method(&v, "fetch").ok_or_else(|| Error::invalid_argument("fetch", "must be a function or an object with a fetch() method"))?;
                Some(fetch.bind0(&v))
            }
            Some(_) => options.function("fetch")?,
        };
        if fetch.is_none() && !has_global("fetch") {
            return Err(Error::invalid_argument("fetch", "there is no global fetch here; pass a fetch function"));
        }
        let headers = match options.get("headers")? {
            None => Vec::new(),
            Some(v) => read_headers(&v)?,
        };
        Ok(Self { timeout_ms, headers, credentials, fetch })
    }

    /// Sends a refresh request (with its DPoP proof, if any); the answer, its body read up to
    /// `max_body` bytes.
    pub async fn post(&self, request: &RefreshRequest, dpop_proof: Option<&str>, max_body: usize) -> Result<RawResponse, JsError> {
        let mut fixed = vec![("Content-Type", request.content_type)];
        if let Some(a) = &request.authorization {
            fixed.push(("Authorization", a));
        }
        if let Some(proof) = dpop_proof {
            fixed.push(("DPoP", proof));
        }
        self.send(&request.url, Some(&request.body), &fixed, max_body).await
    }

    /// `GET url`; the answer, its body read up to `max_body` bytes.
    pub async fn get(&self, url: &str, max_body: usize) -> Result<RawResponse, JsError> {
        self.send(url, None, &[], max_body).await
    }

    async fn send(&self, url: &str, body: Option<&str>, fixed: &[(&str, &str)], max_body: usize) -> Result<RawResponse, JsError> {
        let headers = self.headers_with(fixed)?;
        let init = RequestInit::new();
        init.set_method(if body.is_some() { "POST" } else { "GET" });
        init.set_headers(&headers);
        if let Some(body) = body {
            init.set_body(&JsValue::from_str(body));
        }
        if let Some(c) = self.credentials {
            init.set_credentials(c);
        }
        let controller = AbortController::new().ok();
        let signal = controller.as_ref().map(AbortController::signal);
        init.set_signal(signal.as_ref());
        let mut guard = AbortOnDrop::new(controller.clone());
        let deadline = Deadline::start(self.timeout_ms, controller);
        let sent = match &self.fetch {
            Some(f) => f.call2(&JsValue::UNDEFINED, &url.into(), &init).map(|v| Promise::resolve(&v)),
            None => global_fetch(&url.into(), &init),
        };
        let sent = sent.map_err(network)?;
        let response = deadline.race(sent).await?;
        if Reflect::get(&response, &"status".into()).ok().and_then(|s| s.as_f64()).is_none() {
            return Err(Error::bad_response("is not a Response (check the fetch option)").into());
        }
        let response: Response = response.unchecked_into();
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let status = response.status();
        let retry_after = header("retry-after");
        let date = header("date");
        let dpop_nonce = header("dpop-nonce");
        // The signal cancels the stream too: a fetch option's stream may not heed the abort.
        let body = read_capped(&response, &deadline, max_body, signal.as_ref()).await?;
        guard.completed();
        Ok(RawResponse { status, retry_after, date, dpop_nonce, body, received_at_ms: js_sys::Date::now() })
    }

    fn headers_with(&self, fixed: &[(&str, &str)]) -> Result<Headers, JsError> {
        let headers = Headers::new().map_err(network)?;
        let extra = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in extra.chain(fixed.iter().copied()) {
            headers.set(k, v).map_err(|_| Error::invalid_argument("headers", "contains an invalid header name or value"))?;
        }
        Ok(headers)
    }
}

/// A response as the core needs it.
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The Retry-After header.
    pub retry_after: Option<String>,
    /// The Date header (readable cross-origin only when the server exposes it).
    pub date: Option<String>,
    /// The DPoP-Nonce header (the same: exposed, or unseen cross-origin).
    pub dpop_nonce: Option<String>,
    /// The body, at most the cap.
    pub body: Vec<u8>,
    /// `Date.now()` when the body had arrived.
    pub received_at_ms: f64,
}

fn network(cause: JsValue) -> JsError {
    JsError {
        error: Error::new(ErrorCode::Network, "the refresh request got no HTTP answer (network failure, refused connection or CORS)"),
        cause: Some(cause),
    }
}

/// Accepts a plain object of strings, a `Headers`, or an array of `[name, value]` pairs.
fn read_headers(value: &JsValue) -> Result<Vec<(String, String)>, Error> {
    let bad = || Error::invalid_argument("headers", "must map header names to string values");
    let pairs: Vec<JsValue> = if let Some(h) = value.dyn_ref::<Headers>() {
        let entries = js_sys::try_iter(h).ok().flatten().ok_or_else(bad)?;
        entries.filter_map(Result::ok).collect()
    } else if Array::is_array(value) {
        Array::from(value).iter().collect()
    } else if value.is_object() && !value.is_function() {
        Object::entries(value.unchecked_ref()).iter().collect()
    } else {
        return Err(bad());
    };
    let checked = Headers::new().map_err(|_| bad())?;
    let mut out = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let pair = Array::from(&pair);
        let (k, v) = (pair.get(0).as_string().ok_or_else(bad)?, pair.get(1).as_string().ok_or_else(bad)?);
        checked.append(&k, &v).map_err(|_| Error::invalid_argument("headers", "contains an invalid header name or value"))?;
        out.push((k, v));
    }
    Ok(out)
}

/// The request's timeout: aborts the request and settles a promise that every step races.
struct Deadline {
    timer: Timer,
}

impl Deadline {
    fn start(ms: u32, controller: Option<AbortController>) -> Self {
        let timer = Timer::start(f64::from(ms), move || {
            if let Some(c) = &controller {
                c.abort();
            }
        });
        Self { timer }
    }

    async fn race(&self, op: Promise) -> Result<JsValue, JsError> {
        let outcome = JsFuture::from(Promise::race(&Array::of2(&op, self.timer.promise()))).await;
        match outcome {
            _ if self.timer.fired() => Err(Error::new(ErrorCode::Timeout, "the refresh request timed out").into()),
            Ok(v) => Ok(v),
            Err(e) => Err(network(e)),
        }
    }
}

/// Aborts the fetch when dropped before `completed()`: a caller that drops the future of an
/// unfinished exchange (a lost race, a cancelled request) must not leave the connection
/// downloading in the background. The same idea as reqwest's wasm `AbortGuard`.
pub(crate) struct AbortOnDrop {
    controller: Option<AbortController>,
}

impl AbortOnDrop {
    pub(crate) fn new(controller: Option<AbortController>) -> Self {
        Self { controller }
    }

    /// The exchange is over: nothing is left to abort.
    pub(crate) fn completed(&mut self) {
        self.controller = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.controller.take() {
            c.abort();
        }
    }
}

#[wasm_bindgen(module = "/src/js/platform.js")]
extern "C" {
    /// The body up to `cap` decoded bytes, in one promise (see platform.js).
    #[wasm_bindgen(js_name = readCapped)]
    fn read_capped_js(body: &JsValue, cap: u32, signal: Option<&AbortSignal>, refuse: bool) -> Promise;
}

/// Reads the body of any `Response` (a fetch answer, a Durable Object's reply) as a stream,
/// up to `cap` decoded bytes, within `timeout_ms`. Over the cap it fails with `bad_response`
/// and cancels the stream; on timeout, `timeout`. Dropping the future cancels the stream too.
pub async fn read_body(response: &Response, cap: usize, timeout_ms: u32) -> Result<Vec<u8>, JsError> {
    let controller = AbortController::new().ok();
    let _cancel_on_drop = AbortOnDrop::new(controller.clone());
    let signal = controller.as_ref().map(AbortController::signal);
    read_capped(response, &Deadline::start(timeout_ms, controller), cap, signal.as_ref()).await
}

/// A pending response (a Durable Object stub's `fetch`) and its body up to `cap` decoded bytes,
/// both within `timeout_ms`: the answer is a `Response`, or an error.
pub async fn response_body(pending: Promise, cap: usize, timeout_ms: u32) -> Result<Vec<u8>, JsError> {
    let controller = AbortController::new().ok();
    let _cancel_on_drop = AbortOnDrop::new(controller.clone());
    let signal = controller.as_ref().map(AbortController::signal);
    let deadline = Deadline::start(timeout_ms, controller);
    let response = deadline.race(pending).await?;
    let response = response.dyn_into::<Response>().map_err(|_| JsError::from(Error::bad_response("is not a Response")))?;
    read_capped(&response, &deadline, cap, signal.as_ref()).await
}

/// The body, cut at `cap` decoded bytes. Content-Length is a claim, not a limit: a compressed
/// body of a few KiB can inflate to gigabytes, so even a small declared length is read as a
/// stream and counted (in JS, where a chunk costs nothing once dropped: wasm memory never
/// shrinks); only a body within the cap is copied in. A declared length over the cap is
/// refused without reading. `signal` (the request's) cancels the stream on timeout or drop.
async fn read_capped(response: &Response, deadline: &Deadline, cap: usize, signal: Option<&AbortSignal>) -> Result<Vec<u8>, JsError> {
    let too_large = || -> JsError {
        let message = if cap == MAX_BODY_BYTES { "body is larger than 64 KiB" } else { "body is over the size cap" };
        Error::bad_response(message).into()
    };
    let declared = response.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    let Some(stream) = response.body() else { return Ok(Vec::new()) };
    let cap32 = u32::try_from(cap).unwrap_or(u32::MAX);
    let read = read_capped_js(&stream, cap32, signal, declared.is_some_and(|n| n > cap as u64));
    let bytes = deadline.race(read).await?;
    if bytes.is_null() {
        return Err(too_large());
    }
    match bytes.dyn_ref::<Uint8Array>() {
        Some(bytes) if bytes.length() as usize <= cap => Ok(bytes.to_vec()),
        Some(_) => Err(too_large()),
        None => Err(Error::bad_response("body could not be read").into()),
    }
}
