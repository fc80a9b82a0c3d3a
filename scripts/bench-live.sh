#!/usr/bin/env bash
# Live-update benchmark (figures, not pass/fail): push-to-visible latency p50/p99 over 200
# edits on one replica and across two replicas on PostgreSQL, memory per idle socket and
# the time to hint 1,000 subscribers, the delay while polling. Release server and package.
# Results: BENCHMARKS.md ("Live updates").   ./scripts/bench-live.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build-pkg.sh >/dev/null
cargo build --release -q -p vaultsync-server
flags=()
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
  flags=(--experimental-websocket)
fi
# BENCH=link: the linking benchmark (scripts/bench-link.sh), with the same set-up.
cd www && VAULTSYNC_SERVER_BIN="$PWD/../target/release/vaultsync-server" node "${flags[@]}" "bench/${BENCH:-live}.mjs" "$@"
