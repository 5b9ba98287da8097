// A benchmark worker in workerd beside jose's web build (module by module, as "./jose/..."),
// for verify.mjs and dpop-verify.mjs. `call(query)` times one request from outside (workerd's
// clocks do not advance during CPU work) and stops the run on anything but a 200.
import fs from "node:fs";
import path from "node:path";
import { ROOT, startWorkerd } from "../js/harness.mjs";

export async function startBenchWorkerd(script, bench, extraModules = []) {
  const joseDir = path.join(ROOT, "tests/node_modules/jose/dist/webapi");
  const modules = [...extraModules];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith(".js")) modules.push({ name: `jose/${path.relative(joseDir, full)}`, file: full });
    }
  };
  walk(joseDir);
  const worker = await startWorkerd(path.join(ROOT, "tests/bench", script), {
    bindings: [`(name = "BENCH", text = ${JSON.stringify(JSON.stringify(bench))})`],
    extraModules: modules,
  });
  const call = async (q) => {
    const t0 = performance.now();
    const r = await fetch(`${worker.url}/?${q}`);
    const body = await r.text();
    const ms = performance.now() - t0;
    if (r.status !== 200) throw new Error(`workerd answered ${r.status} to ${q}: ${body}\n${worker.log().slice(-2000)}`);
    return { ms, body };
  };
  return { call, stop: () => worker.stop() };
}
