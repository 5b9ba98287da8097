// The free names of README.md's code blocks, which are fragments of an app: declared here so
// that every ```js and ```ts block type-checks as written (tests/js/package-types.test.mjs).
// Nothing of ida-refresh is declared here: the blocks import it.
declare const storedRefreshToken: string;
declare function signIn(): void;
declare function retryLater(delayMs: number | null): void;
declare const rt: string;
declare const tokensFromSignIn: { refreshToken: string; accessToken: string };
declare function showSignIn(reason: "invalid_refresh_token" | "signOut" | "otherTab"): void;

// The worker blocks' JSDoc names the types a worker project has from @cloudflare/workers-types
// (ExecutionContext) and `wrangler types` (Env); these stand in for them.
interface Env {
  AUTH: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  AUTH_BASE_URL: string;
  ORIGIN_URL: string;
  JWKS_URL: string;
  DPOP_NONCE_SECRET: string;
  REFRESH_COORDINATOR: { idFromName(name: string): { toString(): string }; get(id: { toString(): string }): { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> } };
}
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}
