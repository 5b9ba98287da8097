// ida-refresh beside the libraries people use today, measured in one run on one machine:
// size, start-up, overhead per call, concurrency, memory, steady state; verification
// throughput comes from tests/bench/verify.mjs, DPoP verification from tests/bench/dpop-verify.mjs.
// Prints markdown and writes tests/bench/RESULTS.md (linked from the README).
//
//   node --expose-gc tests/bench/run.mjs            full run (a few minutes)
//   node --expose-gc tests/bench/run.mjs --quick    smoke run (the test command runs this)
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd } from "../js/harness.mjs";
import { sizes as measureSizes } from "./size.mjs";

const QUICK = process.argv.includes("--quick");
const NODE_MODULES = path.join(ROOT, "tests/node_modules");
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
const out = [];
const say = (line = "") => {
  out.push(line);
  console.log(line);
};

// ---- 1. size -------------------------------------------------------------------------------

function sizes() {
  say("### Size (tests/bench/size.mjs: minified with esbuild, then gzip -9 and brotli -11; wasm counted with its JS; KB = 1000 bytes)");
  say();
  measureSizes(say);
  say();
}

// ---- 2. start-up ---------------------------------------------------------------------------

function startup() {
  say("### Start-up");
  say();
  const runs = QUICK ? 3 : 15;
  const time = (args) => {
    const xs = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, { cwd: ROOT });
      if (r.status !== 0) throw new Error(String(r.stderr));
      xs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return xs;
  };
  const bare = time(["-e", "0"]);
  const ida = time(["--input-type=module", "-e", "await import('./pkg/node.js')"]);
  const jose = time(["--input-type=module", "-e", `await import(${JSON.stringify(path.join(NODE_MODULES, "jose/dist/webapi/index.js"))})`]);
  const bytes = fs.readFileSync(path.join(ROOT, "pkg/wasm/ida_refresh_bg.wasm"));
  const inproc = [];
  return (async () => {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await WebAssembly.instantiate(await WebAssembly.compile(bytes), {}).catch(() => null);
      inproc.push(performance.now() - t0);
    }
    const spread = (xs) => `${fmt(Math.min(...xs), 1)}-${fmt(Math.max(...xs), 1)}`;
    say(`| what | median ms (of ${runs}) | spread | added over bare Node |`);
    say("|---|---:|---:|---:|");
    say(`| Node fresh process, nothing imported | ${fmt(median(bare), 1)} | ${spread(bare)} | - |`);
    say(`| Node fresh process, import ida-refresh (compile + instantiate wasm) | ${fmt(median(ida), 1)} | ${spread(ida)} | +${fmt(median(ida) - median(bare), 1)} |`);
    say(`| Node fresh process, import jose | ${fmt(median(jose), 1)} | ${spread(jose)} | +${fmt(median(jose) - median(bare), 1)} (ida / jose: ${fmt((median(ida) - median(bare)) / (median(jose) - median(bare)), 2)}x) |`);
    say(`| Node in-process WebAssembly.compile + instantiate of the wasm | ${fmt(median(inproc), 2)} | ${spread(inproc)} | - |`);
    say();
  })();
}

async function coldWorkerd(dev) {
  const runs = QUICK ? 2 : 5;
  const measure = async (entry) => {
    const xs = [];
    for (let i = 0; i < runs; i++) {
      const s = await dev.mint();
      const t0 = performance.now();
      const w = await startWorkerd(path.join(ROOT, entry), { bindings: [`(name = "BASE", text = "${dev.base}")`, `(name = "RT", text = "${s.refreshToken}")`] });
      const ready = performance.now();
      const r = await fetch(w.url + "/go");
      const ok = (await r.json()).ok;
      xs.push({ total: performance.now() - t0, first: performance.now() - ready, ok });
      await w.stop();
    }
    return xs;
  };
  const ida = await measure("tests/bench/cold-ida-worker.js");
  const plain = await measure("tests/bench/cold-plain-worker.js");
  const row = (name, xs) => {
    const total = xs.map((x) => x.total);
    say(`| ${name} | ${fmt(median(total), 1)} | ${fmt(Math.min(...total), 1)}-${fmt(Math.max(...total), 1)} | first request ${fmt(median(xs.map((x) => x.first)), 1)} |`);
  };
  row("workerd cold start to first refreshed response, ida-refresh worker", ida);
  row("workerd cold start to first refreshed response, plain JS worker (fetch)", plain);
  say();
  if (![...ida, ...plain].every((x) => x.ok)) throw new Error("a cold-start worker did not refresh");
}

// ---- 4. overhead per call ------------------------------------------------------------------

async function overhead(lib, dev) {
  say("### Overhead per call (loopback dev server; median of paired runs)");
  say();
  const n = QUICK ? 200 : 2000;
  const s = await dev.mint({ ttlSeconds: 3600 });
  const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, autoRefresh: false });
  const url = `${dev.base}/echo`;
  const headers = { authorization: `Bearer ${s.accessToken}` };
  const bareFetch = async () => (await fetch(url, { headers })).arrayBuffer();
  const viaClient = async () => (await client.authFetch(url)).arrayBuffer();
  // A session whose server does not rotate: the same refresh succeeds again and again.
  const steady = await dev.mint({ ttlSeconds: 3600, rotate: false });
  const refreshBody = JSON.stringify({ refreshToken: steady.refreshToken });
  const bareRefresh = async () => {
    const r = await fetch(`${dev.base}/auth/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: refreshBody });
    return r.json();
  };
  const viaRefresh = async () => lib.refresh(steady.refreshToken, { baseUrl: dev.base });
  const paired = async (a, b) => {
    for (let i = 0; i < 100; i++) {
      await a();
      await b();
    }
    const da = [];
    const db = [];
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      await a();
      da.push(performance.now() - t);
      t = performance.now();
      await b();
      db.push(performance.now() - t);
    }
    const diffs = da.map((x, i) => (db[i] - x) * 1000);
    return { a: median(da) * 1000, b: median(db) * 1000, p10: pct(diffs, 0.1), p90: pct(diffs, 0.9) };
  };
  const f = await paired(bareFetch, viaClient);
  const r = await paired(bareRefresh, viaRefresh);
  // The library's own cost, without I/O: a fetch that answers at once from memory.
  const answer = JSON.stringify({ accessToken: s.accessToken, refreshToken: steady.refreshToken, expiresIn: 3600 });
  const instant = async () => new Response(answer, { status: 200, headers: { "content-type": "application/json" } });
  const offline = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, autoRefresh: false, fetch: instant });
  const fi = await paired(async () => (await instant()).arrayBuffer(), async () => (await offline.authFetch(url)).arrayBuffer());
  const ri = await paired(async () => (await instant()).json(), () => lib.refresh(steady.refreshToken, { baseUrl: dev.base, fetch: instant }));
  offline.dispose();
  say("| call | bare fetch median (us) | through ida-refresh median (us) | added (us) | added, p10 to p90 of pairs (us) |");
  say("|---|---:|---:|---:|---:|");
  say(`| authFetch() vs fetch() with the header set by hand | ${fmt(f.a)} | ${fmt(f.b)} | ${fmt(f.b - f.a)} | ${fmt(f.p10)} to ${fmt(f.p90)} |`);
  say(`| refresh() vs fetch() + .json() of the same refresh request (200 with tokens) | ${fmt(r.a)} | ${fmt(r.b)} | ${fmt(r.b - r.a)} | ${fmt(r.p10)} to ${fmt(r.p90)} |`);
  say(`| no I/O: authFetch() vs a fetch answering from memory | ${fmt(fi.a)} | ${fmt(fi.b)} | ${fmt(fi.b - fi.a)} | ${fmt(fi.p10)} to ${fmt(fi.p90)} |`);
  say(`| no I/O: refresh() vs that fetch + .json() | ${fmt(ri.a)} | ${fmt(ri.b)} | ${fmt(ri.b - ri.a)} | ${fmt(ri.p10)} to ${fmt(ri.p90)} |`);
  say();
  client.dispose();
  return { authFetch: f.b - f.a, refresh: r.b - r.a };
}

// ---- 5. concurrency ------------------------------------------------------------------------

async function concurrency(lib, dev) {
  say("### Concurrency: refresh requests sent when N callers need a token at the same moment");
  say();
  const axios = (await import("axios")).default;
  const createAuthRefreshInterceptor = (await import("axios-auth-refresh")).default;
  const ns = QUICK ? [10, 100] : [10, 100, 1000];
  say(`| library | ${ns.map((n) => `N=${n}`).join(" | ")} |`);
  say(`|---|${ns.map(() => "---:").join("|")}|`);
  const row = async (name, run) => {
    const cells = [];
    for (const n of ns) cells.push(await run(n));
    say(`| ${name} | ${cells.join(" | ")} |`);
  };
  await row("ida-refresh RefreshClient (getAccessToken)", async (n) => {
    const s = await dev.mint();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false });
    await Promise.all(Array.from({ length: n }, () => client.getAccessToken()));
    client.dispose();
    return (await dev.stats(s.family)).refreshRequests;
  });
  await row("ida-refresh RefreshClient (authFetch, token refused once)", async (n) => {
    const s = await dev.mint();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, autoRefresh: false });
    await dev.revokeAccess(s.family);
    const statuses = await Promise.all(Array.from({ length: n }, () => client.authFetch(`${dev.base}/echo`).then((r) => r.status)));
    client.dispose();
    if (statuses.some((x) => x !== 200)) return "failed";
    return (await dev.stats(s.family)).refreshRequests;
  });
  await row("axios-auth-refresh (401 interceptor, defaults)", async (n) => {
    const s = await dev.mint();
    await dev.revokeAccess(s.family);
    const session = { at: s.accessToken, rt: s.refreshToken };
    const instance = axios.create();
    instance.interceptors.request.use((config) => {
      config.headers.Authorization = `Bearer ${session.at}`;
      return config;
    });
    createAuthRefreshInterceptor(instance, async () => {
      const r = await axios.post(`${dev.base}/auth/refresh`, { refreshToken: session.rt });
      session.at = r.data.accessToken;
      session.rt = r.data.refreshToken;
    });
    const results = await Promise.allSettled(Array.from({ length: n }, () => instance.get(`${dev.base}/echo`)));
    const failed = results.filter((r) => r.status === "rejected").length;
    const stats = await dev.stats(s.family);
    return `${stats.refreshRequests}${failed ? ` (${failed} failed${stats.revocations ? ", family revoked" : ""})` : ""}`;
  });
  await row("AuthGateway in workerd (N concurrent requests, one expired cookie)", async (n) => gatewayConcurrency(dev, n));
  say();
  say("oidc-client-ts is not driven here: its refresh runs through UserManager in a browser page with an OIDC");
  say("metadata document, and it has no in-tab dedupe (oidc-client-ts#1618), so N callers send N refreshes by design.");
  say();
}

let gatewayWorker;
async function gatewayConcurrency(dev, n) {
  gatewayWorker ??= await startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify({ plain: { baseUrl: dev.base, upstream: dev.base.replace("/api/v1", ""), keys: { hs256Secret: "ida-dev-secret-32-bytes-or-more-change-me" }, algorithms: ["HS256"] } }))})`],
    durableObjects: [{ className: "RefreshCoordinator", binding: "COORD" }],
  });
  const s = await dev.mint();
  const responses = await Promise.all(Array.from({ length: n }, () => fetch(`${gatewayWorker.url}/api/v1/echo`, { headers: { cookie: `__Host-ida-rt=${s.refreshToken}` } }).then((r) => r.status)));
  const bad = responses.filter((x) => x !== 200).length;
  return `${(await dev.stats(s.family)).refreshRequests}${bad ? ` (${bad} not 200)` : ""}`;
}

// ---- 7. steady state -----------------------------------------------------------------------

async function steadyState(lib, dev) {
  const seconds = QUICK ? 5 : 60;
  const loops = 50;
  say(`### Steady state: 2 s tokens, ${loops} concurrent authFetch loops for ${seconds} s`);
  say();
  const s = await dev.mint({ ttlSeconds: 2 });
  const refreshes = [];
  const sent = new Map();
  const fetchSpy = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith("/auth/refresh")) {
      const r = { start: performance.now(), end: Infinity };
      refreshes.push(r);
      try {
        return await fetch(input, init);
      } finally {
        r.end = performance.now();
      }
    }
    const id = new URL(url).searchParams.get("id");
    sent.set(id, performance.now());
    return fetch(input, init);
  };
  const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, fetch: fetchSpy });
  await client.refresh();
  const calls = [];
  const end = performance.now() + seconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < end) {
        const id = String(next++);
        const t0 = performance.now();
        const r = await client.authFetch(`${dev.base}/echo?id=${id}`);
        await r.arrayBuffer();
        calls.push({ id, t0, t1: performance.now(), status: r.status });
      }
    }),
  );
  // A call waited on a refresh when a refresh was in flight as it started and its request went
  // out only once that refresh had ended.
  const waited = calls.filter((c) => refreshes.some((r) => r.start <= c.t0 && r.end > c.t0 && sent.get(c.id) >= r.end)).length;
  const unauthorized = calls.filter((c) => c.status === 401).length;
  const lat = calls.map((c) => (c.t1 - c.t0) * 1000);
  const refreshCount = refreshes.length;
  const header = { authorization: `Bearer ${client.session?.accessToken ?? ""}` };
  client.dispose();
  // The baseline under the same load: the same loops with plain fetch and the header by hand.
  const bare = [];
  const bareEnd = performance.now() + Math.min(seconds, 10) * 1000;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < bareEnd) {
        const t = performance.now();
        await (await fetch(`${dev.base}/echo?public=1`, { headers: header })).arrayBuffer();
        bare.push((performance.now() - t) * 1000);
      }
    }),
  );
  say("| calls | refreshes | calls that waited on a refresh | 401s | authFetch p50 / p99 (us) | bare fetch, same load, p50 / p99 (us) |");
  say("|---:|---:|---:|---:|---:|---:|");
  say(`| ${calls.length} | ${refreshCount} | ${waited} | ${unauthorized} | ${fmt(pct(lat, 0.5))} / ${fmt(pct(lat, 0.99))} | ${fmt(pct(bare, 0.5))} / ${fmt(pct(bare, 0.99))} |`);
  say();
  say("The dev server runs in the benchmark's own Node process, so both columns include its load.");
  say();
  return { waited, unauthorized };
}

// ---- 6. memory -----------------------------------------------------------------------------

function memory() {
  const cycles = QUICK ? 5000 : 100_000;
  const r = spawnSync(process.execPath, ["--expose-gc", "tests/bench/memory.mjs", "--cycles", String(cycles)], { cwd: ROOT, encoding: "utf8" });
  say("### Memory over refresh cycles (tests/bench/memory.mjs)");
  say();
  for (const line of r.stdout.trim().split("\n")) say(line);
  say();
  if (r.status !== 0) throw new Error(r.stderr);
}

// ---- run -----------------------------------------------------------------------------------

const lib = await import("../../pkg/node.js");
const dev = await startDevServer();
say(`## ida-refresh benchmarks (${QUICK ? "smoke run" : "full run"}), ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
say();
try {
  sizes();
  await startup();
  await coldWorkerd(dev);
  await overhead(lib, dev);
  await concurrency(lib, dev);
  memory();
  await steadyState(lib, dev);
  // The benchmarks that run in their own process: their report goes into this one.
  const child = (title, script, quickArgs) => {
    say(`### ${title}`);
    say();
    const r = spawnSync(process.execPath, [script, ...(QUICK ? quickArgs : [])], { cwd: ROOT, encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    for (const line of r.stdout.trim().split("\n")) say(line);
    say();
  };
  child("Verification throughput", "tests/bench/verify.mjs", ["--n", "20", "--rounds", "1", "--warmup", "20"]);
  child("DPoP request verification", "tests/bench/dpop-verify.mjs", ["--quick"]);
  child("DPoP proof creation", "tests/bench/dpop-proof.mjs", ["--quick"]);
} finally {
  await gatewayWorker?.stop();
  await dev.close();
}
if (!QUICK) fs.writeFileSync(path.join(ROOT, "tests/bench/RESULTS.md"), out.join("\n") + "\n");
