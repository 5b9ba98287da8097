// DPoP proof creation per second in Node: ida-refresh's createDpopProof beside the `dpop` npm
// package's generateProof (panva), same key pair, same request, same access token, in one run.
//
//   node tests/bench/dpop-proof.mjs [--n 2000] [--rounds 15] [--warmup 2000] [--quick]
//
// Method (the project's standard for speed claims): both libraries first make --warmup proofs
// (equal warm-up); then in each round both make --n proofs back to back, the one going first
// alternating by round; ratio_r = ida_rate_r / dpop_rate_r within the round; the table gives the
// median ops/s of each and the median of the paired ratios with its spread (interquartile
// range [min-max]). Proofs are made one after another (each awaited), as a client makes them.
// After the rounds, 50 proofs of each are checked to verify (jose), apart from the timing.
// --quick = --n 20 --rounds 2 --warmup 20 (a smoke run: figures are not meaningful).
import os from "node:os";
import * as jose from "jose";
import * as dpop from "dpop";
import * as lib from "../../pkg/node.js";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const num = (name, d) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return d;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const N = num("n", QUICK ? 20 : 2000);
const ROUNDS = num("rounds", QUICK ? 2 : 15);
const WARMUP = num("warmup", QUICK ? 20 : 2000);

const keyPair = await lib.createDpopKeyPair();
const URL_ = "https://api.example/v1/things";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9." + "x".repeat(600) + ".sig";
const makers = {
  "ida-refresh createDpopProof": () => lib.createDpopProof(keyPair, { method: "GET", url: URL_, accessToken: TOKEN }),
  "dpop generateProof": () => dpop.generateProof(keyPair, URL_, "GET", undefined, TOKEN),
};
const names = Object.keys(makers);

async function run(make, n, check) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const proof = await make();
    if (check) {
      const { payload } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: "dpop+jwt" });
      if (payload.htu !== URL_ || payload.htm !== "GET" || !payload.ath) throw new Error("bad proof");
    }
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

for (const name of names) await run(makers[name], WARMUP, false);
const rates = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...names].reverse() : names;
  for (const name of order) rates[name].push(await run(makers[name], N, false));
}
// The check is apart from the timed rounds (verifying inside them would time jose).
for (const name of names) await run(makers[name], Math.min(N, 50), true);

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}
const [ida, other] = names.map((n) => rates[n]);
const ratios = ida.map((x, r) => x / other[r]);
const f = (x) => x.toFixed(2);
console.log(`DPoP proofs per second (ES256, with ath), Node ${process.versions.node}: median of ${ROUNDS} rounds of ${N} proofs after ${WARMUP} per library; order alternating by round. ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`);
console.log();
console.log("| library | proofs/s (median) | ida-refresh / dpop, paired (median) | spread: IQR [min-max] |");
console.log("|---|---:|---:|---|");
console.log(`| ${names[0]} | ${Math.round(quantile(ida, 0.5))} | ${f(quantile(ratios, 0.5))}x | ${f(quantile(ratios, 0.25))}-${f(quantile(ratios, 0.75))} [${f(Math.min(...ratios))}-${f(Math.max(...ratios))}] |`);
console.log(`| ${names[1]} | ${Math.round(quantile(other, 0.5))} | 1.00x | |`);
