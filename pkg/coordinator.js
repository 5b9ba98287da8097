// RefreshCoordinator: a Durable Object that makes every request carrying the same refresh
// token share one refresh, across isolates. AuthGateway names one object per token (by its
// SHA-256) and asks it; inside one object, sharing a promise between requests is allowed.
// Export it from your worker: `export { RefreshCoordinator } from "ida-refresh";`
//
// It also remembers DPoP proofs across isolates: AuthGateway asks the object named by a proof's
// jti hash ("dpop-jti:<hex>") whether it has seen it; the answer is kept in the object's storage
// (not lost when the object is evicted) until the proof could no longer be accepted, then an
// alarm deletes it.
//
// A failed refresh is shared only with the requests waiting for it; only a success answers
// later requests (those still carrying the just-rotated cookie), for RESULT_TTL_MS. One
// object serves one token, so junk tokens land in objects of their own and displace nothing.
import { DurableObject } from "cloudflare:workers";
import { refresh } from "./wasm/ida_refresh.js";

const RESULT_TTL_MS = 30_000;

export class RefreshCoordinator extends DurableObject {
  #inFlight = null;
  #success = null;

  async fetch(request) {
    if (new URL(request.url).pathname === "/dpop-jti") return this.#rememberJti(await request.json());
    // `options`: the gateway's refresh options (endpoint, protocol, timeout), never logged.
    const { refreshToken, options } = await request.json();
    if (this.#success && Date.now() - this.#success.at < RESULT_TTL_MS && this.#success.token === refreshToken) {
      return Response.json(this.#success.reply);
    }
    if (!this.#inFlight) {
      const pending = refresh(refreshToken, options).then(
        (result) => ({ result }),
        (e) => ({ error: { code: e?.code ?? "server_error", status: e?.status ?? null, retryAfterMs: e?.retryAfterMs ?? null } }),
      );
      this.#inFlight = pending;
      pending.then((reply) => {
        this.#inFlight = null;
        if (reply.result) this.#success = { at: Date.now(), token: refreshToken, reply };
      });
    }
    return Response.json(await this.#inFlight);
  }

  // Storage calls hold the object's input gate: no other request runs between get and put.
  async #rememberJti({ until }) {
    const storage = this.ctx.storage;
    const seen = await storage.get("until");
    if (seen !== undefined && seen > Date.now()) return Response.json({ fresh: false });
    await storage.put("until", until);
    await storage.setAlarm(until);
    return Response.json({ fresh: true });
  }

  async alarm() {
    await this.ctx.storage.deleteAll();
  }
}
