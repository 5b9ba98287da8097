// Cloudflare Workers / workerd: a .wasm import is an already compiled WebAssembly.Module
// (runtime compilation is not allowed there), instantiated synchronously.
import wasm from "./wasm/ida_refresh_bg.wasm";
import { initSync } from "./wasm/ida_refresh.js";

initSync({ module: wasm });

export * from "./api.js";
export { RefreshCoordinator } from "./coordinator.js";
