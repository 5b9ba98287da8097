// Several tabs of real Chromium sharing one session (localStorage + BroadcastChannel) against
// the dev server's reuse detection: zero family revocations, every tab ends on the newest
// token, no call waits more than a second extra, and sign-out reaches every tab.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withDevServerAndChromium } from "./harness.mjs";

const env = withDevServerAndChromium();

async function openTabs(n) {
  const tabs = [];
  for (let i = 0; i < n; i++) {
    const page = await env.browser.context.newPage();
    await page.goto(`http://localhost:${env.dev.port}/tests/js/runner.html`);
    await page.waitForFunction(() => window.ready === true);
    tabs.push(page);
  }
  return tabs;
}

// In each tab: a client, and a loop of getAccessToken()/authFetch() calls timing each one.
async function startClient(page, options) {
  await page.evaluate(async (options) => {
    const { RefreshClient } = await import("/pkg/web.js");
    const base = location.origin + "/api/v1";
    window.stats = { calls: 0, maxWaitMs: 0, unauthorized: 0, signedOut: [], refreshed: 0, errors: [] };
    window.client = new RefreshClient({ baseUrl: base, ...options });
    client.on("signedOut", (d) => stats.signedOut.push(d.reason));
    client.on("refreshed", () => stats.refreshed++);
    client.on("error", (e) => stats.errors.push(e.code));
    window.loop = async (ms) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const t0 = performance.now();
        const r = await client.authFetch(`${base}/echo`);
        stats.maxWaitMs = Math.max(stats.maxWaitMs, performance.now() - t0);
        stats.calls++;
        if (r.status === 401) stats.unauthorized++;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
      }
    };
  }, options);
}

test("three tabs, localStorage, 2 s tokens, 8 s of traffic: no revocation, one newest token, sign-out everywhere", async () => {
  const tabs = await openTabs(3);
  const s = await env.dev.mint({ ttlSeconds: 2 });
  for (const t of tabs) await startClient(t, { storage: "localStorage", storageKey: "mt-local" });
  await tabs[0].evaluate((s) => client.setSession({ refreshToken: s.refreshToken, accessToken: s.accessToken }), s);
  await Promise.all(tabs.map((t) => t.evaluate(() => loop(8_000))));
  await new Promise((r) => setTimeout(r, 300));
  const server = await env.dev.stats(s.family);
  const results = await Promise.all(tabs.map((t) => t.evaluate(() => ({ ...stats, rt: client.session?.refreshToken }))));
  console.log(`multi-tab (localStorage): ${results.reduce((a, r) => a + r.calls, 0)} calls, ${server.refreshRequests} refresh requests, ${server.rotations} rotations, ${server.graceHits} grace hits, ${server.revocations} revocations, max wait ${Math.max(...results.map((r) => r.maxWaitMs)).toFixed(0)} ms`);
  assert.equal(server.revocations, 0, "no family revocation");
  assert.equal(server.revoked, false);
  for (const r of results) {
    assert.equal(r.rt, server.currentRefreshToken, "every tab holds the newest refresh token");
    assert.equal(r.unauthorized, 0, "no call surfaced a 401");
    assert.ok(r.maxWaitMs < 1_000, `max wait ${r.maxWaitMs} ms`);
    assert.deepEqual(r.errors, []);
  }
  assert.ok(server.rotations >= 3, `tokens kept rotating (${server.rotations})`);

  await tabs[1].evaluate(() => client.signOut());
  await new Promise((r) => setTimeout(r, 300));
  const after = await Promise.all(tabs.map((t) => t.evaluate(() => ({ session: client.session, signedOut: stats.signedOut, stored: localStorage.getItem("mt-local") }))));
  assert.deepEqual(after.map((a) => a.signedOut), [["otherTab"], ["signOut"], ["otherTab"]]);
  for (const a of after) {
    assert.equal(a.session, null);
    assert.equal(a.stored, null);
  }
  for (const t of tabs) await t.close();
});

test("two tabs, memory storage, no server grace window: the session and its refreshes travel over BroadcastChannel", async () => {
  const tabs = await openTabs(2);
  // graceMs 0: any reuse of a rotated token revokes the family, so only coordination saves us.
  const s = await env.dev.mint({ ttlSeconds: 2, graceMs: 0 });
  for (const t of tabs) await startClient(t, { storageKey: "mt-memory" });
  await tabs[0].evaluate((s) => client.setSession({ refreshToken: s.refreshToken }), s);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(await tabs[1].evaluate(() => client.session !== null), "tab 2 received the session");
  await Promise.all(tabs.map((t) => t.evaluate(() => loop(5_000))));
  await new Promise((r) => setTimeout(r, 300));
  const server = await env.dev.stats(s.family);
  const results = await Promise.all(tabs.map((t) => t.evaluate(() => ({ ...stats, rt: client.session?.refreshToken }))));
  console.log(`multi-tab (memory, server without a grace window): ${server.refreshRequests} refresh requests, ${server.rotations} rotations, ${server.graceHits} grace hits, ${server.revocations} revocations`);
  assert.equal(server.revocations, 0);
  for (const r of results) {
    assert.equal(r.rt, server.currentRefreshToken);
    assert.equal(r.unauthorized, 0);
    assert.ok(r.maxWaitMs < 1_000, `max wait ${r.maxWaitMs} ms`);
  }
  for (const t of tabs) await t.close();
});
