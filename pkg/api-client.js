// The browser build's API: the same names, from the client-only wasm. AuthGateway runs in
// edge workers and Node (the "workerd" and "node" conditions); here it is a stub that says so,
// so that the one import line works everywhere (browser.d.ts types it `never`, so TypeScript
// users see the mistake when they compile).
export { refresh, RefreshClient } from "./wasm-client/ida_refresh.js";
import { RefreshError } from "./wasm-client/refresh-error.js";
export { RefreshError };

export class AuthGateway {
  constructor() {
    throw new RefreshError("AuthGateway: is not in the browser build; it runs in edge workers and Node", { code: "invalid_argument" });
  }
}
// DPoP: the building blocks are in platform.js, which encodes through the wasm's sync exports.
import * as wasm from "./wasm-client/ida_refresh.js";
import { dpopWire } from "./wasm-client/platform.js";
dpopWire(wasm);
export { createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm-client/platform.js";
