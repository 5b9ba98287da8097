// Several RefreshClients in one Node process sharing a Workers KV-shaped storage adapter (async
// get/put/delete), against the dev server without a grace window: what holds without Web Locks.
// With `crossTab: true` (Node's BroadcastChannel reaches every client of the process and its
// worker threads) the lockless claim and the storage marker keep every token single-use. Without
// it (the default in Node) the clients coordinate only by reading storage before and after each
// request: the figures are printed, and the README says what that does not guarantee.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { RefreshClient } from "../../pkg/node.js";
import { startDevServer } from "./harness.mjs";

let dev;
before(async () => (dev = await startDevServer()));
after(() => dev.close());

/** A KV namespace as Workers has it: every call a Promise, settled on a later tick. */
function kv() {
  const map = new Map();
  const later = (v) => new Promise((r) => setTimeout(() => r(v), 1));
  return {
    get: (k) => later(map.get(k) ?? null),
    put: (k, v) => later(void map.set(k, v)),
    delete: (k) => later(void map.delete(k)),
  };
}

async function run(crossTab) {
  const s = await dev.mint({ ttlSeconds: 2, graceMs: 0 });
  const storage = kv();
  const storageKey = `node-tabs-${crossTab}`;
  const first = new RefreshClient({ baseUrl: dev.base, storage, storageKey, crossTab, refreshToken: s.refreshToken, accessToken: s.accessToken });
  // The seed is written on a later tick: the others load it from storage.
  await first.refresh();
  const clients = [first];
  for (let i = 0; i < 2; i++) {
    const c = new RefreshClient({ baseUrl: dev.base, storage, storageKey, crossTab });
    await c.getAccessToken();
    clients.push(c);
  }
  const stats = { calls: 0, unauthorized: 0, failed: 0, maxWaitMs: 0 };
  const end = Date.now() + 6_000;
  await Promise.all(
    clients.map(async (c) => {
      while (Date.now() < end) {
        const t0 = performance.now();
        try {
          const r = await c.authFetch(`${dev.base}/echo`);
          if (r.status === 401) stats.unauthorized++;
        } catch {
          stats.failed++;
        }
        stats.maxWaitMs = Math.max(stats.maxWaitMs, performance.now() - t0);
        stats.calls++;
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
      }
    }),
  );
  for (const c of clients) c.dispose();
  const server = await dev.stats(s.family);
  console.log(`tabs (Node, 3 clients, KV-shaped storage, no grace window, crossTab ${crossTab}): ${stats.calls} calls, ${server.refreshRequests} refresh requests, ${server.revocations} revocations, ${stats.unauthorized} surfaced 401s, ${stats.failed} failed calls, longest call ${stats.maxWaitMs.toFixed(0)} ms`);
  return { ...stats, ...server };
}

test("Node, crossTab on: the lockless claim over BroadcastChannel, no token sent twice", async () => {
  const r = await run(true);
  assert.equal(r.revocations, 0);
  assert.equal(r.unauthorized, 0);
  assert.equal(r.failed, 0);
  assert.ok(r.rotations >= 3, `tokens kept rotating (${r.rotations})`);
});

test("Node, crossTab off: storage alone (figures only; see the README)", async () => {
  const r = await run(false);
  assert.ok(r.refreshRequests >= 3, `the clients refreshed (${r.refreshRequests})`);
});

// Client A's refresh is answered, stored and posted; client B signs out in that same task, before
// A's message reaches it. B must stay signed out, A must follow, and storage must end empty: B
// once adopted A's late session and wrote it back (a sign-out undone by a refresh in flight).
test("Node, crossTab on: a refresh answered just before another client's signOut does not bring the session back", async () => {
  const s = await dev.mint({ ttlSeconds: 60 });
  const storage = kv();
  const storageKey = "node-tabs-signout-race";
  const a = new RefreshClient({ baseUrl: dev.base, storage, storageKey, crossTab: true, refreshToken: s.refreshToken, accessToken: s.accessToken });
  await a.getAccessToken();
  const b = new RefreshClient({ baseUrl: dev.base, storage, storageKey, crossTab: true });
  // Disposed whatever happens: an open channel would keep the test process alive.
  try {
    assert.ok(await b.getAccessToken(), "B loaded the session from storage");
    const signedOut = { a: [], b: [] };
    a.on("signedOut", (e) => signedOut.a.push(e.reason));
    b.on("signedOut", (e) => signedOut.b.push(e.reason));
    let bSignOut;
    a.on("refreshed", () => (bSignOut ??= b.signOut()));
    await a.refresh();
    await bSignOut;
    // A's "session" message and B's "signedOut" message are both delivered by now.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(signedOut, { a: ["otherTab"], b: ["signOut"] });
    assert.ok(b.session === null, "B stays signed out");
    assert.ok(a.session === null, "A follows B's sign-out");
    assert.ok((await storage.get(storageKey)) === null, "nothing written back");
    assert.equal(await b.getAccessToken(), null, "and B does not load it again");
  } finally {
    a.dispose();
    b.dispose();
  }
});
