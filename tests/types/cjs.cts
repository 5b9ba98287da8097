// require("ida-refresh") typed: TypeScript's CommonJS output (a .cts file under module
// nodenext compiles this import to require()) resolves the "require" condition, node.d.cts.
import { refresh, RefreshClient, RefreshError, AuthGateway } from "ida-refresh";
import type { RefreshResult, GatewayOptions } from "ida-refresh";
import pkg = require("ida-refresh/package.json");

async function main(): Promise<void> {
  try {
    const r: RefreshResult = await refresh("rt", { baseUrl: "http://localhost:8080/api/v1", fetch });
    void r.accessToken;
  } catch (e) {
    if (e instanceof RefreshError) console.log(e.code, e.status, e.serverError);
  }
  const client = new RefreshClient({ autoRefresh: false });
  client.dispose();
  const options: GatewayOptions = { upstream: "https://origin.example", keys: { hs256Secret: "s".repeat(32) }, algorithms: ["HS256"] };
  void new AuthGateway(options);
  const version: string = pkg.version;
  void version;
}
void main;
