#!/usr/bin/env bash
# Builds the npm package in pkg/: wasm-pack output goes to pkg/wasm/, pkg/wasm-client/ and
# pkg/wasm-node/ (not in git); the entry files beside them are hand-written. Run tests/setup.sh
# first.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/tests/bin:$PATH"
PROFILE="${1:---release}"
# The tools tests/setup.sh installs: say so rather than fail on the first missing one.
missing=()
command -v cargo >/dev/null 2>&1 || missing+=("cargo (Rust, from rustup)")
command -v wasm-pack >/dev/null 2>&1 || missing+=("wasm-pack")
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || missing+=("the wasm32-unknown-unknown target")
# tests/bin/wasm-opt runs binaryen from tests/node_modules (wasm-pack would try a download).
[ -f "$ROOT/tests/node_modules/binaryen/bin/wasm-opt" ] || missing+=("binaryen's wasm-opt (tests/node_modules)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'build: missing: %s\n' "${missing[@]}" >&2
  echo "build: run bash tests/setup.sh first" >&2
  exit 1
fi
# Three builds: pkg/wasm (everything, ESM: Node's import, workerd), pkg/wasm-client (no
# AuthGateway: the browser entries, so SPAs do not pay for JWT verification they cannot use)
# and pkg/wasm-node (everything, CommonJS: require() in Node and Jest). The last one is the
# first's cargo build again (cached) through wasm-bindgen's nodejs target: only its glue is kept.
# Release builds rebuild the standard library with panics as a bare trap (panic=abort already
# traps; this drops the panic message machinery, core::fmt and its tables: about 5 KB gzip).
# That takes rust-src and RUSTC_BOOTSTRAP (the flags are unstable); on a toolchain that lacks
# either, the plain build is used and the size gate in tests/bench/size.mjs decides.
wasm_pack() { # out-dir, extra cargo args...
  local out="$1"; shift
  wasm-pack build --quiet "$PROFILE" --target "$TARGET" ${NO_OPT:+--no-opt} --out-dir "$out" --out-name ida_refresh --no-pack -- "$@"
}
build() { # target (web | nodejs), out-dir, extra cargo args...
  local TARGET="$1" out="$2"; shift 2
  # The nodejs build's wasm is thrown away for pkg/wasm's (below): no wasm-opt run for it.
  local NO_OPT=""
  [ "$TARGET" = nodejs ] && NO_OPT=1
  rm -rf "$out"
  local std_src=0
  [ "$PROFILE" = "--release" ] && rustup component list --installed 2>/dev/null | grep -q '^rust-src' && std_src=1
  # Rust >= 1.91 spells it -Cpanic=immediate-abort; earlier toolchains, a build-std feature.
  # -Zlocation-detail=none and -Zfmt-debug=none drop the file names of panic locations and
  # the bodies of Debug impls (nothing prints Debug in the wasm; tests run natively): 0.6 KB gzip.
  if [ $std_src = 1 ] && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
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
    # Only the import statements (ESM) or require() lines (nodejs): the wasm's own import
    # table names the original path.
    sed -i "/^import \|^const {.*} = require(/s#\./$snippet#./$(basename "$snippet" .js | tr _ -).js#" "$out/ida_refresh.js"
  done
  rm -rf "$out/snippets"
  if [ "$TARGET" = nodejs ]; then
    # wasm-bindgen's nodejs target require()s the snippets as they are, and they are ES modules
    # (`export function`, `export class`): Node 18 and Jest cannot require those. They export
    # only declarations, so each becomes CommonJS by dropping `export` and assigning the names
    # to `exports` at the end. The directory is marked CommonJS (the package is "type": "module").
    for snippet in "$out"/*.js; do
      [ "$snippet" = "$out/ida_refresh.js" ] && continue
      node -e '
        const fs = require("fs"), file = process.argv[1];
        const names = [];
        let src = fs.readFileSync(file, "utf8").replace(/^export ((?:async )?(?:function\*?|class) ([A-Za-z_$][\w$]*))/gm, (_, decl, name) => (names.push(name), decl));
        if (/^\s*(import|export)\b/m.test(src) || !names.length) throw new Error(`build: ${file} is not a module of plain exported declarations`);
        fs.writeFileSync(file, `"use strict";\n${src}\n${names.map((n) => `exports.${n} = ${n};`).join("\n")}\n`);
      ' "$snippet"
    done
    echo '{ "type": "commonjs" }' > "$out/package.json"
    # Its types are CommonJS too: RefreshError's declaration beside the class, not the ESM one.
    sed 's#"\./wasm/ida_refresh\.js"#"./ida_refresh.js"#' pkg/refresh-error.d.ts > "$out/refresh-error.d.ts"
    sed -i 's#"\.\./refresh-error\.js"#"./refresh-error.js"#' "$out/ida_refresh.d.ts"
    grep -q "require(String.raw\`./refresh-error.js\`)" "$out/ida_refresh.js" || { echo "build: could not rewrite the snippet require" >&2; exit 1; }
    # The wasm is pkg/wasm's (one cargo build through the same wasm-bindgen; wasm-opt keeps
    # every import and export name): the glue reads that one instead of shipping a second
    # copy. Checked: the same imports and exports, the only contract between glue and wasm.
    if node -e '
        const fs = require("fs");
        const shape = (f) => { const m = new WebAssembly.Module(fs.readFileSync(f)); return JSON.stringify([WebAssembly.Module.imports(m), WebAssembly.Module.exports(m)]); };
        process.exit(shape(process.argv[1]) === shape(process.argv[2]) ? 0 : 1);
      ' "$out/ida_refresh_bg.wasm" pkg/wasm/ida_refresh_bg.wasm &&
      grep -q '^const wasmPath = `${__dirname}/ida_refresh_bg.wasm`;$' "$out/ida_refresh.js"; then
      sed -i 's#^const wasmPath = `${__dirname}/ida_refresh_bg.wasm`;$#const wasmPath = `${__dirname}/../wasm/ida_refresh_bg.wasm`;#' "$out/ida_refresh.js"
      rm "$out/ida_refresh_bg.wasm"
      echo "build: $out reads pkg/wasm/ida_refresh_bg.wasm (the same imports and exports)" >&2
      return
    fi
    echo "build: $out keeps a wasm of its own (it does not match pkg/wasm's)" >&2
    [ "$PROFILE" = "--release" ] && wasm-opt -Oz "$out/ida_refresh_bg.wasm" -o "$out/ida_refresh_bg.wasm"
  else
    grep -q "from './refresh-error.js'" "$out/ida_refresh.js" || { echo "build: could not rewrite the snippet import" >&2; exit 1; }
  fi
  local raw gz
  raw=$(stat -c %s "$out/ida_refresh_bg.wasm")
  gz=$(gzip -9 -c "$out/ida_refresh_bg.wasm" | wc -c)
  echo "build: $out/ida_refresh_bg.wasm $raw bytes raw, $gz bytes gzip -9" >&2
}
build web pkg/wasm
# Right after pkg/wasm: the same features, so cargo has nothing to rebuild.
build nodejs pkg/wasm-node
build web pkg/wasm-client --no-default-features
# The browser wasm gets binaryen's control-flow rebuild on top of -Oz (flatten, then re-form
# loops and branches, then -Oz twice): 0.3 KB gzip smaller. The gateway build keeps plain -Oz:
# its hot path is benchmarked, and size matters less at the edge.
if [ "$PROFILE" = "--release" ]; then
  wasm-opt --enable-nontrapping-float-to-int --enable-sign-ext --enable-bulk-memory --enable-mutable-globals \
    --enable-reference-types --enable-multivalue --flatten --rereloop -Oz -Oz \
    pkg/wasm-client/ida_refresh_bg.wasm -o pkg/wasm-client/ida_refresh_bg.wasm
fi
# The browser build's imports and exports get short names. wasm-bindgen names each one like
# `__wbg_set_signal_0b2eee78907e5ba7`: a hundred of them, in both the wasm and the glue, and
# the hashes do not compress (about 1.5 KB of the gzip total). The glue names them only as the
# keys of its import object, so the wasm's import section and those keys are renamed together
# (and the module, "./ida_refresh_bg.js", to "w"); so are the exports the glue calls.
node -e '
  const fs = require("fs"), [wasmFile, jsFile] = process.argv.slice(1);
  const wasm = fs.readFileSync(wasmFile);
  let js = fs.readFileSync(jsFile, "utf8");
  let p = 8;
  const leb = () => { let r = 0, s = 0, b; do { b = wasm[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
  const uleb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return Buffer.from(out); };
  const name = (text) => Buffer.concat([uleb(Buffer.byteLength(text)), Buffer.from(text)]);
  const text = () => { const l = leb(); p += l; return wasm.toString("utf8", p - l, p); };
  const parts = [wasm.subarray(0, 8)];
  const glue = "./ida_refresh_bg.js";
  while (p < wasm.length) {
    const start = p, id = wasm[p++], size = leb(), end = p + size;
    // Custom sections (producers, target_features) mean nothing to a runtime.
    if (id === 0) { p = end; continue; }
    if (id === 7) {
      // Exports the glue calls as `wasm.name` get short names too; memory, and what the glue
      // does not call, keep theirs.
      const count = leb(), entries = [uleb(count)];
      for (let i = 0; i < count; i++) {
        const field = text(), desc = p;
        p++; leb();
        const call = /^\w+$/.test(field) && new RegExp(`\\bwasm\\.${field}\\b`, "g");
        const renamed = call && wasm[desc] !== 2 && call.test(js) ? "_" + i.toString(36) : field;
        if (renamed !== field) js = js.replace(call, `wasm.${renamed}`);
        entries.push(name(renamed), wasm.subarray(desc, p));
      }
      if (p !== end) throw new Error("build: unexpected export section");
      const body = Buffer.concat(entries);
      parts.push(Buffer.from([7]), uleb(body.length), body);
      continue;
    }
    if (id !== 2) { parts.push(wasm.subarray(start, end)); p = end; continue; }
    const count = leb(), entries = [uleb(count)];
    for (let i = 0; i < count; i++) {
      const module = text(), field = text();
      if (wasm[p] !== 0) throw new Error(`build: import ${field} is not a function`);
      const desc = p; p++; leb();
      let renamed = field;
      if (module === glue && /^__wbg_\w+_[0-9a-f]{16}$/.test(field)) {
        renamed = "_" + i.toString(36);
        const key = new RegExp(`^(\\s*)${field}:`, "m");
        if (!key.test(js)) throw new Error(`build: the glue has no import ${field}`);
        js = js.replace(key, `$1${renamed}:`);
      }
      entries.push(name(module === glue ? "w" : module), name(renamed), wasm.subarray(desc, p));
    }
    if (p !== end) throw new Error("build: unexpected import section");
    const body = Buffer.concat(entries);
    parts.push(Buffer.from([2]), uleb(body.length), body);
  }
  if (js.split(`"${glue}": import0`).length !== 2) throw new Error("build: the glue does not name its import module once");
  js = js.replace(`"${glue}": import0`, "w: import0");
  if (/__wbg_\w+_[0-9a-f]{16}\b/.test(js)) throw new Error("build: the glue still names a hashed import");
  const out = Buffer.concat(parts);
  new WebAssembly.Module(out);
  fs.writeFileSync(wasmFile, out);
  fs.writeFileSync(jsFile, js);
' pkg/wasm-client/ida_refresh_bg.wasm pkg/wasm-client/ida_refresh.js
echo "build: pkg/wasm-client/ida_refresh_bg.wasm with short import and export names: $(stat -c %s pkg/wasm-client/ida_refresh_bg.wasm) bytes raw, $(gzip -9 -c pkg/wasm-client/ida_refresh_bg.wasm | wc -c) bytes gzip -9" >&2
