// DPoP at the edge (RFC 9449): AuthGateway in real workerd, and in Node, checks the proofs that
// come with node-oidc-provider's DPoP-bound JWT access tokens (obtained with code + PKCE + DPoP),
// accepts proofs from every proof maker in `PROOF_MAKERS` and refuses hostile ones, each with
// one identical body and without calling the origin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import path from "node:path";
import * as DPoP from "dpop";
import { AuthGateway, createDpopProof, createDpopKeyPair } from "../../pkg/node.js";
import { ROOT, startWorkerd, freePort } from "./harness.mjs";
import { startOidcProvider, SPA_CLIENT, RESOURCE } from "../server/oidc.mjs";
import { check } from "./client-scenarios.mjs";

/**
 * Proof makers under test: each makes a valid proof for a key pair (as made by `generateKeys`),
 * the request's htu and htm, the access token (ath) and a nonce. Add another implementation
 * here (e.g. ida-refresh's own createDpopProof) and every acceptance test runs with it too.
 */
export const PROOF_MAKERS = {
  "dpop (npm)": {
    generateKeys: (alg) => DPoP.generateKeyPair(alg, { extractable: true }),
    prove: (keys, { htu, htm, accessToken, nonce }) => DPoP.generateProof(keys, htu, htm, nonce, accessToken),
  },
  "ida-refresh": {
    algs: ["ES256"], // createDpopKeyPair makes ES256 keys only
    generateKeys: () => createDpopKeyPair(),
    prove: (keys, { htu, htm, accessToken, nonce }) => createDpopProof(keys, { method: htm, url: htu, accessToken, nonce }),
  },
};
const KEY_ALGS = ["ES256", "Ed25519", "RS256"];
const NONCE_SECRET = "dpop-nonce-secret-of-at-least-32-bytes";
const ALGS = 'algs="ES256 EdDSA RS256"';

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const sha256 = (s) => crypto.createHash("sha256").update(s).digest("base64url");
const nowS = () => Math.floor(Date.now() / 1000);
const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

let as, origin, worker, base;
let forwarded = 0;
let lastForwarded = null;
const tokens = {}; // by key alg: { keys, accessToken, maker }
let bearerToken;

/** Sign-in through node-oidc-provider with a DPoP proof at the token endpoint: a bound token. */
async function boundSession(maker, alg) {
  const keys = await maker.generateKeys(alg);
  const t = await as.signIn(SPA_CLIENT, { dpop: (htm, htu, nonce) => maker.prove(keys, { htu, htm, nonce }) });
  assert.equal(t.token_type, "DPoP", "the provider issued a DPoP token");
  const jkt = claimsOf(t.access_token).cnf?.jkt;
  assert.equal(jkt, await DPoP.calculateThumbprint(keys.publicKey), "bound to the key (cnf.jkt)");
  return { keys, accessToken: t.access_token, maker };
}

before(async () => {
  as = await startOidcProvider();
  const port = await freePort();
  origin = http.createServer((req, res) => {
    forwarded++;
    lastForwarded = { url: req.url, authorization: req.headers.authorization ?? null, dpop: req.headers.dpop ?? null };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ path: req.url }));
  });
  await new Promise((r) => origin.listen(port, "127.0.0.1", r));
  base = {
    protocol: "oauth2", tokenUrl: as.tokenUrl, clientId: SPA_CLIENT,
    upstream: `http://127.0.0.1:${port}`, keys: { jwksUrl: as.jwksUrl }, algorithms: ["ES256"], issuer: as.issuer, audience: RESOURCE,
  };
  worker = await startWorkerd(path.join(ROOT, "tests/workerd/gateway-worker.js"), {
    bindings: [`(name = "CONFIG", text = ${JSON.stringify(JSON.stringify(configs()))})`],
    durableObjects: [{ className: "RefreshCoordinator", binding: "COORD" }],
  });
  for (const [name, maker] of Object.entries(PROOF_MAKERS)) {
    for (const alg of maker.algs ?? KEY_ALGS) tokens[`${name}/${alg}`] = await boundSession(maker, alg);
  }
  bearerToken = (await as.signIn()).access_token;
  assert.equal(claimsOf(bearerToken).cnf, undefined);
});
after(async () => {
  await worker?.stop();
  await new Promise((r) => origin?.close(r));
  await as?.close();
});

function configs() {
  const nonce = { ...base, dpopNonce: true, dpopNonceSecret: NONCE_SECRET };
  return {
    plain: base,
    required: { ...base, dpop: "required" },
    off: { ...base, dpop: "off" },
    public: { ...base, publicOrigin: "https://api.example" },
    nonce1: nonce,
    nonce2: nonce,
    nonceRandom: { ...base, dpopNonce: true },
    coordA: { ...base, withCoordinator: true },
    coordB: { ...base, withCoordinator: true },
  };
}

// The two runtimes: a request to a named gateway config, answered by handle().
const nodeGateways = {};
const RUNTIMES = {
  workerd: {
    base: () => worker.url,
    send: (gateway, p, { method = "GET", headers = [] } = {}) =>
      fetch(worker.url + p, { method, headers: [...headers, ["x-test-gateway", gateway]], body: method === "GET" ? undefined : "{}", redirect: "manual" }),
  },
  node: {
    base: () => "http://gateway.test",
    send: (gateway, p, { method = "GET", headers = [] } = {}) => {
      const config = configs()[gateway];
      delete config.withCoordinator; // no Durable Objects in Node
      nodeGateways[gateway] ??= new AuthGateway(config);
      return nodeGateways[gateway].handle(new Request(`http://gateway.test${p}`, { method, headers, body: method === "GET" ? undefined : "{}" }));
    },
  },
};

/** A proof made by hand, for the hostile cases: ES256 unless the key says otherwise. */
async function craft(keys, { htu, htm = "GET", accessToken, header = {}, claims = {}, omit = [], signWith, tamper, hmac } = {}) {
  const jwk = await crypto.subtle.exportKey("jwk", keys.publicKey);
  for (const m of ["key_ops", "ext", "alg", "use"]) delete jwk[m];
  const h = { typ: "dpop+jwt", alg: "ES256", jwk, ...header };
  const c = { htm, htu, iat: nowS(), jti: crypto.randomUUID(), ath: sha256(accessToken), ...claims };
  for (const m of omit) {
    delete h[m];
    delete c[m];
  }
  const input = `${b64(h)}.${b64(c)}`;
  let signature;
  if (hmac) signature = crypto.createHmac("sha256", hmac).update(input).digest();
  else if (h.alg === "none") signature = Buffer.alloc(0);
  else signature = Buffer.from(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signWith ?? keys.privateKey, Buffer.from(input)));
  const proof = `${input}.${signature.toString("base64url")}`;
  if (!tamper) return proof;
  const [, , sig] = proof.split(".");
  return `${b64(h)}.${b64({ ...c, htm: "DELETE" })}.${sig}`;
}

/** The hostile proofs: each gives the headers of a request for GET /x that must be refused. */
function hostileCases() {
  const dpop = (proof) => [["dpop", proof]];
  const auth = (token) => [["authorization", `DPoP ${token}`]];
  const es = (ctx, options) => craft(ctx.keys, { htu: ctx.htu, accessToken: ctx.token, ...options });
  const withProof = async (ctx, options) => [...auth(ctx.token), ...dpop(await es(ctx, options))];
  return [
    ["wrong method (htm POST on a GET)", (ctx) => withProof(ctx, { htm: "POST" })],
    ["htm in lower case", (ctx) => withProof(ctx, { htm: "get" })],
    ["another path in htu", (ctx) => withProof(ctx, { htu: ctx.htu.replace(/\/x$/, "/other") })],
    ["a query in htu", (ctx) => withProof(ctx, { htu: `${ctx.htu}?a=1` })],
    ["a fragment in htu", (ctx) => withProof(ctx, { htu: `${ctx.htu}#f` })],
    ["another origin in htu", (ctx) => withProof(ctx, { htu: "https://evil.example/x" })],
    ["iat 5 minutes old", (ctx) => withProof(ctx, { claims: { iat: nowS() - 300 } })],
    ["iat 5 minutes ahead", (ctx) => withProof(ctx, { claims: { iat: nowS() + 300 } })],
    ["iat not a number", (ctx) => withProof(ctx, { claims: { iat: String(nowS()) } })],
    ["no jti", (ctx) => withProof(ctx, { omit: ["jti"] })],
    ["jwk with its private part (d)", async (ctx) => withProof(ctx, { header: { jwk: await crypto.subtle.exportKey("jwk", ctx.keys.privateKey) } })],
    ["alg none, unsigned", (ctx) => withProof(ctx, { header: { alg: "none" } })],
    ["alg HS256 keyed with the public jwk", async (ctx) => withProof(ctx, { header: { alg: "HS256" }, hmac: JSON.stringify(await crypto.subtle.exportKey("jwk", ctx.keys.publicKey)) })],
    ["alg ES384 (not allowed)", (ctx) => withProof(ctx, { header: { alg: "ES384" } })],
    ["alg RS256 with an EC jwk", (ctx) => withProof(ctx, { header: { alg: "RS256" } })],
    ["typ JWT", (ctx) => withProof(ctx, { header: { typ: "JWT" } })],
    ["no typ", (ctx) => withProof(ctx, { omit: ["typ"] })],
    ["crit header", (ctx) => withProof(ctx, { header: { crit: ["htm"] } })],
    ["no ath", (ctx) => withProof(ctx, { omit: ["ath"] })],
    ["ath of another token", (ctx) => withProof(ctx, { claims: { ath: sha256(bearerToken) } })],
    ["thumbprint mismatch (another key, signed by it)", async (ctx) => [...auth(ctx.token), ...dpop(await craft(ctx.otherKeys, { htu: ctx.htu, accessToken: ctx.token }))]],
    ["signed by another key (the header names the bound key)", (ctx) => withProof(ctx, { signWith: ctx.otherKeys.privateKey })],
    ["payload changed after signing", (ctx) => withProof(ctx, { tamper: true })],
    ["two DPoP headers", async (ctx) => [...auth(ctx.token), ...dpop(await es(ctx)), ...dpop(await es(ctx))]],
    ["oversized proof (9 KiB)", (ctx) => withProof(ctx, { claims: { pad: "a".repeat(9 * 1024) } })],
    ["no DPoP header", async (ctx) => auth(ctx.token)],
    ["not a JWS", async (ctx) => [...auth(ctx.token), ...dpop("not-a-proof")]],
    ["the access token's signature broken (a valid proof for it)", async (ctx) => {
      const broken = `${ctx.token.slice(0, ctx.token.lastIndexOf("."))}.${"A".repeat(86)}`;
      return [...auth(broken), ...dpop(await craft(ctx.keys, { htu: ctx.htu, accessToken: broken }))];
    }],
    ["the bound token as Bearer, with a valid proof", async (ctx) => [["authorization", `Bearer ${ctx.token}`], ...dpop(await es(ctx))]],
    ["an unbound token with the DPoP scheme and a proof for it", async (ctx) => [...auth(bearerToken), ...dpop(await craft(ctx.keys, { htu: ctx.htu, accessToken: bearerToken }))]],
  ];
}

for (const [runtime, { base: baseOf, send }] of Object.entries(RUNTIMES)) {
  for (const [name, maker] of Object.entries(PROOF_MAKERS)) {
    const { prove } = maker;
    for (const alg of maker.algs ?? KEY_ALGS) {
      test(`${runtime}: node-oidc-provider's DPoP-bound token with a ${alg} proof by ${name}: forwarded without the proof, thumbprint in the outcome`, async () => {
        const { keys, accessToken } = tokens[`${name}/${alg}`];
        const htu = `${baseOf()}/x`;
        for (const method of ["GET", "POST"]) {
          const before = forwarded;
          const r = await send("plain", "/x", { method, headers: [["authorization", `DPoP ${accessToken}`], ["dpop", await prove(keys, { htu, htm: method, accessToken })]] });
          assert.equal(r.status, 200, `${method}: ${await r.text()}`);
          assert.equal(forwarded, before + 1);
          assert.equal(lastForwarded.dpop, null, "the DPoP header is not forwarded");
          check.equal(lastForwarded.authorization, `Bearer ${accessToken}`);
        }
        if (runtime === "workerd") {
          const at = `${baseOf()}/__authenticate`;
          const r = await send("plain", "/__authenticate", { headers: [["authorization", `DPoP ${accessToken}`], ["dpop", await prove(keys, { htu: at, htm: "GET", accessToken })]] });
          const outcome = await r.json();
          assert.equal(outcome.status, "authenticated");
          assert.equal(outcome.dpopThumbprint, claimsOf(accessToken).cnf.jkt);
          // The same key again (imported: decided in one JS call), with a proof signed by another.
          const other = await maker.generateKeys(alg);
          const forged = await prove(other, { htu: at, htm: "GET", accessToken });
          const [h, p] = forged.split(".");
          const header = JSON.parse(Buffer.from(h, "base64url"));
          header.jwk = JSON.parse(Buffer.from((await prove(keys, { htu: at, htm: "GET", accessToken })).split(".")[0], "base64url")).jwk;
          const swapped = `${b64(header)}.${p}.${forged.split(".")[2]}`;
          const refused = await send("plain", "/__authenticate", { headers: [["authorization", `DPoP ${accessToken}`], ["dpop", swapped]] });
          assert.deepEqual(await refused.json(), {
            status: "unauthenticated",
            claims: null,
            request: null,
            setCookies: [],
            dpopThumbprint: null,
            challenge: `DPoP error="invalid_dpop_proof", ${ALGS}`,
            dpopNonce: null,
          });
        }
      });
    }
  }

  test(`${runtime}: at least 20 kinds of hostile proof are refused with one identical body, the origin not called`, async () => {
    const { keys, accessToken } = tokens[`dpop (npm)/ES256`];
    const ctx = { keys, token: accessToken, htu: `${baseOf()}/x`, otherKeys: await DPoP.generateKeyPair("ES256", { extractable: true }) };
    const cases = hostileCases();
    // A replayed proof: the first use passes, the second is refused.
    const valid = await craft(keys, { htu: ctx.htu, accessToken });
    const first = await send("plain", "/x", { headers: [["authorization", `DPoP ${accessToken}`], ["dpop", valid]] });
    assert.equal(first.status, 200, "the hand-made proof is valid");
    cases.push(["replayed jti (the same proof again)", async () => [["authorization", `DPoP ${accessToken}`], ["dpop", valid]]]);
    const bodies = new Set();
    const before = forwarded;
    for (const [kind, headersFor] of cases) {
      const r = await send("plain", "/x", { headers: await headersFor(ctx) });
      assert.equal(r.status, 401, kind);
      const challenge = r.headers.get("www-authenticate");
      assert.match(challenge, /^DPoP error="(invalid_dpop_proof|invalid_token)", algs="ES256 EdDSA RS256"$/, kind);
      bodies.add(await r.text());
    }
    assert.equal(forwarded, before, "origin not called");
    assert.equal(bodies.size, 1, [...bodies].join("\n"));
    const bearerRefusal = await send("plain", "/x", { headers: [["authorization", "Bearer not.a.token"]] });
    assert.equal(await bearerRefusal.text(), [...bodies][0], "the same body as any other refused token");
    assert.deepEqual(Object.keys(JSON.parse([...bodies][0])).sort(), ["error", "error_description"]);
    assert.ok(cases.length >= 20);
    console.log(`${runtime}: ${cases.length} kinds of hostile proof refused (401, one body): ${cases.map(([k]) => k).join("; ")}`);
  });

  test(`${runtime}: dpop "required" refuses Bearer tokens; "allowed" takes them; "off" ignores DPoP`, async () => {
    const { keys, accessToken } = tokens[`dpop (npm)/ES256`];
    const bearer = [["authorization", `Bearer ${bearerToken}`]];
    assert.equal((await send("plain", "/x", { headers: bearer })).status, 200);
    const refused = await send("required", "/x", { headers: bearer });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("www-authenticate"), `DPoP error="invalid_token", ${ALGS}`);
    const proof = await PROOF_MAKERS["dpop (npm)"].prove(keys, { htu: `${baseOf()}/x`, htm: "GET", accessToken });
    assert.equal((await send("required", "/x", { headers: [["authorization", `DPoP ${accessToken}`], ["dpop", proof]] })).status, 200);
    // Off: the DPoP scheme is no token; the bound token is a plain Bearer token.
    const off = await send("off", "/x", { headers: [["authorization", `DPoP ${accessToken}`], ["dpop", proof]] });
    assert.equal(off.status, 401);
    assert.equal(off.headers.get("www-authenticate"), "Bearer");
    assert.equal((await send("off", "/x", { headers: [["authorization", `Bearer ${accessToken}`]] })).status, 200);
  });

  test(`${runtime}: publicOrigin: the proof's htu is the URL the client addressed, not the one the gateway sees`, async () => {
    const { keys, accessToken } = tokens[`dpop (npm)/ES256`];
    const prove = (htu) => PROOF_MAKERS["dpop (npm)"].prove(keys, { htu, htm: "GET", accessToken });
    const auth = ["authorization", `DPoP ${accessToken}`];
    assert.equal((await send("public", "/x?q=1", { headers: [auth, ["dpop", await prove("https://api.example/x")]] })).status, 200);
    assert.equal((await send("public", "/x", { headers: [auth, ["dpop", await prove(`${baseOf()}/x`)]] })).status, 401);
  });

  test(`${runtime}: dpopNonce: a proof without a nonce gets 401 use_dpop_nonce with DPoP-Nonce; the nonce works, also at another gateway with the same secret`, async () => {
    const { keys, accessToken } = tokens[`dpop (npm)/ES256`];
    const htu = `${baseOf()}/x`;
    const prove = (nonce) => PROOF_MAKERS["dpop (npm)"].prove(keys, { htu, htm: "GET", accessToken, nonce });
    const auth = ["authorization", `DPoP ${accessToken}`];
    const before = forwarded;
    const first = await send("nonce1", "/x", { headers: [auth, ["dpop", await prove()]] });
    assert.equal(first.status, 401);
    assert.equal(first.headers.get("www-authenticate"), `DPoP error="use_dpop_nonce", ${ALGS}`);
    const nonce = first.headers.get("dpop-nonce");
    assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
    const wrong = await send("nonce1", "/x", { headers: [auth, ["dpop", await prove("AAAAAAAAAAAAAAAAAAAAAA")]] });
    assert.equal(wrong.status, 401);
    assert.equal(forwarded, before, "origin not called");
    for (const gateway of ["nonce1", "nonce2"]) {
      const r = await send(gateway, "/x", { headers: [auth, ["dpop", await prove(nonce)]] });
      assert.equal(r.status, 200, gateway);
      assert.equal(r.headers.get("dpop-nonce"), nonce, "the current nonce comes back");
    }
    // Without a configured secret the isolate draws its own: its nonces, not the others'.
    const own = await send("nonceRandom", "/x", { headers: [auth, ["dpop", await prove(nonce)]] });
    assert.equal(own.status, 401);
    const ownNonce = own.headers.get("dpop-nonce");
    assert.notEqual(ownNonce, nonce);
    assert.equal((await send("nonceRandom", "/x", { headers: [auth, ["dpop", await prove(ownNonce)]] })).status, 200);
    if (runtime === "workerd") {
      // authenticate() reports what handle() would send: the challenge and the nonce.
      const at = `${baseOf()}/__authenticate`;
      const proveAt = (n) => PROOF_MAKERS["dpop (npm)"].prove(keys, { htu: at, htm: "GET", accessToken, nonce: n });
      const authOutcome = async (headers) => (await send("nonce1", "/__authenticate", { headers })).json();
      const asked = await authOutcome([auth, ["dpop", await proveAt()]]);
      assert.deepEqual([asked.status, asked.challenge], ["unauthenticated", `DPoP error="use_dpop_nonce", ${ALGS}`]);
      assert.match(asked.dpopNonce, /^[A-Za-z0-9_-]{22}$/);
      const ok = await authOutcome([auth, ["dpop", await proveAt(asked.dpopNonce)]]);
      assert.deepEqual([ok.status, ok.challenge, ok.dpopNonce], ["authenticated", null, asked.dpopNonce]);
      const none = await authOutcome([]);
      assert.deepEqual([none.status, none.challenge, none.dpopNonce], ["unauthenticated", "Bearer", null]);
      const bearer = await authOutcome([["authorization", "Bearer not.a.token"]]);
      assert.deepEqual([bearer.status, bearer.challenge], ["unauthenticated", 'Bearer error="invalid_token"']);
    }
  });
}

test("workerd: with the coordinator bound, a proof accepted by one gateway is refused by another (jti remembered across isolates)", async () => {
  const { keys, accessToken } = tokens[`dpop (npm)/ES256`];
  const proof = await PROOF_MAKERS["dpop (npm)"].prove(keys, { htu: `${worker.url}/x`, htm: "GET", accessToken });
  const headers = [["authorization", `DPoP ${accessToken}`], ["dpop", proof]];
  const send = RUNTIMES.workerd.send;
  assert.equal((await send("coordA", "/x", { headers })).status, 200);
  const replay = await send("coordB", "/x", { headers });
  assert.equal(replay.status, 401, "the other gateway has its own replay window: only the Durable Object knows");
  assert.equal(replay.headers.get("www-authenticate"), `DPoP error="invalid_dpop_proof", ${ALGS}`);
  // Without the coordinator, two gateways (two isolates) each know only their own proofs.
  const other = await PROOF_MAKERS["dpop (npm)"].prove(keys, { htu: `${worker.url}/x`, htm: "GET", accessToken });
  const otherHeaders = [["authorization", `DPoP ${accessToken}`], ["dpop", other]];
  assert.equal((await send("plain", "/x", { headers: otherHeaders })).status, 200);
  assert.equal((await send("required", "/x", { headers: otherHeaders })).status, 200, "the documented limit without a coordinator");
});

test("workerd: DPoP options are checked", async () => {
  const cases = [
    [{ dpop: "maybe" }, /dpop/],
    [{ publicOrigin: "https://api.example/path" }, /publicOrigin/],
    [{ dpopMaxAgeSeconds: 0 }, /dpopMaxAgeSeconds/],
    [{ dpopNonce: true, dpopNonceSecret: "short" }, /dpopNonceSecret/],
    [{ dpopNonceSecret: NONCE_SECRET }, /dpopNonceSecret/],
  ];
  for (const [extra, message] of cases) {
    const r = await fetch(`${worker.url}/__config-error`, { method: "POST", body: JSON.stringify({ ...base, ...extra }) });
    const out = await r.json();
    assert.equal(out.code, "invalid_argument", JSON.stringify(extra));
    assert.match(out.message, message);
  }
});
