#!/usr/bin/env bash
# Builds the npm package into pkg/ (wasm-pack, release, ESM "web" target) and adds the
# Node.js entry and the publishable package.json (scripts/finish-pkg.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
wasm-pack --log-level warn build --release --target web --out-name vaultsync --no-pack "$@"
# Size and speed: binaryen's wasm-opt from npm (Debian's binaryen 108 breaks the module, see
# ../shared/TOOLCHAIN.md). It also drops the name section. Features are read from the
# module's target_features section.
opt=www/node_modules/.bin/wasm-opt
if [[ -x $opt ]]; then
  "$opt" -O3 --strip-debug --strip-producers pkg/vaultsync_bg.wasm -o pkg/vaultsync_bg.wasm.opt
  mv pkg/vaultsync_bg.wasm.opt pkg/vaultsync_bg.wasm
else
  echo "[pkg] www/node_modules/.bin/wasm-opt missing (run scripts/setup.sh): .wasm not optimised" >&2
fi
node scripts/finish-pkg.mjs
