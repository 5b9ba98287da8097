// A tab frozen mid-request (CDP Page.setWebLifecycleState), with and without a grace window.
// Playwright keeps every page it drives visible (its focus emulation), and Chromium freezes only
// hidden pages, so this file drives Chromium over the raw DevTools protocol: each tab has its own
// window, and the victim's window is minimized (hidden) before it is frozen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import utils from "playwright-core/lib/utilsBundle";
import { startDevServer, freePort, removeProfile } from "./harness.mjs";
import { startTabClient } from "./tabs-page.mjs";

const pace = (ms) => new Promise((r) => setTimeout(r, ms));
let dev, chrome, cdp, profile;

/** A DevTools connection with flattened sessions: send(method, params, session). */
async function connect(port) {
  let version;
  for (const end = Date.now() + 15_000; !version; ) {
    try {
      version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
    } catch (e) {
      if (Date.now() > end) throw e;
      await pace(50);
    }
  }
  const socket = new utils.ws(version.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let id = 0;
  const pending = new Map();
  const bindings = [];
  socket.on("message", (data) => {
    const m = JSON.parse(String(data));
    if (m.id && pending.has(m.id)) {
      const { resolve, reject } = pending.get(m.id);
      pending.delete(m.id);
      m.error ? reject(new Error(m.error.message)) : resolve(m.result);
    } else if (m.method === "Runtime.bindingCalled") bindings.forEach((f) => f(m.sessionId, m.params));
  });
  const send = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      pending.set(++id, { resolve, reject });
      socket.send(JSON.stringify({ id, method, params, sessionId }));
    });
  return { send, onBinding: (f) => bindings.push(f), close: () => socket.close() };
}

before(async () => {
  dev = await startDevServer({ static: true });
  const port = await freePort();
  profile = fs.mkdtempSync(path.join(os.tmpdir(), "ida-freeze-"));
  chrome = spawn("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", `--remote-debugging-port=${port}`, `--user-data-dir=${profile}`, "about:blank"], { stdio: "ignore", detached: true });
  cdp = await connect(port);
});
after(async () => {
  cdp?.close();
  if (chrome && chrome.exitCode === null) {
    const exited = new Promise((r) => chrome.once("exit", r));
    // The whole process group: Chromium's helpers outlive the browser process and keep writing
    // to the profile (a removal then failed with ENOTEMPTY).
    try {
      process.kill(-chrome.pid, "SIGKILL");
    } catch {
      chrome.kill("SIGKILL");
    }
    await exited;
  }
  await dev?.close();
  removeProfile(profile);
});

/** A tab in its own window, the runner page loaded; returns its session id. */
async function openWindow() {
  const { targetId } = await cdp.send("Target.createTarget", { url: `http://localhost:${dev.port}/tests/js/runner.html`, newWindow: true });
  const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
  await cdp.send("Runtime.enable", {}, sessionId);
  for (const end = Date.now() + 15_000; !(await evaluate(sessionId, "window.ready === true")); ) {
    if (Date.now() > end) throw new Error("the runner page did not load");
    await pace(25);
  }
  return { sessionId, targetId };
}

async function evaluate(sessionId, expression) {
  const r = await cdp.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true }, sessionId);
  if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
  return r.result.value;
}

for (const graceMs of [0, 10_000]) {
  test(`a tab frozen mid-request for 1.5 s, ${graceMs ? "with" : "without"} a grace window`, async () => {
    const key = `freeze-${graceMs}`;
    const tabs = [await openWindow(), await openWindow(), await openWindow()];
    const [victim, ...others] = tabs;
    const s = await dev.mint({ ttlSeconds: 10, graceMs });
    // The others refresh only on demand, inside the 2 s margin; the victim is told to refresh
    // 2.5 s before expiry (below), so it is the one that sends. (Its own proactive timer, once a
    // second in a hidden tab, fired too late under load: then another tab sent.)
    for (const t of tabs) await evaluate(t.sessionId, `(${startTabClient})(${JSON.stringify({ storage: "localStorage", storageKey: key, refreshMarginSeconds: 2, autoRefresh: false })})`);
    await evaluate(victim.sessionId, `client.setSession(${JSON.stringify({ refreshToken: s.refreshToken, accessToken: s.accessToken })})`);
    // Hidden (Chromium freezes only hidden pages); its timers now run at most once a second.
    const { windowId } = await cdp.send("Browser.getWindowForTarget", { targetId: victim.targetId });
    await cdp.send("Browser.setWindowBounds", { windowId, bounds: { windowState: "minimized" } });
    assert.equal(await evaluate(victim.sessionId, "document.visibilityState"), "hidden");
    // The longest gap between two turns of its event loop: proof that it was frozen.
    await evaluate(victim.sessionId, `(() => { let last = performance.now(); window.longestGap = 0; setInterval(() => { const t = performance.now(); longestGap = Math.max(longestGap, t - last); last = t; }, 100); })()`);
    // When its request has left (the server holds it 300 ms), it is frozen for 1.5 s.
    await cdp.send("Runtime.addBinding", { name: "refreshSent" }, victim.sessionId);
    await evaluate(victim.sessionId, `window.onRefreshSend = (input, init) => { const sent = fetch(input, init); refreshSent(""); return sent; }`);
    let freezes = 0;
    const thawed = [];
    cdp.onBinding((sessionId) => {
      if (sessionId !== victim.sessionId) return;
      freezes++;
      thawed.push(
        cdp.send("Page.setWebLifecycleState", { state: "frozen" }, victim.sessionId).then(async () => {
          await pace(1_500);
          await cdp.send("Page.setWebLifecycleState", { state: "active" }, victim.sessionId);
        }),
      );
    });
    await dev.queue(s.family, [{ delayMs: 300 }]);
    const expiresAtMs = JSON.parse(Buffer.from(s.accessToken.split(".")[1], "base64url")).exp * 1000;
    const trigger = setTimeout(() => evaluate(victim.sessionId, "void client.refresh().catch(() => {})").catch(() => {}), expiresAtMs - 2_500 - Date.now());
    await Promise.all(others.map((t) => evaluate(t.sessionId, "loop(12000)")));
    clearTimeout(trigger);
    await Promise.all(thawed);
    assert.ok(freezes >= 1, "the victim refreshed and was frozen");
    const server = await dev.stats(s.family);
    for (const end = Date.now() + 10_000; ; ) {
      const rts = await Promise.all(tabs.map((t) => evaluate(t.sessionId, "client.session?.refreshToken ?? null")));
      if (rts.every((rt) => rt === server.currentRefreshToken) || server.revoked) break;
      if (Date.now() > end) throw new Error("the tabs did not all reach the newest token");
      await pace(25);
    }
    const gap = await evaluate(victim.sessionId, "longestGap");
    const stats = await Promise.all(others.map((t) => evaluate(t.sessionId, "({ ...stats })")));
    const sum = (k) => stats.reduce((a, x) => a + x[k], 0);
    const longest = Math.max(...stats.map((x) => x.maxWaitMs));
    const after = await dev.stats(s.family);
    console.log(`tabs: 2 tabs + 1 frozen 1.5 s mid-request (${freezes} freezes, its longest pause ${gap.toFixed(0)} ms), ${graceMs ? `grace window ${graceMs / 1000} s` : "no grace window"}: ${sum("calls")} calls, ${after.refreshRequests} refresh requests, ${after.graceHits} grace hits, ${after.revocations} revocations, ${sum("unauthorized")} surfaced 401s, ${sum("failed")} failed calls, longest call ${longest.toFixed(0)} ms`);
    assert.ok(gap >= 1_400, `the victim was frozen (longest pause ${gap} ms)`);
    assert.equal(after.revocations, 0, "no family revocation");
    assert.equal(sum("unauthorized"), 0, "no call surfaced a 401");
    assert.equal(sum("failed"), 0, "no call failed");
    assert.ok(longest < 1_500, `longest call ${longest} ms`);
    for (const t of tabs) await cdp.send("Target.closeTarget", { targetId: t.targetId });
  });
}
