// A module worker that calls refresh() from the built package, for tests/js/workerd.test.mjs.
// POST / with {"refreshToken", "options"} -> the result, or the error's public fields.
import { refresh, RefreshError } from "./pkg/workerd.js";

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("ready");
    const { refreshToken, options } = await request.json();
    try {
      return Response.json({ ok: true, value: await refresh(refreshToken, options) });
    } catch (e) {
      return Response.json({
        ok: false,
        isError: e instanceof Error,
        isRefreshError: e instanceof RefreshError,
        name: e.name, code: e.code, status: e.status, retryable: e.retryable, retryAfterMs: e.retryAfterMs, message: e.message,
      });
    }
  },
};
