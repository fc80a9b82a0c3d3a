#!/usr/bin/env bash
# Server load benchmark (figures, not pass/fail): push, pull, 50 concurrent clients, delta
# pull in a 100,000-record vault, prelogin timing, each against a reference measured in the
# same run. Starts the release server on a temporary SQLite file. Results: BENCHMARKS.md.
#   ./scripts/bench-server.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p vaultsync-server --bin vaultsync-server --example load
exec target/release/examples/load
