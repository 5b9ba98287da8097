// RefreshCoordinator: a Durable Object that makes every request carrying the same refresh
// token share one refresh, across isolates. AuthGateway names one object per token (by its
// SHA-256) and asks it; inside one object, sharing a promise between requests is allowed.
// Export it from your worker: `export { RefreshCoordinator } from "ida-refresh";`
import { DurableObject } from "cloudflare:workers";
import { refresh } from "./wasm/ida_refresh.js";

// Late requests still carrying the rotated cookie get the same answer for this long.
const RESULT_TTL_MS = 30_000;

export class RefreshCoordinator extends DurableObject {
  #inFlight = new Map();
  #done = new Map();

  async fetch(request) {
    // `options`: the gateway's refresh options (endpoint, protocol, timeout), never logged.
    const { refreshToken, options } = await request.json();
    const now = Date.now();
    for (const [token, entry] of this.#done) if (now - entry.at > RESULT_TTL_MS) this.#done.delete(token);
    const done = this.#done.get(refreshToken);
    if (done) return Response.json(done.reply);
    let pending = this.#inFlight.get(refreshToken);
    if (!pending) {
      pending = refresh(refreshToken, options).then(
        (result) => ({ result }),
        (e) => ({ error: { code: e?.code ?? "server_error", status: e?.status ?? null, retryAfterMs: e?.retryAfterMs ?? null } }),
      );
      this.#inFlight.set(refreshToken, pending);
      pending.then((reply) => {
        this.#inFlight.delete(refreshToken);
        this.#done.set(refreshToken, { at: Date.now(), reply });
      });
    }
    return Response.json(await pending);
  }
}
