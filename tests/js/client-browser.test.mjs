// RefreshClient scenarios (tests/js/client-scenarios.mjs) in a real headless Chromium page,
// served by the dev server (same origin, so cookie mode sends its cookies).
import { test } from "node:test";
import assert from "node:assert/strict";
import { withDevServerAndChromium } from "./harness.mjs";
import { scenarios } from "./client-scenarios.mjs";

let page;
const problems = [];
withDevServerAndChromium(async (env) => {
  page = await env.browser.context.newPage();
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`http://localhost:${env.dev.port}/tests/js/runner.html`);
  await page.waitForFunction(() => window.ready === true);
});

for (const name of Object.keys(scenarios)) {
  test(`chromium: ${name}`, async () => {
    const failure = await page.evaluate((n) => window.runScenario(n), name);
    assert.equal(failure, null);
    assert.deepEqual(problems, []);
  });
}
