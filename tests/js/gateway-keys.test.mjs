// AuthGateway v2 in real workerd: keys from a JWKS URL on a cold isolate (each scenario starts
// its own workerd), a JWKS endpoint that is slow, down or answers a decompression bomb, and
// CSRF rules for cookie-carried credentials.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import zlib from "node:zlib";
import { ROOT, startDevServer, startWorkerd, freePort } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

const SECRET = "gateway-keys-tests-hs256-secret-32b+";
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
const pairs = {
  RS256: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ES256: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  EdDSA: crypto.generateKeyPairSync("ed25519"),
};
const jwks = { keys: Object.entries(pairs).map(([alg, p]) => ({ ...p.publicKey.export({ format: "jwk" }), kid: `k-${alg}`, alg })) };

function sign(alg, { kid = `k-${alg}`, claims = {} } = {}) {
  const input = `${b64({ alg, typ: "JWT", kid })}.${b64({ sub: "u", iat: now(), exp: now() + 300, ...claims })}`;
  const data = Buffer.from(input);
  const sig = alg === "HS256" ? crypto.createHmac("sha256", SECRET).update(input).digest()
    : alg === "RS256" ? crypto.sign("sha256", data, pairs.RS256.privateKey)
    : alg === "ES256" ? crypto.sign("sha256", data, { key: pairs.ES256.privateKey, dsaEncoding: "ieee-p1363" })
    : crypto.sign(null, data, pairs.EdDSA.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}

// The origin: counts forwarded requests; serves the JWKS in several moods.
let jwksMode = { delayMs: 0 };
let jwksServed = 0;
let forwarded = 0;
const bomb = zlib.gzipSync(Buffer.from(`{"keys":[],"pad":"${"a".repeat(32 * 1024 * 1024)}"}`), { level: 9 });
const origin = http.createServer((req, res) => {
  if (req.url === "/jwks") {
    jwksServed++;
    const answer = () => {
      if (jwksMode.status) return res.writeHead(jwksMode.status).end("down");
      if (jwksMode.bomb) return res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip", "content-length": bomb.length }).end(bomb);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
    };
    return jwksMode.delayMs ? setTimeout(answer, jwksMode.delayMs) : answer();
  }
  forwarded++;
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url }));
});

let dev, originUrl;
before(async () => {
  dev = await startDevServer({ secret: SECRET });
  const port = await freePort();
  await new Promise((r) => origin.listen(port, "127.0.0.1", r));
  originUrl = `http://127.0.0.1:${port}`;
});
after(async () => {
  await dev?.close();
  await new Promise((r) => origin.close(r));
});

async function coldGateway(config = {}) {
  const plain = {
    baseUrl: dev.base,
    upstream: originUrl,
    keys: { hs256Secret: SECRET, jwksUrl: `${originUrl}/jwks` },
    algorithms: ["HS256", "RS256", "ES256", "EdDSA"],
    refreshTimeoutMs: 2_000,
    ...config,
  };
  return startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify({ plain }))})`],
  });
}

const burst = (worker, n, headers) => Promise.all(Array.from({ length: n }, () => fetch(`${worker.url}/x`, { headers })));

for (const alg of ["RS256", "ES256", "EdDSA"]) {
  test(`cold isolate, JWKS answering in 400 ms: 30 concurrent valid ${alg} requests -> 30 x 200, one JWKS fetch`, async () => {
    jwksMode = { delayMs: 400 };
    const worker = await coldGateway();
    try {
      const served = jwksServed;
      const token = sign(alg);
      const responses = await burst(worker, 30, { authorization: `Bearer ${token}` });
      const statuses = responses.map((r) => r.status);
      assert.deepEqual([...new Set(statuses)], [200], statuses.join(","));
      assert.equal(jwksServed - served, 1, "one JWKS fetch");
      const counts = await (await fetch(`${worker.url}/__counts`)).json();
      assert.equal(counts.jwksFetches, 1);
      console.log(`cold ${alg}: ${statuses.filter((s) => s === 200).length}/30 x 200, ${jwksServed - served} JWKS fetch`);
    } finally {
      await worker.stop();
    }
  });
}

for (const [name, mode] of [["down (500)", { status: 500 }], ["a gzip bomb (32 MiB inflated)", { bomb: true }], ["hanging past its timeout", { delayMs: 6_000 }]]) {
  test(`cold isolate, JWKS ${name}: every valid request 503 with Retry-After, origin not called; never 401`, async () => {
    jwksMode = mode;
    const worker = await coldGateway();
    try {
      const before = forwarded;
      const { wasmBytes: memoryBefore } = await (await fetch(`${worker.url}/__memory`)).json();
      const responses = await burst(worker, 10, { authorization: `Bearer ${sign("RS256")}` });
      for (const r of responses) {
        assert.equal(r.status, 503);
        assert.ok(Number(r.headers.get("retry-after")) >= 1, "Retry-After");
        assert.equal((await r.json()).error, "temporarily_unavailable");
      }
      assert.equal(forwarded, before, "origin not called");
      // HS256 tokens need no key set: still served.
      assert.equal((await fetch(`${worker.url}/x`, { headers: { authorization: `Bearer ${sign("HS256")}` } })).status, 200);
      if (mode.bomb) {
        const { wasmBytes } = await (await fetch(`${worker.url}/__memory`)).json();
        assert.ok(wasmBytes - memoryBefore < 1024 * 1024, `wasm memory grew by ${wasmBytes - memoryBefore} bytes`);
        console.log(`JWKS gzip bomb (${bomb.length} bytes on the wire, 32 MiB inflated): 503, wasm memory ${memoryBefore} -> ${wasmBytes} bytes`);
      }
      // The endpoint recovers: after the cold retry gap (1 s) the keys are fetched again.
      jwksMode = { delayMs: 0 };
      const recoveredBy = Date.now() + 5_000;
      while ((await fetch(`${worker.url}/x`, { headers: { authorization: `Bearer ${sign("RS256")}` } })).status !== 200) {
        assert.ok(Date.now() < recoveredBy, "recovered within 5 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await worker.stop();
    }
  });
}

test("a kid absent from a JWKS fetched successfully gets 401, and junk kids do not cause fetches", async () => {
  jwksMode = { delayMs: 0 };
  const worker = await coldGateway();
  try {
    assert.equal((await fetch(`${worker.url}/x`, { headers: { authorization: `Bearer ${sign("ES256")}` } })).status, 200);
    const served = jwksServed;
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${worker.url}/x`, { headers: { authorization: `Bearer ${sign("ES256", { kid: `junk-${i}` })}` } });
      assert.equal(r.status, 401);
    }
    assert.equal(jwksServed - served, 0, "inside the cooldown (30 s) no refetch");
  } finally {
    await worker.stop();
  }
});

test("CSRF: cookie-authenticated unsafe cross-site requests get 403 (no refresh, origin not called); Bearer and safe methods pass", async () => {
  jwksMode = { delayMs: 0 };
  const worker = await coldGateway({ allowedOrigins: ["https://admin.example"] });
  try {
    const token = sign("HS256");
    const s = await dev.mint({ ttlSeconds: 60 });
    const expired = sign("HS256", { claims: { iat: now() - 600, exp: now() - 300 } });
    const cookie = (at, rt) => [at && `__Host-ida-at=${at}`, rt && `__Host-ida-rt=${rt}`].filter(Boolean).join("; ");
    const call = (method, headers) => fetch(`${worker.url}/x`, { method, headers, body: method === "GET" || method === "HEAD" ? undefined : "{}" });
    const before = forwarded;
    const refused = [
      ["POST", { cookie: cookie(token), "sec-fetch-site": "cross-site" }],
      ["PUT", { cookie: cookie(token), origin: "https://evil.example" }],
      ["DELETE", { cookie: cookie(token), origin: "null" }],
      ["POST", { cookie: cookie(token), "sec-fetch-site": "same-site", origin: "https://other.example" }],
      ["POST", { cookie: cookie(expired, s.refreshToken), "sec-fetch-site": "cross-site" }],
      ["PATCH", { cookie: cookie(null, s.refreshToken), origin: "https://evil.example" }],
    ];
    const bodies = new Set();
    for (const [method, headers] of refused) {
      const r = await call(method, headers);
      assert.equal(r.status, 403, `${method} ${JSON.stringify(headers).slice(0, 80)}`);
      bodies.add(await r.text());
    }
    assert.equal(bodies.size, 1);
    assert.deepEqual(Object.keys(JSON.parse([...bodies][0])).sort(), ["error", "error_description"]);
    assert.equal(forwarded, before, "origin not called");
    assert.equal((await dev.stats(s.family)).refreshRequests, 0, "no refresh made");
    // An expired Bearer token would bring the refresh cookie into use: the cookie rule applies.
    const bearerExpired = await call("POST", { authorization: `Bearer ${expired}`, cookie: cookie(null, s.refreshToken), "sec-fetch-site": "cross-site" });
    assert.equal(bearerExpired.status, 403, "an expired Bearer token does not open the refresh cookie to a cross-site request");
    assert.equal((await dev.stats(s.family)).refreshRequests, 0, "no refresh made");
    const accepted = [
      ["POST", { authorization: `Bearer ${token}`, "sec-fetch-site": "cross-site", origin: "https://evil.example" }],
      ["POST", { authorization: `Bearer ${token}`, cookie: cookie(null, s.refreshToken), "sec-fetch-site": "cross-site", origin: "https://evil.example" }],
      ["GET", { cookie: cookie(token), "sec-fetch-site": "cross-site", origin: "https://evil.example" }],
      ["POST", { cookie: cookie(token), "sec-fetch-site": "same-origin", origin: worker.url }],
      ["POST", { cookie: cookie(token), "sec-fetch-site": "same-site", origin: "https://admin.example" }],
      ["POST", { cookie: cookie(token) }],
    ];
    for (const [method, headers] of accepted) {
      assert.equal((await call(method, headers)).status, 200, `${method} ${JSON.stringify(headers).slice(0, 80)}`);
    }
    assert.equal(forwarded, before + accepted.length);
    const bad = await fetch(`${worker.url}/__config-error`, { method: "POST", body: JSON.stringify({ baseUrl: dev.base, upstream: originUrl, keys: { hs256Secret: SECRET }, algorithms: ["HS256"], allowedOrigins: ["https://x.example/path"] }) });
    const out = await bad.json();
    assert.equal(out.code, "invalid_argument");
    assert.match(out.message, /allowedOrigins/);
  } finally {
    await worker.stop();
  }
});

for (const encoding of ["gzip", "br"]) {
  test(`a refresh response that inflates to 32 MiB (${encoding}): 503 with Retry-After, cookies kept, wasm memory grows < 1 MiB`, async () => {
    const worker = await coldGateway();
    try {
      const s = await dev.mint({ ttlSeconds: 60 });
      await dev.queue(s.family, [{ inflate: encoding, bytes: 32 * 1024 * 1024 }]);
      const { wasmBytes: memoryBefore } = await (await fetch(`${worker.url}/__memory`)).json();
      const before = forwarded;
      const r = await fetch(`${worker.url}/x`, { headers: { cookie: `__Host-ida-rt=${s.refreshToken}` } });
      assert.equal(r.status, 503);
      assert.ok(Number(r.headers.get("retry-after")) >= 1);
      assert.deepEqual(r.headers.getSetCookie(), [], "cookies kept");
      assert.equal(forwarded, before, "origin not called");
      const { wasmBytes } = await (await fetch(`${worker.url}/__memory`)).json();
      assert.ok(wasmBytes - memoryBefore < 1024 * 1024, `wasm memory grew by ${wasmBytes - memoryBefore} bytes`);
      const stats = await dev.stats(s.family);
      console.log(`gateway, ${encoding} refresh response inflating to 32 MiB: 503, wasm memory ${memoryBefore} -> ${wasmBytes} bytes, server sent ${stats.inflateBytesSent ?? "?"} bytes`);
    } finally {
      await worker.stop();
    }
  });
}

test("a refresh that succeeded but whose new token cannot be verified: 503, and the rotated cookies still reach the browser", async () => {
  // The auth server (HS256 tokens) and a gateway that only accepts RS256: the refresh rotates the
  // token family, then the new access token cannot be accepted. Dropping the new refresh cookie
  // here would sign the user out once the stored result expires.
  const worker = await coldGateway({ keys: { jwksUrl: `${originUrl}/jwks` }, algorithms: ["RS256"] });
  try {
    jwksMode = { delayMs: 0 };
    const s = await dev.mint({ ttlSeconds: 60 });
    const r = await fetch(`${worker.url}/x`, { headers: { cookie: `__Host-ida-rt=${s.refreshToken}` } });
    assert.equal(r.status, 503);
    const set = Object.fromEntries(r.headers.getSetCookie().map((c) => c.split(";")[0].split("=")));
    const stats = await dev.stats(s.family);
    assert.equal(stats.refreshRequests, 1);
    check.equal(set["__Host-ida-rt"], stats.currentRefreshToken, "the rotated refresh token is set");
    assert.equal(set["__Host-ida-at"], undefined, "not an access token the gateway cannot accept (the expired one leads to a refresh)");
  } finally {
    await worker.stop();
  }
});
