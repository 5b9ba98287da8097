// An edge worker that terminates auth in front of an origin with ida-refresh's AuthGateway.
// Copy this file; set the variables (see config.capnp, or wrangler.toml as in the README).
import { AuthGateway, RefreshCoordinator } from "ida-refresh";

// Durable Object class for "one refresh per refresh token" across isolates.
export { RefreshCoordinator };

let gateway;

export default {
  async fetch(request, env, ctx) {
    // Built on the first request: the global scope of a worker may not do I/O.
    gateway ??= new AuthGateway({
      baseUrl: env.AUTH_BASE_URL,                // the ida auth API
      upstream: env.ORIGIN_URL,                  // or a service binding: env.ORIGIN
      keys: { hs256Secret: env.JWT_SECRET },     // or { jwksUrl: "https://.../jwks.json" }
      algorithms: ["HS256"],                     // or ["RS256", "ES256", "EdDSA"] with a JWKS
      stripHeaders: ["x-user-id"],               // identity headers a client must not set
      coordinator: env.REFRESH_COORDINATOR,      // optional Durable Object namespace
    });
    const url = new URL(request.url);
    // Public routes skip authentication; everything else is protected.
    if (url.pathname === "/" || url.pathname.startsWith("/public/")) {
      return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), request);
    }
    return gateway.handle(request, ctx);
  },
};
