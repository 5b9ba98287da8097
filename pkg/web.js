// For a plain <script type="module"> page: call `await init()` once before using the API.
import init from "./wasm/ida_refresh.js";

export { init };
export default init;
export * from "./api.js";
