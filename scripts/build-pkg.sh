#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, release, ESM "web" target) and adds the
# Node.js entry and the publishable package.json (scripts/finish-pkg.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
# The crate npm/ (vaultsync-npm) builds the package; its output goes to pkg/ at the root.
wasm-pack --log-level warn build npm --out-dir ../pkg --profile wasm --target web --out-name vaultsync --no-pack "$@"
# Size and speed: binaryen's wasm-opt from npm (Debian's binaryen 108 breaks the module:
# TOOLCHAIN.md). It also drops the name section. Features are read from the
# module's target_features section.
opt=www/node_modules/.bin/wasm-opt
if [[ -x $opt ]]; then
  if [[ -n ${WASM_SIZE:-} ]]; then
    # The same optimisation with the name section kept, for scripts/wasm-size.py.
    mkdir -p target/wasm-size
    "$opt" -O3 -g pkg/vaultsync_bg.wasm -o target/wasm-size/vaultsync_named.wasm
  fi
  "$opt" -O3 --strip-debug --strip-producers pkg/vaultsync_bg.wasm -o pkg/vaultsync_bg.wasm.opt
  mv pkg/vaultsync_bg.wasm.opt pkg/vaultsync_bg.wasm
else
  echo "[pkg] www/node_modules/.bin/wasm-opt missing (run scripts/setup.sh): .wasm not optimised" >&2
fi
node scripts/finish-pkg.mjs
