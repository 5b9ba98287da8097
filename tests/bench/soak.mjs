// Soak: 2 s access tokens, 50 concurrent authFetch loops in Node plus 3 Chromium tabs sharing
// a session, random faults injected into a share of refresh requests, for a set duration.
//
//   node --expose-gc tests/bench/soak.mjs [--seconds 60] [--rate 0.2] [--tabs 3] [--loops 50]
//
// Prints calls made, calls that surfaced a 401 (goal 0), refresh requests sent against the
// minimum needed, family revocations (goal 0), sessions lost (goal 0), and memory: wasm memory
// (Node's and each tab's) and the Node heap after a forced GC at start, half way and end.
// Exits 1 when a goal of 0 is missed.
import fs from "node:fs";
import { initSync, RefreshClient } from "../../pkg/wasm/ida_refresh.js";
import { startDevServer, launchChromium } from "../js/harness.mjs";

const arg = (name, d) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const SECONDS = arg("seconds", 60);
const RATE = arg("rate", 0.2);
const TABS = arg("tabs", 3);
const LOOPS = arg("loops", 50);
const TTL = 2;

const wasm = initSync({ module: fs.readFileSync(new URL("../../pkg/wasm/ida_refresh_bg.wasm", import.meta.url)) });
const dev = await startDevServer({ static: true });
const mib = (n) => (n / 1048576).toFixed(2);
if (!globalThis.gc) throw new Error("soak: run with node --expose-gc (the heap is read after a forced GC)");
// The heap after full collections, with a turn of the event loop between them so that
// FinalizationRegistry callbacks (wasm-bindgen frees Rust objects there) run and their garbage
// is collected too.
const memory = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
  return { wasm: wasm.memory.buffer.byteLength, heap: process.memoryUsage().heapUsed };
};
await fetch(`${dev.base}/dev/chaos`, {
  method: "POST",
  body: JSON.stringify({ rate: RATE, faults: [{ status: 503 }, { status: 500 }, { reset: true }, { resetMidBody: true }, { hang: true }, { delayMs: 150 }, { status: 429, retryAfter: 0 }] }),
});

const options = { baseUrl: dev.base, timeoutMs: 300, retry: { maxAttempts: 6, baseDelayMs: 20, maxDelayMs: 300, cooldownMs: 500 } };
const node = await dev.mint({ ttlSeconds: TTL });
const tabsFamily = await dev.mint({ ttlSeconds: TTL });
// Browser: TABS tabs of one Chromium sharing a session through localStorage.
const browser = TABS > 0 ? await launchChromium() : null;
const pages = [];
for (let i = 0; i < TABS; i++) {
  const page = await browser.context.newPage();
  await page.goto(`http://localhost:${dev.port}/tests/js/runner.html`);
  await page.waitForFunction(() => window.ready === true);
  pages.push(page);
}
// Memory is read once everything is up: loading Playwright alone adds about 40 MiB of Node
// heap (its bundled sources, code and objects), which is not the run's.
const memStart = await memory();

// Node: one client, LOOPS concurrent authFetch loops.
const client = new RefreshClient({ ...options, refreshToken: node.refreshToken });
const tally = { calls: 0, unauthorized: 0, failed: 0 };
const end = Date.now() + SECONDS * 1000;
const nodeLoops = Array.from({ length: LOOPS }, async () => {
  while (Date.now() < end) {
    try {
      const r = await client.authFetch(`${dev.base}/echo`);
      await r.arrayBuffer();
      tally.calls++;
      if (r.status === 401) tally.unauthorized++;
    } catch {
      tally.calls++;
      tally.failed++;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});

// Half way: does the heap keep growing, or was the growth a one-off (code, caches)?
const memMid = new Promise((resolve) => setTimeout(() => resolve(memory()), SECONDS * 500));
const tabRuns = pages.map((page, i) =>
  page.evaluate(async ({ options, rt, end, first }) => {
    const { init, RefreshClient } = await import("/pkg/web.js");
    const wasm = await init(); // already instantiated by the page: its exports, for memory's size
    const c = new RefreshClient({ ...options, baseUrl: location.origin + "/api/v1", storage: "localStorage", storageKey: "soak" });
    if (first) await c.setSession({ refreshToken: rt });
    // The other tabs start once the session has reached them (a tab with no session sends its
    // calls without a token, by design).
    for (let i = 0; i < 500 && !c.session; i++) await new Promise((r) => setTimeout(r, 10));
    const t = { calls: 0, unauthorized: 0, failed: 0 };
    await Promise.all(Array.from({ length: 5 }, async () => {
      while (Date.now() < end) {
        try {
          const r = await c.authFetch(location.origin + "/api/v1/echo");
          await r.arrayBuffer();
          t.calls++;
          if (r.status === 401) t.unauthorized++;
        } catch {
          t.calls++;
          t.failed++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }));
    return { ...t, alive: c.session !== null, heap: performance.memory?.usedJSHeapSize ?? null, wasm: wasm.memory.buffer.byteLength };
  }, { options: { timeoutMs: options.timeoutMs, retry: options.retry }, rt: tabsFamily.refreshToken, end, first: i === 0 }),
);

await Promise.all(nodeLoops);
const tabs = await Promise.all(tabRuns);
await fetch(`${dev.base}/dev/chaos`, { method: "POST", body: "{}" });
const nodeAlive = client.session !== null;
client.dispose();
const memEnd = await memory();
const stats = await Promise.all([dev.stats(node.family), dev.stats(tabsFamily.family)]);
await browser?.close();
await dev.close();
const heapMid = (await memMid).heap;
// The dev server runs in this process: its state (every family, token and counter it keeps)
// is part of the heap above. With it closed, what is left is the client's.
const memClosed = await memory();

const all = [tally, ...tabs];
const sum = (k) => all.reduce((a, t) => a + t[k], 0);
const minimum = Math.ceil(SECONDS / (TTL * 0.8)) * (TABS > 0 ? 2 : 1);
const refreshes = stats.reduce((a, s) => a + s.refreshRequests, 0);
const faults = stats.reduce((a, s) => a + s.faultsServed, 0);
const revocations = stats.reduce((a, s) => a + s.revocations, 0);
const lost = [nodeAlive, ...tabs.map((t) => t.alive)].filter((alive) => !alive).length;
console.log(`soak: ${SECONDS} s, ${TTL} s tokens, fault rate ${RATE}, ${LOOPS} Node loops + ${TABS} tabs x 5 loops`);
console.log("| calls | surfaced 401 | failed with RefreshError | refresh requests (faults injected) | minimum needed | family revocations | sessions lost | wasm memory start -> end | Node heap after GC: start -> half way -> end (dev server closed) | tab heaps | tab wasm memory |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|");
console.log(`| ${sum("calls")} | ${sum("unauthorized")} | ${sum("failed")} | ${refreshes} (${faults}) | ${minimum} | ${revocations} | ${lost} | ${mib(memStart.wasm)} -> ${mib(memEnd.wasm)} MiB | ${mib(memStart.heap)} -> ${mib(heapMid)} -> ${mib(memEnd.heap)} (${mib(memClosed.heap)}) MiB | ${tabs.map((t) => (t.heap ? mib(t.heap) : "n/a")).join(", ")} MiB | ${tabs.map((t) => mib(t.wasm)).join(", ")} MiB |`);
if (sum("unauthorized") || revocations || lost) {
  console.error("soak: a goal of 0 was missed");
  process.exit(1);
}
