#!/usr/bin/env bash
# Builds and starts the sync server on http://127.0.0.1:8787 with its embedded SQLite file
# under ./data/ (created and migrated on start). Ctrl-C stops it gracefully.
#   ./scripts/run.sh [server flags, e.g. --listen 127.0.0.1:9000 or --database postgres://…]
# Needs only Rust (cargo); `vaultsync-server --help` lists every flag and its env variable.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p vaultsync-server
exec target/release/vaultsync-server "$@"
