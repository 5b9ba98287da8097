#!/usr/bin/env bash
# Builds the npm package in pkg/: wasm-pack output goes to pkg/wasm/ (not in git); the entry
# files beside it are hand-written. Run tests/setup.sh first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/tests/bin:$PATH"
PROFILE="${1:---release}"
rm -rf pkg/wasm
wasm-pack build --quiet "$PROFILE" --target web --out-dir pkg/wasm --out-name ida_refresh --no-pack
rm -f pkg/wasm/.gitignore
# The entries re-export RefreshError from the very module the wasm glue imports, so that
# `err instanceof RefreshError` holds; its path carries a hash, so it is found here.
SNIPPET="$(cd pkg/wasm && find snippets -name refresh_error.js | head -n 1)"
[ -n "$SNIPPET" ] || { echo "build: refresh_error.js snippet not found" >&2; exit 1; }
echo "export { RefreshError } from \"./$SNIPPET\";" > pkg/wasm/refresh-error.js
raw=$(stat -c %s pkg/wasm/ida_refresh_bg.wasm)
gz=$(gzip -9 -c pkg/wasm/ida_refresh_bg.wasm | wc -c)
echo "build: pkg/wasm/ida_refresh_bg.wasm $raw bytes raw, $gz bytes gzip -9" >&2
