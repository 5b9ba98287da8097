// The page side of the tabs scenarios (multitab.test.mjs, tabs-freeze.test.mjs): run in a tab
// of tests/js/runner.html (serialized, so it imports what it needs). A client whose refresh
// requests go through `window.onRefreshSend(input, init, send)` when a scenario sets it (`send`
// sends for real), and `loop(ms)`: traffic of
// authFetch() calls, each one timed, until `ms` pass or `running` is set to false.
export async function startTabClient(options) {
  const { RefreshClient } = await import("/pkg/web.js");
  const base = location.origin + "/api/v1";
  window.stats = { calls: 0, maxWaitMs: 0, unauthorized: 0, failed: 0, signedOut: [], errors: [] };
  // A tab closed or reloaded between sending its refresh request and handling the answer
  // (an event) takes the rotated token with it, if the server got the request: counted in
  // localStorage "ida-test-cut".
  let inFlight = false;
  addEventListener("pagehide", () => {
    if (inFlight) localStorage.setItem("ida-test-cut", String(Number(localStorage.getItem("ida-test-cut") ?? 0) + 1));
  });
  const send = (input, init) => {
    inFlight = true;
    return fetch(input, init);
  };
  const hooked = (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    if (!url.endsWith("/auth/refresh")) return fetch(input, init);
    return window.onRefreshSend ? window.onRefreshSend(input, init, send) : send(input, init);
  };
  window.client = new RefreshClient({ baseUrl: base, fetch: hooked, ...options });
  client.on("signedOut", (d) => stats.signedOut.push(d.reason));
  client.on("error", (e) => stats.errors.push(e.code));
  for (const event of ["refreshed", "signedOut", "error"]) client.on(event, () => (inFlight = false));
  window.running = true;
  // A busy machine: the main thread blocked 40-120 ms every 200-400 ms, so messages and timers
  // run late (opening a tab is such a spike).
  window.startJank = () => {
    const jank = () => {
      if (!running) return;
      for (const end = performance.now() + 40 + Math.random() * 80; performance.now() < end; );
      setTimeout(jank, 200 + Math.random() * 200);
    };
    setTimeout(jank, Math.random() * 200);
  };
  window.loop = async (ms) => {
    const end = Date.now() + ms;
    while (running && Date.now() < end) {
      const t0 = performance.now();
      try {
        const r = await client.authFetch(`${base}/echo`);
        if (r.status === 401) stats.unauthorized++;
      } catch {
        stats.failed++;
      }
      stats.maxWaitMs = Math.max(stats.maxWaitMs, performance.now() - t0);
      stats.calls++;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
    }
  };
}
