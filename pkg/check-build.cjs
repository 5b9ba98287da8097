// `prepack`: refuses to pack a package whose wasm builds are missing (run tests/build.sh first).
"use strict";
const fs = require("fs");
const path = require("path");

const needed = [
  "wasm/ida_refresh.js", "wasm/ida_refresh_bg.wasm", "wasm/refresh-error.js", "wasm/ida_refresh.d.ts",
  "wasm-client/ida_refresh.js", "wasm-client/ida_refresh_bg.wasm", "wasm-client/refresh-error.js", "wasm-client/ida_refresh.d.ts",
  "wasm-node/ida_refresh.js", "wasm-node/refresh-error.js", "wasm-node/ida_refresh.d.ts", "wasm-node/package.json",
];
const missing = needed.filter((f) => !fs.existsSync(path.join(__dirname, f)));
if (missing.length) {
  console.error(`ida-refresh: refusing to pack: the wasm builds are missing (${missing.join(", ")}).\nBuild them first: bash tests/build.sh (after bash tests/setup.sh on a fresh machine).`);
  process.exit(1);
}
