#!/usr/bin/env bash
# Fuzzes the protocol core natively with cargo-fuzz (libFuzzer): token decoding and stored
# records, the JSON reader and writer (held to serde_json on values), base64 (held to
# base64ct), refresh-response parsing (both dialects), cookie parsing, Retry-After / HTTP dates
# (held to httpdate), the gateway's token checks and its DPoP proof checks. Seeds: tests/fuzz/corpus/<target>/ (read only; the working
# corpus goes to a temp dir). Crashes land in tests/fuzz/artifacts/.
#   bash tests/fuzz.sh [seconds per target, default 10]     (a long run: bash tests/fuzz.sh 3600)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
SECONDS_PER_TARGET="${1:-10}"
# cargo-fuzz passes nightly-only flags; the stable toolchain here accepts them this way.
export RUSTC_BOOTSTRAP=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
total=0
for target in token_decode json base64 refresh_response cookie retry_after gateway_token dpop_proof; do
  mkdir -p "$WORK/$target"
  runs=$(cargo fuzz run --fuzz-dir tests/fuzz -s none -O "$target" "$WORK/$target" "tests/fuzz/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 2>&1 | tee "$WORK/$target.log" | awk '/stat::number_of_executed_units/ {print $2}')
  [ -n "$runs" ] || { cat "$WORK/$target.log" | tail -30; echo "fuzz: $target failed" >&2; exit 1; }
  echo "fuzz: $target: $runs executions in ${SECONDS_PER_TARGET}s, no crash"
  total=$((total + runs))
done
echo "fuzz: $total executions in all, no crash"
