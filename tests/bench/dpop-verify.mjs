// DPoP proof verification throughput: AuthGateway.authenticate() beside a jose-based verifier
// (tests/bench/dpop-jose.js: jwtVerify + EmbeddedJWK + calculateJwkThumbprint + the same claim
// checks and forwarded Request), with the same DPoP-bound ES256 access token and fresh proofs
// made by the `dpop` package, in workerd and in Node, in one run.
//
//   node tests/bench/dpop-verify.mjs [--n 1000] [--rounds 15] [--warmup 2000] [--only workerd|node]
//                             [--algs ES256,EdDSA] [--quick]
//
// Each request carries the access token (ES256, from a static JWKS) and a new proof (ES256 or
// Ed25519 key): so both sides verify two signatures, hash the token, compute the thumbprint and
// remember the jti. Proofs are made before each timed loop, never inside it. Method as in
// verify.mjs: equal warm-up, the two libraries alternate (order flips every round), ratios are
// the median of per-round paired ratios with their spread. --quick = --n 20 --rounds 1
// --warmup 20 (a smoke run: figures are not meaningful).
import crypto from "node:crypto";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../js/harness.mjs";
import { startBenchWorkerd } from "./workerd-bench.mjs";
import { paired, opsCell, ratioCell, spreadCell, benchArgs } from "./stats.mjs";
import { joseDpopVerifier } from "./dpop-jose.js";

const args = benchArgs();
const QUICK = args.quick;
const N = args.count("n", QUICK ? 20 : 1000);
const ROUNDS = args.count("rounds", QUICK ? 1 : 15);
const WARMUP = args.count("warmup", QUICK ? 20 : 2000);
const ONLY = args.oneOf("only", ["workerd", "node"]);
const ALL_ALGS = ["ES256", "EdDSA"];
const ALGS = args.listOf("algs", ALL_ALGS);
const LIBS = ["ida", "jose"];
const CHUNK = 1000;
const progress = (msg) => process.stderr.write(`dpop: ${msg}\n`);

// ---- keys and tokens ----------------------------------------------------------------------

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const as = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
const asJwk = { ...as.publicKey.export({ format: "jwk" }), kid: "as", alg: "ES256" };
const proofPairs = { ES256: crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }), EdDSA: crypto.generateKeyPairSync("ed25519") };
const proofKeys = Object.fromEntries(Object.entries(proofPairs).map(([alg, p]) => [alg, { privateJwk: p.privateKey.export({ format: "jwk" }), publicJwk: p.publicKey.export({ format: "jwk" }) }]));
function thumbprint(jwk) {
  const members = jwk.kty === "EC" ? ["crv", "kty", "x", "y"] : ["crv", "kty", "x"];
  return crypto.createHash("sha256").update(JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])))).digest("base64url");
}
function token(alg) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "ES256", typ: "at+jwt", kid: "as" })}.${b64({ sub: "bench", iat: now, exp: now + 3600, cnf: { jkt: thumbprint(proofKeys[alg].publicJwk) } })}`;
  return `${input}.${crypto.sign("sha256", Buffer.from(input), { key: as.privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}
const tokens = Object.fromEntries(ALL_ALGS.map((a) => [a, token(a)]));

// ---- workerd ------------------------------------------------------------------------------

async function inWorkerd() {
  const worker = await startBenchWorkerd("dpop-worker.js", { asJwk, proofKeys, tokens }, [
    { name: "dpop/index.js", file: path.join(ROOT, "tests/node_modules/dpop/build/index.js") },
    { name: "dpop-jose.js", file: path.join(ROOT, "tests/bench/dpop-jose.js") },
  ]);
  const { call } = worker;
  const run = async (lib, alg, n) => {
    await call(`make=${alg}&n=${n}`);
    const empty = await call("noop");
    const timed = await call(`lib=${lib}&alg=${alg}&n=${n}`);
    if (JSON.parse(timed.body).ok !== n) throw new Error(`${lib} ${alg}: a request was refused in workerd: ${timed.body}`);
    return timed.ms - empty.ms >= 3 ? n / ((timed.ms - empty.ms) / 1000) : NaN;
  };
  return measure("workerd", run).finally(() => worker.stop());
}

// ---- Node ---------------------------------------------------------------------------------

async function inNode() {
  const { AuthGateway } = await import("../../pkg/node.js");
  const jose = await import("jose");
  const DPoP = await import("dpop");
  const gateway = new AuthGateway({ baseUrl: "http://127.0.0.1:9/api/v1", upstream: "http://127.0.0.1:9", keys: { jwks: { keys: [asJwk] } }, algorithms: ["ES256"] });
  const joseVerify = joseDpopVerifier(jose, await jose.importJWK(asJwk, "ES256"));
  const keys = {};
  for (const [alg, { privateJwk, publicJwk }] of Object.entries(proofKeys)) {
    const params = alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" };
    keys[alg] = { privateKey: await crypto.subtle.importKey("jwk", privateJwk, params, false, ["sign"]), publicKey: await crypto.subtle.importKey("jwk", publicJwk, params, true, ["verify"]) };
  }
  const incoming = (alg, proof) => new Request("http://gateway/x", { headers: { authorization: `DPoP ${tokens[alg]}`, dpop: proof } });
  const verify = {
    ida: async (alg, proof) => {
      const outcome = await gateway.authenticate(incoming(alg, proof));
      return outcome.status === "authenticated" && outcome.request != null && Boolean(outcome.dpopThumbprint);
    },
    jose: (alg, proof) => joseVerify(incoming(alg, proof)),
  };
  const run = async (lib, alg, n) => {
    const proofs = [];
    for (let i = 0; i < n; i++) proofs.push(await DPoP.generateProof(keys[alg], "http://gateway/x", "GET", undefined, tokens[alg]));
    const t0 = performance.now();
    let ok = 0;
    for (const proof of proofs) if (await verify[lib](alg, proof)) ok++;
    const ms = performance.now() - t0;
    if (ok !== n) throw new Error(`${lib} ${alg}: a request was refused in Node`);
    return n / (ms / 1000);
  };
  return measure("Node", run);
}

/** Check, warm-up, then rounds with the libraries alternating. */
async function measure(runtime, run) {
  const results = {};
  for (const alg of ALGS) for (const lib of LIBS) {
    await run(lib, alg, Math.min(N, 20));
    results[`${lib} ${alg}`] = [];
  }
  progress(`${runtime}: warm-up, ${WARMUP} requests per library and algorithm`);
  for (let done = 0; done < WARMUP; done += CHUNK) {
    for (const alg of ALGS) for (const lib of LIBS) await run(lib, alg, Math.min(CHUNK, WARMUP - done));
  }
  for (let r = 0; r < ROUNDS; r++) {
    progress(`${runtime}: round ${r + 1}/${ROUNDS}`);
    for (const alg of ALGS) {
      for (const lib of r % 2 ? [...LIBS].reverse() : LIBS) results[`${lib} ${alg}`][r] = await run(lib, alg, N);
    }
  }
  return results;
}

// ---- report -------------------------------------------------------------------------------

const runs = [];
if (ONLY !== "node") runs.push(["workerd", await inWorkerd()]);
if (ONLY !== "workerd") runs.push(["Node", await inNode()]);
const lines = [
  `DPoP request verification, requests/s: median of ${ROUNDS} round${ROUNDS > 1 ? "s" : ""} of ${N} requests after a warm-up of ${WARMUP} per library and proof algorithm; libraries alternate. ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`,
  "",
  "Each request: a DPoP-bound ES256 access token and a fresh proof. ida = AuthGateway.authenticate(); jose = jwtVerify (token) + jwtVerify with EmbeddedJWK (proof) + calculateJwkThumbprint + the same claim checks, jti window and forwarded Request (tests/bench/dpop-jose.js).",
  "",
  "| runtime | proof alg | ida-refresh | jose | ida / jose | spread (IQR [min-max]) |",
  "|---|---|---:|---:|---:|---:|",
];
for (const [runtime, res] of runs) {
  for (const alg of ALGS) {
    const [ida, jose] = LIBS.map((l) => res[`${l} ${alg}`]);
    const ratios = paired(ida, jose);
    lines.push(`| ${runtime} | ${alg} | ${opsCell(ida)} | ${opsCell(jose)} | ${ratioCell(ratios)} | ${spreadCell(ratios)} |`);
  }
}
console.log(lines.join("\n"));
