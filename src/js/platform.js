// The JS side of the Rust adapters (src/js/), one module so the package and the test pages load
// one file for all of it: a response body read under its cap (fetch.rs), RefreshClient's Web
// Lock, channel, waits and listeners (client/), and DPoP's WebCrypto and key store (dpop.rs).
// (Several snippet files also meant several parallel module requests at page load, which the
// wasm-bindgen test runner's server, tiny_http, sometimes leaves unanswered past four.)

// A response body read as a stream, counting decoded bytes, in one call from Rust
// (src/js/fetch.rs): a chunk's bytes reach wasm memory only once the whole body is known to be
// within the cap. Resolves to the bytes, to null when they pass `cap` or `refuse` is set (the
// stream is cancelled), or to undefined when `body` is not a byte stream; rejects as the stream
// errors (a connection reset mid-body). An abort of `signal` cancels the stream.
export async function readCapped(body, cap, signal, refuse) {
  let reader;
  try {
    reader = body.getReader();
  } catch {
    return undefined;
  }
  const stop = () => {
    Promise.resolve(reader.cancel()).catch(() => {});
  };
  if (refuse) {
    stop();
    return null;
  }
  signal?.addEventListener("abort", stop, { once: true });
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) {
        stop();
        return undefined;
      }
      size += value.byteLength;
      if (size > cap) {
        stop();
        return null;
      }
      chunks.push(value);
    }
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

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
      if (m && typeof m === "object" && typeof m.from === "number") onMessage(m.type, m.from, m.data, m.at);
    };
    return channel;
  } catch {
    return undefined;
  }
}

export function post(channel, type, from, data) {
  try {
    channel.postMessage({ type, from, data, at: Date.now() });
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

// DPoP (RFC 9449) through the platform. WebCrypto makes keys, signs and hashes; IndexedDB (or the
// app's key store) keeps a RefreshClient's key pair (CryptoKey objects are structured-cloneable,
// and a non-extractable private key stays so), and the nonces of RFC 9449 sections 8 and 9 are
// followed here. Every proof's text, its checks and the key's RFC 7638 form come from Rust
// (src/core/dpop.rs through src/js/dpop.rs), wired in by the package entries with dpopWire().
// The awaiting lives here, not in Rust: in wasm each async step costs a state machine, and the
// browser build has a size gate.

let rust;
/** Called once by each package entry with the wasm-bindgen module (its sync DPoP exports). */
export function dpopWire(module) {
  rust = module;
}

const subtle = () => globalThis.crypto.subtle;
const utf8 = (text) => new TextEncoder().encode(text);
const sha256 = async (text) => new Uint8Array(await subtle().digest("SHA-256", utf8(text)));

/** A new ES256 key pair for DPoP; the private key cannot be exported. */
export async function createDpopKeyPair() {
  return subtle().generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
}

const exported = new WeakMap();
/** The key pair's public JWK in its RFC 7638 form; Rust refuses (RefreshError) what is not ES256. */
async function publicJwk(keyPair) {
  let jwk = keyPair?.privateKey && exported.get(keyPair.publicKey);
  if (!jwk) {
    const text = keyPair?.privateKey ? JSON.stringify(await subtle().exportKey("jwk", keyPair.publicKey).catch(() => null)) : "null";
    jwk = rust.dpopPublicJwk(text);
    exported.set(keyPair.publicKey, jwk);
  }
  return jwk;
}

/** A DPoP proof (RFC 9449 section 4.2) for one request; `ath` when an access token is given. */
export async function createDpopProof(keyPair, { method, url, accessToken, nonce } = {}) {
  const jwk = await publicJwk(keyPair);
  const ath = accessToken === undefined ? undefined : await sha256(accessToken);
  const jti = globalThis.crypto.getRandomValues(new Uint8Array(16));
  // What is not a string is passed as what Rust refuses (a RefreshError naming the request).
  const text = (v, absent) => (typeof v === "string" ? v : v === undefined ? absent : "\0");
  const input = rust.dpopSigningInput(jwk, text(method, ""), htu(text(url, "")), jti, ath ?? new Uint8Array(), text(nonce, ""));
  const signature = await subtle().sign({ name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, utf8(input));
  return `${input}.${rust.dpopBase64Url(new Uint8Array(signature))}`;
}

/** The key's RFC 7638 JWK thumbprint (base64url SHA-256): the `jkt` a server binds tokens to. */
export async function dpopThumbprint(keyPair) {
  return rust.dpopBase64Url(await sha256(await publicJwk(keyPair)));
}

/**
 * A URL as fetch resolves it (a path against the page), by the WHATWG URL parser: scheme and host
 * in lower case, no default port, "/" for an empty path (RFC 9449 section 4.3's normalization).
 * Unparsable ones come back as they are; Rust refuses what is not http(s).
 */
function parse(url) {
  try {
    return new URL(url, globalThis.location?.href);
  } catch {
    return { href: String(url), origin: "" };
  }
}
/** The `htu`: the URL without query and fragment ("" for one with userinfo: Rust refuses it). */
function htu(url) {
  const u = parse(url);
  if (u.search !== undefined) u.search = u.hash = "";
  return u.username || u.password ? "" : u.href;
}
// RFC 9449: a DPoP-Nonce is 1*NQCHAR (as core::dpop::is_nonce checks proofs' nonces), and a
// resource server asks for one with a DPoP challenge whose error is use_dpop_nonce.
const NONCE = /^[\x21\x23-\x5b\x5d-\x7e]{1,1024}$/;
const ASKS_FOR_NONCE = /(?:^|,)\s*DPoP\s[^]*error\s*=\s*"use_dpop_nonce"/i;

let database;
const request = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const objects = async (mode) => {
  database ??= request(Object.assign(indexedDB.open("ida-refresh.dpop", 1), {
    onupgradeneeded: (e) => e.target.result.createObjectStore("keys"),
  })).catch((e) => {
    database = undefined;
    throw e;
  });
  return (await database).transaction("keys", mode).objectStore("keys");
};
// One record per name, shared by the tabs of an origin. `add`, not `put`: when two tabs make a
// key at once, the first one stored is the one both read back and use.
const indexedDbStore = {
  get: async (name) => request((await objects("readonly")).get(name)),
  set: async (name, keyPair) => request((await objects("readwrite")).add(keyPair, name)).catch((e) => {
    if (e?.name !== "ConstraintError") throw e;
  }),
  delete: async (name) => request((await objects("readwrite")).delete(name)),
};

/**
 * The DPoP state of refresh() (`fixed`, the app's key pair) or of a RefreshClient (`store`, the
 * app's key store, by default IndexedDB where it exists, else memory; the key is read, or made,
 * stored and read back, once for all concurrent callers). Nonces are kept per origin.
 */
export function dpopSession(fixed, option, name) {
  if (!fixed && !option) return null;
  if (fixed && !fixed.privateKey) throw new TypeError("dpop: not a CryptoKeyPair");
  let store = option?.keyStore;
  if (!fixed && option !== true && (typeof option !== "object" || Object.keys(option).some((k) => k !== "keyStore"))) throw new TypeError("dpop");
  if (store && !["get", "set", "delete"].every((m) => typeof store[m] === "function")) throw new TypeError("dpop.keyStore");
  if (!fixed && !store && typeof indexedDB !== "undefined") store = indexedDbStore;
  const call = async (method, ...args) => store?.[method](name, ...args);
  const nonces = new Map();
  const origin = (url) => parse(url).origin;
  let current = fixed && Promise.resolve(fixed);
  let thumbprint = null;
  const load = async () => {
    let pair = await call("get");
    if (!pair) {
      const fresh = await createDpopKeyPair();
      await call("set", fresh);
      pair = (await call("get")) || fresh;
    }
    thumbprint = await dpopThumbprint(pair);
    return pair;
  };
  const session = {
    key: () => (current ??= load().catch((e) => {
      current = undefined;
      throw e;
    })),
    thumbprint: () => thumbprint,
    forget: async (deleteStored) => {
      current = undefined;
      thumbprint = null;
      if (deleteStored) await call("delete");
    },
    /** Keeps a server's DPoP-Nonce (Rust drops a malformed one); returns the nonce now kept for its origin. */
    remember: (url, nonce) => {
      if (typeof nonce === "string" && NONCE.test(nonce)) nonces.set(origin(url), nonce);
      return nonces.get(origin(url)) ?? null;
    },
    proof: async (method, url, accessToken) => createDpopProof(await session.key(), { method, url, accessToken, nonce: nonces.get(origin(url)) }),
    /** fetch with `Authorization: DPoP` and a fresh proof; once more when a 401 asks for a nonce. */
    fetch: async (send, original, token) => {
      for (let again = true; ; again = false) {
        const req = original.clone();
        req.headers.set("Authorization", `DPoP ${token}`);
        req.headers.set("DPoP", await session.proof(req.method, req.url, token));
        const response = await send(req);
        const nonce = response.headers.get("dpop-nonce");
        session.remember(req.url, nonce);
        if (!again || response.status !== 401 || typeof nonce !== "string" || !NONCE.test(nonce) || !ASKS_FOR_NONCE.test(response.headers.get("www-authenticate"))) return response;
      }
    },
    /** { Authorization?, DPoP } for a request made without authFetch. */
    headers: async (method, url, token, bound) => {
      const headers = { DPoP: await session.proof(method, url, bound ? token : undefined) };
      if (token) headers.Authorization = `${bound ? "DPoP" : "Bearer"} ${token}`;
      return headers;
    },
  };
  return session;
}
