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
# RefreshError's class comes from a wasm-bindgen snippet whose path carries a hash. It is moved
# to a fixed name (and the glue's import rewritten), so the package has a stable file list: the
# entries re-export the very module the glue imports, and `err instanceof RefreshError` holds.
SNIPPET="$(cd pkg/wasm && find snippets -name refresh_error.js | head -n 1)"
[ -n "$SNIPPET" ] || { echo "build: refresh_error.js snippet not found" >&2; exit 1; }
mv "pkg/wasm/$SNIPPET" pkg/wasm/refresh-error.js
rm -rf pkg/wasm/snippets
sed -i "s#\./$SNIPPET#./refresh-error.js#" pkg/wasm/ida_refresh.js
grep -q "from './refresh-error.js'" pkg/wasm/ida_refresh.js || { echo "build: could not rewrite the snippet import" >&2; exit 1; }
raw=$(stat -c %s pkg/wasm/ida_refresh_bg.wasm)
gz=$(gzip -9 -c pkg/wasm/ida_refresh_bg.wasm | wc -c)
echo "build: pkg/wasm/ida_refresh_bg.wasm $raw bytes raw, $gz bytes gzip -9" >&2
