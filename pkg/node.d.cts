// Types of require("ida-refresh") in Node (node.cjs): the same surface as index.d.ts, declared
// over the CommonJS build so that TypeScript's CommonJS output type-checks against it.
export { refresh, RefreshClient, AuthGateway, createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm-node/ida_refresh.js";
export type {
  RefreshErrorCode, RefreshOptions, RefreshResult, FetchFunction, Session, StorageAdapter, RetryOptions, RefreshClientOptions,
  SignedOutReason, RefreshClientEventMap, DpopKeyStore, GatewayAlgorithm, GatewayOptions, AuthOutcome,
} from "./wasm-node/ida_refresh.js";
export { RefreshError } from "./wasm-node/refresh-error.js";
