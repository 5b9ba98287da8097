// The ida dev server: a faithful local implementation of POST /api/v1/auth/refresh
// (the spec's own local server, http://localhost:8080/api/v1), plus what tests and the demo need:
// session minting, fault injection, counters, a protected resource, static files.
// No dependencies beyond Node's standard library, so it starts without any install.
//
//   node tests/server/server.mjs [--port 8080] [--ttl 60] [--grace 10000] [--dpop-nonce]
//
// Dev-only endpoints (never part of the ida API) live under /api/v1/dev/: see README.md.
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const API = "/api/v1";

// Bad input from a client: answered with this status and a short JSON error, never a 500.
class BadRequest extends Error {
  constructor(message, status = 400) {
    super(message);
    this.status = status;
  }
}
const bad = (message) => {
  throw new BadRequest(message);
};

const BODY_LIMIT = 1 << 20;
// Past the limit a body is read and dropped (so that the 400 reaches the client instead of a
// reset) up to this many bytes; past that the connection is cut.
const DRAIN_LIMIT = 64 << 20;

// The request target (RFC 9112 section 3.2): origin-form (an absolute path of RFC 3986 pchars and
// well-formed %XX escapes, then an optional query of visible ASCII without "#"), absolute-form
// (http or https), or "*" for OPTIONS. Anything else is malformed: null.
const ORIGIN_FORM = /^(?:\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)+(?:\?[\x21-\x22\x24-\x7e]*)?$/;
function parseTarget(method, target) {
  try {
    if (target === "*") return method === "OPTIONS" ? new URL("http://localhost/") : null;
    if (ORIGIN_FORM.test(target)) return new URL("http://localhost" + target);
    if (/^https?:\/\/[\x21-\x7e]+$/i.test(target)) return new URL(target);
  } catch {
    // unparsable: malformed
  }
  return null;
}

// Checks of JSON values from clients. Each returns true when the value is acceptable.
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isBool = (v) => typeof v === "boolean";
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isMs = (v) => isNum(v) && v >= 0 && v <= 2 ** 31 - 1;
const headerSafe = (v) => typeof v === "string" && v.length <= 1024 && /^[\t\x20-\x7e]*$/.test(v);
// A cookie value (RFC 6265 cookie-octet): the token ends up in Set-Cookie in cookie mode.
const cookieSafe = (v) => typeof v === "string" && /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,4096}$/.test(v);
const TEN_YEARS_S = 10 * 365 * 86400;

// The fields of a fault and what each accepts.
const FAULT_FIELDS = {
  status: [(v) => Number.isInteger(v) && v >= 200 && v <= 599, "an integer from 200 to 599"],
  retryAfter: [(v) => isNum(v) || headerSafe(v), "a number or a header-safe string"],
  body: [() => true],
  contentType: [headerSafe, "a header-safe string"],
  delayMs: [isMs, "a number of ms from 0 to 2147483647"],
  hang: [isBool, "a boolean"],
  reset: [isBool, "a boolean"],
  resetMidBody: [isBool, "a boolean"],
  trickle: [(v) => isMs(v) && v > 0, "a number of ms from 1 to 2147483647"],
  oversizedBytes: [(v) => Number.isSafeInteger(v) && v >= 0, "a non-negative integer"],
  noCors: [isBool, "a boolean"],
  inflate: [(v) => v === "gzip" || v === "br", '"gzip" or "br"'],
  bytes: [(v) => Number.isSafeInteger(v) && v >= 0 && v <= 1 << 30, "an integer from 0 to 1073741824"],
};

function checkFault(fault, where) {
  if (!isObject(fault)) bad(`${where} must be a JSON object`);
  for (const [key, value] of Object.entries(fault)) {
    const rule = Object.hasOwn(FAULT_FIELDS, key) ? FAULT_FIELDS[key] : null;
    if (!rule) bad(`${where}: unknown field ${JSON.stringify(key).slice(0, 40)}`);
    if (!rule[0](value)) bad(`${where}.${key} must be ${rule[1]}`);
  }
  return fault;
}

function checkFaults(list, where) {
  if (!Array.isArray(list) || list.length > 10_000) bad(`${where} must be an array of at most 10000 faults`);
  list.forEach((f, i) => checkFault(f, `${where}[${i}]`));
  return list;
}

// Rejects fields a dev endpoint does not know (a typo would otherwise be silently ignored).
function onlyFields(body, allowed) {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) bad(`unknown field ${JSON.stringify(key).slice(0, 40)}`);
  }
}

// A dev endpoint's body: empty, or a JSON object.
function jsonObject(text) {
  if (!text.trim()) return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    bad("body is not valid JSON");
  }
  if (!isObject(value)) bad("body must be a JSON object");
  return value;
}

// DPoP (RFC 9449) proofs as the dev server checks them (ES256, the one algorithm ida-refresh
// makes): signature by the embedded key, typ, htm, htu (scheme://host/path of this request),
// iat within 5 minutes, jti not seen before, ath for an access token, the server's nonce when
// demanded. Returns { jkt } or { error }.
const DPOP_WINDOW_S = 300;
function checkDpopProof(proof, { method, htu, accessToken, nonces, seenJtis }) {
  const invalid = { error: "invalid_dpop_proof" };
  if (typeof proof !== "string") return invalid;
  const parts = proof.split(".");
  if (parts.length !== 3) return invalid;
  let header, payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    payload = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch {
    return invalid;
  }
  const jwk = header?.jwk;
  if (header.typ !== "dpop+jwt" || header.alg !== "ES256" || jwk?.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.x !== "string" || typeof jwk.y !== "string" || "d" in jwk) return invalid;
  let ok = false;
  try {
    const key = crypto.createPublicKey({ key: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y }, format: "jwk" });
    ok = crypto.verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(parts[2], "base64url"));
  } catch {
    ok = false;
  }
  if (!ok || payload.htm !== method || payload.htu !== htu || typeof payload.jti !== "string" || payload.jti.length < 16) return invalid;
  if (!Number.isInteger(payload.iat) || Math.abs(payload.iat - Date.now() / 1000) > DPOP_WINDOW_S) return invalid;
  if (accessToken !== undefined && payload.ath !== crypto.createHash("sha256").update(accessToken).digest("base64url")) return invalid;
  if (nonces && !nonces.includes(payload.nonce)) return { error: "use_dpop_nonce" };
  if (seenJtis.has(payload.jti)) return invalid;
  seenJtis.add(payload.jti);
  if (seenJtis.size > 100_000) seenJtis.clear();
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return { jkt: crypto.createHash("sha256").update(canonical).digest("base64url") };
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) continue;
    out[m[1]] = m[2] ?? (argv[i + 1] !== undefined && !argv[i + 1].startsWith("--") ? argv[++i] : "");
  }
  return out;
}

export function createDevServer(config = {}) {
  const settings = {
    secret: config.secret ?? "ida-dev-secret-32-bytes-or-more-change-me",
    ttlSeconds: Number(config.ttlSeconds ?? 60),
    graceMs: Number(config.graceMs ?? 10_000),
    static: config.static ?? true,
    dpopNonce: Boolean(config.dpopNonce),
  };
  // DPoP: jtis seen within the window, and the server nonce (the current one and the one before
  // it are accepted; it changes every minute).
  const seenJtis = new Set();
  const dpop = { nonce: crypto.randomBytes(16).toString("base64url"), previous: null, changedAt: Date.now() };
  function dpopNonces() {
    if (Date.now() - dpop.changedAt > 60_000) Object.assign(dpop, { previous: dpop.nonce, nonce: crypto.randomBytes(16).toString("base64url"), changedAt: Date.now() });
    return [dpop.nonce, dpop.previous];
  }
  /** The `htu` a proof for this request must carry. */
  const requestHtu = (req, pathname) => `http://${String(req.headers.host ?? "").toLowerCase()}${pathname}`;
  const families = new Map(); // family id -> Family
  const refreshIndex = new Map(); // refresh token -> { family, generation }
  const global = { faults: [], sticky: null, counters: newCounters(), chaos: null };
  let resources = 0;
  let oversizedBytesSent = 0;
  // The `inflate` fault: compressed bytes written, and answers the client closed before their end.
  const inflateStats = { inflateBytesSent: 0, inflateCut: 0 };
  const inflateBodies = new Map(); // "gzip:N" -> Promise<Buffer>, made once

  function newCounters() {
    return { refreshRequests: 0, rotations: 0, graceHits: 0, revocations: 0, rejected: 0, faultsServed: 0 };
  }

  const b64url = (buf) => Buffer.from(buf).toString("base64url");
  const randomToken = (prefix) => prefix + b64url(crypto.randomBytes(24));

  function signJwt(claims) {
    const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const payload = b64url(JSON.stringify(claims));
    const sig = crypto.createHmac("sha256", settings.secret).update(`${header}.${payload}`).digest();
    return `${header}.${payload}.${b64url(sig)}`;
  }

  function verifyJwt(token) {
    const parts = String(token).split(".");
    if (parts.length !== 3) return null;
    const expected = crypto.createHmac("sha256", settings.secret).update(`${parts[0]}.${parts[1]}`).digest();
    const given = Buffer.from(parts[2], "base64url");
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
    try {
      const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
      const fam = families.get(claims.sid);
      if (!fam || fam.revoked || fam.revokedJtis.has(claims.jti)) return null;
      if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now() + fam.clockOffsetMs) return null;
      return claims;
    } catch {
      return null;
    }
  }

  const FORMATS = ["json", "snake", "envelope", "cookie", "opaque", "noexpiry"];

  // /dev/session's body, checked: a present field of the wrong type or range is a 400 (null
  // counts as absent); a refresh token another session already holds is a 409.
  function sessionOptions(body) {
    onlyFields(body, ["ttlSeconds", "format", "graceMs", "clockOffsetMs", "rotate", "subject", "refreshToken", "dpopNonce"]);
    const field = (key, ok, what) => {
      const v = body[key];
      if (v === undefined || v === null) return undefined;
      if (!ok(v)) bad(`${key} must be ${what}`);
      return v;
    };
    const opts = {
      ttlSeconds: field("ttlSeconds", (v) => isNum(v) && v > 0 && v <= TEN_YEARS_S, "a positive number of seconds (at most ten years)"),
      format: field("format", (v) => FORMATS.includes(v), `one of ${FORMATS.join(", ")}`),
      graceMs: field("graceMs", (v) => isNum(v) && v >= 0, "a non-negative number of ms"),
      clockOffsetMs: field("clockOffsetMs", (v) => isNum(v) && Math.abs(v) <= TEN_YEARS_S * 1000, "a number of ms (at most ten years either way)"),
      rotate: field("rotate", isBool, "a boolean"),
      subject: field("subject", (v) => typeof v === "string" && v.length > 0 && v.length <= 256, "a string of 1 to 256 characters"),
      refreshToken: field("refreshToken", cookieSafe, "1 to 4096 cookie-safe characters"),
      dpopNonce: field("dpopNonce", isBool, "a boolean"),
    };
    if (opts.refreshToken !== undefined && refreshIndex.has(opts.refreshToken)) {
      throw new BadRequest("refreshToken is already held by a session", 409);
    }
    return opts;
  }

  // A family is one sign-in: the chain of refresh tokens produced by rotation.
  function mintFamily(opts = {}) {
    const id = "fam_" + b64url(crypto.randomBytes(9));
    const fam = {
      id,
      subject: String(opts.subject ?? "user-" + id.slice(4, 10)),
      ttlSeconds: Number(opts.ttlSeconds ?? settings.ttlSeconds),
      graceMs: Number(opts.graceMs ?? settings.graceMs),
      clockOffsetMs: Number(opts.clockOffsetMs ?? 0),
      format: String(opts.format ?? "json"), // json | snake | envelope | cookie | opaque
      rotate: opts.rotate ?? true,
      // DPoP: the thumbprint the family is bound to, and whether its proofs need the nonce.
      jkt: opts.jkt ?? null,
      dpopNonce: opts.dpopNonce ?? settings.dpopNonce,
      current: null,
      previous: null,
      generation: 0,
      revoked: false,
      faults: [],
      sticky: null,
      counters: newCounters(),
      jtis: [],
      revokedJtis: new Set(),
    };
    families.set(id, fam);
    issueRefreshToken(fam, opts.refreshToken);
    return fam;
  }

  function issueRefreshToken(fam, token = randomToken("rt_")) {
    if (fam.current) fam.previous = { token: fam.current, rotatedAt: Date.now() };
    fam.generation += 1;
    fam.current = token;
    refreshIndex.set(fam.current, { family: fam.id, generation: fam.generation });
  }

  function issueAccessToken(fam) {
    const now = Math.floor((Date.now() + fam.clockOffsetMs) / 1000);
    if (fam.format === "opaque" || fam.format === "noexpiry") return { token: randomToken("at_"), expiresIn: fam.ttlSeconds };
    const claims = { sub: fam.subject, sid: fam.id, iat: now, exp: now + fam.ttlSeconds, jti: b64url(crypto.randomBytes(9)) };
    if (fam.jkt) claims.cnf = { jkt: fam.jkt };
    fam.jtis.push(claims.jti);
    return { token: signJwt(claims), expiresIn: fam.ttlSeconds };
  }

  function revoke(fam) {
    if (fam.revoked) return;
    fam.revoked = true;
    fam.counters.revocations += 1;
    global.counters.revocations += 1;
  }

  function tokenBody(fam, at) {
    const base = { accessToken: at.token, refreshToken: fam.current, expiresIn: at.expiresIn };
    switch (fam.format) {
      case "snake":
        return { access_token: at.token, refresh_token: fam.current, expires_in: String(at.expiresIn), token_type: fam.jkt ? "DPoP" : "Bearer" };
      case "envelope":
        return { success: true, data: base };
      case "noexpiry":
        return { accessToken: at.token, refreshToken: fam.current };
      default:
        return fam.jkt ? { ...base, tokenType: "DPoP" } : base;
    }
  }

  function sessionCookies(fam, at) {
    const attrs = "Path=/; HttpOnly; SameSite=Lax";
    return [
      `ida_at=${at.token}; Max-Age=${at.expiresIn}; ${attrs}`,
      `ida_rt=${fam.current}; Max-Age=${30 * 86400}; ${attrs}`,
    ];
  }

  function takeFault(req, fam) {
    const header = req.headers["x-ida-fault"];
    if (header) {
      let fault;
      try {
        fault = JSON.parse(header);
      } catch {
        bad("x-ida-fault is not valid JSON");
      }
      return checkFault(fault, "x-ida-fault");
    }
    if (fam && fam.faults.length) return fam.faults.shift();
    if (global.faults.length) return global.faults.shift();
    const sticky = fam?.sticky ?? global.sticky ?? null;
    if (sticky) return sticky;
    // Chaos: each refresh request gets a random fault with the given probability.
    const chaos = global.chaos;
    if (chaos && Math.random() < chaos.rate) return chaos.faults[Math.floor(Math.random() * chaos.faults.length)];
    return null;
  }

  // ---- HTTP plumbing -------------------------------------------------------------------

  function cors(req, res) {
    const origin = req.headers.origin;
    if (origin) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Allow-Credentials", "true");
      res.setHeader("Vary", "Origin");
    } else {
      res.setHeader("Access-Control-Allow-Origin", "*");
    }
    res.setHeader("Access-Control-Expose-Headers", "Date, Retry-After, WWW-Authenticate, DPoP-Nonce");
  }

  function send(res, status, body, headers = {}) {
    const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Cache-Control": "no-store",
      "Content-Length": Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  // The body as text. Over `limit` bytes: BadRequest (after dropping the rest, see DRAIN_LIMIT).
  function readBody(req, limit = BODY_LIMIT) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on("data", (chunk) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
        else if (size > DRAIN_LIMIT) req.socket.destroy();
      });
      req.on("end", () => (size > limit ? reject(new BadRequest(`body over ${limit} bytes`)) : resolve(Buffer.concat(chunks).toString("utf8"))));
      req.on("error", reject);
      req.on("close", () => reject(new Error("request closed before its end")));
    });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const hanging = new Set();

  // A JSON object of exactly `size` bytes ({"padding":"aaa..."}), compressed as a stream (the
  // inflated body never exists here) and flushed after each MiB of input: the pieces are sent
  // apart, so a client that stops reading is seen to stop even when the whole body is small
  // (gzip does about 1000:1 on this, brotli far more: 32 MiB is ~33 KiB gzip, ~1 KiB br).
  function inflateBody(encoding, size) {
    const key = `${encoding}:${size}`;
    if (!inflateBodies.has(key)) inflateBodies.set(key, compressFiller(encoding, size));
    return inflateBodies.get(key);
  }
  async function compressFiller(encoding, size) {
    const br = encoding === "br";
    const z = br
      ? zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size } })
      : zlib.createGzip({ level: 9 });
    let out = [];
    z.on("data", (c) => out.push(c));
    const pieces = [];
    const flush = () => new Promise((resolve) => z.flush(br ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH, resolve));
    const head = '{"padding":"';
    const tail = '"}';
    const filler = Buffer.alloc(1 << 20, 0x61);
    z.write(head);
    for (let left = Math.max(0, size - head.length - tail.length); left > 0; left -= filler.length) {
      z.write(left >= filler.length ? filler : filler.subarray(0, left));
      await flush();
      pieces.push(Buffer.concat(out));
      out = [];
    }
    const ended = once(z, "end");
    z.end(tail);
    await ended;
    pieces.push(Buffer.concat(out));
    return pieces.filter((p) => p.length);
  }

  // Applies a fault. Returns true when the fault produced the whole answer.
  async function applyFault(fault, req, res, counters) {
    counters.faultsServed += 1;
    if (counters !== global.counters) global.counters.faultsServed += 1;
    if (fault.delayMs) await sleep(Number(fault.delayMs));
    if (fault.hang) {
      hanging.add(res);
      res.on("close", () => hanging.delete(res));
      return true;
    }
    if (fault.reset) {
      req.socket.destroy();
      return true;
    }
    if (fault.resetMidBody) {
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 100 });
      res.write('{"accessToken":"eyJhbGciOi');
      setTimeout(() => req.socket.destroy(), 20);
      return true;
    }
    if (fault.trickle) {
      // A valid body, sent one byte every `trickle` ms.
      return false;
    }
    if (fault.inflate) {
      const encoding = fault.inflate === "br" ? "br" : "gzip";
      const pieces = await inflateBody(encoding, Math.max(0, Number(fault.bytes ?? 32 << 20)));
      const length = pieces.reduce((n, p) => n + p.length, 0);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Encoding": encoding, "Content-Length": length });
      res.on("error", () => {});
      res.on("close", () => {
        if (!res.writableFinished) inflateStats.inflateCut += 1;
      });
      // One piece (a MiB inflated) every 5 ms: a client that stops reading early closes the
      // connection before the end, which `inflateBytesSent` and `inflateCut` show.
      for (const [i, piece] of pieces.entries()) {
        if (res.destroyed) break;
        inflateStats.inflateBytesSent += piece.length;
        if (i === pieces.length - 1) res.end(piece);
        else {
          res.write(piece);
          await sleep(5);
        }
      }
      return true;
    }
    if (fault.body !== undefined || fault.status !== undefined || fault.oversizedBytes) {
      const headers = {};
      if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
      if (fault.contentType) headers["Content-Type"] = fault.contentType;
      if (fault.noCors) {
        res.removeHeader("Access-Control-Allow-Origin");
        res.removeHeader("Access-Control-Allow-Credentials");
      }
      const status = Number(fault.status ?? 200);
      if (fault.oversizedBytes) {
        // Streamed so that the client's cap, not our memory, decides where it stops.
        res.writeHead(status, { "Content-Type": "application/json", ...headers });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        let left = Number(fault.oversizedBytes);
        res.write('{"accessToken":"x", "padding":"');
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= chunk.length;
            oversizedBytesSent += chunk.length;
            if (!res.write(chunk)) return res.once("drain", pump);
          }
          if (!res.destroyed) res.end('"}');
        };
        res.on("error", () => {});
        pump();
        return true;
      }
      const body = fault.body ?? (status >= 400 ? { error: status === 429 ? "rate_limited" : "fault_injected" } : {});
      send(res, status, body, headers);
      return true;
    }
    return false;
  }

  async function handleRefresh(req, res) {
    global.counters.refreshRequests += 1;
    let payload;
    try {
      payload = JSON.parse(await readBody(req));
    } catch (err) {
      if (err instanceof BadRequest || err instanceof SyntaxError) {
        return send(res, 400, { error: "invalid_request", message: err instanceof BadRequest ? err.message : "body must be JSON" });
      }
      throw err;
    }
    const token = payload?.refreshToken;
    const entry = typeof token === "string" ? refreshIndex.get(token) : undefined;
    const fam = entry ? families.get(entry.family) : undefined;
    if (fam) fam.counters.refreshRequests += 1;

    const fault = takeFault(req, fam);
    if (fault && (await applyFault(fault, req, res, fam ? fam.counters : global.counters))) return;

    if (typeof token !== "string" || token === "") {
      return send(res, 400, { error: "invalid_request", message: "refreshToken must be a non-empty string" });
    }
    if (!fam || fam.revoked) {
      (fam ?? global).counters.rejected += 1;
      return send(res, 401, { error: "invalid_grant", message: "refresh token is not valid" });
    }
    if (fam.jkt) {
      // A DPoP-bound family: the refresh must be proven by its key (RFC 9449 section 5).
      const nonces = fam.dpopNonce ? dpopNonces() : null;
      const checked = checkDpopProof(req.headers.dpop, { method: "POST", htu: requestHtu(req, `${API}/auth/refresh`), nonces, seenJtis });
      const nonceHeader = nonces ? { "DPoP-Nonce": nonces[0] } : {};
      if (checked.error || checked.jkt !== fam.jkt) {
        fam.counters.dpopRefused = (fam.counters.dpopRefused ?? 0) + 1;
        return send(res, 400, { error: checked.error ?? "invalid_dpop_proof", message: "DPoP proof refused" }, nonceHeader);
      }
      if (nonces) res.setHeader("DPoP-Nonce", nonces[0]);
    }
    if (token === fam.current) {
      if (fam.rotate) {
        issueRefreshToken(fam);
        fam.counters.rotations += 1;
        global.counters.rotations += 1;
      }
    } else if (fam.previous && token === fam.previous.token && fam.graceMs > 0 && Date.now() - fam.previous.rotatedAt <= fam.graceMs) {
      // Grace window: a just-rotated token (another tab, a retry) gets the current tokens back.
      fam.counters.graceHits += 1;
      global.counters.graceHits += 1;
    } else {
      // Reuse of an older token: treat it as theft and end the whole family.
      revoke(fam);
      fam.counters.rejected += 1;
      return send(res, 401, { error: "invalid_grant", message: "refresh token reuse detected; session revoked" });
    }
    const at = issueAccessToken(fam);
    const headers = {};
    if (fam.clockOffsetMs) headers["Date"] = new Date(Date.now() + fam.clockOffsetMs).toUTCString();
    if (fault?.trickle) {
      const text = JSON.stringify(tokenBody(fam, at));
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
      for (const ch of text) {
        if (res.destroyed) return;
        res.write(ch);
        await sleep(Number(fault.trickle));
      }
      return res.end();
    }
    if (fam.format === "cookie") {
      // The spec's 200: an empty JSON object; the session travels in the cookies.
      res.setHeader("Set-Cookie", sessionCookies(fam, at));
      return send(res, 200, {}, headers);
    }
    send(res, 200, tokenBody(fam, at), headers);
  }

  function bearer(req) {
    const auth = req.headers.authorization ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (m) return m[1];
    const cookie = (req.headers.cookie ?? "").split(/;\s*/).find((c) => c.startsWith("ida_at="));
    return cookie ? cookie.slice(7) : null;
  }

  // Each dev endpoint's method. Bad input to any of them (a body that is not a JSON object, an
  // unknown field, a field of the wrong type, a missing family) is a 400 with a short JSON error.
  const DEV_METHODS = new Map([["session", "POST"], ["faults", "POST"], ["stats", "GET"], ["chaos", "POST"], ["revoke-access", "POST"], ["revoke", "POST"], ["expire", "POST"], ["restart", "POST"]]);

  async function handleDev(req, res, route, url) {
    const method = DEV_METHODS.get(route);
    if (!method) return send(res, 404, { error: "not_found" });
    if (req.method !== method) return send(res, 405, { error: "method_not_allowed" }, { Allow: method });
    const body = method === "POST" ? jsonObject(await readBody(req)) : {};
    // A family named in the body: a string, and one that exists (else 404).
    const family = (required) => {
      if (body.family === undefined && !required) return undefined;
      if (typeof body.family !== "string") bad("family must be a string");
      return families.get(body.family) ?? null;
    };
    switch (route) {
      case "session": {
        const opts = sessionOptions(body);
        if (req.headers.dpop !== undefined) {
          // A DPoP session: the proof (POST to this URL) names the key the family is bound to.
          const checked = checkDpopProof(req.headers.dpop, { method: "POST", htu: requestHtu(req, `${API}/dev/session`), seenJtis });
          if (checked.error) return send(res, 400, { error: checked.error, message: "DPoP proof refused" });
          opts.jkt = checked.jkt;
        }
        const fam = mintFamily(opts);
        const at = issueAccessToken(fam);
        if (fam.format === "cookie") res.setHeader("Set-Cookie", sessionCookies(fam, at));
        return send(res, 200, { family: fam.id, accessToken: at.token, refreshToken: fam.current, expiresIn: at.expiresIn, ...(fam.jkt ? { tokenType: "DPoP", jkt: fam.jkt } : {}) });
      }
      case "faults": {
        onlyFields(body, ["family", "faults", "sticky", "clear"]);
        if (body.faults !== undefined) checkFaults(body.faults, "faults");
        if (body.sticky !== undefined && body.sticky !== null) checkFault(body.sticky, "sticky");
        if (body.clear !== undefined && !isBool(body.clear)) bad("clear must be a boolean");
        const fam = family(false);
        const target = fam === undefined ? global : fam;
        if (!target) return send(res, 404, { error: "unknown family" });
        if (body.faults) target.faults.push(...body.faults);
        if ("sticky" in body) target.sticky = body.sticky ?? null;
        if (body.clear) { target.faults = []; target.sticky = null; }
        return send(res, 200, { queued: target.faults.length, sticky: target.sticky });
      }
      case "stats": {
        const id = url.searchParams.get("family");
        const fam = id ? families.get(id) : null;
        if (id && !fam) return send(res, 404, { error: "unknown family" });
        const counters = fam ? fam.counters : global.counters;
        return send(res, 200, { ...counters, resourceRequests: resources, oversizedBytesSent, ...inflateStats, hanging: hanging.size, ...(fam ? { revoked: fam.revoked, generation: fam.generation, currentRefreshToken: fam.current } : { families: families.size }) });
      }
      case "chaos": {
        onlyFields(body, ["rate", "faults"]);
        if (body.rate !== undefined && !(isNum(body.rate) && body.rate >= 0 && body.rate <= 1)) bad("rate must be a number from 0 to 1");
        if (body.faults !== undefined) checkFaults(body.faults, "faults");
        global.chaos = body.rate > 0 && Array.isArray(body.faults) && body.faults.length ? { rate: Number(body.rate), faults: body.faults } : null;
        return send(res, 200, { chaos: global.chaos });
      }
      case "revoke-access": {
        // The resource server stops accepting every access token issued so far (not the
        // refresh token): the next authFetch gets a 401 and must refresh once.
        onlyFields(body, ["family"]);
        const fam = family(true);
        if (!fam) return send(res, 404, { error: "unknown family" });
        for (const j of fam.jtis) fam.revokedJtis.add(j);
        return send(res, 200, { revoked: fam.jtis.length });
      }
      case "revoke": {
        onlyFields(body, ["family"]);
        const fam = family(true);
        if (!fam) return send(res, 404, { error: "unknown family" });
        revoke(fam);
        return send(res, 200, { revoked: true });
      }
      case "expire": {
        // Makes the family's current refresh token's grace window end now (for reuse tests).
        onlyFields(body, ["family"]);
        const fam = family(true);
        if (!fam) return send(res, 404, { error: "unknown family" });
        if (fam.previous) fam.previous.rotatedAt = 0;
        return send(res, 200, {});
      }
      case "restart": {
        // As if the auth server restarted with empty storage: every token is gone.
        onlyFields(body, []);
        families.clear();
        refreshIndex.clear();
        global.faults = [];
        global.sticky = null;
        return send(res, 200, {});
      }
    }
  }

  const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml", ".ts": "text/plain" };

  function serveStatic(req, res, pathname) {
    let rel = pathname === "/" ? "/www/index.html" : pathname;
    if (!rel.startsWith("/www/") && !rel.startsWith("/pkg/") && !rel.startsWith("/tests/js/")) rel = "/www" + rel;
    const file = path.normalize(path.join(ROOT, rel));
    if (!file.startsWith(ROOT + path.sep)) return send(res, 403, { error: "forbidden" });
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return send(res, 404, { error: "not_found" });
      res.writeHead(200, { "Content-Type": MIME[path.extname(file)] ?? "application/octet-stream", "Content-Length": st.size, "Cache-Control": "no-cache" });
      fs.createReadStream(file).pipe(res);
    });
  }

  async function handle(req, res) {
    cors(req, res);
    const url = parseTarget(req.method, req.url);
    if (!url) return send(res, 400, { error: "invalid_request", message: "malformed request target" });
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "Content-Type",
        "Access-Control-Max-Age": "600",
        "Content-Length": 0,
      });
      return res.end();
    }
    const p = url.pathname;
    if (p === `${API}/auth/refresh`) {
      if (req.method !== "POST") return send(res, 405, { error: "method_not_allowed" }, { Allow: "POST" });
      return handleRefresh(req, res);
    }
    if (p === `${API}/me`) {
      const dpopToken = /^DPoP\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
      const claims = verifyJwt(dpopToken ?? bearer(req));
      if (!claims) return send(res, 401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token", DPoP algs="ES256"' });
      if (claims.cnf?.jkt) {
        // A DPoP-bound token counts only with `Authorization: DPoP` and a proof by its key.
        const fam = families.get(claims.sid);
        const nonces = fam?.dpopNonce ? dpopNonces() : null;
        const checked = dpopToken ? checkDpopProof(req.headers.dpop, { method: req.method, htu: requestHtu(req, p), accessToken: dpopToken, nonces, seenJtis }) : { error: "invalid_token" };
        const nonceHeader = nonces ? { "DPoP-Nonce": nonces[0] } : {};
        if (checked.error || checked.jkt !== claims.cnf.jkt) {
          const error = checked.error === "use_dpop_nonce" ? "use_dpop_nonce" : checked.error === "invalid_dpop_proof" || checked.jkt ? "invalid_dpop_proof" : "invalid_token";
          return send(res, 401, { error }, { "WWW-Authenticate": `DPoP algs="ES256", error="${error}"`, ...nonceHeader });
        }
        return send(res, 200, { sub: claims.sub, sid: claims.sid, exp: claims.exp, jkt: claims.cnf.jkt }, nonceHeader);
      }
      return send(res, 200, { sub: claims.sub, sid: claims.sid, exp: claims.exp });
    }
    if (p === `${API}/echo`) {
      // A resource for authFetch tests: echoes what it received. 401 without a valid access
      // token (unless ?public=1), always 401 with ?always401=1.
      resources += 1;
      const body = req.method === "POST" ? await readBody(req) : null;
      const claims = verifyJwt(bearer(req));
      const seen = { method: req.method, body, authorization: req.headers.authorization ?? null, cookie: /(^|;\s*)ida_at=/.test(req.headers.cookie ?? ""), sub: claims?.sub ?? null };
      if (url.searchParams.has("always401") || (!claims && !url.searchParams.has("public"))) {
        return send(res, 401, { error: "invalid_token", ...seen }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
      }
      return send(res, 200, seen);
    }
    if (p.startsWith(`${API}/dev/`)) return handleDev(req, res, p.slice(API.length + 5), url);
    if (settings.static && req.method === "GET") return serveStatic(req, res, p);
    send(res, 404, { error: "not_found" });
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((err) => {
      if (res.headersSent || res.destroyed) return res.destroy();
      if (err instanceof BadRequest) {
        const headers = err.status === 400 && !req.complete ? { Connection: "close" } : {};
        return send(res, err.status, { error: err.status === 409 ? "conflict" : "invalid_request", message: err.message }, headers);
      }
      send(res, 500, { error: "internal", message: String(err?.message ?? err) });
    });
  };
  // What Node's HTTP parser refuses (a request line or header it cannot read) gets the same
  // short JSON error instead of Node's bare 400.
  const onClientError = (err, socket) => {
    if (err.code === "ECONNRESET" || !socket.writable || socket._httpMessage?.headersSent) return socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const text = JSON.stringify({ error: "invalid_request", message: status === 431 ? "request headers too large" : status === 408 ? "request timeout" : "malformed request" });
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  };
  // Bound to loopback only, on IPv4 and (where present) IPv6, so "localhost" works whichever
  // address a client resolves it to.
  const servers = [];
  return {
    listen(port = 8080) {
      return new Promise((resolve, reject) => {
        const v4 = http.createServer(onRequest);
        v4.keepAliveTimeout = 1000;
        v4.on("clientError", onClientError);
        v4.once("error", reject);
        v4.listen(port, "127.0.0.1", () => {
          servers.push(v4);
          const actual = v4.address().port;
          const v6 = http.createServer(onRequest);
          v6.keepAliveTimeout = 1000;
          v6.on("clientError", onClientError);
          v6.once("error", () => resolve(actual));
          v6.listen(actual, "::1", () => { servers.push(v6); resolve(actual); });
        });
      });
    },
    close() {
      for (const res of hanging) res.destroy();
      return Promise.all(servers.map((s) => new Promise((r) => { s.closeAllConnections?.(); s.close(() => r()); })));
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const port = Number(args.port ?? process.env.IDA_PORT ?? 8080);
  const server = createDevServer({ ttlSeconds: args.ttl, graceMs: args.grace, secret: process.env.IDA_DEV_SECRET, dpopNonce: "dpop-nonce" in args });
  server.listen(port).then((actual) => {
    console.log(`ida dev server listening on http://localhost:${actual}${API}`);
  }, (err) => {
    console.error(`ida dev server could not listen on port ${port}: ${err.message}`);
    process.exit(1);
  });
  const stop = () => server.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
