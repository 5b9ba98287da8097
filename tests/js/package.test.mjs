// The built package as Node users import it (pkg/node.js), against the dev server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDevServer, outcome } from "./harness.mjs";
import { refresh, RefreshError } from "../../pkg/node.js";

let dev;
before(async () => (dev = await startDevServer()));
after(() => dev?.close());

test("node: refresh() resolves with tokens, expiry and claims", async () => {
  const s = await dev.mint({ ttlSeconds: 60 });
  const r = await refresh(s.refreshToken, { baseUrl: dev.base });
  assert.deepEqual(Object.keys(r).sort(), ["accessToken", "claims", "expiresAt", "refreshToken"]);
  assert.equal(r.claims.sub, s.accessToken && JSON.parse(Buffer.from(s.accessToken.split(".")[1], "base64url")).sub);
  assert.ok(Math.abs(r.expiresAt - (Date.now() + 60_000)) < 5_000);
});

test("node: errors are RefreshError instances of Error, without token material", async () => {
  const secret = "rt_this-value-must-never-appear";
  const out = await outcome(refresh(secret, { baseUrl: dev.base }));
  assert.ok(out.error instanceof RefreshError);
  assert.ok(out.error instanceof Error);
  assert.equal(out.error.name, "RefreshError");
  assert.equal(out.code, "invalid_refresh_token");
  assert.equal(out.status, 401);
  assert.equal(out.retryable, false);
  assert.ok(!out.error.message.includes(secret) && !String(out.error.stack).includes(secret));
  assert.ok(!JSON.stringify(out.error).includes(secret));
  assert.ok(String(out.error).startsWith("RefreshError: "));
});

test("node: a network failure keeps the underlying cause", async () => {
  const out = await outcome(refresh("rt_x", { baseUrl: "http://127.0.0.1:9/api/v1" }));
  assert.equal(out.code, "network");
  assert.ok(out.error.cause instanceof Error);
});

test("node: users can construct RefreshError for their own test doubles", () => {
  const e = new RefreshError("boom", { code: "timeout", retryable: true });
  assert.equal(e.code, "timeout");
  assert.equal(e.status, null);
  assert.ok(e instanceof Error && e.name === "RefreshError");
});
