#!/usr/bin/env bash
# Every test: native unit tests, the wasm suites in Node, a Chromium window and a dedicated
# worker, then the Node test files (the built package in Node and in real workerd).
# Installs whatever the machine lacks first (tests/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash tests/setup.sh --browser
export PATH="$HOME/.cargo/bin:$ROOT/tests/bin:$PATH"
step() { printf '\n== %s\n' "$*"; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

step "native unit tests (cargo test), default and client-only feature sets"
cargo test --quiet
cargo test --quiet --no-default-features

step "checks: rustfmt (rustfmt.toml), clippy -D warnings (both feature sets); the core names no wasm-bindgen, js-sys or web-sys"
cargo fmt --check
rustfmt --check --edition 2021 tests/fuzz/fuzz_targets/*.rs
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --all-targets --no-default-features -- -D warnings
if grep -rnE "wasm_bindgen|js_sys|web_sys" src/core; then echo "src/core must not depend on the JS bindings" >&2; exit 1; fi

step "fuzz smoke: each cargo-fuzz target for 10 s (a long run: bash tests/fuzz.sh 3600)"
bash tests/fuzz.sh 10

step "build pkg/ (wasm-pack, release)"
bash tests/build.sh

step "size: every entry gzip-ed beside auth0-spa-js, supabase auth-js, oidc-client-ts and jose; the browser entry must be within 60 KB"
node tests/bench/size.mjs --max-browser-kb 60

step "types: tsc --noEmit on a typed consumer (tests/types/consumer.ts)"
tests/node_modules/.bin/tsc -p tests/types/tsconfig.json

PORT="$(free_port)"
# A port that stays closed for the whole run: bound but never listening (connections are
# refused), so nothing else (e.g. the wasm-bindgen test runner) can take it meanwhile.
CLOSED_LOG="$(mktemp)"
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1], flush=True); time.sleep(3600)' >"$CLOSED_LOG" &
HOLDER=$!
for _ in $(seq 50); do [ -s "$CLOSED_LOG" ] && break; sleep 0.1; done
CLOSED="$(head -n1 "$CLOSED_LOG")"
LOG="$(mktemp)"
node tests/server/server.mjs --port "$PORT" >"$LOG" 2>&1 &
DEV=$!
trap 'kill $DEV $HOLDER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$LOG" && break; sleep 0.1; done
grep -q listening "$LOG" || { cat "$LOG"; exit 1; }
export IDA_TEST_BASE_URL="http://localhost:$PORT/api/v1" IDA_TEST_CLOSED_PORT="$CLOSED"

step "wasm suite in Node (the full build's allocator under tests/allocator.rs among them)"
IDA_TEST_RUNTIME=node wasm-pack test --node

step "allocator stress in wasm: the browser build's global allocator against the model (tests/allocator.rs)"
wasm-pack test --node --no-default-features --test allocator

# The wasm-bindgen test runner's page server (tiny_http 0.12) holds a thread of a small pool for
# each connection the browser keeps alive, so a page opening more connections than that waits
# forever (README, Tests). Headless Chromium reaches it through tests/server/runner-proxy.mjs,
# which sends every request on a connection of its own; the dev server (localhost) is reached
# directly, so a refused connection stays a refused connection.
PROXY_LOG="$(mktemp)"
node tests/server/runner-proxy.mjs >"$PROXY_LOG" 2>&1 &
PROXY=$!
trap 'kill $DEV $HOLDER $PROXY 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$PROXY_LOG" ] && break; sleep 0.1; done
grep -qE '^[0-9]+$' "$PROXY_LOG" || { cat "$PROXY_LOG"; exit 1; }
WEBDRIVER_JSON="$(mktemp --suffix .json)"
printf '{"goog:chromeOptions":{"args":["proxy-server=http://127.0.0.1:%s","proxy-bypass-list=<-loopback>;localhost"]}}\n' "$(head -n1 "$PROXY_LOG")" >"$WEBDRIVER_JSON"
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$WEBDRIVER_JSON" WASM_BINDGEN_TEST_TIMEOUT=90
step "wasm suite in headless Chromium (window)"
IDA_TEST_RUNTIME=window WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome

step "wasm suite in headless Chromium (dedicated worker)"
IDA_TEST_RUNTIME=worker WASM_BINDGEN_USE_DEDICATED_WORKER=1 wasm-pack test --headless --chrome

step "wasm suite in headless Chromium (service worker)"
IDA_TEST_RUNTIME=service-worker WASM_BINDGEN_USE_SERVICE_WORKER=1 wasm-pack test --headless --chrome

step "package tests: Node, workerd, Chromium pages (RefreshClient scenarios, multi-tab, demo)"
node --test --test-concurrency=1 tests/js/

step "benchmark smoke run (the full run: node --expose-gc tests/bench/run.mjs)"
node --expose-gc tests/bench/run.mjs --quick

step "soak: 60 s, 2 s tokens, 50 Node loops + 3 Chromium tabs, 20% of refreshes faulted"
node --expose-gc tests/bench/soak.mjs --seconds 60

step "gateway soak: AuthGateway in workerd, 70 s per variant (40 s warm-up) (isolate table, Durable Object), grace window off, junk and late cookies"
node tests/bench/gateway-soak.mjs --seconds 70

step "memory: RefreshClient over refresh cycles must stay flat (the full build, and the browser build with its allocator)"
node --expose-gc tests/bench/memory.mjs --cycles 5000 --max-growth 262144
node --expose-gc tests/bench/memory.mjs --cycles 2000 --server --max-growth 262144
node --expose-gc tests/bench/memory.mjs --cycles 5000 --client --max-growth 262144

step "all tests passed"
