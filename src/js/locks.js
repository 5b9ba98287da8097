// RefreshClient's JS helpers (src/js/client/): the Web Lock, the cross-tab channel, the waits
// for another tab and the event listeners. Plain JS here is smaller than the same calls made
// from wasm through bindings.
//
// The Web Lock around one refresh request (src/js/client/tabs.rs). Asks without queueing: a
// queued request granted to a tab that froze meanwhile would hold the lock without ever running.
// Resolves to the function that releases the lock when it is ours, to null when another tab
// holds it, and to undefined where there are no usable Web Locks (Node, old browsers).
export function tryLock(name) {
  return new Promise((resolve) => {
    const locks = globalThis.navigator?.locks;
    if (typeof locks?.request !== "function") return resolve(undefined);
    let release;
    const held = new Promise((r) => (release = r));
    locks
      .request(name, { ifAvailable: true }, (lock) => {
        resolve(lock ? release : null);
        return lock ? held : undefined;
      })
      .catch(() => resolve(null));
  }).catch(() => undefined);
}

// The cross-tab channel (src/js/client/tabs.rs), here rather than through typed bindings: fewer
// imports and no message objects built field by field in wasm. Messages are { type, from, data }.
// Undefined where BroadcastChannel cannot be opened.
export function openChannel(name, onMessage) {
  try {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (e) => {
      const m = e.data;
      if (m && typeof m === "object" && typeof m.from === "number") onMessage(m.type, m.from, m.data);
    };
    return channel;
  } catch {
    return undefined;
  }
}

export function post(channel, type, from, data) {
  try {
    channel.postMessage({ type, from, data });
  } catch {}
}

export function closeChannel(channel) {
  channel.onmessage = null;
  channel.close();
}

// A wait for another tab's result: settles after `ms`, or sooner at wakePeers(waiters).
export function waitPeer(waiters, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    waiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function wakePeers(waiters) {
  for (const wake of waiters.splice(0)) wake();
}

// RefreshClient's listeners (src/js/client/mod.rs), one Set per event.
export function listen(set, listener) {
  set.add(listener);
  return () => set.delete(listener);
}

export function emit(set, detail) {
  // A copy: listeners may unsubscribe while we iterate. A throwing listener must not break
  // the client or the other listeners.
  for (const listener of [...set]) {
    try {
      listener(detail);
    } catch {}
  }
}

// The 1 s wall-clock check and the page events (src/js/client/schedule.rs); returns the
// function that stops them all.
export function watchPage(onPage) {
  const timer = setInterval(() => onPage(false), 1000);
  timer.unref?.();
  const tick = () => onPage(false);
  const events = [
    [globalThis.document, "visibilitychange", tick],
    [globalThis, "pageshow", tick],
    [globalThis, "online", () => onPage(true)],
  ].filter(([target]) => typeof target?.addEventListener === "function");
  for (const [target, type, listener] of events) target.addEventListener(type, listener);
  return () => {
    clearInterval(timer);
    for (const [target, type, listener] of events) target.removeEventListener(type, listener);
  };
}

// authFetch's request (src/js/client/auth_fetch.rs); undefined where there is no Request.
export function newRequest(input, init) {
  return typeof Request === "function" ? new Request(input, init) : undefined;
}

// One send of authFetch's request: a copy of `request` with the token, through the client's
// fetch (or the global one).
export async function sendRequest(fetch, request, token, cookieMode) {
  const copy = cookieMode ? new Request(request, { credentials: "include" }) : request.clone();
  if (token !== undefined) copy.headers.set("Authorization", "Bearer " + token);
  return fetch ? fetch(copy) : globalThis.fetch(copy);
}
