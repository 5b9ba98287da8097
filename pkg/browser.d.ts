// Types of the "browser" and default conditions (browser.js: Vite, webpack, esbuild, browsers,
// Web Workers) and of ida-refresh/web: the client-only build, without AuthGateway.
export { refresh, RefreshClient, createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm-client/ida_refresh.js";
export type {
  RefreshErrorCode, RefreshOptions, RefreshResult, FetchFunction, Session, StorageAdapter, RetryOptions, RefreshClientOptions,
  SignedOutReason, RefreshClientEventMap, DpopKeyStore,
} from "./wasm-client/ida_refresh.js";
export { RefreshError } from "./refresh-error.js";

/**
 * Not in the browser build: AuthGateway runs in edge workers and Node (the "workerd" and
 * "node" conditions). Here it is a stub that throws, typed `never` so that using it fails to
 * compile ("This expression is not constructable").
 */
export declare const AuthGateway: never;
