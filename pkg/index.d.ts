export * from "./wasm/ida_refresh.js";
export { RefreshError } from "./refresh-error.js";
