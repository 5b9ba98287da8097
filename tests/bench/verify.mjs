// Verification throughput per algorithm, ida-refresh (AuthGateway.authenticate) beside jose
// (jwtVerify) with the same tokens and keys, in workerd and in Node, in one run.
//
//   node tests/bench/verify.mjs [--n 500] [--rounds 5]
//
// In workerd each measurement is one HTTP request that runs N verifications (timed from
// outside, minus an empty request); in Node it is timed in-process. Prints a markdown table.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, startWorkerd } from "../js/harness.mjs";

const arg = (name, d) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const N = arg("n", 500);
const ROUNDS = arg("rounds", 5);
const ALGS = ["HS256", "RS256", "ES256", "EdDSA"];
const LIBS = ["ida", "jose", "jose+forward"];

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const secret = crypto.randomBytes(32).toString("base64url");
const pairs = {
  RS256: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ES256: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  EdDSA: crypto.generateKeyPairSync("ed25519"),
};
const jwks = Object.entries(pairs).map(([alg, p]) => ({ ...p.publicKey.export({ format: "jwk" }), kid: alg, alg }));
function token(alg) {
  const input = `${b64({ alg, typ: "JWT", ...(alg === "HS256" ? {} : { kid: alg }) })}.${b64({ sub: "bench", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  const data = Buffer.from(input);
  const sig = alg === "HS256" ? crypto.createHmac("sha256", secret).update(input).digest()
    : alg === "RS256" ? crypto.sign("sha256", data, pairs.RS256.privateKey)
    : alg === "ES256" ? crypto.sign("sha256", data, { key: pairs.ES256.privateKey, dsaEncoding: "ieee-p1363" })
    : crypto.sign(null, data, pairs.EdDSA.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}
const tokens = Object.fromEntries(ALGS.map((a) => [a, token(a)]));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => `${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))}`;
const ratio = (a, b) => (a.some(Number.isNaN) || b.some(Number.isNaN) ? "n/a" : `${(median(a) / median(b)).toFixed(2)}x`);
const cell = (xs) => (xs.some(Number.isNaN) ? "n/a" : `${Math.round(median(xs))} (${spread(xs)})`);

async function inWorkerd() {
  // The worker imports "./jose/index.js": jose's web build, module by module.
  const joseDir = path.join(ROOT, "tests/node_modules/jose/dist/webapi");
  const extra = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith(".js")) extra.push({ name: `jose/${path.relative(joseDir, full)}`, file: full });
    }
  };
  walk(joseDir);
  const worker = await startWorkerd(path.join(ROOT, "tests/bench/verify-worker.js"), {
    bindings: [`(name = "BENCH", text = ${JSON.stringify(JSON.stringify({ secret, jwks, tokens }))})`],
    extraModules: extra,
  });
  const call = async (q) => {
    const t0 = performance.now();
    const r = await fetch(`${worker.url}/?${q}`);
    const body = await r.text();
    return { ms: performance.now() - t0, body };
  };
  const results = {};
  try {
    await call("warm");
    for (const alg of ALGS) {
      for (const lib of LIBS) {
        const check = await call(`lib=${lib}&alg=${alg}&n=${Math.min(N, 50)}`);
        if (JSON.parse(check.body).ok !== Math.min(N, 50)) throw new Error(`${lib} ${alg}: tokens did not verify in workerd: ${check.body}`);
        const rates = [];
        for (let r = 0; r < ROUNDS; r++) {
          const empty = await call("noop");
          const run = await call(`lib=${lib}&alg=${alg}&n=${N}`);
          // Below a few ms the outside clock cannot tell: no figure rather than a wrong one.
          rates.push(run.ms - empty.ms >= 3 ? N / ((run.ms - empty.ms) / 1000) : NaN);
        }
        results[`${lib} ${alg}`] = rates;
      }
    }
  } finally {
    await worker.stop();
  }
  return results;
}

async function inNode() {
  const { AuthGateway } = await import("../../pkg/node.js");
  const jose = await import("jose");
  const gateway = new AuthGateway({ baseUrl: "http://127.0.0.1:9/api/v1", upstream: "http://127.0.0.1:9", keys: { hs256Secret: secret, jwks: { keys: jwks } }, algorithms: ALGS });
  const joseKeys = { HS256: new TextEncoder().encode(secret) };
  for (const jwk of jwks) joseKeys[jwk.alg] = await jose.importJWK(jwk, jwk.alg);
  const request = (alg) => new Request("http://gateway/x", { headers: { authorization: `Bearer ${tokens[alg]}` } });
  const run = {
    ida: async (alg) => (await gateway.authenticate(request(alg))).status === "authenticated",
    jose: async (alg) => Boolean((await jose.jwtVerify(tokens[alg], joseKeys[alg], { algorithms: [alg] })).payload.sub),
    "jose+forward": async (alg) => {
      const r = request(alg);
      const token = r.headers.get("authorization").slice(7);
      const { payload } = await jose.jwtVerify(token, joseKeys[alg], { algorithms: [alg] });
      const headers = new Headers(r.headers);
      headers.set("authorization", `Bearer ${token}`);
      return Boolean(payload.sub && new Request("http://origin" + new URL(r.url).pathname, { method: r.method, headers, redirect: "manual" }));
    },
  };
  const results = {};
  for (const alg of ALGS) {
    for (const lib of LIBS) {
      for (let i = 0; i < Math.min(N, 50); i++) if (!(await run[lib](alg))) throw new Error(`${lib} ${alg} did not verify in Node`);
      const rates = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = performance.now();
        for (let i = 0; i < N; i++) await run[lib](alg);
        rates.push(N / ((performance.now() - t0) / 1000));
      }
      results[`${lib} ${alg}`] = rates;
    }
  }
  return results;
}

const workerd = await inWorkerd();
const node = await inNode();
const lines = [
  `Verification throughput, ops/s (median of ${ROUNDS} rounds of ${N}; spread min-max), ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`,
  "",
  "ida = AuthGateway.authenticate(request): header/cookie parsing, verification, claim rules, and the Request to forward.",
  "jose = jwtVerify(token) alone; jose+forward = jose plus the same header read and forwarded Request.",
  "",
  "| runtime | alg | ida-refresh | jose | jose+forward | ida / jose | ida / jose+forward |",
  "|---|---|---:|---:|---:|---:|---:|",
];
for (const [runtime, res] of [["workerd", workerd], ["Node", node]]) {
  for (const alg of ALGS) {
    const [ida, jose, fwd] = LIBS.map((l) => res[`${l} ${alg}`]);
    lines.push(`| ${runtime} | ${alg} | ${cell(ida)} | ${cell(jose)} | ${cell(fwd)} | ${ratio(ida, jose)} | ${ratio(ida, fwd)} |`);
  }
}
console.log(lines.join("\n"));
