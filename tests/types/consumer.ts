// Type-checks the package's public surface as a TypeScript user of the "node" condition sees it
// (tsc --noEmit; tests/js/package-types.test.mjs checks it, and the other entries' consumers
// beside it, against the packed package).
import { refresh, RefreshClient, RefreshError, AuthGateway } from "ida-refresh";
import type { RefreshResult, RefreshErrorCode, Session, RefreshClientEventMap, AuthOutcome, GatewayOptions, FetchFunction } from "ida-refresh";

async function spa(): Promise<void> {
  const result: RefreshResult = await refresh("rt", { baseUrl: "/api/v1", timeoutMs: 5000, credentials: "include", headers: { "x-a": "1" } });
  const token: string | null = result.accessToken;
  const expires: number | null = result.expiresAt;
  const claims: Record<string, unknown> | null = result.claims;
  void token, expires, claims;

  const client = new RefreshClient({ storage: "localStorage", refreshMarginSeconds: 30, retry: { maxAttempts: 3, maxCooldownMs: 120_000 }, crossTab: true });
  const off: () => void = client.on("signedOut", ({ reason }) => {
    const r: "invalid_refresh_token" | "signOut" | "otherTab" = reason;
    void r;
  });
  client.on("error", (e: RefreshError) => {
    const code: RefreshErrorCode = e.code;
    const status: number | null = e.status;
    void code, status;
  });
  client.on("refreshed", (s: Session) => void s.expiresAt);
  const at: string | null = await client.getAccessToken();
  const res: Response = await client.authFetch("/api/me", { method: "POST", body: "{}" });
  await client.setSession({ refreshToken: "rt", accessToken: at ?? undefined });
  const current: Session | null = client.session;
  await client.signOut();
  off();
  client.dispose();
  void res, current;
  const events: keyof RefreshClientEventMap = "refreshed";
  void events;
  // The types are real, not `any`: each of these must be an error.
  // @ts-expect-error an unknown event
  client.on("bogus", () => {});
  // @ts-expect-error a protocol that does not exist
  await refresh("rt", { protocol: "oauth3" });
  // @ts-expect-error the access token may be null
  const notNull: string = result.accessToken;
  // @ts-expect-error an unknown option
  new RefreshClient({ storageKeyy: "x" });
  void notNull;
  try {
    await client.refresh();
  } catch (e) {
    if (e instanceof RefreshError && e.retryable) void e.retryAfterMs;
    if (e instanceof RefreshError) {
      const oauth: string | undefined = e.serverError;
      void oauth;
    }
  }
  // fetch as it is called: the global fetch, a wrapper of its shape, or an object with one.
  await refresh("rt", { fetch });
  await refresh("rt", { fetch: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, init) });
  await refresh("rt", { fetch: { fetch } });
  const f: FetchFunction = fetch;
  void f;
  // @ts-expect-error a fetch that does not return a Response promise
  await refresh("rt", { fetch: (input: string) => input });
}

async function worker(request: Request, env: { ORIGIN: { fetch(r: Request): Promise<Response> } }): Promise<Response> {
  const options: GatewayOptions = { baseUrl: "https://adid.dev/api/v1", upstream: env.ORIGIN, keys: { jwksUrl: "https://x/jwks" }, algorithms: ["RS256", "ES256"], leewaySeconds: 10 };
  const gateway = new AuthGateway(options);
  const outcome: AuthOutcome = await gateway.authenticate(request);
  if (outcome.status === "authenticated" && outcome.request) return fetch(outcome.request);
  return gateway.handle(request);
}

void spa, worker;
