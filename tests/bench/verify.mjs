// Verification throughput per algorithm, ida-refresh (AuthGateway.authenticate) beside jose
// (jwtVerify) with the same tokens and keys, in workerd and in Node, in one run.
//
//   node tests/bench/verify.mjs [--n 2000] [--rounds 15] [--warmup 3000] [--only workerd|node]
//                               [--algs HS256,RS256,ES256,EdDSA] [--quick]
//
// Method (the project's standard for speed claims):
//  - warm-up: before anything is timed, every library runs --warmup calls per algorithm in the
//    same isolate / process (wasm and jose's JS both tier up over thousands of calls);
//  - rounds: in round r every (algorithm, library) pair runs --n calls; the three libraries run
//    back to back, in an order that cycles through all 6 permutations, so none always goes
//    first (or last) and slow drift of the machine hits the three alike;
//  - ratios are paired: ratio_r = ida_rate_r / jose_rate_r (and vs jose+forward) within the
//    same round; the table gives the median of those ratios with its spread (interquartile
//    range, then min-max), beside the median ops/s of each library.
// In workerd each measurement is one HTTP request that runs --n verifications, timed from
// outside (workerd's clocks do not advance during CPU work) minus an empty request made just
// before it; in Node it is timed in-process. Prints a markdown table on stdout, progress on
// stderr. --quick = --n 20 --rounds 1 --warmup 20 (a smoke run: figures are not meaningful).
import crypto from "node:crypto";
import os from "node:os";
import { startBenchWorkerd } from "./workerd-bench.mjs";
import { paired, opsCell, ratioCell, spreadCell, benchArgs } from "./stats.mjs";

const args = benchArgs();
const QUICK = args.quick;
const N = args.count("n", QUICK ? 20 : 2000);
const ROUNDS = args.count("rounds", QUICK ? 1 : 15);
const WARMUP = args.count("warmup", QUICK || (args.text("n") !== undefined && N <= 50) ? 20 : 3000, 0);
const ONLY = args.oneOf("only", ["workerd", "node"]);
const ALL_ALGS = ["HS256", "RS256", "ES256", "EdDSA"];
const ALGS = args.listOf("algs", ALL_ALGS);
const LIBS = ["ida", "jose", "jose+forward"];
// All orders of the three libraries; round r uses ORDERS[r % 6].
const ORDERS = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [2, 1, 0], [1, 0, 2]].map((o) => o.map((i) => LIBS[i]));
const WARM_CHUNK = 1000; // warm-up calls per workerd request
const CHECK = Math.min(N, 50); // calls that must all verify before anything else
const progress = (msg) => process.stderr.write(`verify: ${msg}\n`);

// ---- tokens and keys ----------------------------------------------------------------------

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const secret = crypto.randomBytes(32).toString("base64url");
const pairs = {
  RS256: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }),
  ES256: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }),
  EdDSA: crypto.generateKeyPairSync("ed25519"),
};
const jwks = Object.entries(pairs).map(([alg, p]) => ({ ...p.publicKey.export({ format: "jwk" }), kid: alg, alg }));
function token(alg) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg, typ: "JWT", ...(alg === "HS256" ? {} : { kid: alg }) })}.${b64({ sub: "bench", iat: now, exp: now + 3600 })}`;
  const data = Buffer.from(input);
  const sig = alg === "HS256" ? crypto.createHmac("sha256", secret).update(input).digest()
    : alg === "RS256" ? crypto.sign("sha256", data, pairs.RS256.privateKey)
    : alg === "ES256" ? crypto.sign("sha256", data, { key: pairs.ES256.privateKey, dsaEncoding: "ieee-p1363" })
    : crypto.sign(null, data, pairs.EdDSA.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}
const tokens = Object.fromEntries(ALL_ALGS.map((a) => [a, token(a)]));

// ---- workerd ------------------------------------------------------------------------------

async function inWorkerd() {
  // The worker imports "./jose/index.js": jose's web build, module by module.
  const worker = await startBenchWorkerd("verify-worker.js", { secret, jwks, tokens });
  const { call } = worker;
  const results = {};
  // "+" in a query string reads as a space: names are encoded ("jose+forward" was once timed
  // as plain jose that way).
  try {
    await call("warm");
    // Correctness first: every library verifies every token (and ida's outcome carries the
    // forwarded request with the token), else the figures would compare different work.
    for (const alg of ALGS) {
      for (const lib of LIBS) {
        const check = await call(`lib=${encodeURIComponent(lib)}&alg=${alg}&n=${CHECK}&check=1`);
        const reply = JSON.parse(check.body);
        if (reply.ok !== CHECK) throw new Error(`${lib} ${alg}: tokens did not verify in workerd: ${check.body}`);
        results[`${lib} ${alg}`] = [];
      }
    }
    // Warm-up: the same number of calls for every library, all before any timing.
    progress(`workerd: warm-up, ${WARMUP} calls per library and algorithm`);
    for (let done = 0; done < WARMUP; done += WARM_CHUNK) {
      const n = Math.min(WARM_CHUNK, WARMUP - done);
      for (const alg of ALGS) for (const lib of LIBS) await call(`lib=${encodeURIComponent(lib)}&alg=${alg}&n=${n}`);
    }
    for (let r = 0; r < ROUNDS; r++) {
      progress(`workerd: round ${r + 1}/${ROUNDS}`);
      for (const alg of ALGS) {
        for (const lib of ORDERS[r % ORDERS.length]) {
          const empty = await call("noop");
          const run = await call(`lib=${encodeURIComponent(lib)}&alg=${alg}&n=${N}`);
          if (JSON.parse(run.body).ok !== N) throw new Error(`${lib} ${alg}: a token did not verify in workerd: ${run.body}`);
          // Below a few ms the outside clock cannot tell: no figure rather than a wrong one.
          results[`${lib} ${alg}`][r] = run.ms - empty.ms >= 3 ? N / ((run.ms - empty.ms) / 1000) : NaN;
        }
      }
    }
  } finally {
    await worker.stop();
  }
  return results;
}

// ---- Node ---------------------------------------------------------------------------------

async function inNode() {
  const { AuthGateway } = await import("../../pkg/node.js");
  const jose = await import("jose");
  const gateway = new AuthGateway({ baseUrl: "http://127.0.0.1:9/api/v1", upstream: "http://127.0.0.1:9", keys: { hs256Secret: secret, jwks: { keys: jwks } }, algorithms: ALL_ALGS });
  const joseKeys = { HS256: new TextEncoder().encode(secret) };
  for (const jwk of jwks) joseKeys[jwk.alg] = await jose.importJWK(jwk, jwk.alg);
  const request = (alg) => new Request("http://gateway/x", { headers: { authorization: `Bearer ${tokens[alg]}` } });
  const run = {
    // The forwarded request is read, as a gateway would (it costs the same were it built lazily).
    ida: async (alg) => {
      const outcome = await gateway.authenticate(request(alg));
      return outcome.status === "authenticated" && outcome.request != null;
    },
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
  const loop = async (lib, alg, n) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if (await run[lib](alg)) ok++;
    if (ok !== n) throw new Error(`${lib} ${alg}: a token did not verify in Node`);
  };
  const results = {};
  for (const alg of ALGS) {
    const outcome = await gateway.authenticate(request(alg));
    if (outcome.status !== "authenticated" || !(outcome.request instanceof Request) || outcome.request.headers.get("authorization") !== `Bearer ${tokens[alg]}`) {
      throw new Error(`ida ${alg}: unexpected outcome in Node: ${outcome.status}`);
    }
    for (const lib of LIBS) {
      await loop(lib, alg, CHECK);
      results[`${lib} ${alg}`] = [];
    }
  }
  progress(`Node: warm-up, ${WARMUP} calls per library and algorithm`);
  for (let done = 0; done < WARMUP; done += WARM_CHUNK) {
    const n = Math.min(WARM_CHUNK, WARMUP - done);
    for (const alg of ALGS) for (const lib of LIBS) await loop(lib, alg, n);
  }
  for (let r = 0; r < ROUNDS; r++) {
    progress(`Node: round ${r + 1}/${ROUNDS}`);
    for (const alg of ALGS) {
      for (const lib of ORDERS[r % ORDERS.length]) {
        const t0 = performance.now();
        await loop(lib, alg, N);
        results[`${lib} ${alg}`][r] = N / ((performance.now() - t0) / 1000);
      }
    }
  }
  return results;
}

// ---- report -------------------------------------------------------------------------------

const runs = [];
if (ONLY !== "node") runs.push(["workerd", await inWorkerd()]);
if (ONLY !== "workerd") runs.push(["Node", await inNode()]);
const lines = [
  `Verification throughput, ops/s: median of ${ROUNDS} round${ROUNDS > 1 ? "s" : ""} of ${N} calls after a warm-up of ${WARMUP} calls per library and algorithm; libraries alternate within each round. ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`,
  "",
  "ida = AuthGateway.authenticate(request): header/cookie parsing, verification, claim rules, and the Request to forward.",
  "jose = jwtVerify(token) alone; jose+forward = jose plus the same header read and forwarded Request.",
  "Ratios are paired: ida's rate over the other's in the same round; the median over rounds, then its spread as interquartile range [min-max].",
  "",
  "| runtime | alg | ida-refresh | jose | jose+forward | ida / jose | spread | ida / jose+forward | spread |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|",
];
for (const [runtime, res] of runs) {
  for (const alg of ALGS) {
    const [ida, jose, fwd] = LIBS.map((l) => res[`${l} ${alg}`]);
    const vsJose = paired(ida, jose);
    const vsFwd = paired(ida, fwd);
    lines.push(`| ${runtime} | ${alg} | ${opsCell(ida)} | ${opsCell(jose)} | ${opsCell(fwd)} | ${ratioCell(vsJose)} | ${spreadCell(vsJose)} | ${ratioCell(vsFwd)} | ${spreadCell(vsFwd)} |`);
  }
}
console.log(lines.join("\n"));
