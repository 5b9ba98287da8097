// Hostile refresh responses: the client decodes (does not verify) the access token, so header
// tricks pass through as data, while anything that makes the expiry untrustworthy, and JSON
// that cannot be read, is a bad_response. Never a panic.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { refresh } from "../../pkg/node.js";
import { startDevServer, outcome } from "./harness.mjs";

let dev;
before(async () => (dev = await startDevServer()));
after(() => dev?.close());

const b64 = (t) => Buffer.from(t).toString("base64url");
const jwt = (header, payload) => `${b64(header)}.${b64(payload)}.c2ln`;
const H = '{"alg":"HS256"}';
const soon = Math.floor(Date.now() / 1000) + 300;

test("hostile refresh responses: documented outcomes, no panic", async () => {
  const cases = [
    ["exp as a string", { accessToken: jwt(H, `{"exp":"${soon}"}`) }, "bad_response"],
    ["nbf as a string", { accessToken: jwt(H, `{"exp":${soon},"nbf":"x"}`) }, "bad_response"],
    ["iat as a string", { accessToken: jwt(H, `{"exp":${soon},"iat":"x"}`) }, "bad_response"],
    ["huge exp", { accessToken: jwt(H, '{"exp":1e20}') }, "bad_response"],
    ["exp beyond f64", { accessToken: jwt(H, '{"exp":1e400}') }, "bad_response"],
    ["duplicate exp keys", { accessToken: jwt(H, `{"exp":${soon},"exp":${soon}}`) }, "bad_response"],
    ["deep nesting in the payload", { accessToken: jwt(H, `{"exp":${soon},"x":${"[".repeat(5000)}${"]".repeat(5000)}}`) }, "bad_response"],
    ["invalid UTF-8 in the payload", { accessToken: `${b64(H)}.${Buffer.from([0x7b, 0xff, 0x7d]).toString("base64url")}.c2ln` }, "bad_response"],
    ["jku, x5u, embedded jwk and crit headers", { accessToken: jwt('{"alg":"HS256","jku":"https://evil/jwks","x5u":"https://evil","jwk":{"kty":"oct"},"crit":["x"]}', `{"exp":${soon}}`) }, "ok"],
    ["a 20 KiB access token", { accessToken: jwt(H, `{"exp":${soon},"pad":"${"x".repeat(20_000)}"}`) }, "ok"],
    ["missing exp", { accessToken: jwt(H, '{"sub":"u"}'), expiresIn: 60 }, "ok"],
    ["negative exp", { accessToken: jwt(H, '{"exp":-1}') }, "ok"],
    ["huge expiresIn literal", '{"accessToken":"opaque","expiresIn":1e400}', "bad_response"],
    ["deeply nested body", `{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`, "bad_response"],
  ];
  for (const [name, body, expected] of cases) {
    const s = await dev.mint();
    await dev.queue(s.family, [{ status: 200, body }]);
    const r = await outcome(refresh(s.refreshToken, { baseUrl: dev.base }));
    if (expected === "ok") assert.equal(r.ok, true, `${name}: ${r.message}`);
    else assert.equal(r.code, expected, name);
  }
  // The module still works after all of that: nothing panicked.
  const s = await dev.mint();
  assert.ok((await refresh(s.refreshToken, { baseUrl: dev.base })).accessToken);
});
