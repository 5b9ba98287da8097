// A module worker for tests/js/bounded-bodies.test.mjs: refresh() from the built package, and
// the wasm instance's linear memory around it (it only grows, so growth shows what a body
// read copied into it).
// POST / with {"refreshToken", "options"} -> { ok, code, message, memoryBefore, memoryAfter }.
import { refresh } from "./pkg/workerd.js";
import wasm from "./pkg/wasm/ida_refresh_bg.wasm";
import { initSync } from "./pkg/wasm/ida_refresh.js";

// pkg/workerd.js has already instantiated the module: initSync hands back those exports.
const exports = initSync({ module: wasm });
const memory = () => exports.memory.buffer.byteLength;

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("ready");
    const { refreshToken, options } = await request.json();
    const memoryBefore = memory();
    let outcome;
    try {
      await refresh(refreshToken, options);
      outcome = { ok: true };
    } catch (e) {
      outcome = { ok: false, code: e.code, message: e.message };
    }
    return Response.json({ ...outcome, memoryBefore, memoryAfter: memory() });
  },
};
