// ida-refresh/web: the browser build for a plain <script type="module"> page, with an explicit init.
export * from "./browser.js";
/** Instantiates the wasm; call once before using the API (ida-refresh/web only). */
export default function init(input?: { module_or_path?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module }): Promise<unknown>;
export { init };
