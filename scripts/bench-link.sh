#!/usr/bin/env bash
# Device-linking benchmark (figures, not pass/fail): a new device joins a 1,000-record
# vault without the password, in Node and in Chromium, end to end. Release server and
# package. Results: BENCHMARKS.md ("Issue 12").   ./scripts/bench-link.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build-pkg.sh >/dev/null
cargo build --release -q -p vaultsync-server
flags=()
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
  flags=(--experimental-websocket)
fi
cd www && VAULTSYNC_SERVER_BIN="$PWD/../target/release/vaultsync-server" node "${flags[@]}" bench/link.mjs "$@"
