//! The transport's guards, driven directly: a dropped unfinished exchange aborts its fetch, a
//! finished one does not, and a capped body read stops the stream and copies no chunk over
//! the cap into wasm memory. A fake fetch (no server) records the signal and the stream, so
//! this runs the same in Node, a window and the workers (tests/run-all.sh runs all four).
//!
//! Why here and not end to end: nothing in the package's JS API drops an unfinished request
//! future (refresh() and RefreshClient always run theirs to the end), so a dropped future
//! can only be produced from Rust. The end-to-end side (an aborted fetch closes the connection
//! the server sees) is tested through the timeout, which aborts the same controller, in
//! tests/js/bounded-bodies.test.mjs.
#![cfg(target_arch = "wasm32")]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use ida_refresh::js::fetch::{read_body, Transport};
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

/// `{ state, fetch }`: `fetch(url, init)` keeps `init.signal` in `state.signal` and answers
/// with `respond(state)`'s value.
fn fake_fetch(respond: &str) -> (JsValue, Function) {
    let make = Function::new_no_args(&format!(
        "const state = {{ pulls: 0, cancelled: false }};
         const respond = {respond};
         return {{ state, fetch: (url, init) => {{ state.signal = init.signal; return respond(state); }} }};"
    ));
    let made = make.call0(&JsValue::NULL).expect("fake fetch");
    (get(&made, "state"), get(&made, "fetch").unchecked_into())
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn transport(fetch: Function) -> Transport {
    Transport { timeout_ms: 10_000, headers: Vec::new(), credentials: None, fetch: Some(fetch) }
}

fn aborted(state: &JsValue) -> Option<bool> {
    get(&get(state, "signal"), "aborted").as_bool()
}

/// Polls `fut` once with this task's waker; whether it is still pending.
async fn poll_once<F: Future>(fut: &mut Pin<Box<F>>) -> bool {
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// Lets pending promise callbacks run (one macrotask turn).
async fn turn() {
    let _ = JsFuture::from(Promise::new(&mut |resolve, _| {
        let _ = Reflect::get(&js_sys::global(), &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .map(|f| f.call2(&JsValue::NULL, &resolve, &JsValue::from(0)));
    }))
    .await;
}

#[wasm_bindgen_test]
async fn dropping_a_request_waiting_for_its_answer_aborts_the_fetch() {
    let (state, fetch) = fake_fetch("() => new Promise(() => {})");
    let t = transport(fetch);
    let mut fut = Box::pin(t.get("https://example.invalid/jwks", 1024));
    assert!(poll_once(&mut fut).await, "the answer never comes");
    assert_eq!(aborted(&state), Some(false), "a signal was given and is not aborted yet");
    drop(fut);
    assert_eq!(aborted(&state), Some(true), "dropped unfinished: aborted");
}

#[wasm_bindgen_test]
async fn dropping_a_request_reading_its_body_aborts_the_fetch_and_cancels_the_stream() {
    // One byte, then a stream that never ends; pull #2 means the first chunk was taken.
    let (state, fetch) = fake_fetch(
        "(s) => new Response(new ReadableStream({
            pull(c) { s.pulls += 1; if (s.pulls === 1) c.enqueue(new Uint8Array([123])); },
            cancel() { s.cancelled = true; },
         }))",
    );
    let t = transport(fetch);
    let mut fut = Box::pin(t.get("https://example.invalid/jwks", 1024));
    for _ in 0..100 {
        assert!(poll_once(&mut fut).await, "the body never ends");
        if get(&state, "pulls").as_f64() >= Some(2.0) {
            break;
        }
        turn().await;
    }
    assert!(get(&state, "pulls").as_f64() >= Some(2.0), "reached the body read");
    assert_eq!(aborted(&state), Some(false));
    drop(fut);
    assert_eq!(aborted(&state), Some(true), "dropped mid-body: aborted");
    turn().await;
    assert_eq!(get(&state, "cancelled").as_bool(), Some(true), "and the stream was cancelled");
}

#[wasm_bindgen_test]
async fn a_completed_exchange_is_not_aborted() {
    let (state, fetch) = fake_fetch("() => new Response('{}')");
    let t = transport(fetch);
    let raw = t.get("https://example.invalid/jwks", 1024).await.map_err(|e| e.error.message).expect("a 200");
    assert_eq!((raw.status, raw.body.as_slice()), (200, &b"{}"[..]));
    assert_eq!(aborted(&state), Some(false));
}

#[wasm_bindgen_test]
async fn read_body_refuses_a_chunk_over_the_cap_before_copying_it() {
    // A single 32 MiB chunk behind a Content-Length that claims 2 bytes.
    let (state, fetch) = fake_fetch(
        "(s) => new Response(new ReadableStream({
            pull(c) { c.enqueue(new Uint8Array(32 << 20)); },
            cancel() { s.cancelled = true; },
         }), { headers: { 'content-length': '2' } })",
    );
    let response =
        JsFuture::from(Promise::resolve(&fetch.call2(&JsValue::NULL, &"x".into(), &js_sys::Object::new()).expect("fake"))).await.expect("a response");
    let memory = || wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length();
    let before = memory();
    let err = read_body(response.unchecked_ref(), 4096, 5_000).await.err().map(|e| (e.error.code.as_str(), e.error.message));
    assert_eq!(err, Some(("bad_response", "the refresh response body is over the size cap".into())));
    assert!(memory() - before < 1 << 20, "the chunk was not copied: {} -> {}", before, memory());
    turn().await;
    assert_eq!(get(&state, "cancelled").as_bool(), Some(true), "the stream was cancelled");
}

#[wasm_bindgen_test]
async fn read_body_times_out_and_cancels_the_stream() {
    let (state, fetch) = fake_fetch("(s) => new Response(new ReadableStream({ pull() {}, cancel() { s.cancelled = true; } }))");
    let response =
        JsFuture::from(Promise::resolve(&fetch.call2(&JsValue::NULL, &"x".into(), &js_sys::Object::new()).expect("fake"))).await.expect("a response");
    let err = read_body(response.unchecked_ref(), 4096, 50).await.err().map(|e| e.error.code.as_str());
    assert_eq!(err, Some("timeout"));
    turn().await;
    assert_eq!(get(&state, "cancelled").as_bool(), Some(true));
}
