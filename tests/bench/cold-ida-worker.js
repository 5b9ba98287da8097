// Cold-start benchmark: the first request refreshes a token with ida-refresh.
import { refresh } from "./pkg/workerd.js";

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname !== "/go") return new Response("ready");
    const r = await refresh(env.RT, { baseUrl: env.BASE });
    return Response.json({ ok: Boolean(r.accessToken) });
  },
};
