// Memory over many refresh cycles of one RefreshClient: wasm linear memory and JS heap after
// 1k, 10k and 100k cycles (flat is the goal: no leaked closures, promises or sessions).
//
//   node --expose-gc tests/bench/memory.mjs [--cycles 100000] [--server] [--client]
//
// By default the auth server is an in-process fetch function (the `fetch` option) that mints
// real HS256 JWTs, so 100k cycles take seconds; --server sends every cycle to the dev server
// over loopback instead. Prints a table; exits 1 if wasm memory grew by more than --max-growth
// bytes (default 1 MiB) between the first checkpoint and the last. --client runs the browser
// build (pkg/wasm-client, the browser's allocator) instead of the full one; the peak of wasm
// memory is printed either way.
import crypto from "node:crypto";
import fs from "node:fs";
import { startDevServer } from "../js/harness.mjs";

const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => [a.replace(/^--/, ""), all[i + 1]?.startsWith("--") ? true : all[i + 1] ?? true]));
const cycles = Number(args.cycles ?? 100_000);
const maxGrowth = Number(args["max-growth"] ?? 1 << 20);
const build = args.client ? "wasm-client" : "wasm";
const { initSync, RefreshClient } = await import(`../../pkg/${build}/ida_refresh.js`);
const wasm = initSync({ module: fs.readFileSync(new URL(`../../pkg/${build}/ida_refresh_bg.wasm`, import.meta.url)) });

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
let minted = 0;
function inProcessFetch() {
  return async (_url, init) => {
    JSON.parse(init.body); // what a server does first
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: "HS256", typ: "JWT" });
    const body = b64({ sub: "bench", iat: now, exp: now + 3600, jti: String(++minted) });
    const sig = crypto.createHmac("sha256", "k").update(`${head}.${body}`).digest("base64url");
    return new Response(JSON.stringify({ accessToken: `${head}.${body}.${sig}`, refreshToken: `rt_${minted}`, expiresIn: 3600 }), {
      headers: { "content-type": "application/json" },
    });
  };
}

const dev = args.server ? await startDevServer() : null;
const session = dev ? await dev.mint({ ttlSeconds: 3600 }) : { refreshToken: "rt_0" };
const client = new RefreshClient({
  baseUrl: dev ? dev.base : "http://in-process.invalid/api/v1",
  refreshToken: session.refreshToken,
  autoRefresh: false,
  ...(dev ? {} : { fetch: inProcessFetch() }),
});
let events = 0;
client.on("refreshed", () => events++);

const checkpoints = [1_000, 10_000, 100_000, 1_000_000].filter((c) => c <= cycles);
if (!checkpoints.includes(cycles)) checkpoints.push(cycles);
const rows = [];
const t0 = performance.now();
for (let i = 1; i <= cycles; i++) {
  await client.refresh();
  if (i % 10 === 0) await client.getAccessToken();
  if (checkpoints.includes(i)) {
    globalThis.gc?.();
    rows.push({ cycles: i, wasmBytes: wasm.memory.buffer.byteLength, heapBytes: process.memoryUsage().heapUsed });
  }
}
const seconds = (performance.now() - t0) / 1000;
client.dispose();
await dev?.close();

const mib = (n) => (n / 1048576).toFixed(2);
console.log(`memory over ${cycles} refresh cycles (pkg/${build}, ${dev ? "dev server" : "in-process server"}, ${(cycles / seconds).toFixed(0)} cycles/s, ${events} refreshed events)`);
console.log("| cycles | wasm linear memory (MiB) | JS heap used (MiB) |\n|---:|---:|---:|");
for (const r of rows) console.log(`| ${r.cycles} | ${mib(r.wasmBytes)} | ${mib(r.heapBytes)} |`);
const growth = rows.at(-1).wasmBytes - rows[0].wasmBytes;
console.log(`wasm memory peak: ${mib(wasm.memory.buffer.byteLength)} MiB (${wasm.memory.buffer.byteLength} bytes)`);
console.log(`wasm memory growth from ${rows[0].cycles} to ${rows.at(-1).cycles} cycles: ${growth} bytes`);
if (events !== cycles) {
  console.error(`expected ${cycles} refreshed events, saw ${events}`);
  process.exit(1);
}
if (growth > maxGrowth) {
  console.error(`wasm memory grew by ${growth} bytes (> ${maxGrowth}): a leak`);
  process.exit(1);
}
