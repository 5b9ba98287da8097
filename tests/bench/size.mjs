// The size of each package entry as an app ships it, beside the libraries people use today,
// measured the same way in the same run: JS bundled and minified with esbuild, then gzip -9 and
// brotli -11, the wasm counted with its entry. KB = 1000 bytes.
//
//   node tests/bench/size.mjs                      prints the table
//   node tests/bench/size.mjs --max-browser-kb 60  and fails when the browser entry is larger
//                                                  (the test command does this)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NODE_MODULES = path.join(ROOT, "tests/node_modules");

function bundle(entry) {
  const esbuild = path.join(NODE_MODULES, ".bin/esbuild");
  const args = [entry, "--bundle", "--minify", "--format=esm", "--platform=browser", "--log-level=error", "--external:*.wasm", "--external:cloudflare:*"];
  return execFileSync(esbuild, args, { cwd: ROOT, maxBuffer: 64 << 20 });
}
const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;
const br = (buf) => zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
const kb = (n) => (n / 1000).toFixed(1);

/** Measures every entry and competitor; `say` gets markdown lines. Returns { name: gzip bytes }. */
export function sizes(say = console.log) {
  const wasm = (dir) => fs.readFileSync(path.join(ROOT, "pkg", dir, "ida_refresh_bg.wasm"));
  const rows = [
    ["ida-refresh browser entry (refresh, RefreshClient; Vite, webpack)", bundle("pkg/browser.js"), wasm("wasm-client")],
    ["ida-refresh/web entry (plain module pages, explicit init)", bundle("pkg/web.js"), wasm("wasm-client")],
    ["ida-refresh workerd entry (+ AuthGateway, RefreshCoordinator)", bundle("pkg/workerd.js"), wasm("wasm")],
    ["@auth0/auth0-spa-js", bundle(path.join(NODE_MODULES, "@auth0/auth0-spa-js/dist/auth0-spa-js.production.esm.js"))],
    ["@supabase/auth-js", bundle(path.join(NODE_MODULES, "@supabase/auth-js/dist/module/index.js"))],
    ["oidc-client-ts", bundle(path.join(NODE_MODULES, "oidc-client-ts/dist/esm/oidc-client-ts.js"))],
    ["jose", bundle(path.join(NODE_MODULES, "jose/dist/webapi/index.js"))],
  ];
  say("| package (entry) | JS raw | wasm raw | JS gzip | wasm gzip | gzip total | brotli total |");
  say("|---|---:|---:|---:|---:|---:|---:|");
  const result = {};
  for (const [name, js, w] of rows) {
    const total = gz(js) + (w ? gz(w) : 0);
    result[name] = total;
    const brotli = br(js) + (w ? br(w) : 0);
    say(`| ${name} | ${kb(js.length)} KB | ${w ? kb(w.length) + " KB" : "-"} | ${kb(gz(js))} KB | ${w ? kb(gz(w)) + " KB" : "-"} | ${kb(total)} KB | ${kb(brotli)} KB |`);
  }
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--max-browser-kb");
  const limit = i > 0 ? Number(process.argv[i + 1]) * 1000 : Infinity;
  const result = sizes();
  const browser = Object.entries(result)[0];
  if (browser[1] > limit) {
    console.error(`size: the browser entry is ${kb(browser[1])} KB gzip, over the ${kb(limit)} KB budget`);
    process.exit(1);
  }
  if (Number.isFinite(limit)) console.log(`\nsize: the browser entry is ${kb(browser[1])} KB gzip, within the ${kb(limit)} KB budget`);
}
