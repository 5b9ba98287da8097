// refresh() inside real workerd (Cloudflare's runtime), from the built package, against the
// dev server. Every error code of the table is produced here through the real runtime.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd, freePort } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

let dev, worker;
before(async () => {
  dev = await startDevServer();
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/refresh-worker.js"));
});
after(async () => {
  await worker?.stop();
  await dev?.close();
});

const call = (refreshToken, options) =>
  fetch(worker.url, { method: "POST", body: JSON.stringify({ refreshToken, options: { baseUrl: dev.base, ...options } }) }).then((r) => r.json());
const fault = (f, extra) => ({ headers: { "x-ida-fault": JSON.stringify(f) }, ...extra });

function assertError(out, code, status = null) {
  assert.equal(out.ok, false, `expected ${code}`);
  assert.equal(out.code, code, out.message);
  assert.equal(out.isError, true);
  assert.equal(out.isRefreshError, true);
  assert.equal(out.name, "RefreshError");
  assert.equal(out.status, status);
  assert.equal(out.retryable, ["rate_limited", "server_error", "network", "timeout"].includes(code));
  return out;
}

test("workerd: refresh exchanges and rotates a token", async () => {
  const s = await dev.mint({ ttlSeconds: 300 });
  const out = await call(s.refreshToken);
  assert.equal(out.ok, true, out.message);
  assert.equal(out.value.claims.sid, s.family);
  check.notEqual(out.value.refreshToken, s.refreshToken);
  assert.equal(out.value.expiresAt, out.value.claims.exp * 1000);
  assert.equal((await dev.stats(s.family)).rotations, 1);
});

test("workerd: cookie mode (empty body) succeeds with nulls", async () => {
  const s = await dev.mint({ format: "cookie" });
  const out = await call(s.refreshToken);
  assert.deepEqual(out, { ok: true, value: { accessToken: null, refreshToken: null, expiresAt: null, claims: null } });
});

test("workerd: every error code", async () => {
  const s = await dev.mint();
  const rt = s.refreshToken;
  assertError(await call("rt_unknown"), "invalid_refresh_token", 401);
  assertError(await call(rt, fault({ status: 403 })), "invalid_refresh_token", 403);
  const limited = assertError(await call(rt, fault({ status: 429, retryAfter: 3 })), "rate_limited", 429);
  assert.equal(limited.retryAfterMs, 3000);
  assertError(await call(rt, fault({ status: 502 })), "server_error", 502);
  assertError(await call(rt, { baseUrl: `http://127.0.0.1:${await freePort()}/api/v1` }), "network");
  assertError(await call(rt, fault({ reset: true })), "network");
  assertError(await call(rt, fault({ hang: true }, { timeoutMs: 300 })), "timeout");
  assertError(await call(rt, fault({ status: 200, body: "{not json" })), "bad_response");
  assertError(await call(rt, fault({ status: 200, oversizedBytes: 3_000_000 })), "bad_response");
  assertError(await call(rt, fault({ status: 418 })), "unexpected_status", 418);
  assertError(await call("", {}), "invalid_argument");
  assertError(await call(rt, { nope: true }), "invalid_argument");
  // None of those consumed the session.
  assert.equal((await call(rt)).ok, true);
});
