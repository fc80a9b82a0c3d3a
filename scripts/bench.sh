#!/usr/bin/env bash
# Benchmarks (figures, not pass/fail): unlock cold and warm, seal+open of 10,000 x 1 KiB and
# 100 x 64 KiB records, in Node and headless Chromium against WebCrypto and @noble/ciphers,
# natively, and the .wasm size. Results and analysis: BENCHMARKS.md.
#   ./scripts/bench.sh [--reps N]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
./scripts/build-pkg.sh >/dev/null
cd www && node bench/run.mjs "$@"
