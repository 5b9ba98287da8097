// The browser build's types (the "browser" and default conditions; ida-refresh/web): the client
// API, and AuthGateway typed so that using it fails to compile.
import { refresh, RefreshClient, RefreshError, AuthGateway } from "ida-refresh";
import init, { refresh as webRefresh } from "ida-refresh/web";
import type { RefreshResult, RefreshOptions, FetchFunction } from "ida-refresh";

const options: RefreshOptions = { baseUrl: "/api/v1", credentials: "include", fetch: globalThis.fetch };
const result: RefreshResult = await refresh("rt", options);
const client = new RefreshClient({ storage: "localStorage", crossTab: true });
client.on("error", (e: RefreshError) => void e.code);
const f: FetchFunction = fetch;
await init();
await webRefresh("rt");
void result, f;

// @ts-expect-error AuthGateway is not in the browser build
new AuthGateway({ upstream: "https://origin.example", keys: { jwksUrl: "https://x/jwks" }, algorithms: ["RS256"] });
// @ts-expect-error RefreshCoordinator is workerd's alone
import("ida-refresh").then((m) => m.RefreshCoordinator);
