#!/usr/bin/env bash
# The main job: builds the npm package and the sync server, then starts the server on
# http://127.0.0.1:8787 with its embedded SQLite file under ./data/ (created and migrated on
# start), serving the demo web vault at / (www/demo, using the package from pkg/).
# Ctrl-C stops it gracefully.
#   ./scripts/run.sh [server flags, e.g. --listen 127.0.0.1:9000 or --database postgres://…]
# Installs what it needs first (scripts/setup.sh --run: the wasm32 target, wasm-pack,
# wasm-bindgen-cli, Node.js); `vaultsync-server --help` lists every flag and env variable.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --run
./scripts/build-pkg.sh
cargo build --release -q -p vaultsync-server
exec target/release/vaultsync-server --static /=www/demo --static /pkg=pkg "$@"
