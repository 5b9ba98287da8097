// The public API, shared by every entry. Entries instantiate the wasm first, then re-export this.
export { refresh, RefreshClient, AuthGateway, createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm/ida_refresh.js";
export { RefreshError } from "./wasm/refresh-error.js";
