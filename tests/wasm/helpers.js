// Test helpers for the wasm-bindgen-test suites (Node, Chromium window, dedicated worker).
// Loaded by tests/refresh.rs with `new Function`, so plain script syntax: `BASE` and
// `CLOSED` are parameters. They talk to the dev server for real.
const post = (path, body) =>
  fetch(BASE + path, { method: "POST", body: JSON.stringify(body ?? {}) }).then(async (r) => {
    if (!r.ok) throw new Error(`dev server ${path}: HTTP ${r.status}`);
    return r.json();
  });

return {
  base: BASE,
  closedBase: `http://127.0.0.1:${CLOSED}/api/v1`,
  runtime:
    typeof document !== "undefined" ? "window"
    : typeof ServiceWorkerGlobalScope !== "undefined" ? "service-worker"
    : typeof WorkerGlobalScope !== "undefined" ? "worker"
    : typeof process !== "undefined" ? "node" : "other",
  mint: (opts) => post("/dev/session", opts),
  queue: (family, faults) => post("/dev/faults", { family, faults }),
  expireGrace: (family) => post("/dev/expire", { family }),
  stats: (family) => fetch(`${BASE}/dev/stats${family ? `?family=${family}` : ""}`).then((r) => r.json()),
  opts: (extra) => ({ baseUrl: BASE, ...(extra ?? {}) }),
  faultOpts: (fault, extra) => ({ baseUrl: BASE, headers: { "x-ida-fault": JSON.stringify(fault) }, ...(extra ?? {}) }),
  // A fetch that records what it was asked to send, then really sends it.
  recordingFetch() {
    const calls = [];
    const f = async (input, init) => {
      calls.push({ input: String(input), method: init.method, body: init.body,
        contentType: new Headers(init.headers).get("content-type"), extra: new Headers(init.headers).get("x-extra"),
        credentials: init.credentials ?? null, hasSignal: init.signal instanceof AbortSignal });
      return fetch(input, init);
    };
    return { fetch: f, calls };
  },
  // Settles a promise into a plain record, so Rust can assert on it.
  async capture(promise) {
    try {
      return { ok: true, value: await promise };
    } catch (e) {
      return { ok: false, isError: e instanceof Error, name: e?.name, code: e?.code, status: e?.status,
        retryable: e?.retryable, retryAfterMs: e?.retryAfterMs, message: String(e?.message), error: e };
    }
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
};
