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
import { benchArgs, paired, opsCell, ratioCell, spreadCell } from "./stats.mjs";

const args = benchArgs();
const QUICK = args.quick;
const N = args.count("n", QUICK ? 20 : 2000);
const ROUNDS = args.count("rounds", QUICK ? 2 : 15);
const WARMUP = args.count("warmup", QUICK ? 20 : 2000);

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

const [ida, other] = names.map((n) => rates[n]);
const ratios = paired(ida, other);
console.log(`DPoP proofs per second (ES256, with ath), Node ${process.versions.node}: median of ${ROUNDS} rounds of ${N} proofs after ${WARMUP} per library; order alternating by round. ${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`);
console.log();
console.log("| library | proofs/s (median) | ida-refresh / dpop, paired (median) | spread: IQR [min-max] |");
console.log("|---|---:|---:|---|");
console.log(`| ${names[0]} | ${opsCell(ida)} | ${ratioCell(ratios)} | ${spreadCell(ratios)} |`);
console.log(`| ${names[1]} | ${opsCell(other)} | 1.00x | |`);
