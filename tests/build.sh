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
# Release builds rebuild the standard library with panics as a bare trap (panic=abort already
# traps; this drops the panic message machinery, core::fmt and its tables: about 5 KB gzip).
# That takes rust-src and RUSTC_BOOTSTRAP (the flags are unstable); on a toolchain that lacks
# either, the plain build is used and the size gate in tests/bench/size.mjs decides.
wasm_pack() { # out-dir, extra cargo args...
  local out="$1"; shift
  wasm-pack build --quiet "$PROFILE" --target web --out-dir "$out" --out-name ida_refresh --no-pack -- "$@"
}
build() { # out-dir, extra cargo args...
  local out="$1"; shift
  rm -rf "$out"
  local std_src=0
  [ "$PROFILE" = "--release" ] && rustup component list --installed 2>/dev/null | grep -q '^rust-src' && std_src=1
  # Rust >= 1.91 spells it -Cpanic=immediate-abort; earlier toolchains, a build-std feature.
  if [ $std_src = 1 ] && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
    CARGO_TARGET_DIR="$ROOT/target/immediate-abort" wasm_pack "$out" -Zbuild-std=std,panic_abort "$@"; then
    :
  elif [ $std_src = 1 ] && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$ROOT/target/immediate-abort-feature" \
    wasm_pack "$out" -Zbuild-std=std,panic_abort -Zbuild-std-features=panic_immediate_abort "$@"; then
    :
  else
    echo "build: building without -Zbuild-std (larger)" >&2
    wasm_pack "$out" "$@"
  fi
  rm -f "$out/.gitignore"
  # The JS snippets (RefreshError's class, the gateway's helpers) come in paths that carry a
  # hash. They are moved to fixed names (and the glue's imports rewritten), so the package has
  # a stable file list: the entries re-export the very module the glue imports, and
  # `err instanceof RefreshError` holds.
  local snippet
  for snippet in $(cd "$out" && find snippets -name '*.js'); do
    mv "$out/$snippet" "$out/$(basename "$snippet" .js | tr _ -).js"
    # Only the import statements: the wasm's own import table names the original path.
    sed -i "/^import /s#\./$snippet#./$(basename "$snippet" .js | tr _ -).js#" "$out/ida_refresh.js"
  done
  rm -rf "$out/snippets"
  grep -q "from './refresh-error.js'" "$out/ida_refresh.js" || { echo "build: could not rewrite the snippet import" >&2; exit 1; }
  local raw gz
  raw=$(stat -c %s "$out/ida_refresh_bg.wasm")
  gz=$(gzip -9 -c "$out/ida_refresh_bg.wasm" | wc -c)
  echo "build: $out/ida_refresh_bg.wasm $raw bytes raw, $gz bytes gzip -9" >&2
}
build pkg/wasm
build pkg/wasm-client --no-default-features
