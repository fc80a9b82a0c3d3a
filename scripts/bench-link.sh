#!/usr/bin/env bash
# Device-linking benchmark (figures, not pass/fail): a new device joins a 1,000-record
# vault without the password, in Node and in Chromium, end to end. Release server and
# package (built by bench-live.sh, which runs www/bench/$BENCH.mjs). Results:
# BENCHMARKS.md ("Issue 12").   ./scripts/bench-link.sh
BENCH=link exec "$(dirname "$0")/bench-live.sh" "$@"
