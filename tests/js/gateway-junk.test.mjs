// Issue #17: junk refresh cookies must not displace finished refresh results. In real workerd,
// for the plain gateway (the isolate's table) and the coordinated one (RefreshCoordinator
// Durable Object): a session refreshes through an expired access cookie, then 5000 requests
// each carrying a distinct never-seen refresh cookie, then a late request still carrying the
// session's rotated cookie, within the 30 s result window -> 200 with the same new cookies as
// the first answer, and no second refresh call. The dev server runs with its grace window OFF,
// so a rotated token presented to it again revokes the family: a gateway that forgot the
// result is visible as a revocation and a 401.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd, freePort } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

const DEV_SECRET = "gateway-junk-tests-hs256-secret-32-bytes+";
const JUNK = 5000;
const CONCURRENCY = 50;
const RESULT_WINDOW_MS = 30_000;
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

function expiredAt() {
  const input = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: "user-1", iat: now() - 600, exp: now() - 300 })}`;
  return `${input}.${crypto.createHmac("sha256", DEV_SECRET).update(input).digest("base64url")}`;
}

const origin = http.createServer((req, res) => {
  origin.seen.push(req.headers.authorization ?? null);
  res.writeHead(200, { "content-type": "application/json" });
  res.end("{}");
});
origin.seen = [];

let dev, worker;
before(async () => {
  // graceMs 0: the server-wide default, and every session below asks for it again.
  dev = await startDevServer({ secret: DEV_SECRET, graceMs: 0 });
  const port = await freePort();
  await new Promise((r) => origin.listen(port, "127.0.0.1", r));
  const plain = {
    baseUrl: dev.base,
    upstream: `http://127.0.0.1:${port}`,
    keys: { hs256Secret: DEV_SECRET },
    algorithms: ["HS256"],
    leewaySeconds: 2,
    refreshTimeoutMs: 5000,
  };
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify({ plain }))})`],
    durableObjects: [{ className: "RefreshCoordinator", binding: "COORD" }],
  });
});
after(async () => {
  await worker?.stop();
  await dev?.close();
  await new Promise((r) => origin.close(r));
});

function call(gateway, cookies) {
  const cookie = Object.entries(cookies).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join("; ");
  return fetch(`${worker.url}/api/data`, { headers: { "x-test-gateway": gateway, ...(cookie ? { cookie } : {}) }, redirect: "manual" });
}
const setCookies = (r) => r.headers.getSetCookie().map((c) => c.split(";")[0]);
const wasmBytes = async () => (await (await fetch(`${worker.url}/__memory`)).json()).wasmBytes;
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;

test("the /__memory route reports the isolate's wasm memory", async () => {
  const bytes = await wasmBytes();
  assert.ok(Number.isInteger(bytes) && bytes > 0 && bytes % 65536 === 0, `whole wasm pages: ${bytes}`);
});

for (const gateway of ["plain", "coordinated"]) {
  test(`gateway (${gateway}): ${JUNK} junk refresh cookies do not displace a finished refresh; the late rotated cookie gets the same answer`, async () => {
    const s = await dev.mint({ ttlSeconds: 300, graceMs: 0 });
    const first = await call(gateway, { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken });
    const t0 = Date.now();
    assert.equal(first.status, 200, "the session refreshes");
    await first.arrayBuffer();
    const firstCookies = setCookies(first);
    const current = (await dev.stats(s.family)).currentRefreshToken;
    assert.deepEqual(firstCookies.map((c) => c.split("=")[0]), ["__Host-ida-at", "__Host-ida-rt"]);
    check.equal(firstCookies[1], `__Host-ida-rt=${current}`, "the rotated refresh token is set");
    const forwardedFirst = origin.seen.at(-1);

    const memBefore = await wasmBytes();
    const globalBefore = await dev.stats();
    const statuses = new Map();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < JUNK) {
        const i = next++;
        // Half with an expired access cookie, half with none: either way the refresh cookie is used.
        const junk = `rt_junk_${i}_${crypto.randomBytes(12).toString("base64url")}`;
        const r = await call(gateway, { "__Host-ida-at": i % 2 ? expiredAt() : undefined, "__Host-ida-rt": junk });
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }));
    const junkMs = Date.now() - t0;
    const memAfter = await wasmBytes();
    const globalAfter = await dev.stats();
    // Refused (401), or, when the machine is overloaded and a refresh call times out, 503:
    // never let through. The guarantee under test is the real session's, below.
    assert.deepEqual([...statuses.keys()].filter((status) => status !== 401 && status !== 503), [], "every junk request is refused");
    const refused = statuses.get(401) ?? 0;
    assert.ok(refused >= JUNK * 0.99, `${refused} of ${JUNK} junk requests answered 401`);
    const rejected = globalAfter.rejected - globalBefore.rejected;
    assert.ok(rejected >= refused && rejected <= JUNK, `the auth server refused ${rejected} junk cookies for ${refused} 401s: each at most once`);

    // The late request: the old (rotated) refresh cookie, still inside the result window.
    assert.ok(Date.now() - t0 < RESULT_WINDOW_MS - 2_000, `the junk took ${junkMs} ms: too long to test the 30 s window`);
    const late = await call(gateway, { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken });
    const lateMs = Date.now() - t0;
    await late.arrayBuffer();
    const stats = await dev.stats(s.family);
    console.log(
      `gateway junk (${gateway}): session refreshed, ${JUNK} junk cookies (${CONCURRENCY} at a time) in ${(junkMs / 1000).toFixed(1)} s, ` +
        `late rotated cookie after ${(lateMs / 1000).toFixed(1)} s -> ${late.status}; family: ${stats.refreshRequests} refresh request(s), ` +
        `${stats.revocations} revocation(s); wasm memory ${kib(memBefore)} -> ${kib(memAfter)}`,
    );
    assert.equal(late.status, 200, "the late request with the rotated cookie is answered from the finished result");
    assert.deepEqual(setCookies(late), firstCookies, "the same new cookies as the first answer");
    assert.equal(origin.seen.at(-1), forwardedFirst, "the same new access token is forwarded");
    assert.equal(stats.refreshRequests, 1, "no second refresh call reached the auth server");
    assert.equal(stats.revocations, 0, "the family is not revoked");
    assert.equal(stats.revoked, false);
  });
}
