// Shared by the Node test files: a dev server per file, workerd launched for real, and small
// fetch helpers for the dev-only endpoints.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { before, after } from "node:test";
import { createDevServer } from "../server/server.mjs";
import { devClient } from "./client-scenarios.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export async function startDevServer(config) {
  const server = createDevServer({ static: false, ...config });
  const port = await server.listen(0);
  return { ...devClient(`http://localhost:${port}/api/v1`), port, close: () => server.close() };
}

/** For a test file: a dev server serving the pages, and Chromium; both closed after.
 *  `setup(env)` runs once both are up. */
export function withDevServerAndChromium(setup) {
  const env = {};
  before(async () => {
    env.dev = await startDevServer({ static: true });
    env.browser = await launchChromium();
    await setup?.(env);
  });
  after(async () => {
    await env.browser?.close();
    await env.dev?.close();
  });
  return env;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The package's .js and .wasm files, as paths under `pkg/` (from `packageDir`). */
function packageModules(packageDir) {
  const files = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(packageDir, rel), { withFileTypes: true })) {
      const sub = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "examples") walk(sub);
      } else if (/\.(js|wasm)$/.test(entry.name)) files.push(sub);
    }
  };
  walk("");
  return files;
}

/**
 * Runs workerd with one worker whose entry is `entryFile` (it imports "./pkg/workerd.js"), and
 * outbound network allowed to loopback. Returns { url, stop }.
 */
export async function startWorkerd(entryFile, { bindings = [], durableObjects = [], extraModules = [], packageDir = path.join(ROOT, "pkg") } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ida-workerd-"));
  const modules = [`(name = "worker.js", esModule = embed "worker.js")`];
  fs.copyFileSync(entryFile, path.join(dir, "worker.js"));
  for (const file of packageModules(packageDir)) {
    const rel = path.posix.join("pkg", file);
    fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    fs.copyFileSync(path.join(packageDir, file), path.join(dir, rel));
    const kind = rel.endsWith(".wasm") ? "wasm" : "esModule";
    modules.push(`(name = "${rel}", ${kind} = embed "${rel}")`);
  }
  for (const { name, file } of extraModules) {
    fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
    fs.copyFileSync(file, path.join(dir, name));
    modules.push(`(name = "${name}", esModule = embed "${name}")`);
  }
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "outbound", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ ${modules.join(",\n    ")} ],
  compatibilityDate = "2025-09-01",
  compatibilityFlags = ["nodejs_compat"],
  globalOutbound = "outbound",
  bindings = [ ${[...bindings, ...durableObjects.map((c) => `(name = "${c.binding}", durableObjectNamespace = "${c.className}")`)].join(", ")} ],
  ${durableObjects.length ? `durableObjectNamespaces = [ ${durableObjects.map((c) => `(className = "${c.className}", uniqueKey = "${c.className}-test")`).join(", ")} ],
  durableObjectStorage = (inMemory = void),` : ""}
);
`,
  );
  const bin = path.join(ROOT, "tests", "node_modules", ".bin", "workerd");
  const child = spawn(bin, ["serve", path.join(dir, "config.capnp"), "--verbose"], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}):\n${log}`);
    try {
      await fetch(url + "/__ready");
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`workerd did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    log: () => log,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => {
          fs.rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** A promise's outcome as a plain record (errors reduced to their public fields). */
export async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (e) {
    return { ok: false, error: e, name: e?.name, code: e?.code, status: e?.status, retryable: e?.retryable, retryAfterMs: e?.retryAfterMs, message: e?.message };
  }
}

/** Removes a Chromium profile; a helper process still writing to it only leaves it behind. */
export function removeProfile(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  } catch (e) {
    console.log(`left ${dir} behind: ${e.code}`);
  }
}

/** Debian's Chromium through playwright-core (its own browser download is not possible here). */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ida-chromium-"));
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"];
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: "/usr/bin/chromium", headless: true, args });
  return {
    context,
    close: async () => {
      await context.close();
      removeProfile(userDataDir);
    },
  };
}
