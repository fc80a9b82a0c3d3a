#!/usr/bin/env bash
# Device-store benchmark (figures, not pass/fail): the first sync into IndexedDB, one edit
# persisted, reopening with the session secret and with the password, the WASM memory, and
# save()/resume() as the reference, for 10,000 x 1 KiB and 50,000 x 256 B in headless
# Chromium; then 1,000 x 64 KiB through WebCrypto vs WebCrypto alone vs AES in WASM.
# Against the release server. Results: BENCHMARKS.md ("Issue 9").
#   ./scripts/bench-store.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build-pkg.sh >/dev/null
cargo build --release -q -p vaultsync-server
cd www && VAULTSYNC_SERVER_BIN="$PWD/../target/release/vaultsync-server" node bench/store-run.mjs "$@"
