#!/usr/bin/env bash
# Server benchmarks (figures, not pass/fail), each against a reference measured in the same
# run, on temporary SQLite files with the release server. Results: BENCHMARKS.md.
#   ./scripts/bench-server.sh            push, pull, 50 concurrent clients, delta pull in a
#                                        100,000-record vault, prelogin timing
#   ./scripts/bench-server.sh writers [--reference BIN]
#                                        50 writers on one vault vs on 50 vaults (the vault
#                                        head's cost), optionally vs another server binary
#   ./scripts/bench-server.sh history [--reference BIN]
#                                        pushes with 10 past versions kept vs none (and vs
#                                        another server binary keeping none), and the
#                                        database size (issue 13)
set -euo pipefail
cd "$(dirname "$0")/.."
example=load
if [ "${1:-}" = writers ] || [ "${1:-}" = history ]; then example=$1; shift; fi
cargo build --release -q -p vaultsync-server --bin vaultsync-server --example "$example"
exec "target/release/examples/$example" "$@"
