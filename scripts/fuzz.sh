#!/usr/bin/env bash
# Fuzzes every parser of untrusted bytes with cargo-fuzz (libFuzzer + AddressSanitizer):
# envelope, record, text (base64url, record ids, recovery codes), sync (server answers
# and saved sessions through the engine), store (device-store entries and value buckets).
#   ./scripts/fuzz.sh [seconds per target, default 60]
# cargo-fuzz needs nightly features; with the stable toolchain of these machines,
# RUSTC_BOOTSTRAP=1 enables them. Installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
log=$(mktemp)
for target in envelope record text sync store; do
  echo "[fuzz] $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  if ! cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "[fuzz] $target FAILED (crash input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units" "$log" || true
done
rm -f "$log"
echo "[fuzz] no crash"
