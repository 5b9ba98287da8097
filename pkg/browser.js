// Bundlers (Vite, webpack 5) and browsers: top-level await instantiates the client-only wasm
// (no AuthGateway), so importers can call the API at once, with no init step.
import init from "./wasm-client/ida_refresh.js";

await init({ module_or_path: new URL("./wasm-client/ida_refresh_bg.wasm", import.meta.url) });

export * from "./api-client.js";
