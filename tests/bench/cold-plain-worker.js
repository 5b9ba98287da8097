// Cold-start benchmark baseline: the same refresh with plain fetch, no wasm.
export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname !== "/go") return new Response("ready");
    const r = await fetch(`${env.BASE}/auth/refresh`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refreshToken: env.RT }) });
    const body = await r.json();
    return Response.json({ ok: Boolean(body.accessToken) });
  },
};
