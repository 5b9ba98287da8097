// The one JS error class of ida-refresh. Rust builds every error through this constructor
// (src/js/error.rs), and the package re-exports this very module, so `instanceof` holds.
export class RefreshError extends Error {
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = details.code ?? "unexpected_status";
    this.status = details.status ?? null;
    this.retryable = Boolean(details.retryable);
    this.retryAfterMs = details.retryAfterMs ?? null;
    // The OAuth 2.0 error code (never its description), when the server sent one.
    if (details.serverError !== undefined) this.serverError = details.serverError;
  }
}
Object.defineProperty(RefreshError.prototype, "name", { value: "RefreshError", writable: true, configurable: true });

// What src/js/error.rs calls: the fields as arguments, so wasm does not build the details
// object property by property.
export function refreshError(message, code, status, retryable, retryAfterMs, serverError, cause) {
  return new RefreshError(message, { code, status, retryable, retryAfterMs, serverError, cause });
}
