//! `refresh()` for real, against the dev server, in whichever runtime wasm-bindgen-test runs
//! it: Node (`wasm-pack test --node`), a Chromium window (`WASM_BINDGEN_USE_BROWSER=1`) and a
//! dedicated worker (`WASM_BINDGEN_USE_DEDICATED_WORKER=1`). tests/run-all.sh runs all three.
#![cfg(target_arch = "wasm32")]

use ida_refresh::js::refresh::refresh;
use js_sys::{Function, Promise, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

// Set by tests/run-all.sh, which starts the dev server and a closed port first. Without them
// the suite cannot run: every test fails saying so (nothing passes without checking).
const BASE: &str = match option_env!("IDA_TEST_BASE_URL") {
    Some(url) => url,
    None => "",
};
const CLOSED_PORT: &str = match option_env!("IDA_TEST_CLOSED_PORT") {
    Some(p) => p,
    None => "",
};

fn helpers() -> JsValue {
    assert!(
        !BASE.is_empty() && !CLOSED_PORT.is_empty() && option_env!("IDA_TEST_RUNTIME").is_some(),
        "IDA_TEST_BASE_URL, IDA_TEST_CLOSED_PORT and IDA_TEST_RUNTIME are unset at build time: run this suite through tests/run-all.sh (it starts the dev server)"
    );
    let make = Function::new_with_args("BASE, CLOSED", include_str!("wasm/helpers.js"));
    make.call2(&JsValue::NULL, &BASE.into(), &CLOSED_PORT.into()).expect("helpers load")
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}
fn s(v: &JsValue, key: &str) -> String {
    get(v, key).as_string().unwrap_or_else(|| panic!("{key} is not a string"))
}
fn json(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON")
}

struct H(JsValue);

impl H {
    fn new() -> Self {
        H(helpers())
    }
    async fn call(&self, name: &str, args: &[JsValue]) -> JsValue {
        let f: Function = get(&self.0, name).unchecked_into();
        let out = f.apply(&self.0, &args.iter().collect()).expect(name);
        JsFuture::from(Promise::resolve(&out)).await.expect(name)
    }
    async fn mint(&self, opts: &str) -> JsValue {
        self.call("mint", &[json(opts)]).await
    }
    async fn stats(&self, family: &JsValue) -> JsValue {
        self.call("stats", &[family.clone()]).await
    }
    async fn requests(&self, family: &JsValue) -> f64 {
        get(&self.stats(family).await, "refreshRequests").as_f64().unwrap()
    }
    async fn opts(&self, extra: &str) -> JsValue {
        self.call("opts", &[json(extra)]).await
    }
    async fn fault(&self, fault: &str, extra: &str) -> JsValue {
        self.call("faultOpts", &[json(fault), json(extra)]).await
    }
    /// Runs `refresh(token, options)` and returns the captured outcome.
    async fn refresh(&self, token: JsValue, options: JsValue) -> JsValue {
        self.call("capture", &[refresh(token, options).into()]).await
    }
    fn runtime(&self) -> String {
        s(&self.0, "runtime")
    }
}

/// Asserts a rejection with `code`, a real RefreshError, and a message free of `secret`.
fn assert_error(outcome: &JsValue, code: &str, secret: &str) -> JsValue {
    assert_eq!(get(outcome, "ok").as_bool(), Some(false), "expected {code}, got success");
    assert_eq!(s(outcome, "code"), code, "message: {}", s(outcome, "message"));
    assert_eq!(get(outcome, "isError").as_bool(), Some(true), "not an Error instance");
    assert_eq!(s(outcome, "name"), "RefreshError");
    let message = s(outcome, "message");
    assert!(!message.is_empty() && !message.contains(secret), "message leaks the token: {message}");
    let retryable = matches!(code, "rate_limited" | "server_error" | "network" | "timeout");
    assert_eq!(get(outcome, "retryable").as_bool(), Some(retryable), "{code} retryable");
    outcome.clone()
}

fn value(outcome: &JsValue) -> JsValue {
    assert_eq!(get(outcome, "ok").as_bool(), Some(true), "refresh failed: {:?}", get(outcome, "message").as_string());
    get(outcome, "value")
}

#[wasm_bindgen_test]
async fn exchanges_and_rotates_a_refresh_token() {
    let h = H::new();
    let session = h.mint(r#"{"ttlSeconds":120}"#).await;
    let rt = get(&session, "refreshToken");
    let before = h.call("now", &[]).await.as_f64().unwrap();
    let result = value(&h.refresh(rt.clone(), h.opts("{}").await).await);
    let at = s(&result, "accessToken");
    assert_eq!(at.split('.').count(), 3, "a JWT");
    let new_rt = s(&result, "refreshToken");
    assert!(new_rt.starts_with("rt_") && new_rt != rt.as_string().unwrap(), "rotated");
    let claims = get(&result, "claims");
    assert_eq!(s(&claims, "sid"), s(&session, "family"));
    let exp = get(&claims, "exp").as_f64().unwrap();
    assert_eq!(get(&result, "expiresAt").as_f64(), Some(exp * 1000.0), "expiresAt comes from exp");
    assert!((exp * 1000.0 - before - 120_000.0).abs() < 5_000.0);
    assert!(get(&claims, "jti").is_string() && get(&claims, "iat").as_f64().is_some());
    let stats = h.stats(&get(&session, "family")).await;
    assert_eq!(get(&stats, "rotations").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn sends_exactly_the_spec_request_through_the_fetch_option() {
    let h = H::new();
    let session = h.mint("{}").await;
    let recorder = h.call("recordingFetch", &[]).await;
    let opts = h.opts(&format!(r#"{{"baseUrl":"{BASE}/","headers":{{"x-extra":"1"}},"credentials":"omit"}}"#)).await;
    Reflect::set(&opts, &"fetch".into(), &get(&recorder, "fetch")).unwrap();
    value(&h.refresh(get(&session, "refreshToken"), opts).await);
    let calls = js_sys::Array::from(&get(&recorder, "calls"));
    assert_eq!(calls.length(), 1);
    let call = calls.get(0);
    assert_eq!(s(&call, "input"), format!("{BASE}/auth/refresh"), "trailing slash tolerated");
    assert_eq!(s(&call, "method"), "POST");
    assert_eq!(s(&call, "contentType"), "application/json");
    assert_eq!(s(&call, "extra"), "1");
    assert_eq!(s(&call, "credentials"), "omit");
    assert_eq!(get(&call, "hasSignal").as_bool(), Some(true), "AbortController signal attached");
    let rt = s(&session, "refreshToken");
    assert_eq!(s(&call, "body"), format!(r#"{{"refreshToken":"{rt}"}}"#));
}

#[wasm_bindgen_test]
async fn accepts_snake_case_envelope_and_opaque_dialects() {
    let h = H::new();
    for format in ["snake", "envelope", "opaque"] {
        let session = h.mint(&format!(r#"{{"format":"{format}","ttlSeconds":90}}"#)).await;
        let before = h.call("now", &[]).await.as_f64().unwrap();
        let result = value(&h.refresh(get(&session, "refreshToken"), h.opts("{}").await).await);
        assert!(get(&result, "accessToken").is_string(), "{format}");
        assert!(s(&result, "refreshToken").starts_with("rt_"), "{format}");
        let expires_at = get(&result, "expiresAt").as_f64().unwrap();
        assert!((expires_at - before - 90_000.0).abs() < 5_000.0, "{format}: {expires_at}");
        assert_eq!(get(&result, "claims").is_null(), format == "opaque", "{format}");
    }
}

#[wasm_bindgen_test]
async fn cookie_mode_empty_body_is_a_success_with_nulls() {
    let h = H::new();
    let session = h.mint(r#"{"format":"cookie"}"#).await;
    let result = value(&h.refresh(get(&session, "refreshToken"), h.opts(r#"{"credentials":"include"}"#).await).await);
    for key in ["accessToken", "refreshToken", "expiresAt", "claims"] {
        assert!(get(&result, key).is_null(), "{key} should be null");
    }
    assert_eq!(get(&h.stats(&get(&session, "family")).await, "rotations").as_f64(), Some(1.0));
}

#[wasm_bindgen_test]
async fn grace_window_then_reuse_revokes_the_family() {
    let h = H::new();
    let session = h.mint("{}").await;
    let (rt, family) = (get(&session, "refreshToken"), get(&session, "family"));
    let first = value(&h.refresh(rt.clone(), h.opts("{}").await).await);
    // Within the grace window the old token gets the current tokens back.
    let again = value(&h.refresh(rt.clone(), h.opts("{}").await).await);
    assert_eq!(s(&again, "refreshToken"), s(&first, "refreshToken"));
    h.call("expireGrace", &[family.clone()]).await;
    let reuse = h.refresh(rt.clone(), h.opts("{}").await).await;
    assert_error(&reuse, "invalid_refresh_token", &rt.as_string().unwrap());
    assert_eq!(get(&reuse, "status").as_f64(), Some(401.0));
    assert_eq!(get(&h.stats(&family).await, "revoked").as_bool(), Some(true));
    let current = h.refresh(get(&first, "refreshToken"), h.opts("{}").await).await;
    assert_error(&current, "invalid_refresh_token", "rt_");
}

#[wasm_bindgen_test]
async fn http_statuses_map_to_error_codes() {
    let h = H::new();
    let session = h.mint("{}").await;
    let rt = get(&session, "refreshToken");
    let secret = rt.as_string().unwrap();
    for (fault, code, status) in [
        (r#"{"status":400}"#, "invalid_refresh_token", 400.0),
        (r#"{"status":403}"#, "invalid_refresh_token", 403.0),
        (r#"{"status":500}"#, "server_error", 500.0),
        (r#"{"status":503}"#, "server_error", 503.0),
        (r#"{"status":418}"#, "unexpected_status", 418.0),
        (r#"{"status":302}"#, "unexpected_status", 302.0),
    ] {
        let out = h.refresh(rt.clone(), h.fault(fault, "{}").await).await;
        assert_error(&out, code, &secret);
        assert_eq!(get(&out, "status").as_f64(), Some(status), "{fault}");
        assert!(get(&out, "retryAfterMs").is_null());
    }
    let unknown = h.refresh(JsValue::from_str("rt_not-a-real-token"), h.opts("{}").await).await;
    assert_error(&unknown, "invalid_refresh_token", "rt_not-a-real-token");
    assert_eq!(get(&unknown, "status").as_f64(), Some(401.0));
    let wrong_path = h.refresh(rt.clone(), json(&format!(r#"{{"baseUrl":"{BASE}/nowhere"}}"#))).await;
    assert_error(&wrong_path, "unexpected_status", &secret);
    assert_eq!(get(&wrong_path, "status").as_f64(), Some(404.0));
}

#[wasm_bindgen_test]
async fn rate_limited_reads_retry_after_seconds_and_dates() {
    let h = H::new();
    let rt = get(&h.mint("{}").await, "refreshToken");
    let out = h.refresh(rt.clone(), h.fault(r#"{"status":429,"retryAfter":7}"#, "{}").await).await;
    assert_error(&out, "rate_limited", "rt_");
    assert_eq!(get(&out, "status").as_f64(), Some(429.0));
    assert_eq!(get(&out, "retryAfterMs").as_f64(), Some(7000.0));

    let now = h.call("now", &[]).await.as_f64().unwrap();
    let date = js_sys::Date::new(&JsValue::from_f64(now + 30_000.0)).to_utc_string();
    let fault = format!(r#"{{"status":429,"retryAfter":"{}"}}"#, String::from(date));
    let out = h.refresh(rt.clone(), h.fault(&fault, "{}").await).await;
    assert_error(&out, "rate_limited", "rt_");
    let wait = get(&out, "retryAfterMs").as_f64().unwrap();
    assert!((20_000.0..=31_000.0).contains(&wait), "{wait}");
}

#[wasm_bindgen_test]
async fn network_failures_are_network() {
    let h = H::new();
    let closed = s(&h.0, "closedBase");
    let out = h.refresh("rt_x".into(), json(&format!(r#"{{"baseUrl":"{closed}"}}"#))).await;
    assert_error(&out, "network", "rt_x");
    assert!(get(&out, "status").is_null());

    let rt = get(&h.mint("{}").await, "refreshToken");
    let reset = h.refresh(rt.clone(), h.fault(r#"{"reset":true}"#, "{}").await).await;
    assert_error(&reset, "network", "rt_");
    let mid_body = h.refresh(rt.clone(), h.fault(r#"{"resetMidBody":true}"#, "{}").await).await;
    assert_error(&mid_body, "network", "rt_");
    // Without CORS headers a browser refuses to hand over the answer; Node has no CORS.
    let no_cors = h.refresh(rt.clone(), h.fault(r#"{"status":200,"body":{},"noCors":true}"#, "{}").await).await;
    if h.runtime() == "node" {
        value(&no_cors);
    } else {
        assert_error(&no_cors, "network", "rt_");
    }
}

#[wasm_bindgen_test]
async fn timeouts_cover_the_answer_and_the_body() {
    let h = H::new();
    let session = h.mint("{}").await;
    let rt = get(&session, "refreshToken");
    let started = h.call("now", &[]).await.as_f64().unwrap();
    let hang = h.refresh(rt.clone(), h.fault(r#"{"hang":true}"#, r#"{"timeoutMs":300}"#).await).await;
    assert_error(&hang, "timeout", "rt_");
    let took = h.call("now", &[]).await.as_f64().unwrap() - started;
    assert!((250.0..3_000.0).contains(&took), "timed out after {took} ms");
    // Headers arrive at once, the body one byte every 50 ms: the timeout still applies.
    let trickle = h.refresh(rt.clone(), h.fault(r#"{"trickle":50}"#, r#"{"timeoutMs":500}"#).await).await;
    assert_error(&trickle, "timeout", "rt_");
}

#[wasm_bindgen_test]
async fn bad_bodies_are_bad_response() {
    let h = H::new();
    let rt = get(&h.mint("{}").await, "refreshToken");
    for fault in [
        r#"{"status":200,"body":"{\"accessToken\": "}"#,
        r#"{"status":200,"body":"<html>oops</html>","contentType":"text/html"}"#,
        r#"{"status":200,"body":{"accessToken":42}}"#,
        r#"{"status":200,"body":{"accessToken":""}}"#,
        r#"{"status":200,"body":{"accessToken":"a","expiresIn":"soon"}}"#,
        r#"{"status":200,"body":[1,2,3]}"#,
        r#"{"status":200,"oversizedBytes":5000000}"#,
    ] {
        let out = h.refresh(rt.clone(), h.fault(fault, "{}").await).await;
        assert_error(&out, "bad_response", "rt_");
        assert!(get(&out, "status").is_null(), "{fault}");
    }
}

#[wasm_bindgen_test]
async fn bad_arguments_reject_without_a_request() {
    let h = H::new();
    let session = h.mint("{}").await;
    let (rt, family) = (get(&session, "refreshToken"), get(&session, "family"));
    let sent_before = h.requests(&family).await;
    let cases: Vec<(JsValue, JsValue, &str)> = vec![
        ("".into(), h.opts("{}").await, "refreshToken"),
        (JsValue::UNDEFINED, h.opts("{}").await, "refreshToken"),
        (JsValue::from_f64(42.0), h.opts("{}").await, "refreshToken"),
        (rt.clone(), h.opts(r#"{"baseURL":"x"}"#).await, "baseURL"),
        (rt.clone(), h.opts(r#"{"timeoutMs":"5"}"#).await, "timeoutMs"),
        (rt.clone(), h.opts(r#"{"timeoutMs":-1}"#).await, "timeoutMs"),
        (rt.clone(), h.opts(r#"{"credentials":"bogus"}"#).await, "credentials"),
        (rt.clone(), h.opts(r#"{"headers":{"x-a":1}}"#).await, "headers"),
        (rt.clone(), h.opts(r#"{"headers":{"bad header":"v"}}"#).await, "headers"),
        (rt.clone(), h.opts(r#"{"fetch":42}"#).await, "fetch"),
        (rt.clone(), h.opts(r#"{"baseUrl":"ftp://x"}"#).await, "baseUrl"),
        (rt.clone(), JsValue::from_str("options"), "refresh()"),
    ];
    for (token, options, named) in cases {
        let out = h.refresh(token, options).await;
        assert_error(&out, "invalid_argument", "rt_");
        let message = s(&out, "message");
        assert!(message.contains(named), "{message:?} should name {named}");
        assert!(get(&out, "status").is_null());
    }
    assert_eq!(h.requests(&family).await, sent_before, "no request was sent");
}

/// tests/run-all.sh says where it runs this suite; this proves it really ran there.
#[wasm_bindgen_test]
fn runs_in_the_runtime_the_runner_asked_for() {
    let h = H::new();
    assert_eq!(Some(h.runtime().as_str()), option_env!("IDA_TEST_RUNTIME"));
}
