// Bodies are bounded by what they inflate to, not by what they claim: a refresh response of
// ~32 KiB of gzip (or ~0.4 KiB of brotli) on the wire, with a truthful Content-Length, that
// inflates to 32 MiB. refresh() must reject it with bad_response in Node and in workerd, the
// wasm linear memory (which never shrinks) must grow by less than 1 MiB, and the dev server
// must see the connection closed before the body's end. Also: a timed-out request closes its
// connection (the AbortController the drop guard uses too; see tests/abort_on_drop.rs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as lib from "../../pkg/node.js";
import { initSync } from "../../pkg/wasm/ida_refresh.js";
import { ROOT, startDevServer, startWorkerd, outcome } from "./harness.mjs";

const INFLATED = 32 << 20;
const WIRE_MAX = 64 << 10;
// pkg/node.js has already instantiated the module: initSync hands back those exports.
const wasm = initSync({ module: fs.readFileSync(path.join(ROOT, "pkg/wasm/ida_refresh_bg.wasm")) });
const memory = () => wasm.memory.buffer.byteLength;

let dev, worker;
before(async () => {
  dev = await startDevServer();
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/bounded-worker.js"));
});
after(async () => {
  await worker?.stop();
  await dev?.close();
});

const inflate = (encoding) => ({ inflate: encoding, bytes: INFLATED });
const faultHeaders = (fault) => ({ "x-ida-fault": JSON.stringify(fault) });

/** Polls the dev server's stats until `ready(stats)`, for at most 5 s. */
async function statsWhen(ready, what) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const stats = await dev.stats();
    if (ready(stats)) return stats;
    if (Date.now() > deadline) throw new Error(`dev server never saw: ${what} (${JSON.stringify(stats)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The fault's wire size and inflated size, read here with Node's own fetch. */
async function measure(encoding) {
  const r = await fetch(dev.base + "/auth/refresh", { method: "POST", body: "{}", headers: faultHeaders(inflate(encoding)) });
  const wire = Number(r.headers.get("content-length"));
  let inflated = 0;
  for await (const chunk of r.body) inflated += chunk.length;
  return { wire, inflated, encoding: r.headers.get("content-encoding") };
}

/** Checks a cut read: the server saw one more answer closed early, before all its bytes. */
async function assertCut(before, wire) {
  const after = await statsWhen((s) => s.inflateCut > before.inflateCut, "the connection closed early");
  assert.equal(after.inflateCut, before.inflateCut + 1);
  const sent = after.inflateBytesSent - before.inflateBytesSent;
  assert.ok(sent < wire, `the server sent ${sent} of ${wire} bytes: the read was cut`);
  return sent;
}

for (const encoding of ["gzip", "br"]) {
  test(`the ${encoding} inflate fault is under 64 KiB on the wire and inflates to 32 MiB`, async () => {
    const m = await measure(encoding);
    console.log(`# ${encoding}: ${m.wire} bytes on the wire, ${m.inflated} inflated`);
    assert.equal(m.encoding, encoding);
    assert.ok(m.wire > 0 && m.wire < WIRE_MAX, `${m.wire} bytes on the wire`);
    assert.equal(m.inflated, INFLATED);
  });

  test(`Node: refresh() rejects a ${encoding} body that inflates to 32 MiB, and wasm memory stays put`, async () => {
    const { wire } = await measure(encoding);
    const before = await dev.stats();
    const memoryBefore = memory();
    const out = await outcome(lib.refresh("rt_any", { baseUrl: dev.base, headers: faultHeaders(inflate(encoding)) }));
    const memoryAfter = memory();
    assert.equal(out.code, "bad_response", out.message);
    assert.match(out.message, /larger than 64 KiB/);
    console.log(`# Node ${encoding}: wasm memory ${memoryBefore} -> ${memoryAfter}`);
    assert.ok(memoryAfter - memoryBefore < 1 << 20, `wasm memory grew ${memoryBefore} -> ${memoryAfter}`);
    const sent = await assertCut(before, wire);
    console.log(`# Node ${encoding}: the server sent ${sent} of ${wire} bytes`);
  });

  test(`workerd: refresh() rejects a ${encoding} body that inflates to 32 MiB, and wasm memory stays put`, async () => {
    const { wire } = await measure(encoding);
    const before = await dev.stats();
    const res = await fetch(worker.url, {
      method: "POST",
      body: JSON.stringify({ refreshToken: "rt_any", options: { baseUrl: dev.base, headers: faultHeaders(inflate(encoding)) } }),
    });
    const out = await res.json();
    assert.equal(out.code, "bad_response", out.message);
    // A runtime that did not decode the body would fail differently ("not JSON").
    assert.match(out.message, /larger than 64 KiB/);
    console.log(`# workerd ${encoding}: wasm memory ${out.memoryBefore} -> ${out.memoryAfter}`);
    assert.ok(out.memoryAfter - out.memoryBefore < 1 << 20, `wasm memory grew ${out.memoryBefore} -> ${out.memoryAfter}`);
    const sent = await assertCut(before, wire);
    console.log(`# workerd ${encoding}: the server sent ${sent} of ${wire} bytes`);
  });
}

for (const encoding of ["gzip", "br"]) {
  test(`Node: AuthGateway answers a ${encoding} refresh response that inflates to 32 MiB with "unavailable" (503), and wasm memory stays put`, async () => {
    const { wire } = await measure(encoding);
    const before = await dev.stats();
    const gateway = new lib.AuthGateway({
      baseUrl: dev.base, upstream: "http://127.0.0.1:9", keys: { hs256Secret: "x".repeat(32) }, algorithms: ["HS256"],
      headers: faultHeaders(inflate(encoding)),
    });
    const memoryBefore = memory();
    const decided = await gateway.authenticate(new Request("https://app.example/x", { headers: { cookie: "__Host-ida-rt=rt_any" } }));
    const memoryAfter = memory();
    assert.equal(decided.status, "unavailable");
    assert.equal(decided.request, null);
    assert.deepEqual(decided.setCookies, [], "cookies kept");
    assert.ok(memoryAfter - memoryBefore < 1 << 20, `wasm memory grew ${memoryBefore} -> ${memoryAfter}`);
    const sent = await assertCut(before, wire);
    console.log(`# Node AuthGateway ${encoding}: unavailable, wasm memory ${memoryBefore} -> ${memoryAfter}, the server sent ${sent} of ${wire} bytes`);
  });
}

test("Node: a body over the cap is still refused when Content-Length says it is small", async () => {
  // Through the fetch option: a Response whose header claims 2 bytes over a 1 MiB stream.
  const big = () => new Response(new Uint8Array(1 << 20), { headers: { "content-length": "2", "content-type": "application/json" } });
  const out = await outcome(lib.refresh("rt_any", { baseUrl: dev.base, fetch: async () => big() }));
  assert.equal(out.code, "bad_response", out.message);
  assert.match(out.message, /larger than 64 KiB/);
});

test("Node: a timed-out request closes its connection", async () => {
  const before = await dev.stats();
  const out = await outcome(lib.refresh("rt_any", { baseUrl: dev.base, timeoutMs: 200, headers: faultHeaders({ hang: true }) }));
  assert.equal(out.code, "timeout", out.message);
  assert.equal(before.hanging, 0);
  await statsWhen((s) => s.faultsServed > before.faultsServed && s.hanging === 0, "the hanging request closed");
});

test("workerd: a timed-out request closes its connection", async () => {
  const before = await dev.stats();
  const res = await fetch(worker.url, {
    method: "POST",
    body: JSON.stringify({ refreshToken: "rt_any", options: { baseUrl: dev.base, timeoutMs: 200, headers: faultHeaders({ hang: true }) } }),
  });
  const out = await res.json();
  assert.equal(out.code, "timeout", out.message);
  await statsWhen((s) => s.faultsServed > before.faultsServed && s.hanging === 0, "the hanging request closed");
});
