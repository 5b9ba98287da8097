// OAuth 2.0 interop (RFC 6749 section 6) against node-oidc-provider, a certified, independently
// written authorization server running locally: tokens come from the real authorization code
// flow with PKCE; then refresh(), RefreshClient (rotation on and off) and AuthGateway (in
// workerd) refresh them; a revoked grant ends the session with invalid_refresh_token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import * as lib from "../../pkg/node.js";
import { ROOT, startWorkerd, freePort, outcome } from "./harness.mjs";
import { startOidcProvider, SPA_CLIENT, WORKER_CLIENT, WORKER_SECRET, RESOURCE } from "../server/oidc.mjs";
import { check } from "./client-scenarios.mjs";

let as, worker, origin;
const originSeen = [];
before(async () => {
  as = await startOidcProvider();
  const port = await freePort();
  origin = http.createServer((req, res) => {
    originSeen.push(req.headers.authorization ?? null);
    res.end("origin");
  });
  await new Promise((r) => origin.listen(port, "127.0.0.1", r));
  const config = {
    protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: WORKER_CLIENT, clientSecret: WORKER_SECRET,
    upstream: `http://127.0.0.1:${port}`, keys: { jwksUrl: as.jwksUrl }, algorithms: ["ES256"], issuer: as.issuer, audience: RESOURCE,
  };
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify({ plain: config }))})`],
    durableObjects: [{ className: "RefreshCoordinator", binding: "COORD" }],
  });
});
after(async () => {
  await worker?.stop();
  await new Promise((r) => origin?.close(r));
  await as?.close();
});

const spa = { protocol: "oauth2", clientId: SPA_CLIENT };

test("oauth2: refresh() speaks the refresh_token grant (rotation on, then off)", async () => {
  const tokens = await as.signIn();
  as.state.rotate = true;
  const r = await lib.refresh(tokens.refresh_token, { ...spa, tokenUrl: as.tokenUrl });
  assert.equal(r.accessToken.split(".").length, 3);
  check.notEqual(r.refreshToken, tokens.refresh_token, "rotated");
  assert.equal(r.tokenType, "Bearer");
  assert.equal(typeof r.scope, "string");
  assert.equal(r.idToken.split(".").length, 3);
  assert.equal(r.claims.aud, RESOURCE);
  assert.equal(r.claims.sub, "user-1");
  assert.ok(Math.abs(r.expiresAt - (Date.now() + 60_000)) < 5_000);

  as.state.rotate = false;
  const kept = await lib.refresh(r.refreshToken, { ...spa, tokenUrl: as.tokenUrl });
  assert.ok(kept.refreshToken === null || kept.refreshToken === r.refreshToken, "not rotated");
  as.state.rotate = true;
});

test("oauth2: RefreshClient refreshes and rotates, or keeps the token when the server does not rotate", async () => {
  for (const rotate of [true, false]) {
    as.state.rotate = rotate;
    const tokens = await as.signIn();
    const client = new lib.RefreshClient({ ...spa, tokenUrl: as.tokenUrl, refreshToken: tokens.refresh_token, autoRefresh: false });
    const first = await client.refresh();
    const second = await client.refresh();
    check.notEqual(second.accessToken, first.accessToken);
    if (rotate) assert.ok(first.refreshToken !== tokens.refresh_token && second.refreshToken !== first.refreshToken, "rotated each time");
    else check.equal(second.refreshToken, tokens.refresh_token, "the same refresh token throughout");
    check.equal(await client.getAccessToken(), second.accessToken);
    client.dispose();
  }
  as.state.rotate = true;
});

test("oauth2: a confidential client authenticates with HTTP Basic; RFC 6749 5.2 errors map to codes", async () => {
  const tokens = await as.signIn(WORKER_CLIENT);
  const ok = await lib.refresh(tokens.refresh_token, { protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: WORKER_CLIENT, clientSecret: WORKER_SECRET });
  assert.ok(ok.accessToken);
  const wrongSecret = await outcome(lib.refresh(ok.refreshToken, { protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: WORKER_CLIENT, clientSecret: "wrong" }));
  assert.equal(wrongSecret.code, "invalid_client");
  assert.equal(wrongSecret.error.serverError, "invalid_client");
  assert.ok(!wrongSecret.message.includes(ok.refreshToken));
  const badScope = await outcome(lib.refresh(ok.refreshToken, { protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: WORKER_CLIENT, clientSecret: WORKER_SECRET, scope: "admin" }));
  assert.equal(badScope.code, "invalid_scope");
  assert.equal(badScope.error.serverError, "invalid_scope");
  const missing = await outcome(lib.refresh("x", { protocol: "oauth2", clientId: SPA_CLIENT }));
  assert.equal(missing.code, "invalid_argument");
  assert.match(missing.message, /tokenUrl/);
  const mixed = await outcome(lib.refresh("x", { clientId: SPA_CLIENT }));
  assert.equal(mixed.code, "invalid_argument", "oauth2 options need protocol: oauth2");
});

test("oauth2: a revoked grant ends the session with invalid_refresh_token", async () => {
  const tokens = await as.signIn();
  await as.revoke(tokens.refresh_token);
  const revoked = await outcome(lib.refresh(tokens.refresh_token, { ...spa, tokenUrl: as.tokenUrl }));
  assert.equal(revoked.code, "invalid_refresh_token");
  assert.equal(revoked.error.serverError, "invalid_grant");
  const again = await as.signIn();
  const client = new lib.RefreshClient({ ...spa, tokenUrl: as.tokenUrl, refreshToken: again.refresh_token, autoRefresh: false });
  const ended = [];
  client.on("signedOut", (d) => ended.push(d.reason));
  await as.revoke(again.refresh_token);
  await assert.rejects(client.refresh(), (e) => e.code === "invalid_refresh_token");
  assert.deepEqual(ended, ["invalid_refresh_token"]);
  assert.ok(client.session === null, "no session");
  client.dispose();
});

test("oauth2: AuthGateway in workerd refreshes through the token endpoint and verifies the AS's ES256 tokens", async () => {
  const tokens = await as.signIn(WORKER_CLIENT);
  const r = await fetch(worker.url + "/account", { headers: { cookie: `__Host-ida-rt=${tokens.refresh_token}` } });
  assert.equal(r.status, 200);
  const forwarded = originSeen.at(-1);
  assert.ok(forwarded.startsWith("Bearer ") && forwarded !== `Bearer ${tokens.access_token}`);
  const cookies = r.headers.getSetCookie();
  assert.equal(cookies.length, 2);
  const newRt = cookies.find((c) => c.startsWith("__Host-ida-rt=")).split(";")[0].slice("__Host-ida-rt=".length);
  const withAt = await fetch(worker.url + "/account", { headers: { authorization: forwarded } });
  assert.equal(withAt.status, 200, "the AS's access token verifies (JWKS, ES256, iss, aud)");
  await as.revoke(decodeURIComponent(newRt), WORKER_CLIENT);
  const ended = await fetch(worker.url + "/account", { headers: { cookie: `__Host-ida-rt=${newRt}` } });
  assert.equal(ended.status, 401);
  assert.deepEqual(ended.headers.getSetCookie().map((c) => c.split(";")[0]), ["__Host-ida-at=", "__Host-ida-rt="]);
});
