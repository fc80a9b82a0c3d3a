#!/usr/bin/env bash
# Installs what building and testing vaultsync needs, idempotently: fast when all is present.
#   rustup target wasm32-unknown-unknown, wasm-pack, cargo-fuzz, wasm-bindgen-cli pinned to the crate's
#   wasm-bindgen version, Debian's chromium + chromium-driver and postgresql (server binaries for
#   the tests' throwaway clusters), Node.js + npm, and the
#   JavaScript test dependencies of www/ (npm ci, from the lockfile).
#   ./scripts/setup.sh --run   only what the run command needs (no Chromium, PostgreSQL, cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}

say() { printf '[setup] %s\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The wasm-bindgen CLI must match the crate's wasm-bindgen exactly (read from Cargo.lock).
want_wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have_wb=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [[ "$have_wb" != "$want_wb" ]]; then
  say "installing wasm-bindgen-cli $want_wb (have: ${have_wb:-none}; takes a few minutes)"
  # Not --locked: it fails to resolve against this registry mirror (TOOLCHAIN.md).
  cargo install -q wasm-bindgen-cli --version "$want_wb" --force
fi

if ! command -v wasm-pack >/dev/null; then
  say "installing wasm-pack (takes about 2 minutes)"
  cargo install -q wasm-pack --locked
fi

if [[ $mode != --run ]] && ! command -v cargo-fuzz >/dev/null; then
  say "installing cargo-fuzz (takes about 2 minutes)"
  cargo install -q cargo-fuzz --locked
fi

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
[[ $mode == --run ]] || apt_install chromium chromium-driver postgresql

# npm ci only when the lockfile changed since the last install (a stamp in node_modules).
if ! cmp -s www/package-lock.json www/node_modules/.vaultsync-installed-lock 2>/dev/null; then
  say "installing www/ JavaScript dependencies (npm ci)"
  (cd www && npm ci --no-audit --no-fund --loglevel=error)
  cp www/package-lock.json www/node_modules/.vaultsync-installed-lock
fi
say "ready"
