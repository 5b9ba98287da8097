// The www/ demo in real headless Chromium, served by the dev server as the README's demo
// command serves it: sign in, let a short-lived token expire into a refresh, see the timeline
// and the log show it, make the server fail, and see a second tab share the session. Saves a
// screenshot as a test artifact.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, withDevServerAndChromium } from "./harness.mjs";

const env = withDevServerAndChromium();

test("demo: sign in, watch a refresh on the timeline, fail the server, share with a second tab", async () => {
  const problems = [];
  const open = async () => {
    const page = await env.browser.context.newPage();
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    page.on("pageerror", (e) => problems.push(String(e)));
    await page.setViewportSize({ width: 375, height: 900 });
    await page.goto(`http://localhost:${env.dev.port}/`);
    await page.getByText("ready: wasm loaded", { exact: false }).first().waitFor();
    return page;
  };
  const page = await open();
  await page.getByLabel("Access token lifetime (s)").fill("5");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("signed in", { exact: true }).waitFor();
  const firstJti = JSON.parse(await page.locator("#claims").textContent()).jti;
  assert.ok(firstJti, "claims shown");
  assert.match(await page.locator("#countdown").textContent(), /^\d+ s$/);
  // A 5 s token is refreshed by itself before it expires: the log and the timeline show it.
  await page.getByText("refreshed: new access token", { exact: false }).first().waitFor({ timeout: 8_000 });
  assert.notEqual(JSON.parse(await page.locator("#claims").textContent()).jti, firstJti, "new claims");
  assert.ok(await page.locator('#timeline circle[fill="#16a34a"]').count() >= 1, "a green refresh mark");
  assert.ok(await page.locator('#timeline rect[fill="#fcd34d"]').count() >= 1, "the margin is drawn");
  // The server goes down: the next refresh fails, the session stays.
  await page.getByRole("button", { name: "Server down (503)" }).click();
  await page.getByRole("button", { name: "Refresh", exact: true }).click();
  await page.getByText("refresh failed: server_error", { exact: false }).first().waitFor({ timeout: 8_000 });
  assert.equal(await page.locator("#status").textContent(), "signed in");
  await page.getByRole("button", { name: "Back to normal" }).click();
  // A second tab restores the session from storage and hears the first tab's refreshes.
  const second = await open();
  await second.getByText("session restored", { exact: false }).waitFor();
  assert.equal(await second.locator("#status").textContent(), "signed in");
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 375, `no horizontal scroll at 375 px (${scrollWidth})`);
  fs.mkdirSync(path.join(ROOT, "tests/artifacts"), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, "tests/artifacts/demo.png"), fullPage: true });
  // Console errors from failed requests (the 503s the test asked for) are expected; nothing else.
  assert.deepEqual(problems.filter((p) => !/status of 503|Failed to load resource/.test(p)), []);
  await second.close();
  await page.close();
});

test("demo: the DPoP switch binds the session to a key in the browser; the API call carries its proof", async () => {
  const page = await env.browser.context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(`http://localhost:${env.dev.port}/`);
  await page.getByText("ready: wasm loaded", { exact: false }).first().waitFor();
  if (!(await page.getByLabel(/DPoP/).isChecked())) {
    await Promise.all([page.waitForEvent("load"), page.getByLabel(/DPoP/).click()]);
    await page.getByText("ready: wasm loaded", { exact: false }).first().waitFor();
  }
  assert.ok(await page.getByLabel(/DPoP/).isChecked());
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("DPoP-bound to", { exact: false }).first().waitFor();
  const jkt = await page.locator("#jkt").textContent();
  assert.match(jkt, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(JSON.parse(await page.locator("#claims").textContent()).cnf.jkt, jkt);
  await page.getByRole("button", { name: "Call the API" }).click();
  await page.getByText("GET /api/v1/me: HTTP 200", { exact: false }).first().waitFor();
  await page.getByRole("button", { name: "Refresh", exact: true }).click();
  await page.getByText("refreshed: new access token", { exact: false }).first().waitFor();
  await Promise.all([page.waitForEvent("load"), page.getByLabel(/DPoP/).click()]);
  await page.getByText("ready: wasm loaded", { exact: false }).first().waitFor();
  assert.equal(await page.getByLabel(/DPoP/).isChecked(), false, "switched off again");
  assert.deepEqual(problems, []);
  await page.close();
});
