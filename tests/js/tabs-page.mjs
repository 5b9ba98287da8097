// The page side of the tabs scenarios (multitab.test.mjs, tabs-freeze.test.mjs): run in a tab
// of tests/js/runner.html (serialized, so it imports what it needs). A client whose refresh
// requests go through `window.onRefreshSend` when a scenario sets it, and `loop(ms)`: traffic of
// authFetch() calls, each one timed, until `ms` pass or `running` is set to false.
export async function startTabClient(options) {
  const { RefreshClient } = await import("/pkg/web.js");
  const base = location.origin + "/api/v1";
  window.stats = { calls: 0, maxWaitMs: 0, unauthorized: 0, failed: 0, signedOut: [], errors: [] };
  const hooked = (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    if (url.endsWith("/auth/refresh") && window.onRefreshSend) return window.onRefreshSend(input, init);
    return fetch(input, init);
  };
  window.client = new RefreshClient({ baseUrl: base, fetch: hooked, ...options });
  client.on("signedOut", (d) => stats.signedOut.push(d.reason));
  client.on("error", (e) => stats.errors.push(e.code));
  window.running = true;
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
