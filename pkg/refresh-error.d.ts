import type { RefreshErrorCode } from "./wasm/ida_refresh.js";

/** Every failure of ida-refresh: a real Error with a stable `code`. Messages never contain tokens. */
export declare class RefreshError extends Error {
  constructor(message: string, details?: { code?: RefreshErrorCode; status?: number | null; retryable?: boolean; retryAfterMs?: number | null; serverError?: string; cause?: unknown });
  readonly name: "RefreshError";
  /** What went wrong. */
  readonly code: RefreshErrorCode;
  /** The HTTP status of the refresh answer, or null when there was none. */
  readonly status: number | null;
  /** Whether trying again later can succeed (network, timeout, server_error, rate_limited). */
  readonly retryable: boolean;
  /** How long the server asked to wait (Retry-After), in ms, or null. */
  readonly retryAfterMs: number | null;
  /** protocol "oauth2": the server's OAuth 2.0 `error` code (e.g. "invalid_grant"; never its description), when it sent one. */
  readonly serverError?: string;
}
