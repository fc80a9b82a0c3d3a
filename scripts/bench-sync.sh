#!/usr/bin/env bash
# Sync benchmark (figures, not pass/fail): initial sync of 10,000 x 1 KiB in Node and
# headless Chromium, delta vs empty sync in a 100,000-record vault, session export/import,
# WASM memory. Uses the release server and the release package. Results: BENCHMARKS.md.
#   ./scripts/bench-sync.sh [--reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build-pkg.sh >/dev/null
cargo build --release -q -p vaultsync-server
cd www && VAULTSYNC_SERVER_BIN="$PWD/../target/release/vaultsync-server" node bench/sync-run.mjs "$@"
