// The copyable gateway example (pkg/examples/gateway) runs as shipped: its worker and workerd
// config, with only ports and URLs substituted, in real workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT, startDevServer, freePort } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

const dir = path.join(ROOT, "pkg/examples/gateway");
const configPath = path.join(dir, ".test-config.capnp");
let dev, origin, child, url;
const originHits = [];

before(async () => {
  dev = await startDevServer();
  const originPort = await freePort();
  origin = http.createServer((req, res) => {
    originHits.push({ url: req.url, authorization: req.headers.authorization ?? null });
    res.end(`origin ${req.url}`);
  });
  await new Promise((r) => origin.listen(originPort, "127.0.0.1", r));
  const port = await freePort();
  const config = fs.readFileSync(path.join(dir, "config.capnp"), "utf8")
    .replace('"*:8787"', `"127.0.0.1:${port}"`)
    .replace("http://localhost:8080/api/v1", dev.base)
    .replace("http://localhost:9000", `http://127.0.0.1:${originPort}`);
  fs.writeFileSync(configPath, config);
  child = spawn(path.join(ROOT, "tests/node_modules/.bin/workerd"), ["serve", configPath], { stdio: "ignore" });
  url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      await fetch(url + "/");
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error("the example did not start");
});
after(async () => {
  child?.kill();
  fs.rmSync(configPath, { force: true });
  await new Promise((r) => origin?.close(r));
  await dev?.close();
});

test("example gateway: public route open, protected route 401 without a session, 200 with one", async () => {
  assert.equal(await (await fetch(url + "/")).text(), "origin /");
  const denied = await fetch(url + "/account");
  assert.equal(denied.status, 401);
  const s = await dev.mint();
  const ok = await fetch(url + "/account", { headers: { authorization: `Bearer ${s.accessToken}` } });
  assert.equal(ok.status, 200);
  check.equal(originHits.at(-1).authorization, `Bearer ${s.accessToken}`);
  const refreshed = await fetch(url + "/account", { headers: { cookie: `__Host-ida-rt=${s.refreshToken}` } });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.headers.getSetCookie().length, 2);
});
