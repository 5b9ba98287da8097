/**
 * The Durable Object that makes every request carrying the same refresh token share one
 * refresh, across isolates (workerd / Cloudflare Workers only). Export it from your worker and
 * bind it as a Durable Object namespace; pass the binding as AuthGateway's `coordinator`.
 * At run time it extends `DurableObject` from "cloudflare:workers".
 */
export declare class RefreshCoordinator {
  constructor(ctx: object, env: object);
  /** Answers the gateway's coordination requests; not meant to be called directly. */
  fetch(request: Request): Promise<Response>;
}
