# workerd config for the example gateway: `npx workerd serve config.capnp`.
# It listens on :8787, sends refreshes to the local dev server, and forwards to an origin on
# :9000. Module names mirror the npm package layout so `import ... from "ida-refresh"` works:
# paths below assume this file sits in node_modules/ida-refresh/examples/gateway/ (copy it and
# adjust the embed paths if you move it).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "gateway", worker = .gateway),
    # workerd refuses loopback by default; this lets the example reach local servers.
    (name = "outbound", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "*:8787", http = (), service = "gateway") ],
);

const gateway :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "ida-refresh", esModule = embed "../../workerd.js"),
    (name = "api.js", esModule = embed "../../api.js"),
    (name = "coordinator.js", esModule = embed "../../coordinator.js"),
    (name = "wasm/ida_refresh.js", esModule = embed "../../wasm/ida_refresh.js"),
    (name = "wasm/refresh-error.js", esModule = embed "../../wasm/refresh-error.js"),
    (name = "wasm/gateway.js", esModule = embed "../../wasm/gateway.js"),
    (name = "wasm/platform.js", esModule = embed "../../wasm/platform.js"),
    (name = "wasm/ida_refresh_bg.wasm", wasm = embed "../../wasm/ida_refresh_bg.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  globalOutbound = "outbound",
  bindings = [
    (name = "AUTH_BASE_URL", text = "http://localhost:8080/api/v1"),
    (name = "ORIGIN_URL", text = "http://localhost:9000"),
    (name = "JWT_SECRET", text = "ida-dev-secret-32-bytes-or-more-change-me"),
    (name = "REFRESH_COORDINATOR", durableObjectNamespace = "RefreshCoordinator"),
  ],
  durableObjectNamespaces = [ (className = "RefreshCoordinator", uniqueKey = "ida-refresh-coordinator") ],
  durableObjectStorage = (inMemory = void),
);
