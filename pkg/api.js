// The public API, shared by every entry. Entries instantiate the wasm first, then re-export this.
export { refresh, RefreshClient, AuthGateway } from "./wasm/ida_refresh.js";
export { RefreshError } from "./wasm/refresh-error.js";
// DPoP: the building blocks are in platform.js, which encodes through the wasm's sync exports.
import * as wasm from "./wasm/ida_refresh.js";
import { dpopWire } from "./wasm/platform.js";
dpopWire(wasm);
export { createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm/platform.js";
