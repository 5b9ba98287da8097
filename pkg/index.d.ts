// Types of the "node" condition (ESM, node.js); workerd.d.ts adds RefreshCoordinator, node.d.cts
// is the same surface for require(), browser.d.ts the browser build's. Only the API and its
// types: nothing of the raw wasm exports.
export { refresh, RefreshClient, AuthGateway, createDpopKeyPair, createDpopProof, dpopThumbprint } from "./wasm/ida_refresh.js";
export type {
  RefreshErrorCode, RefreshOptions, RefreshResult, FetchFunction, Session, StorageAdapter, RetryOptions, RefreshClientOptions,
  SignedOutReason, RefreshClientEventMap, DpopKeyStore, GatewayAlgorithm, GatewayOptions, AuthOutcome,
} from "./wasm/ida_refresh.js";
export { RefreshError } from "./refresh-error.js";
