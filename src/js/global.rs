//! Globals reached through the global object, never through `window`: the same code runs in
//! pages, dedicated and service workers, workerd and Node.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`.
    #[wasm_bindgen(catch, js_name = fetch)]
    pub fn global_fetch(input: &JsValue, init: &JsValue) -> Result<Promise, JsValue>;

    /// The global `setTimeout` (a number in pages, an object in Node: keep it opaque).
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(callback: &Function, ms: u32) -> JsValue;

    /// The global `clearTimeout`.
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);

    /// The global `setInterval`.
    #[wasm_bindgen(js_name = setInterval)]
    fn set_interval(callback: &Function, ms: u32) -> JsValue;

    /// The global `clearInterval`.
    #[wasm_bindgen(js_name = clearInterval)]
    fn clear_interval(handle: &JsValue);
}

/// A property of the global object, `None` when absent (or unreadable).
pub fn global(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

/// Whether the global object has a property (e.g. `fetch`, `BroadcastChannel`).
pub fn has_global(name: &str) -> bool {
    global(name).is_some()
}

/// Whether this is Node (which has BroadcastChannel, but no tabs).
pub fn is_node() -> bool {
    global("process").and_then(|p| Reflect::get(&p, &"versions".into()).ok()).and_then(|v| Reflect::get(&v, &"node".into()).ok()).is_some_and(|n| n.is_string())
}

fn clamp_ms(ms: f64) -> u32 {
    if ms.is_nan() {
        0
    } else {
        ms.clamp(0.0, 2_147_483_647.0) as u32
    }
}

/// A method of `target`, if it is an object that has one. Checks the type first: a throwing
/// `Reflect.get` on a primitive is slow, and each caught exception costs a JS reference.
pub fn method(target: &JsValue, name: &str) -> Option<Function> {
    if !(target.is_object() || target.is_function()) {
        return None;
    }
    Reflect::get(target, &JsValue::from_str(name)).ok()?.dyn_into::<Function>().ok()
}

/// Lets Node exit while only this background timer is pending (no-op elsewhere).
fn unref(handle: &JsValue) {
    if let Some(f) = method(handle, "unref") {
        let _ = f.call0(handle);
    }
}

/// A one-shot timer: runs `on_fire`, then settles `promise()`. Dropping it cancels it, so no
/// callback outlives its owner.
pub struct Timer {
    promise: Promise,
    fired: Rc<Cell<bool>>,
    handle: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timer {
    /// Starts a timer of `ms` milliseconds.
    pub fn start(ms: f64, on_fire: impl FnOnce() + 'static) -> Self {
        Self::start_boxed(ms, Box::new(on_fire))
    }

    /// One copy of the timer's code for every caller's `on_fire`.
    fn start_boxed(ms: f64, on_fire: Box<dyn FnOnce()>) -> Self {
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, _reject| settle = Some(resolve));
        let fired = Rc::new(Cell::new(false));
        let flag = fired.clone();
        let mut on_fire = Some(on_fire);
        let callback = Closure::<dyn FnMut()>::new(move || {
            flag.set(true);
            // Settle first: a race against this promise must see the timer before whatever
            // `on_fire` triggers (e.g. an AbortError).
            if let Some(resolve) = &settle {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            if let Some(f) = on_fire.take() {
                f();
            }
        });
        let handle = set_timeout(callback.as_ref().unchecked_ref(), clamp_ms(ms));
        Self { promise, fired, handle, _callback: callback }
    }

    /// Settles when the timer fires (never, if it is dropped first).
    pub fn promise(&self) -> &Promise {
        &self.promise
    }

    /// Whether it has fired.
    pub fn fired(&self) -> bool {
        self.fired.get()
    }

    /// Background timers should not keep a Node process alive.
    pub fn unref(&self) {
        unref(&self.handle);
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}

/// Runs a future on the JS microtask queue. Boxed, so one instance of the executor's glue
/// serves every caller (each `spawn_local` of a distinct future type costs its own copy).
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let boxed: Pin<Box<dyn Future<Output = ()>>> = Box::pin(future);
    wasm_bindgen_futures::spawn_local(boxed);
}

/// A JS promise settled by a future; boxed like `spawn`.
pub fn promise(future: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let boxed: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(future);
    wasm_bindgen_futures::future_to_promise(boxed)
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: f64) {
    let timer = Timer::start(ms, || ());
    let _ = JsFuture::from(timer.promise().clone()).await;
}

/// A repeating timer, cleared on drop; it never keeps Node alive.
pub struct Interval {
    handle: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Interval {
    /// Calls `tick` every `ms` milliseconds.
    pub fn start(ms: f64, tick: impl FnMut() + 'static) -> Self {
        Self::start_boxed(ms, Box::new(tick))
    }

    fn start_boxed(ms: f64, tick: Box<dyn FnMut()>) -> Self {
        let callback = Closure::wrap(tick);
        let handle = set_interval(callback.as_ref().unchecked_ref(), clamp_ms(ms));
        unref(&handle);
        Self { handle, _callback: callback }
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        clear_interval(&self.handle);
    }
}
