// RefreshClient scenarios (tests/js/client-scenarios.mjs) in Node, with the built package.
import { test, before, after } from "node:test";
import * as lib from "../../pkg/node.js";
import { startDevServer } from "./harness.mjs";
import { scenarios, devClient } from "./client-scenarios.mjs";

let server;
before(async () => (server = await startDevServer()));
after(() => server?.close());

for (const [name, run] of Object.entries(scenarios)) {
  if (name.startsWith("browser:")) continue;
  test(`node: ${name}`, () => run({ lib, dev: devClient(server.base), runtime: "node" }));
}
