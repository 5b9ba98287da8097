// The ida spec's own code examples for POST /auth/refresh, run against the dev server.
// They are read from the spec file (../shared/seeds/000_9c0053e05e4a5aba.txt beside the
// repository, or IDA_SPEC_FILE), not copied: only the URL is changed (to the spec's local
// server, on the dev server's port) and, for Ruby, `use_ssl` to false. Each runs in JSON mode
// (it must print the new tokens) and in cookie mode (the spec's 200: `{}`). JavaScript runs
// always (node); Python, Go and Ruby when their runtime is here, else the case is skipped with
// the reason printed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, startDevServer } from "./harness.mjs";
import { check } from "./client-scenarios.mjs";

const SPEC = process.env.IDA_SPEC_FILE ?? path.resolve(ROOT, "..", "shared", "seeds", "000_9c0053e05e4a5aba.txt");

/** The spec's servers (production and local) and its code examples, by language. */
function parseSpec(text) {
  const servers = [];
  const block = /^servers:\n((?:[ \t]+- url: .*\n)+)/m.exec(text);
  if (block) for (const m of block[1].matchAll(/- url: (\S+)/g)) servers.push(m[1]);
  const local = servers.find((u) => new URL(u).hostname === "localhost");
  const production = servers.find((u) => new URL(u).hostname !== "localhost");
  const start = text.indexOf("## SDK Code Examples");
  const examples = new Map();
  if (start >= 0) {
    for (const m of text.slice(start).matchAll(/^```([\w+#-]+)\n([\s\S]*?)\n```/gm)) examples.set(m[1], m[2] + "\n");
  }
  return { servers, local, production, examples };
}

/** An example with only the URL changed (and Ruby's use_ssl off). Fails when the spec's text
 *  does not have exactly what is to be replaced: the test must never reach the real API. */
function adapt(lang, source, production, devBase) {
  const prodUrl = `${production}/auth/refresh`;
  assert.equal(source.split(prodUrl).length - 1, 1, `${lang}: the example names ${prodUrl} once`);
  let out = source.replace(prodUrl, `${devBase}/auth/refresh`);
  if (lang === "ruby") {
    assert.equal(out.split("http.use_ssl = true").length - 1, 1, "ruby: the example sets use_ssl once");
    out = out.replace("http.use_ssl = true", "http.use_ssl = false");
  }
  assert.ok(!out.includes(new URL(production).hostname), `${lang}: nothing left of the production host`);
  return out;
}

// How to run each language's example, and whether this machine can.
const has = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.error ? null : r;
};
const RUNNERS = {
  javascript: { file: "example.mjs", cmd: [process.execPath], available: () => null },
  python: {
    file: "example.py",
    cmd: ["python3"],
    available: () => {
      const r = has("python3", ["-c", "import requests"]);
      if (!r) return "python3 is not installed";
      if (r.status !== 0) return "python3 has no `requests` module (the example imports it)";
      return null;
    },
  },
  go: { file: "example.go", cmd: ["go", "run"], available: () => (has("go", ["version"]) ? null : "go is not installed") },
  ruby: { file: "example.rb", cmd: ["ruby"], available: () => (has("ruby", ["--version"]) ? null : "ruby is not installed") },
};

function run(cmd, file, cwd) {
  return new Promise((resolve) => {
    const env = { ...process.env, NO_PROXY: "localhost,127.0.0.1,::1", no_proxy: "localhost,127.0.0.1,::1" };
    execFile(cmd[0], [...cmd.slice(1), file], { cwd, env, timeout: 120_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? error.signal) : 0, stdout, stderr });
    });
  });
}

let spec;
let dev;
let workDir;
before(async () => {
  assert.ok(fs.existsSync(SPEC), `the spec file is missing: ${SPEC} (set IDA_SPEC_FILE)`);
  spec = parseSpec(fs.readFileSync(SPEC, "utf8"));
  dev = await startDevServer();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "ida-spec-examples-"));
});
after(async () => {
  await dev?.close();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

test("the spec file has both servers and the four examples this test runs", () => {
  assert.ok(spec.production, `a production server: ${spec.servers}`);
  assert.ok(spec.local, `a localhost server: ${spec.servers}`);
  for (const lang of Object.keys(RUNNERS)) assert.ok(spec.examples.has(lang), `a ${lang} example`);
  const others = [...spec.examples.keys()].filter((l) => !(l in RUNNERS));
  if (others.length) console.log(`spec examples not run (no runner here): ${others.join(", ")}`);
});

const devBase = () => {
  const u = new URL(spec.local);
  u.port = String(dev.port);
  return u.href.replace(/\/$/, "");
};

const get = (p, headers) => fetch(dev.base + p, { headers });

for (const lang of Object.keys(RUNNERS)) {
  for (const format of ["json", "cookie"]) {
    test(`spec example: ${lang}, ${format} mode`, async (t) => {
      const runner = RUNNERS[lang];
      const absent = runner.available();
      if (absent) {
        console.log(`skipped ${lang} (${format}): ${absent}`);
        return t.skip(absent);
      }
      const source = spec.examples.get(lang);
      assert.ok(source, `the spec has a ${lang} example`);
      // The token the example sends becomes a fresh session's refresh token.
      const sent = [...new Set(source.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g) ?? [])];
      assert.equal(sent.length, 1, `${lang}: one refresh token in the example`);
      await fetch(`${dev.base}/dev/restart`, { method: "POST" });
      const session = await dev.mint({ format, refreshToken: sent[0] });
      check.equal(session.refreshToken, sent[0]);

      fs.writeFileSync(path.join(workDir, runner.file), adapt(lang, source, spec.production, devBase()));
      const out = await run(runner.cmd, runner.file, workDir);
      const context = `${lang} ${format}: exit ${out.code}\nstdout: ${out.stdout.slice(0, 2000)}\nstderr: ${out.stderr.slice(0, 2000)}`;
      assert.equal(out.code, 0, context);

      const stats = await dev.stats(session.family);
      assert.equal(stats.refreshRequests, 1, `one refresh reached the server: ${context}`);
      assert.equal(stats.rotations, 1, `the example's token was accepted and rotated: ${context}`);
      const lastLine = out.stdout.trim().split("\n").at(-1).trim();
      if (format === "cookie") {
        // The spec's 200 body, parsed (Python, JavaScript) or printed as it is (Go, Ruby).
        assert.equal(lastLine, "{}", context);
      } else {
        // The printed answer carries the rotated refresh token and a new access token that the
        // protected resource accepts.
        assert.ok(out.stdout.includes(stats.currentRefreshToken), `the new refresh token is printed: ${context}`);
        const printed = [...new Set(out.stdout.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g) ?? [])].filter((x) => x !== sent[0]);
        assert.equal(printed.length, 1, `one new access token printed: ${context}`);
        const me = await get("/me", { Authorization: `Bearer ${printed[0]}` });
        assert.equal(me.status, 200, "the printed access token is valid");
        assert.equal((await me.json()).sid, session.family);
      }
    });
  }
}
