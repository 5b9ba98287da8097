// DPoP (RFC 9449), the client half: the exported building blocks checked by jose and beside the
// `dpop` npm package; refresh() and RefreshClient against node-oidc-provider with its DPoP feature
// and server nonces on (sign-in with code + PKCE + DPoP, refresh-token binding, userinfo with
// DPoP-bound access tokens), in Node and in headless Chromium (the key pair in IndexedDB).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import * as jose from "jose";
import * as dpopPackage from "dpop";
import * as lib from "../../pkg/node.js";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd, launchChromium, outcome } from "./harness.mjs";
import { startOidcProvider, SPA_CLIENT } from "../server/oidc.mjs";
import { check } from "./client-scenarios.mjs";

let as, dev, browser;
before(async () => {
  as = await startOidcProvider();
  as.state.dpopNonce = true;
});
after(async () => {
  await browser?.close();
  await dev?.close();
  await as?.close();
});

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (text) => b64url(crypto.createHash("sha256").update(text).digest());
const spa = () => ({ protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: SPA_CLIENT });
/** node-oidc-provider's sign-in, its token request proven by `keyPair`. */
const signInWith = (keyPair) => as.signIn(SPA_CLIENT, { dpop: (method, url, nonce) => lib.createDpopProof(keyPair, { method, url, nonce: nonce ?? undefined }) });
/** fetch that records what went out and what came back. */
function recordingFetch() {
  const seen = [];
  const f = async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    seen.push({ url: request.url, authorization: request.headers.get("authorization"), dpop: request.headers.get("dpop"), status: response.status, nonce: response.headers.get("dpop-nonce") });
    return response;
  };
  return { fetch: f, seen };
}

test("dpop: the building blocks make RFC 9449 proofs that jose verifies, shaped like the dpop package's", async () => {
  const keyPair = await lib.createDpopKeyPair();
  assert.equal(keyPair.privateKey.extractable, false);
  assert.deepEqual([keyPair.privateKey.algorithm.name, keyPair.privateKey.algorithm.namedCurve], ["ECDSA", "P-256"]);
  const accessToken = "at-" + crypto.randomBytes(20).toString("hex");
  const url = "HTTPS://API.Example:443/v1/things?q=1#frag";
  const proof = await lib.createDpopProof(keyPair, { method: "POST", url, accessToken, nonce: "n0nce-1" });
  const { payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: "dpop+jwt", algorithms: ["ES256"] });
  assert.deepEqual(Object.keys(protectedHeader.jwk).sort(), ["crv", "kty", "x", "y"]);
  assert.equal(protectedHeader.alg, "ES256");
  assert.equal(payload.htm, "POST");
  assert.equal(payload.htu, "https://api.example/v1/things");
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 5);
  assert.ok(Buffer.from(payload.jti, "base64url").length * 8 >= 96);
  assert.equal(payload.ath, sha256(accessToken));
  assert.equal(payload.nonce, "n0nce-1");
  assert.equal(await lib.dpopThumbprint(keyPair), await jose.calculateJwkThumbprint(protectedHeader.jwk));

  // The dpop package (panva) with the same key and request: the same claims, the same jwk.
  const theirs = jose.decodeJwt(await dpopPackage.generateProof(keyPair, "https://api.example/v1/things", "POST", "n0nce-1", accessToken));
  assert.deepEqual(Object.keys(theirs).sort(), Object.keys(payload).sort());
  assert.equal(theirs.ath, payload.ath);
  assert.deepEqual(jose.decodeProtectedHeader(await dpopPackage.generateProof(keyPair, url, "GET")).jwk, protectedHeader.jwk);

  const fresh = jose.decodeJwt(await lib.createDpopProof(keyPair, { method: "GET", url: "http://127.0.0.1:9/x" }));
  assert.equal(fresh.ath, undefined);
  assert.equal(fresh.nonce, undefined);
  assert.notEqual(fresh.jti, payload.jti);

  const ed = await crypto.webcrypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  for (const bad of [null, {}, ed]) {
    const r = await outcome(lib.createDpopProof(bad, { method: "GET", url: "https://a.example/" }));
    assert.equal(r.code, "invalid_argument", String(r.message));
  }
  for (const request of [{ method: "GET" }, { method: "G ET", url: "https://a.example/" }, { method: "GET", url: "ftp://a.example/" }, { method: "GET", url: "https://a.example/", nonce: "bad nonce" }]) {
    assert.equal((await outcome(lib.createDpopProof(keyPair, request))).code, "invalid_argument", JSON.stringify(request));
  }
});

test("dpop: refresh() against node-oidc-provider: the nonce retry inside the call, DPoP-bound tokens, another key refused", async () => {
  const keyPair = await lib.createDpopKeyPair();
  const tokens = await signInWith(keyPair);
  assert.equal(tokens.token_type, "DPoP");
  const { fetch, seen } = recordingFetch();
  const r = await lib.refresh(tokens.refresh_token, { ...spa(), dpop: keyPair, fetch });
  assert.equal(r.tokenType, "DPoP");
  assert.equal(r.claims.cnf.jkt, await lib.dpopThumbprint(keyPair));
  assert.deepEqual(seen.map((s) => s.status), [400, 200], "use_dpop_nonce, then the retry with the nonce");
  assert.equal(jose.decodeJwt(seen[1].dpop).nonce, seen[0].nonce);
  assert.equal(r.dpopNonce, seen[0].nonce);

  // With the nonce given, one request.
  const again = recordingFetch();
  const r2 = await lib.refresh(r.refreshToken, { ...spa(), dpop: keyPair, dpopNonce: r.dpopNonce, fetch: again.fetch });
  assert.deepEqual(again.seen.map((s) => s.status), [200]);
  assert.equal(r2.tokenType, "DPoP");

  // The public client's refresh token is bound to the key: another key cannot use it.
  const thief = await lib.createDpopKeyPair();
  const stolen = await outcome(lib.refresh(r2.refreshToken, { ...spa(), dpop: thief, dpopNonce: r2.dpopNonce }));
  assert.equal(stolen.ok, false);
  const bearer = await outcome(lib.refresh(r2.refreshToken, spa()));
  assert.equal(bearer.ok, false, "nor can a request without a proof");

  assert.equal((await outcome(lib.refresh("x", { ...spa(), dpop: {} }))).code, "invalid_argument");
  assert.equal((await outcome(lib.refresh("x", { ...spa(), dpopNonce: "n" }))).code, "invalid_argument");
});

test("dpop: invalid_dpop_proof is dpop_error (the session stays); use_dpop_nonce is retried once, never in a loop", async () => {
  let mode = "invalid";
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers.dpop ? jose.decodeJwt(req.headers.dpop) : null);
    const error = mode === "invalid" ? "invalid_dpop_proof" : "use_dpop_nonce";
    res.writeHead(400, { "content-type": "application/json", "dpop-nonce": `nonce-${requests.length}` });
    res.end(JSON.stringify({ error, error_description: "no" }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const baseUrl = `http://127.0.0.1:${server.address().port}/api/v1`;
  try {
    const keyPair = await lib.createDpopKeyPair();
    for (const options of [{ baseUrl }, { protocol: "oauth2", tokenUrl: `${baseUrl}/token`, clientId: "c" }]) {
      mode = "invalid";
      requests.length = 0;
      const e = await outcome(lib.refresh("rt", { ...options, dpop: keyPair }));
      assert.deepEqual([e.code, e.retryable, e.status, e.error.serverError], ["dpop_error", false, 400, "invalid_dpop_proof"]);
      assert.equal(requests.length, 1);
      assert.equal(requests[0].htm, "POST");

      mode = "nonce";
      requests.length = 0;
      const n = await outcome(lib.refresh("rt", { ...options, dpop: keyPair }));
      assert.equal(n.code, "dpop_error");
      assert.deepEqual(requests.map((p) => p.nonce), [undefined, "nonce-1"], "one retry, with the nonce");
    }

    mode = "invalid";
    const client = new lib.RefreshClient({ baseUrl, refreshToken: "rt", dpop: true, autoRefresh: false, retry: { maxAttempts: 1 } });
    const ended = [];
    client.on("signedOut", (d) => ended.push(d.reason));
    assert.equal((await outcome(client.refresh())).code, "dpop_error");
    assert.notEqual(client.session, null, "a refused proof does not end the session");
    assert.deepEqual(ended, []);
    client.dispose();
  } finally {
    await new Promise((r) => server.close(r));
  }
});

/** A DPoP resource server that demands its current nonce (or never accepts: `never()`). */
async function nonceResourceServer() {
  let generation = 1;
  let refuse = false;
  const server = http.createServer((req, res) => {
    const proof = req.headers.dpop ? jose.decodeJwt(req.headers.dpop) : {};
    const token = /^DPoP (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const nonce = `rs-nonce-${generation}`;
    if (!token || proof.ath !== sha256(token)) {
      res.writeHead(401, { "www-authenticate": 'DPoP error="invalid_token"' });
      return res.end();
    }
    if (refuse || proof.nonce !== nonce) {
      res.writeHead(401, { "www-authenticate": 'DPoP algs="ES256", error="use_dpop_nonce", error_description="nonce"', "dpop-nonce": refuse ? `rs-x-${Math.random()}`.replace(".", "") : nonce });
      return res.end();
    }
    res.end("ok");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/thing`,
    rotate: () => void generation++,
    never: () => void (refuse = true),
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

/** A key store the test can look into. */
function mapStore() {
  const map = new Map();
  return { map, get: async (name) => map.get(name), set: (name, keyPair) => void map.set(name, keyPair), delete: (name) => void map.delete(name) };
}

test("dpop: RefreshClient in Node: sign-in with its key, refresh, authFetch at userinfo (resource nonce), signOut deletes the key", async () => {
  as.state.resource = false; // tokens for the userinfo endpoint
  try {
    const store = mapStore();
    const { fetch, seen } = recordingFetch();
    const client = new lib.RefreshClient({ ...spa(), dpop: { keyStore: store }, storageKey: "dpop-node", autoRefresh: false, fetch });
    assert.equal(client.dpopThumbprint, null);
    const first = await client.dpopHeaders("POST", as.tokenUrl);
    assert.equal(first.Authorization, undefined, "signed out: a proof only");
    const keyPair = store.map.get("dpop-node");
    assert.equal(keyPair.privateKey.extractable, false);
    const jkt = client.dpopThumbprint;
    assert.equal(jkt, await lib.dpopThumbprint(keyPair));
    assert.equal(jose.decodeProtectedHeader(first.DPoP).jwk.x, (await crypto.webcrypto.subtle.exportKey("jwk", keyPair.publicKey)).x);

    const tokens = await signInWith(keyPair);
    await client.setSession({ refreshToken: tokens.refresh_token });
    await client.refresh();
    const refreshes = seen.length;
    const at = await client.getAccessToken();

    assert.deepEqual(seen.map((s) => s.status), [400, 200], "use_dpop_nonce, then the retry");
    assert.equal(refreshes, 2);

    seen.length = 0;
    const me = await client.authFetch(as.userinfoUrl);
    assert.equal(me.status, 200);
    assert.equal((await me.json()).sub, "user-1");
    assert.equal(seen.length, 1, "the origin's nonce (from the token endpoint) is sent along");
    check.equal(seen[0].authorization, `DPoP ${at}`);
    assert.equal(jose.decodeJwt(seen[0].dpop).ath, sha256(at));

    // A resource server of its own origin that asks for a nonce: one retry, then the nonce is kept.
    const rs = await nonceResourceServer();
    try {
      seen.length = 0;
      assert.equal((await client.authFetch(rs.url)).status, 200);
      assert.deepEqual(seen.map((s) => s.status), [401, 200]);
      assert.notEqual(seen[0].dpop, seen[1].dpop, "a fresh proof per send");
      assert.equal(jose.decodeJwt(seen[1].dpop).nonce, "rs-nonce-1");
      seen.length = 0;
      assert.equal((await client.authFetch(rs.url)).status, 200);
      assert.deepEqual(seen.map((s) => s.status), [200], "kept per origin");
      rs.rotate();
      seen.length = 0;
      const rotated = await client.authFetch(rs.url);
      assert.equal(rotated.status, 200, "a new nonce: one retry again");
      assert.deepEqual(seen.map((s) => s.status), [401, 200]);
      assert.equal(seen.filter((s) => s.url === as.tokenUrl).length, 0, "no refresh for a nonce 401 that the retry answered");
      rs.never();
      seen.length = 0;
      assert.equal((await client.authFetch(rs.url)).status, 401, "a server that keeps asking gets its 401 back");
      // Bounded: the nonce retry is not the 401-refresh retry, so each of the two sends may
      // spend one; nothing more.
      assert.equal(seen.filter((s) => s.url === rs.url).length, 4);
    } finally {
      await rs.close();
    }

    const headers = await client.dpopHeaders("GET", as.userinfoUrl);
    check.equal(headers.Authorization, `DPoP ${await client.getAccessToken()}`);
    const direct = await globalThis.fetch(as.userinfoUrl, { headers });
    assert.equal(direct.status, 200);

    await client.signOut();
    assert.equal(store.map.size, 0, "signOut deletes the key");
    assert.equal(client.dpopThumbprint, null);
    await client.dpopHeaders("POST", as.tokenUrl);
    assert.notEqual(client.dpopThumbprint, jkt, "a new session gets a new key");
    client.dispose();
  } finally {
    as.state.resource = true;
  }
});

test("dpop: RefreshClient whose refresh token is refused deletes its key", async () => {
  const store = mapStore();
  const client = new lib.RefreshClient({ ...spa(), dpop: { keyStore: store }, storageKey: "dpop-revoked", autoRefresh: false });
  await client.dpopHeaders("POST", as.tokenUrl);
  const tokens = await signInWith(store.map.get("dpop-revoked"));
  await as.revoke(tokens.refresh_token);
  const ended = [];
  client.on("signedOut", (d) => ended.push(d.reason));
  await client.setSession({ refreshToken: tokens.refresh_token });
  assert.equal((await outcome(client.refresh())).code, "invalid_refresh_token");
  assert.deepEqual(ended, ["invalid_refresh_token"]);
  assert.equal(store.map.size, 0, "the ended session's key is deleted");
  assert.equal(client.dpopThumbprint, null);
  client.dispose();
});

test("dpop: bad dpop options are invalid_argument", () => {
  for (const dpop of [{ keyStore: {} }, { other: 1 }, "yes", 7]) {
    assert.throws(() => new lib.RefreshClient({ dpop }), (e) => e.code === "invalid_argument", JSON.stringify(dpop));
  }
});

test("dpop chromium: the key pair in IndexedDB (shared by clients and a worker, non-extractable), refresh and authFetch at node-oidc-provider", async () => {
  dev = await startDevServer({ static: true });
  browser = await launchChromium();
  const page = await browser.context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`http://localhost:${dev.port}/tests/js/runner.html`);
  await page.waitForFunction(() => window.ready === true);
  as.state.resource = false;
  try {
    const options = { ...spa(), storageKey: "dpop-page", autoRefresh: false };
    const made = await page.evaluate(async (options) => {
      const lib = await import("/pkg/web.js");
      const a = new lib.RefreshClient({ ...options, dpop: true });
      await a.dpopHeaders("POST", options.tokenUrl);
      const b = new lib.RefreshClient({ ...options, dpop: true });
      await b.dpopHeaders("POST", options.tokenUrl);
      const stored = await new Promise((resolve, reject) => {
        const open = indexedDB.open("ida-refresh.dpop");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const get = open.result.transaction("keys").objectStore("keys").get(options.storageKey);
          get.onsuccess = () => resolve(get.result);
        };
      });
      const jwk = await crypto.subtle.exportKey("jwk", stored.publicKey);
      window.pageClient = a;
      b.dispose();
      return { a: a.dpopThumbprint, b: b.dpopThumbprint, stored: await lib.dpopThumbprint(stored), extractable: stored.privateKey.extractable, jwk };
    }, options);
    assert.equal(made.a, made.b, "tabs share one key");
    assert.equal(made.a, made.stored);
    assert.equal(made.extractable, false);

    // A dedicated worker of the same origin (no window there) reads the same key from IndexedDB.
    const inWorker = await page.evaluate(async (options) => {
      const source = `
        import init, * as lib from "${location.origin}/pkg/web.js";
        onmessage = async ({ data }) => {
          try {
            await init();
            const c = new lib.RefreshClient({ ...data, dpop: true });
            await c.dpopHeaders("POST", data.tokenUrl);
            postMessage(c.dpopThumbprint);
          } catch (e) {
            postMessage("error: " + e);
          }
        };`;
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })), { type: "module" });
      const answer = new Promise((resolve) => (worker.onmessage = (e) => resolve(e.data)));
      worker.postMessage(options);
      const thumbprint = await answer;
      worker.terminate();
      return thumbprint;
    }, options);
    assert.equal(inWorker, made.a, "a worker uses the page's key");

    // The page's key signs the sign-in here (a non-extractable key cannot leave the page): the
    // proofs are made in the page.
    const tokens = await as.signIn(SPA_CLIENT, { dpop: (method, url, nonce) => page.evaluate(async ([method, url, nonce]) => {
      const lib = await import("/pkg/web.js");
      const stored = await new Promise((resolve) => {
        indexedDB.open("ida-refresh.dpop").onsuccess = (e) => {
          e.target.result.transaction("keys").objectStore("keys").get("dpop-page").onsuccess = (g) => resolve(g.target.result);
        };
      });
      return lib.createDpopProof(stored, { method, url, nonce: nonce ?? undefined });
    }, [method, url, nonce ?? null]) });
    const result = await page.evaluate(async ([refreshToken, userinfo, tokenUrl]) => {
      const lib = await import("/pkg/web.js");
      const client = window.pageClient;
      await client.setSession({ refreshToken });
      const session = await client.refresh();
      const me = await client.authFetch(userinfo);
      const body = await me.json();
      const again = await client.authFetch(userinfo);
      const other = await lib.createDpopKeyPair();
      const stolen = await lib.refresh(session.refreshToken, { protocol: "oauth2", tokenUrl, clientId: "spa", dpop: other }).then(() => "accepted", (e) => e.code);
      return { status: me.status, sub: body.sub, again: again.status, stolen, thumbprint: client.dpopThumbprint };
    }, [tokens.refresh_token, as.userinfoUrl, as.tokenUrl]);
    assert.deepEqual([result.status, result.sub, result.again], [200, "user-1", 200]);
    assert.notEqual(result.stolen, "accepted", "a refresh with another key fails");
    assert.equal(result.thumbprint, made.a);
    assert.deepEqual(problems, []);
  } finally {
    as.state.resource = true;
  }
});

test("dpop: the dev server binds a DPoP session to the key: refresh and /me need its proofs; nonces on demand", async () => {
  const server = await startDevServer();
  try {
    const baseUrl = `http://localhost:${server.port}/api/v1`;
    for (const dpopNonce of [false, true]) {
      const store = mapStore();
      const client = new lib.RefreshClient({ baseUrl, dpop: { keyStore: store }, autoRefresh: false });
      const proof = await client.dpopHeaders("POST", `${baseUrl}/dev/session`);
      const created = await (await fetch(`${baseUrl}/dev/session`, { method: "POST", headers: { ...proof, "content-type": "application/json" }, body: JSON.stringify({ dpopNonce }) })).json();
      assert.equal(created.jkt, client.dpopThumbprint);
      await client.setSession({ refreshToken: created.refreshToken });
      const session = await client.refresh();
      assert.equal(session.claims.cnf.jkt, client.dpopThumbprint, "access tokens carry cnf.jkt");
      const me = await client.authFetch(`${baseUrl}/me`);
      assert.equal(me.status, 200);
      assert.equal((await me.json()).jkt, client.dpopThumbprint);
      const stats = await (await fetch(`${baseUrl}/dev/stats?family=${created.family}`)).json();
      assert.equal(stats.refreshRequests, dpopNonce ? 2 : 1, "with nonces on: use_dpop_nonce, then the retry");

      // The token as a Bearer token, or with another key's proof, is refused.
      const at = await client.getAccessToken();
      assert.equal((await fetch(`${baseUrl}/me`, { headers: { authorization: `Bearer ${at}` } })).status, 401);
      const thief = await lib.createDpopKeyPair();
      const stolenProof = await lib.createDpopProof(thief, { method: "GET", url: `${baseUrl}/me`, accessToken: at });
      assert.equal((await fetch(`${baseUrl}/me`, { headers: { authorization: `DPoP ${at}`, dpop: stolenProof } })).status, 401);
      const stolen = await outcome(lib.refresh(session.refreshToken, { baseUrl, dpop: thief }));
      // (With nonces on, the thief's first proof lacks the nonce: it is told to retry, then refused.)
      assert.deepEqual([stolen.code, stolen.error.serverError], ["dpop_error", "invalid_dpop_proof"]);
      assert.equal((await outcome(lib.refresh(session.refreshToken, { baseUrl }))).code, "dpop_error", "no proof: refused");
      const r = await lib.refresh(session.refreshToken, { baseUrl, dpop: store.map.get("ida-refresh.session") });
      assert.equal(r.tokenType, "DPoP");
      assert.equal(r.dpopNonce === null, !dpopNonce);
      client.dispose();

      // Tokens the app already holds, seeded with their type: the first authFetch says DPoP (no
      // refused Bearer call, no refresh to learn it); a type other than Bearer or DPoP is refused.
      const seeded = new lib.RefreshClient({ baseUrl, dpop: { keyStore: store }, autoRefresh: false });
      await seeded.setSession({ refreshToken: r.refreshToken, accessToken: r.accessToken, tokenType: r.tokenType });
      const before = (await (await fetch(`${baseUrl}/dev/stats?family=${created.family}`)).json()).refreshRequests;
      const seededMe = await seeded.authFetch(`${baseUrl}/me`);
      assert.equal(seededMe.status, 200);
      assert.equal((await (await fetch(`${baseUrl}/dev/stats?family=${created.family}`)).json()).refreshRequests, before, "no refresh");
      assert.equal((await outcome(seeded.setSession({ refreshToken: r.refreshToken, tokenType: "MAC" }))).code, "invalid_argument");
      assert.equal((await outcome(seeded.setSession({ tokenType: "DPoP" }))).code, "invalid_argument");
      seeded.dispose();
    }
  } finally {
    await server.close();
  }
});

test("dpop workerd: proofs, refresh() and RefreshClient (key in memory) against the dev server's DPoP sessions", async () => {
  const server = await startDevServer();
  const worker = await startWorkerd(path.join(ROOT, "tests/workerd/dpop-worker.js"));
  try {
    const out = await (await fetch(worker.url, { method: "POST", body: JSON.stringify({ base: `http://127.0.0.1:${server.port}/api/v1` }) })).json();
    assert.equal(out.error, undefined, out.message);
    assert.equal(out.bound, out.jkt);
    assert.equal(out.cnf, out.jkt);
    assert.deepEqual([out.tokenType, out.nonce, out.me], ["DPoP", "string", 200]);
    assert.equal(out.clientBound, out.clientJkt);
    assert.notEqual(out.clientJkt, out.jkt);
  } finally {
    await worker.stop();
    await server.close();
  }
});
