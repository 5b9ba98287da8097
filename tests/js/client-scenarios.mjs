// RefreshClient behaviour, written once and run for real in two runtimes against the dev
// server: Node (tests/js/client.test.mjs) and a headless Chromium page
// (tests/js/client-browser.test.mjs). Plain ES module, no Node APIs.

export function devClient(base) {
  const post = async (p, body) => {
    const r = await fetch(base + p, { method: "POST", body: JSON.stringify(body ?? {}) });
    if (!r.ok) throw new Error(`dev server ${p}: HTTP ${r.status}`);
    return r.json();
  };
  return {
    base,
    mint: (opts) => post("/dev/session", opts),
    queue: (family, faults) => post("/dev/faults", { family, faults }),
    sticky: (family, fault) => post("/dev/faults", { family, sticky: fault }),
    revoke: (family) => post("/dev/revoke", { family }),
    revokeAccess: (family) => post("/dev/revoke-access", { family }),
    stats: (family) => fetch(`${base}/dev/stats${family ? `?family=${family}` : ""}`).then((r) => r.json()),
    requests: (family) => fetch(`${base}/dev/stats?family=${family}`).then((r) => r.json()).then((s) => s.refreshRequests),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const shown = (v) => (typeof v === "string" && v.length > 16 ? `<${v.length}-char string>` : JSON.stringify(v));

/** Assertions that never print a token (the scenarios also run in a browser page). */
export const check = {
  ok(value, message) {
    if (!value) throw new Error(`assertion failed: ${message}`);
  },
  // Long strings are tokens: failures show their length, never their value (the Node tests
  // compare tokens with these too).
  equal(actual, expected, message = "not equal") {
    if (!Object.is(actual, expected)) throw new Error(`${message}: expected ${shown(expected)}, got ${shown(actual)}`);
  },
  notEqual(actual, other, message = "equal") {
    if (Object.is(actual, other)) throw new Error(`${message}: both are ${shown(actual)}`);
  },
  async rejects(promise, code, message) {
    try {
      await promise;
    } catch (e) {
      if (e?.name !== "RefreshError" || !(e instanceof Error)) throw new Error(`${message}: not a RefreshError: ${e}`);
      if (e.code !== code) throw new Error(`${message}: expected code ${code}, got ${e.code} (${e.message})`);
      return e;
    }
    throw new Error(`${message}: expected a ${code} rejection, got success`);
  },
};

/** A storage adapter over a Map that records calls; `mode` "sync", "async" or "throw". */
export function mapStorage(mode = "sync", names = ["get", "set", "remove"]) {
  const map = new Map();
  const log = [];
  const wrap = (fn) => (...args) => {
    log.push(args[0]);
    if (mode === "throw") throw new Error("QuotaExceededError (test)");
    const v = fn(...args);
    return mode === "async" ? sleep(5).then(() => v) : v;
  };
  return {
    map,
    log,
    adapter: {
      [names[0]]: wrap((k) => map.get(k) ?? null),
      [names[1]]: wrap((k, v) => void map.set(k, v)),
      [names[2]]: wrap((k) => void map.delete(k)),
    },
  };
}

function events(client) {
  const seen = { refreshed: [], signedOut: [], error: [] };
  for (const name of Object.keys(seen)) client.on(name, (d) => seen[name].push(d));
  return seen;
}

/** Polls `predicate` (sync or async) until it holds; fails after `ms`. */
export async function waitFor(predicate, ms, message) {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${message}`);
    await sleep(20);
  }
}

/** For "nothing happens" checks: resolves once a witness client, seeded with a token of
 *  `ttlSeconds`, has refreshed on its own timer. A client under test that was going to send
 *  something on a timer of that length (or shorter) has had its chance by then. */
async function witnessRefresh(lib, dev, ttlSeconds, message) {
  const w = await dev.mint({ ttlSeconds });
  const witness = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: w.refreshToken, accessToken: w.accessToken, crossTab: false });
  const seen = events(witness);
  try {
    await waitFor(() => seen.refreshed.length > 0, ttlSeconds * 1000 + 3_000, `the witness's refresh (${message})`);
  } finally {
    witness.dispose();
  }
}

// Each scenario gets { lib, dev, runtime } and throws on failure.
export const scenarios = {
  async "single flight: 1000 concurrent callers send one request"({ lib, dev }) {
    const s = await dev.mint();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false });
    const calls = [];
    for (let i = 0; i < 1000; i++) {
      calls.push(i % 3 === 0 ? client.refresh().then((x) => x.accessToken) : i % 3 === 1 ? client.getAccessToken() : client.authFetch(`${dev.base}/echo`).then((r) => r.json()).then((j) => j.authorization.slice(7)));
    }
    const tokens = await Promise.all(calls);
    check.equal(new Set(tokens).size, 1, "every caller got the same token");
    check.equal(await dev.requests(s.family), 1, "refresh requests sent");
    client.dispose();
  },

  async "proactive refresh happens before expiry without any call"({ lib, dev }) {
    const s = await dev.mint({ ttlSeconds: 2 });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken });
    const seen = events(client);
    const first = client.session.accessToken;
    check.equal(first, s.accessToken, "seeded");
    await waitFor(() => seen.refreshed.length > 0, 3_000, "a refreshed event");
    const payload = JSON.parse(atob(s.accessToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    check.ok(Date.now() < payload.exp * 1000, "refreshed before the old token expired");
    check.ok(client.session.accessToken !== first, "a new access token");
    check.ok(client.session.expiresAt > Date.now() + 1_000, "a fresh expiry");
    check.equal(seen.refreshed[0].accessToken, client.session.accessToken, "the event carries the session");
    check.equal(await dev.requests(s.family), 1, "exactly one refresh");
    client.dispose();
  },

  async "an access token expired at start refreshes at once"({ lib, dev }) {
    // The server's clock is a minute behind: its 30 s tokens have expired by ours on arrival.
    const s = await dev.mint({ ttlSeconds: 30, clockOffsetMs: -60_000 });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken });
    const t0 = Date.now();
    await waitFor(() => client.session.accessToken !== s.accessToken, 1_500, "an immediate refresh");
    check.ok(Date.now() - t0 < 1_000, "at once, not on the next interval");
    check.equal(await client.getAccessToken(), client.session.accessToken, "the new token is served");
    check.equal(await dev.requests(s.family), 1, "one refresh: the new token is valid by the Date header");
    client.dispose();
  },

  async "a session with no expiry refreshes only on demand"({ lib, dev }) {
    const s = await dev.mint({ format: "noexpiry" });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: "opaque-seed" });
    await witnessRefresh(lib, dev, 1, "a timer would have fired");
    check.equal(await client.getAccessToken(), "opaque-seed", "served without a request");
    check.equal(await dev.requests(s.family), 0, "no request without demand");
    const session = await client.refresh();
    check.equal(session.expiresAt, null, "still no expiry");
    check.ok(session.accessToken.startsWith("at_"), "new opaque token");
    check.equal(await dev.requests(s.family), 1, "one explicit refresh");
    client.dispose();
  },

  async "clock skew of hours: refreshes on time and never storms"({ lib, dev }) {
    for (const offset of [3 * 3600_000, -3 * 3600_000]) {
      const s = await dev.mint({ ttlSeconds: 4, clockOffsetMs: offset });
      const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken });
      const seen = events(client);
      await client.refresh();
      const t0 = Date.now();
      await waitFor(() => seen.refreshed.length >= 2, 5_000, `a proactive refresh with skew ${offset}`);
      const after = Date.now() - t0;
      // 4 s tokens: due 0.8 s before expiry, at most 1 s earlier for the second-resolution clock estimate.
      check.ok(after > 1_500 && after < 4_000, `proactive refresh ${after} ms after the first (skew ${offset})`);
      check.ok((await dev.requests(s.family)) <= 3, `no storm (skew ${offset})`);
      client.dispose();
    }
  },

  async "transient failures are retried with backoff"({ lib, dev }) {
    const s = await dev.mint();
    await dev.queue(s.family, [{ status: 503 }, { reset: true }]);
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false, retry: { baseDelayMs: 20 } });
    const seen = events(client);
    const session = await client.refresh();
    check.ok(session.accessToken, "succeeded on the third attempt");
    check.equal(await dev.requests(s.family), 3, "three attempts");
    check.equal(seen.error.length, 0, "no error event for a series that succeeded");
    client.dispose();
  },

  async "Retry-After is honoured, and one beyond maxDelayMs ends the series into a cooldown"({ lib, dev }) {
    const s = await dev.mint();
    await dev.queue(s.family, [{ status: 429, retryAfter: 1 }]);
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false, retry: { baseDelayMs: 1, maxDelayMs: 2_000 } });
    const seen = events(client);
    const t0 = Date.now();
    await client.refresh();
    check.ok(Date.now() - t0 >= 950, `waited for Retry-After (${Date.now() - t0} ms)`);
    check.equal(await dev.requests(s.family), 2, "two attempts");

    await dev.queue(s.family, [{ status: 429, retryAfter: 5 }]);
    const e = await check.rejects(client.refresh(), "rate_limited", "Retry-After 5 s > maxDelayMs 2 s");
    check.equal(e.retryAfterMs, 5_000, "retryAfterMs");
    check.equal(await dev.requests(s.family), 3, "no retry");
    check.equal(seen.error.length, 1, "one error event");
    const t1 = Date.now();
    await check.rejects(client.refresh(), "rate_limited", "cooldown: the last error at once");
    check.ok(Date.now() - t1 < 100, "at once");
    check.equal(await dev.requests(s.family), 3, "nothing sent in the cooldown");
    await client.setSession({ refreshToken: client.session.refreshToken });
    await client.refresh();
    check.equal(await dev.requests(s.family), 4, "setSession ended the cooldown");
    client.dispose();
  },

  async "an absurd Retry-After cools down for at most retry.maxCooldownMs"({ lib, dev }) {
    const s = await dev.mint();
    await dev.queue(s.family, [{ status: 429, retryAfter: 99999999 }]);
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false, retry: { maxAttempts: 1, cooldownMs: 0, maxCooldownMs: 300 } });
    const e = await check.rejects(client.refresh(), "rate_limited", "429");
    check.equal(e.retryAfterMs, 99_999_999_000, "retryAfterMs as sent");
    await check.rejects(client.refresh(), "rate_limited", "cooling down");
    check.equal(await dev.requests(s.family), 1, "nothing sent in the cooldown");
    // Without the cap this cooldown would last about 3 years.
    await waitFor(() => client.refresh().then(() => true, () => false), 3_000, "a refresh once maxCooldownMs has passed");
    check.equal(await dev.requests(s.family), 2, "one request after the cooldown");
    client.dispose();
  },

  async "a failed series keeps the session and serves a still-valid token"({ lib, dev }) {
    const s = await dev.mint({ ttlSeconds: 60 });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, autoRefresh: false, retry: { maxAttempts: 3, baseDelayMs: 5, cooldownMs: 60_000 } });
    const seen = events(client);
    await dev.sticky(s.family, { status: 500 });
    await check.rejects(client.refresh(), "server_error", "after 3 attempts");
    check.equal(await dev.requests(s.family), 3, "maxAttempts counts the first");
    check.equal(seen.error.length, 1, "an error event");
    check.equal(seen.error[0].code, "server_error", "error event carries the RefreshError");
    check.ok(seen.error[0] instanceof lib.RefreshError, "error event is a RefreshError");
    check.equal(seen.signedOut.length, 0, "not signed out");
    check.equal(await client.getAccessToken(), s.accessToken, "the valid token is still served");
    await check.rejects(client.refresh(), "server_error", "cooldown");
    check.equal(await dev.requests(s.family), 3, "nothing sent in the cooldown");
    await dev.sticky(s.family, null);
    client.dispose();
  },

  async "a refused refresh token ends the session only when the access token expires"({ lib, dev }) {
    const s = await dev.mint({ ttlSeconds: 2 });
    const storage = mapStorage();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, storage: storage.adapter, autoRefresh: false });
    const seen = events(client);
    await dev.revoke(s.family);
    await check.rejects(client.refresh(), "invalid_refresh_token", "revoked");
    check.ok(client.session, "session kept while the access token is valid");
    check.equal(await client.getAccessToken(), s.accessToken, "still served");
    const sent = await dev.requests(s.family);
    await check.rejects(client.refresh(), "invalid_refresh_token", "again");
    check.equal(await dev.requests(s.family), sent, "further refreshes reject without a request");
    await waitFor(() => seen.signedOut.length === 1, 3_500, "signedOut once the access token expired");
    check.equal(seen.signedOut[0].reason, "invalid_refresh_token", "reason");
    check.equal(client.session === null, true, "session gone");
    check.equal(storage.map.size, 0, "storage cleared");
    check.equal(await client.getAccessToken(), null, "signed out");
    client.dispose();
  },

  async "a refused refresh token with an expired access token signs out at once"({ lib, dev }) {
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: "rt_unknown", autoRefresh: false });
    const seen = events(client);
    await check.rejects(client.refresh(), "invalid_refresh_token", "unknown token");
    check.equal(seen.signedOut[0]?.reason, "invalid_refresh_token", "signedOut reason");
    check.equal(client.session === null, true, "no session");
    client.dispose();
  },

  async "rotation is stored at once, and a storage change during the request wins"({ lib, dev }) {
    const s = await dev.mint();
    const storage = mapStorage();
    const key = "ida-refresh.session";
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, storage: storage.adapter, autoRefresh: false });
    await waitFor(() => storage.map.has(key), 2_000, "the seed stored");
    check.ok(JSON.parse(storage.map.get(key)).refreshToken === s.refreshToken, "seed stored");
    const session = await client.refresh();
    check.equal(JSON.parse(storage.map.get(key)).refreshToken, session.refreshToken, "rotated token stored");
    check.ok(session.refreshToken !== s.refreshToken, "rotated");

    // Another tab rotates while our request is slow: its session is kept, ours dropped.
    const other = await dev.mint();
    await dev.queue(s.family, [{ delayMs: 300 }]);
    const pending = client.refresh();
    await waitFor(async () => (await dev.requests(s.family)) === 2, 2_000, "the slow request under way");
    const record = JSON.parse(storage.map.get(key));
    storage.map.set(key, JSON.stringify({ ...record, refreshToken: other.refreshToken, accessToken: other.accessToken, updatedAt: Date.now() }));
    const result = await pending;
    check.equal(result.refreshToken, other.refreshToken, "the other tab's session wins");
    check.equal(JSON.parse(storage.map.get(key)).refreshToken, other.refreshToken, "storage keeps it");
    client.dispose();
  },

  async "storage is re-read before a request: another tab's fresh tokens are used"({ lib, dev }) {
    const s = await dev.mint({ ttlSeconds: 60 });
    const storage = mapStorage();
    const a = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, storage: storage.adapter, autoRefresh: false, crossTab: false });
    const b = new lib.RefreshClient({ baseUrl: dev.base, storage: storage.adapter, autoRefresh: false, crossTab: false });
    await waitFor(() => storage.map.has("ida-refresh.session"), 2_000, "a's seed stored");
    const fromA = await a.refresh();
    const tokenB = await b.getAccessToken();
    check.equal(tokenB, fromA.accessToken, "b took a's tokens from storage");
    check.equal(await dev.requests(s.family), 1, "b sent nothing");
    a.dispose();
    b.dispose();
  },

  async "async (KV-shaped) storage: get/put/delete returning promises"({ lib, dev }) {
    const s = await dev.mint();
    const storage = mapStorage("async", ["get", "put", "delete"]);
    const first = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, storage: storage.adapter, autoRefresh: false });
    const session = await first.refresh();
    first.dispose();
    const second = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: "rt_ignored-seed", storage: storage.adapter, autoRefresh: false });
    check.equal(await second.getAccessToken(), session.accessToken, "loaded from async storage, seed ignored");
    check.equal(second.session.refreshToken, session.refreshToken, "stored refresh token");
    await second.signOut();
    check.equal(storage.map.size, 0, "delete() called");
    second.dispose();
  },

  async "a throwing storage falls back to memory and reports storage_error"({ lib, dev }) {
    const s = await dev.mint();
    const storage = mapStorage("throw");
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, storage: storage.adapter, autoRefresh: false });
    const seen = events(client);
    await waitFor(() => seen.error.length > 0, 2_000, "the storage error of the seed's write");
    const session = await client.refresh();
    check.ok(session.accessToken, "refresh works");
    check.ok(seen.error.length >= 1 && seen.error.every((e) => e.code === "storage_error"), "storage_error events");
    check.equal(client.session.refreshToken, session.refreshToken, "session in memory");
    client.dispose();
  },

  async "a corrupt stored session is discarded with an error and never throws"({ lib, dev }) {
    const s = await dev.mint();
    for (const junk of ["{not json", '{"v":1,"refreshToken":""}', "[]", '{"v":9}']) {
      const storage = mapStorage();
      storage.map.set("ida-refresh.session", junk);
      const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, storage: storage.adapter, autoRefresh: false });
      const seen = events(client);
      await waitFor(() => seen.error.length > 0, 2_000, `an error event for ${junk}`);
      check.equal(seen.error[0]?.code, "storage_error", `error for ${junk}`);
      check.ok(!seen.error[0].message.includes(s.refreshToken), "no token in the message");
      check.equal(client.session.refreshToken, s.refreshToken, "the seed is used instead");
      client.dispose();
    }
  },

  async "authFetch: bearer, one refresh and one replay on 401, never a loop"({ lib, dev }) {
    const s = await dev.mint();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken, autoRefresh: false });
    const ok = await client.authFetch(`${dev.base}/echo`).then((r) => r.json());
    check.equal(ok.authorization, `Bearer ${s.accessToken}`, "bearer added");
    check.equal(await dev.requests(s.family), 0, "no refresh needed");

    await dev.revokeAccess(s.family);
    const replayed = await client.authFetch(`${dev.base}/echo`, { method: "POST", body: "payload-1" });
    check.equal(replayed.status, 200, "retried after one refresh");
    const echoed = await replayed.json();
    check.equal(echoed.body, "payload-1", "the body was replayed");
    check.ok(echoed.authorization !== `Bearer ${s.accessToken}`, "with the new token");
    check.equal(await dev.requests(s.family), 1, "one refresh");

    const always = await client.authFetch(`${dev.base}/echo?always401=1`);
    check.equal(always.status, 401, "a second 401 is returned as it is");
    check.equal(await dev.requests(s.family), 2, "exactly one refresh for it");

    await client.signOut();
    const anon = await client.authFetch(`${dev.base}/echo?public=1`).then((r) => r.json());
    check.equal(anon.authorization, null, "signed out: no Authorization");
    client.dispose();
  },

  async "cookie mode: no access token, credentials included, refresh once on 401"({ lib, dev, runtime }) {
    const s = await dev.mint({ format: "cookie" });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, credentials: "include", autoRefresh: false });
    check.equal(await client.getAccessToken(), null, "cookie mode gives null");
    check.equal(await dev.requests(s.family), 1, "one refresh to learn the mode");
    check.equal(await client.getAccessToken(), null, "still null, no new request");
    check.equal(await dev.requests(s.family), 1, "no storm");
    const r = await client.authFetch(`${dev.base}/echo?public=1`).then((x) => x.json());
    check.equal(r.authorization, null, "no Authorization in cookie mode");
    if (runtime === "browser") check.ok(r.cookie, "the cookie was sent");
    const denied = await client.authFetch(`${dev.base}/echo?always401=1`);
    check.equal(denied.status, 401, "401 returned after one refresh");
    check.equal(await dev.requests(s.family), 2, "one refresh on 401");
    client.dispose();
  },

  async "setSession, seeds, signOut and events"({ lib, dev }) {
    const s1 = await dev.mint();
    const s2 = await dev.mint();
    const storage = mapStorage();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s1.refreshToken, storage: storage.adapter, autoRefresh: false });
    const seen = events(client);
    let thrown = 0;
    client.on("refreshed", () => { thrown++; throw new Error("a listener that throws"); });
    const off = client.on("refreshed", () => check.ok(false, "unsubscribed listener called"));
    off();
    await client.setSession({ refreshToken: s2.refreshToken, accessToken: s2.accessToken });
    check.equal(client.session.accessToken, s2.accessToken, "replaced");
    check.equal(JSON.parse(storage.map.get("ida-refresh.session")).refreshToken, s2.refreshToken, "stored");
    await client.refresh();
    check.equal(seen.refreshed.length, 1, "refreshed once despite a throwing listener");
    check.equal(thrown, 1, "the throwing listener ran");
    await client.signOut();
    check.equal(seen.signedOut[0]?.reason, "signOut", "reason signOut");
    check.equal(client.session === null, true, "no session");
    check.equal(storage.map.size, 0, "storage cleared");
    await check.rejects(client.setSession({ refreshToken: "" }), "invalid_argument", "empty refresh token");
    await check.rejects(client.refresh(), "invalid_argument", "refresh() without a session");
    client.dispose();
  },

  async "bad options throw invalid_argument naming the option"({ lib }) {
    const cases = [
      [{ storage: "indexedDB" }, "storage"],
      [{ storage: { get() {} } }, "storage"],
      [{ retry: { maxAttempts: 0 } }, "retry.maxAttempts"],
      [{ retry: { jitter: 1 } }, "retry.jitter"],
      [{ retry: { maxCooldownMs: -1 } }, "retry.maxCooldownMs"],
      [{ refreshMarginSeconds: -1 }, "refreshMarginSeconds"],
      [{ autoRefresh: "yes" }, "autoRefresh"],
      [{ accessToken: "at" }, "accessToken"],
      [{ unknownOption: 1 }, "unknownOption"],
      [{ timeoutMs: 0 }, "timeoutMs"],
    ];
    for (const [options, named] of cases) {
      let error;
      try {
        new lib.RefreshClient(options);
      } catch (e) {
        error = e;
      }
      check.ok(error instanceof lib.RefreshError, `${named}: throws a RefreshError`);
      check.equal(error.code, "invalid_argument", named);
      check.ok(error.message.includes(named), `${error.message} names ${named}`);
    }
  },

  async "a refresh answering an already expired access token cools down instead of storming"({ lib, dev }) {
    const s = await dev.mint();
    const b64 = (v) => btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
    const stale = `${b64({ alg: "HS256" })}.${b64({ sub: "u", exp: Math.floor(Date.now() / 1000) - 3600 })}.c2ln`;
    await dev.queue(s.family, [{ status: 200, body: { accessToken: stale, refreshToken: "rt_rotated-by-the-server", expiresIn: 60 } }]);
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken });
    const seen = events(client);
    await check.rejects(client.refresh(), "bad_response", "dead on arrival");
    check.equal(client.session.refreshToken, "rt_rotated-by-the-server", "the rotated refresh token is kept");
    await witnessRefresh(lib, dev, 1, "a storm would have sent more");
    check.equal(await dev.requests(s.family), 1, "no storm: the cooldown holds");
    check.equal(seen.error.length, 1, "one error event");
    client.dispose();
  },

  async "browser: the online event ends a cooldown"({ lib, dev, runtime }) {
    if (runtime !== "browser") return "skip";
    const s = await dev.mint();
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, autoRefresh: false, retry: { maxAttempts: 1, cooldownMs: 60_000 } });
    await dev.sticky(s.family, { status: 503 });
    await check.rejects(client.refresh(), "server_error", "the auth server is down");
    await check.rejects(client.refresh(), "server_error", "cooldown");
    check.equal(await dev.requests(s.family), 1, "one request");
    await dev.sticky(s.family, null);
    window.dispatchEvent(new Event("online"));
    const session = await client.refresh();
    check.ok(session.accessToken, "back online: refreshed at once");
    check.equal(await dev.requests(s.family), 2, "the cooldown ended");
    client.dispose();
  },

  async "browser: an OAuth 2.0 client secret is refused where a browser can see it"({ lib, runtime }) {
    if (runtime !== "browser") return "skip";
    const options = { protocol: "oauth2", tokenUrl: "https://as.example/token", clientId: "spa", clientSecret: "s3cret" };
    const e = await check.rejects(lib.refresh("rt", options), "invalid_argument", "refresh() with a secret");
    check.ok(e.message.includes("clientSecret") && !e.message.includes("s3cret"), e.message);
    let thrown;
    try {
      new lib.RefreshClient(options);
    } catch (err) {
      thrown = err;
    }
    check.equal(thrown?.code, "invalid_argument", "RefreshClient with a secret");
  },

  async "dispose stops every timer: nothing is sent afterwards"({ lib, dev }) {
    const s = await dev.mint({ ttlSeconds: 1 });
    const client = new lib.RefreshClient({ baseUrl: dev.base, refreshToken: s.refreshToken, accessToken: s.accessToken });
    client.dispose();
    await witnessRefresh(lib, dev, 1, "the disposed client's timer was due as early");
    check.equal(await dev.requests(s.family), 0, "no refresh after dispose");
    await check.rejects(client.getAccessToken(), "invalid_argument", "disposed");
  },
};
