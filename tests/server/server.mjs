// The ida dev server: a faithful local implementation of POST /api/v1/auth/refresh
// (the spec's own local server, http://localhost:8080/api/v1), plus what tests and the demo need:
// session minting, fault injection, counters, a protected resource, static files.
// No dependencies beyond Node's standard library, so it starts without any install.
//
//   node tests/server/server.mjs [--port 8080] [--ttl 60] [--grace 10000]
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

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) continue;
    out[m[1]] = m[2] ?? argv[++i];
  }
  return out;
}

export function createDevServer(config = {}) {
  const settings = {
    secret: config.secret ?? "ida-dev-secret-32-bytes-or-more-change-me",
    ttlSeconds: Number(config.ttlSeconds ?? 60),
    graceMs: Number(config.graceMs ?? 10_000),
    static: config.static ?? true,
  };
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
    issueRefreshToken(fam);
    return fam;
  }

  function issueRefreshToken(fam) {
    if (fam.current) fam.previous = { token: fam.current, rotatedAt: Date.now() };
    fam.generation += 1;
    fam.current = randomToken("rt_");
    refreshIndex.set(fam.current, { family: fam.id, generation: fam.generation });
  }

  function issueAccessToken(fam) {
    const now = Math.floor((Date.now() + fam.clockOffsetMs) / 1000);
    if (fam.format === "opaque" || fam.format === "noexpiry") return { token: randomToken("at_"), expiresIn: fam.ttlSeconds };
    const claims = { sub: fam.subject, sid: fam.id, iat: now, exp: now + fam.ttlSeconds, jti: b64url(crypto.randomBytes(9)) };
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
        return { access_token: at.token, refresh_token: fam.current, expires_in: String(at.expiresIn), token_type: "Bearer" };
      case "envelope":
        return { success: true, data: base };
      case "noexpiry":
        return { accessToken: at.token, refreshToken: fam.current };
      default:
        return base;
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
      try {
        return JSON.parse(header);
      } catch {
        return null;
      }
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
    res.setHeader("Access-Control-Expose-Headers", "Date, Retry-After, WWW-Authenticate");
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

  async function readBody(req, limit = 1 << 20) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > limit) throw new Error("body too large");
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
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
    } catch {
      return send(res, 400, { error: "invalid_request", message: "body must be JSON" });
    }
    const token = payload?.refreshToken;
    const entry = typeof token === "string" ? refreshIndex.get(token) : undefined;
    const fam = entry ? families.get(entry.family) : undefined;
    if (fam) fam.counters.refreshRequests += 1;

    const fault = takeFault(req, fam);
    if (fault && (await applyFault(fault, req, res, fam ? fam.counters : global.counters))) return;

    if (typeof token !== "string" || token === "") {
      return send(res, 400, { error: "invalid_request", message: "refreshToken is required" });
    }
    if (!fam || fam.revoked) {
      (fam ?? global).counters.rejected += 1;
      return send(res, 401, { error: "invalid_grant", message: "refresh token is not valid" });
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
      res.setHeader("Set-Cookie", sessionCookies(fam, at));
      res.writeHead(200, { "Content-Length": 0, "Cache-Control": "no-store", ...headers });
      return res.end();
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

  async function handleDev(req, res, route, url) {
    const body = req.method === "POST" ? await readBody(req).then((t) => (t ? JSON.parse(t) : {})) : {};
    const famOf = (id) => (id === undefined ? null : families.get(id));
    switch (route) {
      case "session": {
        const fam = mintFamily(body);
        const at = issueAccessToken(fam);
        if (fam.format === "cookie") res.setHeader("Set-Cookie", sessionCookies(fam, at));
        return send(res, 200, { family: fam.id, accessToken: at.token, refreshToken: fam.current, expiresIn: at.expiresIn });
      }
      case "faults": {
        const target = body.family === undefined ? global : famOf(body.family);
        if (!target) return send(res, 404, { error: "unknown family" });
        if (Array.isArray(body.faults)) target.faults.push(...body.faults);
        if ("sticky" in body) target.sticky = body.sticky;
        if (body.clear) { target.faults = []; target.sticky = null; }
        return send(res, 200, { queued: target.faults.length, sticky: target.sticky });
      }
      case "stats": {
        const id = url.searchParams.get("family");
        const fam = id ? famOf(id) : null;
        if (id && !fam) return send(res, 404, { error: "unknown family" });
        const counters = fam ? fam.counters : global.counters;
        return send(res, 200, { ...counters, resourceRequests: resources, oversizedBytesSent, ...inflateStats, hanging: hanging.size, ...(fam ? { revoked: fam.revoked, generation: fam.generation, currentRefreshToken: fam.current } : { families: families.size }) });
      }
      case "chaos": {
        global.chaos = body.rate > 0 && Array.isArray(body.faults) && body.faults.length ? { rate: Number(body.rate), faults: body.faults } : null;
        return send(res, 200, { chaos: global.chaos });
      }
      case "revoke-access": {
        // The resource server stops accepting every access token issued so far (not the
        // refresh token): the next authFetch gets a 401 and must refresh once.
        const fam = famOf(body.family);
        if (!fam) return send(res, 404, { error: "unknown family" });
        for (const j of fam.jtis) fam.revokedJtis.add(j);
        return send(res, 200, { revoked: fam.jtis.length });
      }
      case "revoke": {
        const fam = famOf(body.family);
        if (!fam) return send(res, 404, { error: "unknown family" });
        revoke(fam);
        return send(res, 200, { revoked: true });
      }
      case "expire": {
        // Makes the family's current refresh token's grace window end now (for reuse tests).
        const fam = famOf(body.family);
        if (!fam) return send(res, 404, { error: "unknown family" });
        if (fam.previous) fam.previous.rotatedAt = 0;
        return send(res, 200, {});
      }
      case "restart": {
        // As if the auth server restarted with empty storage: every token is gone.
        families.clear();
        refreshIndex.clear();
        global.faults = [];
        global.sticky = null;
        return send(res, 200, {});
      }
      default:
        return send(res, 404, { error: "not_found" });
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
    const url = new URL(req.url, "http://localhost");
    cors(req, res);
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
      const claims = verifyJwt(bearer(req));
      if (!claims) return send(res, 401, { error: "invalid_token" }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
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
      if (!res.headersSent) send(res, 500, { error: "internal", message: String(err?.message ?? err) });
      else res.destroy();
    });
  };
  // Bound to loopback only, on IPv4 and (where present) IPv6, so "localhost" works whichever
  // address a client resolves it to.
  const servers = [];
  return {
    listen(port = 8080) {
      return new Promise((resolve, reject) => {
        const v4 = http.createServer(onRequest);
        v4.keepAliveTimeout = 1000;
        v4.once("error", reject);
        v4.listen(port, "127.0.0.1", () => {
          servers.push(v4);
          const actual = v4.address().port;
          const v6 = http.createServer(onRequest);
          v6.keepAliveTimeout = 1000;
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
  const server = createDevServer({ ttlSeconds: args.ttl, graceMs: args.grace, secret: process.env.IDA_DEV_SECRET });
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
