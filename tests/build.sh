#!/usr/bin/env bash
# Builds the npm package in pkg/: wasm-pack output goes to pkg/wasm/ (not in git); the entry
# files beside it are hand-written. Run tests/setup.sh first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/tests/bin:$PATH"
PROFILE="${1:---release}"
# Two builds: pkg/wasm (everything: Node, workerd) and pkg/wasm-client (no AuthGateway: the
# browser entries, so SPAs do not pay for JWT verification they cannot use).
build() { # out-dir, extra cargo args...
  local out="$1"; shift
  rm -rf "$out"
  wasm-pack build --quiet "$PROFILE" --target web --out-dir "$out" --out-name ida_refresh --no-pack -- "$@"
  rm -f "$out/.gitignore"
  # RefreshError's class comes from a wasm-bindgen snippet whose path carries a hash. It is moved
  # to a fixed name (and the glue's import rewritten), so the package has a stable file list: the
  # entries re-export the very module the glue imports, and `err instanceof RefreshError` holds.
  local snippet
  snippet="$(cd "$out" && find snippets -name refresh_error.js | head -n 1)"
  [ -n "$snippet" ] || { echo "build: refresh_error.js snippet not found" >&2; exit 1; }
  mv "$out/$snippet" "$out/refresh-error.js"
  rm -rf "$out/snippets"
  sed -i "s#\./$snippet#./refresh-error.js#" "$out/ida_refresh.js"
  grep -q "from './refresh-error.js'" "$out/ida_refresh.js" || { echo "build: could not rewrite the snippet import" >&2; exit 1; }
  local raw gz
  raw=$(stat -c %s "$out/ida_refresh_bg.wasm")
  gz=$(gzip -9 -c "$out/ida_refresh_bg.wasm" | wc -c)
  echo "build: $out/ida_refresh_bg.wasm $raw bytes raw, $gz bytes gzip -9" >&2
}
build pkg/wasm
build pkg/wasm-client --no-default-features
