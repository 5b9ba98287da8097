// The "workerd" condition's types: everything, RefreshCoordinator included; a service binding
// (an object with fetch) stands in for fetch and for the upstream.
import { refresh, AuthGateway, RefreshCoordinator } from "ida-refresh";
import type { AuthOutcome } from "ida-refresh";

export { RefreshCoordinator };

interface Env {
  AUTH: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  ORIGIN: { fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> };
  COORD: { idFromName(name: string): { toString(): string }; get(id: { toString(): string }): { fetch(input: string, init?: RequestInit): Promise<Response> } };
}
let gateway: AuthGateway | undefined;

export default {
  async fetch(request: Request, env: Env, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response> {
    if (new URL(request.url).pathname === "/refresh") {
      const tokens = await refresh("rt", { baseUrl: "https://auth.internal/api/v1", fetch: env.AUTH });
      return Response.json({ ok: tokens.accessToken !== null });
    }
    gateway ??= new AuthGateway({ upstream: env.ORIGIN, keys: { hs256Secret: "s".repeat(32) }, algorithms: ["HS256"], coordinator: env.COORD, allowedOrigins: ["https://app.example"] });
    const outcome: AuthOutcome = await gateway.authenticate(request, ctx);
    if (outcome.status === "forbidden") return new Response(null, { status: 403 });
    return gateway.handle(request, ctx);
  },
};

const coordinator: RefreshCoordinator = new RefreshCoordinator({}, {});
const answer: Promise<Response> = coordinator.fetch(new Request("https://x/"));
void answer;
