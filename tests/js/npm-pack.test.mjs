// The package as users get it: `npm pack pkg/`, installed from the tarball into throwaway
// projects, and `import { refresh, RefreshClient, RefreshError, AuthGateway } from
// "ida-refresh"` used against the dev server in Node, in workerd and in a Vite build opened in
// headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { ROOT, startDevServer, startWorkerd, launchChromium, freePort } from "./harness.mjs";

const IMPORT = 'import { refresh, RefreshClient, RefreshError, AuthGateway } from "ida-refresh";';
let dev, dir, app;

before(async () => {
  dev = await startDevServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ida-pack-"));
  const tarball = execFileSync("npm", ["pack", path.join(ROOT, "pkg"), "--pack-destination", dir, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  app = path.join(dir, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", path.join(dir, tarball), "--no-audit", "--no-fund", "--silent"], { cwd: app });
});
after(async () => {
  await dev?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("npm pack: the tarball carries the entries, the wasm and the types", () => {
  const installed = path.join(app, "node_modules/ida-refresh");
  for (const f of ["package.json", "node.js", "workerd.js", "browser.js", "web.js", "api.js", "coordinator.js", "index.d.ts", "refresh-error.d.ts", "wasm/ida_refresh_bg.wasm", "wasm/ida_refresh.js", "wasm/refresh-error.js", "wasm/gateway.js", "wasm/body.js", "wasm-client/body.js", "wasm/ida_refresh.d.ts", "wasm-client/ida_refresh_bg.wasm", "wasm-client/ida_refresh.js", "api-client.js", "examples/gateway/worker.js"]) {
    assert.ok(fs.existsSync(path.join(installed, f)), f);
  }
});

test("npm pack: Node imports the package and refreshes against the dev server", async () => {
  const s = await dev.mint();
  fs.writeFileSync(path.join(app, "main.mjs"), `${IMPORT}
const r = await refresh(process.env.RT, { baseUrl: process.env.BASE });
let e; try { await refresh("rt_unknown", { baseUrl: process.env.BASE }); } catch (x) { e = x; }
const client = new RefreshClient({ baseUrl: process.env.BASE, refreshToken: r.refreshToken, autoRefresh: false });
const token = await client.getAccessToken();
client.dispose();
console.log(JSON.stringify({ sub: r.claims.sub, isRefreshError: e instanceof RefreshError, isError: e instanceof Error, code: e.code, token: typeof token, gateway: typeof AuthGateway }));
`);
  // Asynchronously: the dev server lives in this process and must keep answering.
  const { stdout } = await promisify(execFile)(process.execPath, ["main.mjs"], { cwd: app, env: { ...process.env, RT: s.refreshToken, BASE: dev.base } });
  const out = JSON.parse(stdout);
  assert.deepEqual(out, { sub: out.sub, isRefreshError: true, isError: true, code: "invalid_refresh_token", token: "string", gateway: "function" });
});

test("npm pack: a workerd worker imports the installed package", async () => {
  const s = await dev.mint();
  const entry = path.join(app, "worker.js");
  fs.writeFileSync(entry, `import { refresh, RefreshError } from "./pkg/workerd.js";
export default { async fetch(req, env) {
  if (new URL(req.url).pathname !== "/go") return new Response("ready");
  const r = await refresh(env.RT, { baseUrl: env.BASE });
  return Response.json({ ok: Boolean(r.accessToken), errorClass: typeof RefreshError });
} };`);
  const worker = await startWorkerd(entry, { packageDir: path.join(app, "node_modules/ida-refresh"), bindings: [`(name = "RT", text = "${s.refreshToken}")`, `(name = "BASE", text = "${dev.base}")`] });
  try {
    assert.deepEqual(await (await fetch(worker.url + "/go")).json(), { ok: true, errorClass: "function" });
  } finally {
    await worker.stop();
  }
});

/** Serves `dist` on loopback, opens `page` in Chromium, returns the JSON in #out. */
async function runInChromium(dist, page) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, "http://x").pathname;
    const file = path.join(dist, pathname === "/" ? "index.html" : pathname);
    if (!file.startsWith(dist) || !fs.existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" }).end(fs.readFileSync(file));
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const browser = await launchChromium();
  try {
    const tab = await browser.context.newPage();
    await tab.goto(`http://127.0.0.1:${port}/${page}`);
    await tab.waitForFunction(() => document.getElementById("out").textContent !== "pending", null, { timeout: 15_000 });
    return JSON.parse(await tab.locator("#out").textContent());
  } finally {
    await browser.close();
    await new Promise((r) => server.close(r));
  }
}

const wasmSizes = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith(".wasm")).map((f) => fs.statSync(path.join(dir, f)).size);
const clientWasmSize = () => fs.statSync(path.join(ROOT, "pkg/wasm-client/ida_refresh_bg.wasm")).size;

const APP_JS = `${IMPORT}
const params = new URLSearchParams(location.search);
refresh(params.get("rt"), { baseUrl: params.get("base") }).then(
  (r) => (document.getElementById("out").textContent = JSON.stringify({ ok: true, sub: r.claims.sub, client: typeof RefreshClient, gateway: typeof AuthGateway, error: typeof RefreshError })),
  (e) => (document.getElementById("out").textContent = JSON.stringify({ ok: false, message: String(e) })),
);`;

test("npm pack: webpack 5 with no configuration bundles the package and it refreshes in Chromium", async () => {
  const s = await dev.mint();
  fs.mkdirSync(path.join(app, "src"), { recursive: true });
  fs.writeFileSync(path.join(app, "src/index.js"), APP_JS);
  execFileSync(path.join(ROOT, "tests/node_modules/.bin/webpack"), ["--mode", "production", "--entry", "./src/index.js", "--output-path", "wp-dist", "--no-stats"], { cwd: app });
  const dist = path.join(app, "wp-dist");
  fs.writeFileSync(path.join(dist, "index.html"), '<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script src="main.js"></script>');
  const out = await runInChromium(dist, `?rt=${encodeURIComponent(s.refreshToken)}&base=${encodeURIComponent(dev.base)}`);
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "function", error: "function" });
  assert.deepEqual(wasmSizes(dist), [clientWasmSize()], "webpack ships the client-only wasm, not the gateway");
});

test("npm pack: a Vite build imports the package with no init step and refreshes in Chromium", async () => {
  const s = await dev.mint();
  fs.writeFileSync(path.join(app, "index.html"), '<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script type="module" src="/main.js"></script>');
  fs.writeFileSync(path.join(app, "main.js"), APP_JS);
  execFileSync(path.join(ROOT, "tests/node_modules/.bin/vite"), ["build", "--logLevel", "error"], { cwd: app });
  const dist = path.join(app, "dist");
  const out = await runInChromium(dist, `?rt=${encodeURIComponent(s.refreshToken)}&base=${encodeURIComponent(dev.base)}`);
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "function", error: "function" });
  assert.deepEqual(wasmSizes(path.join(dist, "assets")), [clientWasmSize()], "the Vite app ships the client-only wasm, not the gateway");
});
