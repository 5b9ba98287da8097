// The package's types as TypeScript users get them: `npm pack pkg/`, installed from the tarball
// into a throwaway project, then `tsc --strict` per entry, each through the package's own
// `exports` (no `paths`): the "node" condition for ESM (tests/types/consumer.ts, no-any.ts) and
// for require() (cjs.cts), the browser/default condition (browser.ts) and "workerd"
// (workerd.ts). And every ```js and ```ts block of README.md, extracted and checked against the
// same installed package (`checkJs` for js). A block is checked under the browser/default and
// the node conditions; a fence tagged ```js workerd (the tag after the language, which
// renderers ignore) under "workerd" only. The free names of the fragments (`rt`,
// `storedRefreshToken`, ...) are declared in tests/types/readme-prelude.d.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./harness.mjs";

const TSC = path.join(ROOT, "tests/node_modules/typescript/bin/tsc");
const TYPES = path.join(ROOT, "tests/types");
let dir, app;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ida-types-"));
  const tarball = execFileSync("npm", ["pack", path.join(ROOT, "pkg"), "--pack-destination", dir, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  app = path.join(dir, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", path.join(dir, tarball), "--no-audit", "--no-fund", "--silent"], { cwd: app });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASE = { target: "es2022", strict: true, noEmit: true, lib: ["es2022", "dom", "dom.iterable"], types: [], skipLibCheck: false, noUnusedLocals: false };
const CONFIGS = {
  node: { module: "nodenext", moduleResolution: "nodenext" },
  browser: { module: "esnext", moduleResolution: "bundler" },
  workerd: { module: "esnext", moduleResolution: "bundler", customConditions: ["workerd"] },
};

/** Runs tsc in the app over `files` with the named configuration; resolves to its output. */
async function tsc(name, files, extra = {}) {
  const config = path.join(app, `tsconfig.${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ compilerOptions: { ...BASE, ...CONFIGS[extra.config ?? name], ...extra.options }, files }, null, 2));
  try {
    await promisify(execFile)(process.execPath, [TSC, "-p", config, "--pretty", "false"], { cwd: app });
    return "";
  } catch (e) {
    return e.stdout + e.stderr;
  }
}

function copyTypes(...names) {
  for (const name of names) fs.copyFileSync(path.join(TYPES, name), path.join(app, name));
  return names;
}

test("types: the node condition (ESM) offers the whole API, and no `any` in it", async () => {
  assert.equal(await tsc("node", copyTypes("consumer.ts", "no-any.ts")), "");
});

test("types: require() in Node resolves the CommonJS declarations (node.d.cts)", async () => {
  const files = copyTypes("cjs.cts");
  assert.equal(await tsc("cjs", files, { config: "node", options: { resolveJsonModule: true, traceResolution: false } }), "");
  const trace = execFileSync(process.execPath, [TSC, "-p", path.join(app, "tsconfig.cjs.json"), "--traceResolution"], { cwd: app, encoding: "utf8" });
  assert.match(trace, /Module name 'ida-refresh' was successfully resolved to '[^']*\/node_modules\/ida-refresh\/node\.d\.cts'/);
});

test("types: the browser build leaves AuthGateway unusable at compile time", async () => {
  assert.equal(await tsc("browser", copyTypes("browser.ts")), "");
});

test("types: the workerd condition adds RefreshCoordinator", async () => {
  assert.equal(await tsc("workerd", copyTypes("workerd.ts")), "");
});

test("types: the hand-written declarations and the API sections of the generated ones name no `any`", () => {
  const installed = path.join(app, "node_modules/ida-refresh");
  const files = fs.readdirSync(installed).filter((f) => /\.d\.c?ts$/.test(f)).map((f) => path.join(installed, f));
  for (const dir of ["wasm", "wasm-client", "wasm-node"]) files.push(path.join(installed, dir, "ida_refresh.d.ts"), path.join(installed, dir, "refresh-error.d.ts"));
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    // wasm-bindgen's own init declarations (the raw wasm exports, InitOutput) are not re-exported by any entry.
    const api = fs.readFileSync(file, "utf8").split(/^export type InitInput\b/m)[0].replace(/\/\*\*[\s\S]*?\*\/|\/\/.*$/gm, "");
    assert.doesNotMatch(api, /\bany\b/, path.relative(installed, file));
  }
});

/** README.md's ```js and ```ts blocks: { lang, tag, line, code }. */
function readmeBlocks() {
  const blocks = [];
  const lines = fs.readFileSync(path.join(ROOT, "README.md"), "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(js|ts)(?:\s+(\w+))?\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const code = [];
    while (++i < lines.length && !lines[i].startsWith("```")) code.push(lines[i]);
    blocks.push({ lang: open[1], tag: open[2] ?? null, line: start + 1, code: code.join("\n") + "\n" });
  }
  return blocks;
}

test("types: every js and ts block of README.md type-checks against the packed package", async () => {
  const blocks = readmeBlocks();
  assert.ok(blocks.length >= 5, `found ${blocks.length} blocks`);
  fs.copyFileSync(path.join(TYPES, "readme-prelude.d.ts"), path.join(app, "readme-prelude.d.ts"));
  const byCondition = { browser: [], node: [], workerd: [] };
  for (const b of blocks) {
    assert.ok(b.tag === null || b.tag in byCondition, `README.md:${b.line}: unknown tag ${b.tag}`);
    // Each block is its own module (an `export {}` makes one of an import-less fragment).
    const file = `readme-${b.line}.${b.lang}`;
    fs.writeFileSync(path.join(app, file), `${b.code}export {};\n`);
    for (const condition of b.tag ? [b.tag] : ["browser", "node"]) byCondition[condition].push(file);
  }
  const failures = [];
  for (const [condition, files] of Object.entries(byCondition)) {
    if (!files.length) continue;
    const out = await tsc(`readme-${condition}`, ["readme-prelude.d.ts", ...files], { config: condition, options: { allowJs: true, checkJs: true } });
    if (out) failures.push(`under the ${condition} condition:\n${out.replace(/readme-(\d+)\.(js|ts)\((\d+),/g, (_, line, _l, n) => `README.md:${Number(line) + Number(n)}(`)}`);
  }
  assert.equal(failures.join("\n"), "");
});
