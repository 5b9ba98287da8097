// AuthGateway in real workerd, in front of a local origin and the dev server: valid tokens,
// refresh through cookies (checked attribute by attribute), revoked and unreachable auth
// servers, JWKS rotation, hostile tokens (each: 401, no upstream call), and 100 concurrent
// requests with one expired cookie.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd, freePort } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

const DEV_SECRET = "gateway-tests-hs256-secret-of-32-bytes+";
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

// Keys the test signs with; their public halves are served as a JWKS by the origin below.
const keys = {
  r1: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  r2: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  e1: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  d1: crypto.generateKeyPairSync("ed25519"),
  other: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
};
const jwk = (kid) => ({ ...keys[kid].publicKey.export({ format: "jwk" }), kid });
let jwksKids = ["r1", "e1", "d1"];
let jwksServed = 0;

function sign({ alg = "HS256", kid, claims = {}, header = {}, key, secret = DEV_SECRET }) {
  const head = b64({ alg, typ: "JWT", ...(kid ? { kid } : {}), ...header });
  const body = b64({ sub: "user-1", iat: now(), exp: now() + 300, ...claims });
  const input = `${head}.${body}`;
  let sig;
  if (alg === "HS256") sig = crypto.createHmac("sha256", secret).update(input).digest();
  else if (alg === "RS256") sig = crypto.sign("sha256", Buffer.from(input), key ?? (keys[kid] ?? keys.other).privateKey);
  else if (alg === "ES256") sig = crypto.sign("sha256", Buffer.from(input), { key: key ?? keys[kid].privateKey, dsaEncoding: "ieee-p1363" });
  else if (alg === "EdDSA") sig = crypto.sign(null, Buffer.from(input), key ?? keys[kid].privateKey);
  else sig = Buffer.alloc(0);
  return `${input}.${sig.toString("base64url")}`;
}

// A token from raw header and payload text, HS256-signed with the right secret: only the
// content is hostile.
function signRaw(headerText, payloadText) {
  const input = `${Buffer.from(headerText).toString("base64url")}.${Buffer.from(payloadText).toString("base64url")}`;
  return `${input}.${crypto.createHmac("sha256", DEV_SECRET).update(input).digest("base64url")}`;
}
const H = '{"alg":"HS256","typ":"JWT"}';

// The origin: records what reaches it; also serves the JWKS.
const seen = [];
const origin = http.createServer((req, res) => {
  if (req.url === "/jwks") {
    jwksServed++;
    res.writeHead(200, { "content-type": "application/json" });
    return res.end(JSON.stringify({ keys: jwksKids.map(jwk) }));
  }
  seen.push({ url: req.url, headers: req.headers });
  res.writeHead(200, { "content-type": "application/json", "x-origin": "yes" });
  res.end(JSON.stringify({ path: req.url }));
});

let dev, worker, originUrl;
before(async () => {
  dev = await startDevServer({ secret: DEV_SECRET });
  const port = await freePort();
  await new Promise((r) => origin.listen(port, "127.0.0.1", r));
  originUrl = `http://127.0.0.1:${port}`;
  const base = {
    baseUrl: dev.base,
    upstream: originUrl,
    keys: { hs256Secret: DEV_SECRET, jwksUrl: `${originUrl}/jwks` },
    algorithms: ["HS256", "RS256", "ES256", "EdDSA"],
    leewaySeconds: 2,
    stripHeaders: ["x-user-id", "x-forwarded-user"],
    refreshTimeoutMs: 600,
  };
  const configs = {
    plain: base,
    strict: { ...base, issuer: "ida-test", audience: "api" },
    rotation: { ...base, jwksCooldownSeconds: 1 },
    down: { ...base, baseUrl: `http://127.0.0.1:${await freePort()}/api/v1` },
  };
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify(configs))})`],
    durableObjects: [{ className: "RefreshCoordinator", binding: "COORD" }],
  });
});
after(async () => {
  await worker?.stop();
  await dev?.close();
  await new Promise((r) => origin.close(r));
});

function call(p, { token, cookies = {}, headers = {}, gateway = "plain", method = "GET", body } = {}) {
  const h = { "x-test-gateway": gateway, ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const cookie = Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join("; ");
  if (cookie) h.cookie = cookie;
  return fetch(worker.url + p, { method, headers: h, body, redirect: "manual" });
}
const expiredAt = () => sign({ claims: { iat: now() - 600, exp: now() - 300 } });

function parseSetCookie(value) {
  const [pair, ...attrs] = value.split(";").map((s) => s.trim());
  const [name, val] = pair.split("=");
  return { name, value: val, attrs: Object.fromEntries(attrs.map((a) => { const [k, v] = a.split("="); return [k.toLowerCase(), v ?? true]; })) };
}

test("gateway: a valid token is forwarded with a fresh Authorization and identity headers stripped", async () => {
  const token = sign({});
  const before = seen.length;
  const r = await call("/orders?x=1", { token, headers: { "x-user-id": "admin", "x-forwarded-user": "admin", "x-keep": "1" }, cookies: { theme: "dark", "__Host-ida-rt": "rt_secret" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-origin"), "yes");
  assert.equal(seen.length, before + 1);
  const got = seen.at(-1);
  assert.equal(got.url, "/orders?x=1");
  check.equal(got.headers.authorization, `Bearer ${token}`);
  assert.equal(got.headers["x-user-id"], undefined);
  assert.equal(got.headers["x-forwarded-user"], undefined);
  assert.equal(got.headers["x-keep"], "1");
  assert.equal(got.headers.cookie, "theme=dark", "the gateway's cookies never reach the origin");
  assert.equal(r.headers.get("set-cookie"), null);
});

test("gateway: a valid token in the access cookie works too; authenticate() reports it", async () => {
  const token = sign({ claims: { role: "reader" } });
  const r = await call("/__authenticate", { cookies: { "__Host-ida-at": token } });
  const outcome = await r.json();
  assert.equal(outcome.status, "authenticated");
  assert.equal(outcome.claims.role, "reader");
  check.equal(outcome.request.authorization, `Bearer ${token}`);
  assert.equal(outcome.request.url, `${originUrl}/__authenticate`);
  assert.deepEqual(outcome.setCookies, []);
});

test("gateway: an expired access token with a refresh cookie is refreshed; both cookies set, attribute by attribute", async () => {
  const s = await dev.mint({ ttlSeconds: 120 });
  const before = seen.length;
  const r = await call("/profile", { cookies: { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken } });
  assert.equal(r.status, 200);
  assert.equal(seen.length, before + 1);
  const forwarded = seen.at(-1).headers.authorization.slice(7);
  check.notEqual(forwarded, s.accessToken);
  const cookies = r.headers.getSetCookie().map(parseSetCookie);
  assert.equal(cookies.length, 2, "one Set-Cookie per token");
  const [at, rt] = cookies;
  assert.equal(at.name, "__Host-ida-at");
  assert.equal(at.value, forwarded, "the forwarded token is the one set");
  assert.equal(rt.name, "__Host-ida-rt");
  check.equal(rt.value, (await dev.stats(s.family)).currentRefreshToken, "the rotated refresh token");
  for (const c of cookies) {
    assert.equal(c.attrs.path, "/");
    assert.equal(c.attrs.secure, true);
    assert.equal(c.attrs.httponly, true);
    assert.equal(c.attrs.samesite, "Lax");
    assert.equal(c.attrs.domain, undefined, "__Host- cookies carry no Domain");
  }
  assert.ok(Math.abs(Number(at.attrs["max-age"]) - 120) <= 2, `access Max-Age ${at.attrs["max-age"]}`);
  assert.equal(Number(rt.attrs["max-age"]), 30 * 86400, "refresh Max-Age: the configured default");
  assert.equal((await dev.stats(s.family)).refreshRequests, 1);
});

test("gateway: a missing access token with a refresh cookie is refreshed", async () => {
  const s = await dev.mint();
  const r = await call("/__authenticate", { cookies: { "__Host-ida-rt": s.refreshToken } });
  const outcome = await r.json();
  assert.equal(outcome.status, "refreshed");
  assert.equal(outcome.setCookies.length, 2);
  assert.equal(outcome.claims.sid, s.family);
});

test("gateway: a revoked refresh token gives 401 invalid_token and clears both cookies", async () => {
  const s = await dev.mint();
  await dev.post?.("/dev/revoke", { family: s.family });
  await fetch(`${dev.base}/dev/revoke`, { method: "POST", body: JSON.stringify({ family: s.family }) });
  const before = seen.length;
  const r = await call("/x", { cookies: { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken } });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("www-authenticate"), 'Bearer error="invalid_token"');
  const body = await r.json();
  assert.deepEqual(Object.keys(body).sort(), ["error", "error_description"]);
  assert.ok(!JSON.stringify(body).includes(s.refreshToken));
  const cleared = r.headers.getSetCookie().map(parseSetCookie);
  assert.deepEqual(cleared.map((c) => [c.name, c.value, c.attrs["max-age"]]), [["__Host-ida-at", "", "0"], ["__Host-ida-rt", "", "0"]]);
  assert.equal(seen.length, before, "origin untouched");
});

test("gateway: auth server down or hanging gives 503 with Retry-After and keeps the cookies", async () => {
  const s = await dev.mint();
  const before = seen.length;
  const down = await call("/x", { gateway: "down", cookies: { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken } });
  assert.equal(down.status, 503);
  assert.ok(Number(down.headers.get("retry-after")) >= 1);
  assert.deepEqual(down.headers.getSetCookie(), []);
  await dev.queue(s.family, [{ hang: true }]);
  const t0 = Date.now();
  const hung = await call("/x", { cookies: { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken } });
  assert.equal(hung.status, 503);
  assert.ok(Date.now() - t0 < 3_000, "answered after refreshTimeoutMs, not after the hang");
  assert.deepEqual(hung.headers.getSetCookie(), []);
  await dev.queue(s.family, [{ status: 502 }]);
  const s2 = await dev.mint();
  await dev.queue(s2.family, [{ status: 500 }]);
  const failing = await call("/x", { cookies: { "__Host-ida-rt": s2.refreshToken } });
  assert.equal(failing.status, 503);
  assert.equal(seen.length, before, "origin untouched");
});

test("gateway: no token and no refresh cookie gives 401 with a bare Bearer challenge", async () => {
  const r = await call("/x");
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("www-authenticate"), "Bearer");
  assert.equal(r.headers.get("cache-control"), "no-store");
});

test("gateway: RS256, ES256 and EdDSA through WebCrypto, keys from the JWKS URL by kid", async () => {
  for (const [alg, kid] of [["RS256", "r1"], ["ES256", "e1"], ["EdDSA", "d1"]]) {
    const r = await call("/x", { token: sign({ alg, kid }) });
    assert.equal(r.status, 200, `${alg} accepted`);
  }
});

test("gateway: JWKS rotation refetches on an unknown kid, at most once per cooldown", async () => {
  const counts = async () => (await call("/__counts", { gateway: "rotation" })).json();
  assert.equal((await call("/x", { gateway: "rotation", token: sign({ alg: "RS256", kid: "r1" }) })).status, 200);
  const first = (await counts()).jwksFetches;
  jwksKids = ["r2", "e1", "d1"];
  // The new kid is refused until the refetch cooldown (1 s) from the first fetch has passed.
  const refetchBy = Date.now() + 5_000;
  while ((await call("/x", { gateway: "rotation", token: sign({ alg: "RS256", kid: "r2" }) })).status !== 200) {
    assert.ok(Date.now() < refetchBy, "new kid after a refetch, within 5 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal((await counts()).jwksFetches, first + 1);
  assert.equal((await call("/x", { gateway: "rotation", token: sign({ alg: "RS256", kid: "zz" }) })).status, 401, "unknown kid");
  assert.equal((await call("/x", { gateway: "rotation", token: sign({ alg: "RS256", kid: "zz" }) })).status, 401);
  assert.equal((await counts()).jwksFetches, first + 1, "no refetch inside the cooldown");
  assert.equal((await call("/x", { gateway: "rotation", token: sign({ alg: "RS256", kid: "r1" }) })).status, 401, "the retired key is gone");
  jwksKids = ["r1", "e1", "d1"];
});

test("gateway: hostile tokens and headers: 401 every time, nothing forwarded, nothing revealed", async () => {
  const good = sign({});
  const [h, p, sig] = good.split(".");
  const rsaPem = keys.r1.publicKey.export({ type: "spki", format: "pem" });
  const cases = {
    "tampered payload": `${h}.${b64({ sub: "admin", exp: now() + 300 })}.${sig}`,
    "tampered signature": `${h}.${p}.${sig.slice(0, -3)}${sig.at(-3) === "A" ? "B" : "A"}${sig.slice(-2)}`,
    "empty signature": `${h}.${p}.`,
    "truncated signature": `${h}.${p}.${sig.slice(0, 20)}`,
    "all-zero signature": `${h}.${p}.${Buffer.alloc(32).toString("base64url")}`,
    ...Object.fromEntries(["none", "None", "NONE", "nOnE"].map((alg) => [`alg ${alg}`, `${b64({ alg, typ: "JWT" })}.${p}.`])),
    "HS256 signed with the RSA public key (PEM)": sign({ kid: "r1", secret: rsaPem }),
    "HS256 signed with the RSA public key (JWK)": sign({ kid: "r1", secret: JSON.stringify(jwk("r1")) }),
    "HS256 signed with the EC public key": sign({ kid: "e1", secret: keys.e1.publicKey.export({ type: "spki", format: "pem" }) }),
    "RS256 by another key under a known kid": sign({ alg: "RS256", kid: "r1", key: keys.other.privateKey }),
    "RS256 header on the EC key": sign({ alg: "RS256", kid: "e1", key: keys.other.privateKey }),
    "ES256 with a DER signature": (() => { const t = sign({ alg: "ES256", kid: "e1" }).split("."); const der = crypto.sign("sha256", Buffer.from(`${t[0]}.${t[1]}`), keys.e1.privateKey); return `${t[0]}.${t[1]}.${der.toString("base64url")}`; })(),
    "unknown kid": sign({ alg: "RS256", kid: "nope" }),
    "path-like kid": sign({ alg: "RS256", kid: "../../../../etc/passwd" }),
    "jku header": sign({ alg: "RS256", kid: "r1", header: { jku: "https://evil.example/jwks" } }),
    "embedded jwk": sign({ alg: "RS256", kid: "r1", header: { jwk: jwk("r1") } }),
    "crit header": sign({ header: { crit: ["exp"] } }),
    "odd typ": sign({ header: { typ: "evil" } }),
    "future nbf": sign({ claims: { nbf: now() + 600 } }),
    "expired beyond leeway": sign({ claims: { exp: now() - 60 } }),
    "no exp": sign({ claims: { exp: undefined } }),
    "exp as a string": sign({ claims: { exp: String(now() + 300) } }),
    "nbf as a string": sign({ claims: { nbf: String(now()) } }),
    "iat as a string": sign({ claims: { iat: String(now()) } }),
    "expired float exp": sign({ claims: { exp: now() - 60.5 } }),
    "negative exp": sign({ claims: { exp: -1 } }),
    "huge exp": sign({ claims: { exp: 1e20 } }),
    "iat far in the future": sign({ claims: { iat: now() + 86400 } }),
    "exp as a huge number literal": signRaw(H, `{"sub":"u","exp":1e400}`),
    "duplicate exp keys": signRaw(H, `{"sub":"u","exp":${now() + 300},"exp":${now() - 300}}`),
    "deeply nested claims": signRaw(H, `{"sub":"u","exp":${now() + 300},"x":${"[".repeat(5000)}${"]".repeat(5000)}}`),
    "invalid UTF-8 in the payload": (() => { const input = `${Buffer.from(H).toString("base64url")}.${Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]).toString("base64url")}`; return `${input}.${crypto.createHmac("sha256", DEV_SECRET).update(input).digest("base64url")}`; })(),
    "payload not an object": signRaw(H, "[1,2,3]"),
    "header not JSON": signRaw("{alg:HS256}", `{"exp":${now() + 300}}`),
    "oversized": sign({ claims: { pad: "x".repeat(17 * 1024) } }),
    "signature of the wrong length": `${h}.${p}.${Buffer.alloc(48).toString("base64url")}`,
    "not base64url": "a$b.c%d.e^f",
    "two parts": `${h}.${p}`,
    "garbage": "\u00e9\u00ff.~~~.\u00e9",
  };
  const before = seen.length;
  const bodies = new Set();
  for (const [name, token] of Object.entries(cases)) {
    for (const how of ["bearer", "cookie"]) {
      const r = how === "bearer" ? await call("/x", { token }) : await call("/x", { cookies: { "__Host-ida-at": encodeURIComponent(token) } });
      assert.equal(r.status, 401, `${name} (${how})`);
      bodies.add(`${r.headers.get("www-authenticate")} ${await r.text()}`);
    }
  }
  // The reason is never revealed: every refusal looks the same.
  assert.equal(bodies.size, 1, [...bodies].join("\n"));
  console.log(`gateway hostile cases: ${Object.keys(cases).length} tokens x 2 carriers, all 401 with one identical body`);
  const strict = { "wrong iss": sign({ claims: { iss: "evil", aud: "api" } }), "wrong aud": sign({ claims: { iss: "ida-test", aud: "other" } }) };
  for (const [name, token] of Object.entries(strict)) assert.equal((await call("/x", { gateway: "strict", token })).status, 401, name);
  assert.equal((await call("/x", { gateway: "strict", token: sign({ claims: { iss: "ida-test", aud: ["x", "api"] } }) })).status, 200, "right iss and aud");
  for (const headers of [{ authorization: "Bearer" }, { authorization: "Basic dXNlcjpwYXNz" }, { authorization: "Bearer a b c" }, { cookie: ";;;=;__Host-ida-at=;=x" }, { cookie: "__Host-ida-at=%ZZ" }, { cookie: "c=1; ".repeat(3000) }]) {
    const r = await fetch(worker.url + "/x", { headers });
    assert.equal(r.status, 401, JSON.stringify(headers).slice(0, 60));
  }
  assert.equal(seen.length, before + 1, "only the one good strict request reached the origin");
  const workerLog = worker.log();
  assert.ok(!/panicked|RuntimeError|unreachable/.test(workerLog), "no panic in workerd");
});

test("gateway: 100 concurrent requests with one expired cookie: all succeed, one refresh (with and without the Durable Object)", async () => {
  const results = {};
  for (const gateway of ["plain", "coordinated"]) {
    const s = await dev.mint({ ttlSeconds: 300 });
    const cookies = { "__Host-ida-at": expiredAt(), "__Host-ida-rt": s.refreshToken };
    const responses = await Promise.all(Array.from({ length: 100 }, () => call("/x", { gateway, cookies })));
    assert.deepEqual([...new Set(responses.map((r) => r.status))], [200], gateway);
    const rts = new Set(responses.map((r) => r.headers.getSetCookie().map(parseSetCookie).find((c) => c.name === "__Host-ida-rt")?.value));
    assert.equal(rts.size, 1, "every response carries the same new refresh token");
    const stats = await dev.stats(s.family);
    results[gateway] = stats.refreshRequests;
    assert.equal(stats.revocations, 0);
    assert.equal(stats.refreshRequests, 1, `${gateway}: refresh requests`);
  }
  console.log(`gateway concurrency: 100 concurrent expired requests -> ${results.plain} refresh (isolate table), ${results.coordinated} refresh (Durable Object)`);
});

test("gateway: bad configuration throws a clear RefreshError", async () => {
  const base = { baseUrl: dev.base, upstream: originUrl, keys: { hs256Secret: DEV_SECRET }, algorithms: ["HS256"] };
  for (const [patch, named] of [
    [{ upstream: undefined }, "upstream"],
    [{ algorithms: [] }, "algorithms"],
    [{ algorithms: ["none"] }, "algorithms"],
    [{ algorithms: ["RS256"] }, "algorithms"],
    [{ keys: { hs256Secret: "short" } }, "keys.hs256Secret"],
    [{ keys: { hs256Secret: DEV_SECRET, jwksUrl: "ftp://x" } }, "keys.jwksUrl"],
    [{ cookies: { sameSite: "Sometimes" } }, "cookies.sameSite"],
    [{ cookies: { accessToken: "bad name" } }, "cookies.accessToken"],
    [{ leewaySeconds: -1 }, "leewaySeconds"],
    [{ bogus: 1 }, "bogus"],
  ]) {
    const r = await fetch(worker.url + "/__config-error", { method: "POST", body: JSON.stringify({ ...base, ...patch }) });
    const out = await r.json();
    assert.equal(out.ok, false, named);
    assert.equal(out.name, "RefreshError");
    assert.equal(out.code, "invalid_argument");
    assert.ok(out.message.includes(named), `${out.message} names ${named}`);
  }
});
