// RefreshClient scenarios (tests/js/client-scenarios.mjs) in a real headless Chromium page,
// served by the dev server (same origin, so cookie mode sends its cookies).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startDevServer, launchChromium } from "./harness.mjs";
import { scenarios } from "./client-scenarios.mjs";

let dev, browser, page;
const problems = [];
before(async () => {
  dev = await startDevServer({ static: true });
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`http://localhost:${dev.port}/tests/js/runner.html`);
  await page.waitForFunction(() => window.ready === true);
});
after(async () => {
  await browser?.close();
  await dev?.close();
});

for (const name of Object.keys(scenarios)) {
  test(`chromium: ${name}`, async () => {
    const failure = await page.evaluate((n) => window.runScenario(n), name);
    assert.equal(failure, null);
    assert.deepEqual(problems, []);
  });
}
