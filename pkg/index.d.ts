// The public surface: the API and its types, nothing of the raw wasm exports.
export { refresh, RefreshClient, AuthGateway } from "./wasm/ida_refresh.js";
export type {
  RefreshErrorCode, RefreshOptions, RefreshResult, Session, StorageAdapter, RetryOptions, RefreshClientOptions,
  SignedOutReason, RefreshClientEventMap, GatewayAlgorithm, GatewayOptions, AuthOutcome,
} from "./wasm/ida_refresh.js";
export { RefreshError } from "./refresh-error.js";
