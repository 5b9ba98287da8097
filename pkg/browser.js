// Bundlers (Vite, webpack 5) and browsers: top-level await instantiates the wasm, so importers
// can call the API at once, with no init step.
import init from "./wasm/ida_refresh.js";

await init({ module_or_path: new URL("./wasm/ida_refresh_bg.wasm", import.meta.url) });

export * from "./api.js";
