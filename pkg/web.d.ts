export * from "./index.js";
export { default, default as init } from "./wasm/ida_refresh.js";
