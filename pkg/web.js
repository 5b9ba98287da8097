// For a plain <script type="module"> page: call `await init()` once before using the API.
// The client-only wasm (no AuthGateway).
import init from "./wasm-client/ida_refresh.js";

export { init };
export default init;
export * from "./api-client.js";
