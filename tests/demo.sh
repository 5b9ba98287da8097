#!/usr/bin/env bash
# The demo: builds the package, then serves the dev server (http://localhost:8080/api/v1) and
# the www/ page at http://localhost:8080/. Ctrl-C stops it. PORT=... picks another port.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash tests/setup.sh
bash tests/build.sh
echo "open http://localhost:${PORT:-8080}/ in a browser"
exec node tests/server/server.mjs --port "${PORT:-8080}"
