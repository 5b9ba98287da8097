// The gateway in real workerd for tests/js/gateway.test.mjs: two AuthGateway instances built
// from the CONFIG binding, one with the RefreshCoordinator Durable Object, one without.
// The header `x-test-gateway: coordinated` picks the first, any other name the config of that name. Test-only routes start with /__.
import { AuthGateway, RefreshCoordinator } from "./pkg/workerd.js";
// The generated glue: workerd.js has already initialised it with this module, so initSync()
// hands back the same exports (memory included) without instantiating again.
import { initSync } from "./pkg/wasm/ida_refresh.js";
import wasmModule from "./pkg/wasm/ida_refresh_bg.wasm";

export { RefreshCoordinator };

let gateways;
function gatewaysFor(env) {
  if (!gateways) {
    const configs = JSON.parse(env.CONFIG);
    gateways = { coordinated: new AuthGateway({ ...configs.plain, coordinator: env.COORD }) };
    // `withCoordinator: true` in a config binds the Durable Object to that gateway too.
    for (const [name, { withCoordinator, ...config }] of Object.entries(configs)) {
      gateways[name] = new AuthGateway(withCoordinator ? { ...config, coordinator: env.COORD } : config);
    }
  }
  return gateways;
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__ready") return new Response("ready");
    // The wasm linear memory of this isolate (the gateways' tables live there), in bytes.
    if (url.pathname === "/__memory") return Response.json({ wasmBytes: initSync({ module: wasmModule }).memory.buffer.byteLength });
    const all = gatewaysFor(env);
    const gateway = all[request.headers.get("x-test-gateway") ?? "plain"];
    if (url.pathname === "/__counts") return Response.json({ refreshCalls: gateway.refreshCalls, jwksFetches: gateway.jwksFetches });
    if (url.pathname === "/__authenticate") {
      const outcome = await gateway.authenticate(request);
      return Response.json({ ...outcome, request: outcome.request && { url: outcome.request.url, authorization: outcome.request.headers.get("authorization") } });
    }
    if (url.pathname === "/__config-error") {
      try {
        new AuthGateway(JSON.parse(await request.text()));
        return Response.json({ ok: true });
      } catch (e) {
        return Response.json({ ok: false, name: e.name, code: e.code, message: e.message });
      }
    }
    return gateway.handle(request, ctx);
  },
};
