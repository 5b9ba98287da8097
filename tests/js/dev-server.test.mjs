// The dev server's own contract: cookie mode answers the spec's `{}`, malformed request targets
// and bad input to every /dev/* endpoint get a 400 with a short JSON error, never a 500.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startDevServer } from "./harness.mjs";

let dev;
before(async () => {
  dev = await startDevServer();
});
after(() => dev?.close());

/** Sends `text` as it is over a socket; resolves with the parsed answer once the server closes. */
function raw(text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(dev.port, "127.0.0.1");
    const chunks = [];
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks).toString("latin1");
      const split = all.indexOf("\r\n\r\n");
      const head = all.slice(0, split).split("\r\n");
      const headers = Object.fromEntries(head.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      resolve({ status: Number(head[0].split(" ")[1]), headers, body: all.slice(split + 4) });
    });
    socket.write(text);
  });
}
const rawGet = (target) => raw(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);

/** A short JSON error: {error, message?}, no stack, no internals. */
function assertJsonError(r, status, what) {
  assert.equal(r.status, status, `${what}: status (body ${r.body})`);
  assert.match(r.headers["content-type"] ?? "", /^application\/json/, `${what}: content type`);
  const body = JSON.parse(r.body);
  assert.equal(typeof body.error, "string", what);
  assert.deepEqual(Object.keys(body).filter((k) => k !== "error" && k !== "message"), [], `${what}: only error and message`);
  assert.ok(r.body.length < 300, `${what}: short`);
  assert.doesNotMatch(r.body, /\bat \S+ \(|\bat (file|node):|node:internal|\.m?js:\d+|SyntaxError|TypeError|Unexpected token/, `${what}: no stack or internal message`);
  return body;
}

async function post(p, body, headers = {}) {
  const r = await fetch(dev.base + p, { method: "POST", body, headers });
  return { status: r.status, headers: Object.fromEntries(r.headers), body: await r.text() };
}

test("cookie mode: the 200 is {} as application/json, with the session in Set-Cookie", async () => {
  const s = await dev.mint({ format: "cookie" });
  const r = await fetch(`${dev.base}/auth/refresh`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken: s.refreshToken }) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(await r.json(), {});
  const cookies = r.headers.getSetCookie();
  const rt = cookies.find((c) => c.startsWith("ida_rt="));
  const at = cookies.find((c) => c.startsWith("ida_at="));
  assert.ok(rt && at, "both cookies");
  assert.equal(rt.split(";")[0].slice(7), (await dev.stats(s.family)).currentRefreshToken, "the rotated refresh token");
  const me = await fetch(`${dev.base}/me`, { headers: { Cookie: at.split(";")[0] } });
  assert.equal(me.status, 200, "the access token cookie is valid");
});

test("malformed request targets get 400 JSON", async () => {
  for (const target of ["//[", "http://[", "/api/v1/[", "/api/v1/%zz", "/api/v1/me#frag", "api/v1/me", "*", "/\\api"]) {
    assertJsonError(await rawGet(target), 400, `GET ${target}`);
  }
  // Refused by Node's parser itself: the same JSON answer.
  assertJsonError(await rawGet("/a b"), 400, "GET /a b");
  assertJsonError(await rawGet("/\x01"), 400, "a control character");
  assertJsonError(await raw("GARBAGE\r\n\r\n"), 400, "no request line");
  // Well-formed targets still route: origin-form, absolute-form, a query with brackets.
  assert.equal((await rawGet("/api/v1/me")).status, 401);
  assert.equal((await rawGet(`http://localhost:${dev.port}/api/v1/me`)).status, 401);
  assert.equal((await rawGet("/api/v1/dev/stats?family=a[0]")).status, 404, "an unknown family, not a bad target");
  assert.equal((await rawGet("/api/v1/dev/stats?x=%zz")).status, 200);
  // "//host/path" is a path that begins with an empty segment, not a host: no route.
  assert.equal((await rawGet("//evil/api/v1/me")).status, 404);
  assert.equal((await rawGet("/api/v1/%64ev/stats")).status, 404, "escapes are not decoded into routes");
});

// Each /dev/* endpoint with bodies it must refuse: [path, body, what the message names].
const badInputs = [
  ...["session", "faults", "chaos", "revoke", "revoke-access", "expire", "restart"].flatMap((e) => [
    [e, "{", "not valid JSON"],
    [e, "[]", "JSON object"],
    [e, "null", "JSON object"],
    [e, '"family"', "JSON object"],
    [e, "42", "JSON object"],
    [e, '{"nope":1}', "unknown field"],
  ]),
  ["session", '{"ttlSeconds":"60"}', "ttlSeconds"],
  ["session", '{"ttlSeconds":-1}', "ttlSeconds"],
  ["session", '{"ttlSeconds":1e300}', "ttlSeconds"],
  ["session", '{"format":"xml"}', "format"],
  ["session", '{"format":5}', "format"],
  ["session", '{"graceMs":"soon"}', "graceMs"],
  ["session", '{"clockOffsetMs":[1]}', "clockOffsetMs"],
  ["session", '{"rotate":"yes"}', "rotate"],
  ["session", '{"subject":{}}', "subject"],
  ["session", '{"refreshToken":"has space"}', "refreshToken"],
  ["session", '{"refreshToken":""}', "refreshToken"],
  ["faults", '{"family":5}', "family"],
  ["faults", '{"faults":{"status":500}}', "faults"],
  ["faults", '{"faults":[5]}', "faults[0]"],
  ["faults", '{"faults":[{"status":"500"}]}', "faults[0].status"],
  ["faults", '{"faults":[{"status":99}]}', "faults[0].status"],
  ["faults", '{"faults":[{"status":700}]}', "faults[0].status"],
  ["faults", '{"faults":[{"retryAfter":"1\\r\\nX-Evil: 1"}]}', "faults[0].retryAfter"],
  ["faults", '{"faults":[{"contentType":7}]}', "faults[0].contentType"],
  ["faults", '{"faults":[{"delayMs":-5}]}', "faults[0].delayMs"],
  ["faults", '{"faults":[{"hang":"true"}]}', "faults[0].hang"],
  ["faults", '{"faults":[{"trickle":0}]}', "faults[0].trickle"],
  ["faults", '{"faults":[{"oversizedBytes":1.5}]}', "faults[0].oversizedBytes"],
  ["faults", '{"faults":[{"inflate":"zip"}]}', "faults[0].inflate"],
  ["faults", '{"faults":[{"inflate":"gzip","bytes":1e12}]}', "faults[0].bytes"],
  ["faults", '{"faults":[{"stauts":500}]}', "unknown field"],
  ["faults", '{"sticky":[]}', "sticky"],
  ["faults", '{"clear":"yes"}', "clear"],
  ["chaos", '{"rate":2,"faults":[{"status":500}]}', "rate"],
  ["chaos", '{"rate":"0.5"}', "rate"],
  ["chaos", '{"rate":0.5,"faults":[{"status":"x"}]}', "faults[0].status"],
  ...["revoke", "revoke-access", "expire"].flatMap((e) => [
    [e, "", "family"],
    [e, "{}", "family"],
    [e, '{"family":null}', "family"],
    [e, '{"family":["fam_x"]}', "family"],
  ]),
];

test("every /dev/* endpoint answers bad input with 400 JSON", async () => {
  await dev.mint();
  const before = await dev.stats();
  for (const [endpoint, body, names] of badInputs) {
    const what = `POST /dev/${endpoint} ${body}`;
    const error = assertJsonError(await post(`/dev/${endpoint}`, body, { "Content-Type": "application/json" }), 400, what);
    assert.ok(error.message.includes(names), `${what}: the message (${error.message}) names ${names}`);
  }
  // A body over the 1 MiB limit.
  assertJsonError(await post("/dev/session", JSON.stringify({ subject: "x".repeat(2 << 20) })), 400, "a 2 MiB body");
  // None of them did anything: no session minted, no restart, no fault or chaos queued.
  assert.ok(before.families > 0);
  assert.equal((await dev.stats()).families, before.families, "no session minted, no restart");
  const s = await dev.mint();
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${dev.base}/auth/refresh`, { method: "POST", body: JSON.stringify({ refreshToken: (await dev.stats(s.family)).currentRefreshToken }) });
    assert.equal(r.status, 200, "no fault was queued");
  }
  assert.equal((await dev.stats()).faultsServed, before.faultsServed);
});

test("the dev endpoints' other answers stay JSON: unknown family 404, wrong method 405, unknown endpoint 404, taken refresh token 409", async () => {
  for (const e of ["revoke", "revoke-access", "expire", "faults"]) {
    assertJsonError(await post(`/dev/${e}`, '{"family":"fam_unknown"}'), 404, `${e}, an unknown family`);
  }
  assertJsonError(await post("/dev/stats", "{}"), 405, "POST /dev/stats");
  const getSession = await fetch(`${dev.base}/dev/session`);
  assert.equal(getSession.status, 405);
  assert.equal(getSession.headers.get("allow"), "POST");
  assertJsonError(await post("/dev/nope", "{}"), 404, "an unknown dev endpoint");
  assertJsonError(await post("/dev/constructor", "{}"), 404, "an inherited property name");
  await dev.mint({ refreshToken: "rt_taken" });
  assertJsonError(await post("/dev/session", '{"refreshToken":"rt_taken"}'), 409, "a taken refresh token");
  // Valid input is still accepted; null means "absent" for a session's options.
  const full = await post("/dev/session", '{"ttlSeconds":30,"format":"snake","graceMs":0,"clockOffsetMs":-1000,"rotate":false,"subject":"u1","refreshToken":"rt_chosen.1"}');
  assert.equal(full.status, 200, full.body);
  assert.equal(JSON.parse(full.body).refreshToken, "rt_chosen.1");
  const nulls = await post("/dev/session", '{"ttlSeconds":null,"format":null}');
  assert.equal(nulls.status, 200, nulls.body);
  assert.equal(JSON.parse(nulls.body).expiresIn, 60, "the default TTL");
});

test("the refresh endpoint: bad JSON, a missing or non-string refreshToken, a bad x-ida-fault header are 400 JSON", async () => {
  const url = "/auth/refresh";
  for (const body of ["{", "", "not json", '{"refreshToken":', "\u00ff"]) {
    assertJsonError(await post(url, body, { "Content-Type": "application/json" }), 400, `refresh with ${JSON.stringify(body)}`);
  }
  for (const body of ["{}", "[]", "null", "42", '{"refreshToken":""}', '{"refreshToken":5}', '{"refreshToken":null}', '{"refresh_token":"rt_x"}']) {
    const e = assertJsonError(await post(url, body, { "Content-Type": "application/json" }), 400, `refresh with ${body}`);
    assert.equal(e.error, "invalid_request");
  }
  assertJsonError(await post(url, JSON.stringify({ refreshToken: "x".repeat(2 << 20) })), 400, "a 2 MiB refresh body");
  const s = await dev.mint();
  const body = JSON.stringify({ refreshToken: s.refreshToken });
  assertJsonError(await post(url, body, { "x-ida-fault": "{" }), 400, "x-ida-fault not JSON");
  assertJsonError(await post(url, body, { "x-ida-fault": '{"status":"x"}' }), 400, "x-ida-fault of the wrong type");
  assert.equal((await dev.stats(s.family)).rotations, 0, "none of them used the session");
  assert.equal((await post(url, body)).status, 200);
});
