// Node >= 18 (ESM): the wasm is read from disk and instantiated before any import resolves.
import { readFileSync } from "node:fs";
import { initSync } from "./wasm/ida_refresh.js";

initSync({ module: readFileSync(new URL("./wasm/ida_refresh_bg.wasm", import.meta.url)) });

export * from "./api.js";
