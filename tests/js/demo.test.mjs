// The www/ demo in real headless Chromium, served by the dev server as the README's demo
// command serves it: sign in, press Refresh, see new claims and expiry. Saves a screenshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, withDevServerAndChromium } from "./harness.mjs";

const env = withDevServerAndChromium();

test("demo: sign in, refresh, see the rotated token and new claims", async () => {
  const page = await env.browser.context.newPage();
  const problems = [];
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.setViewportSize({ width: 375, height: 800 });
  await page.goto(`http://localhost:${env.dev.port}/`);
  await page.getByText("ready: wasm loaded").waitFor();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("signed in", { exact: true }).waitFor();
  const firstJti = JSON.parse(await page.locator("#claims").textContent()).jti;
  const firstRt = await page.locator("#rt").textContent();
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.waitForFunction((jti) => !document.getElementById("claims").textContent.includes(jti), firstJti);
  const claims = JSON.parse(await page.locator("#claims").textContent());
  assert.ok(claims.exp > Date.now() / 1000, "a fresh expiry");
  assert.notEqual(await page.locator("#rt").textContent(), firstRt, "the refresh token rotated");
  assert.match(await page.locator("#countdown").textContent(), /^\d+ s$/);
  assert.equal(await page.locator("#log li.ok").count(), 3);
  const stats = await env.dev.stats();
  assert.equal(stats.rotations, 2);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= 375, `no horizontal scroll at 375 px (${scrollWidth})`);
  fs.mkdirSync(path.join(ROOT, "tests/artifacts"), { recursive: true });
  await page.screenshot({ path: path.join(ROOT, "tests/artifacts/demo.png"), fullPage: true });
  assert.deepEqual(problems, []);
});
