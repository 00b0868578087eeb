#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently: each step is skipped when its tool is
# already there at the right version, so the warm path costs about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '==> %s\n' "$*"; }

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$wasm_bindgen_version" ] || { echo "cannot find wasm-bindgen in Cargo.lock" >&2; exit 1; }

for component in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    step "rustup component add $component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  step "cargo install wasm-bindgen-cli $wasm_bindgen_version (a few minutes, once)"
  cargo install --locked --force wasm-bindgen-cli --version "$wasm_bindgen_version"
fi
if [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" != "wasm-bindgen-test-runner $wasm_bindgen_version" ]; then
  echo "wasm-bindgen-test-runner does not match wasm-bindgen $wasm_bindgen_version" >&2
  exit 1
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "apt-get install chromium chromium-driver"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromium_version=$(chromium --version 2>/dev/null | awk '{ print $2 }')
driver_version=$(chromedriver --version 2>/dev/null | awk '{ print $2 }')
if [ "${chromium_version%%.*}" != "${driver_version%%.*}" ]; then
  echo "chromium $chromium_version and chromedriver $driver_version differ; reinstall both" >&2
  exit 1
fi
# PostgreSQL server binaries for the PostgreSQL tests and benchmarks, which start a private
# server of their own (tests/support/postgres_server.rs): Debian's postgresql package.
pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bindir" ] || [ ! -x "$pg_bindir/initdb" ] || [ ! -x "$pg_bindir/pg_ctl" ]; then
  step "apt-get install postgresql"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  # The package's own cluster is not needed (the tests start private servers): do not create it.
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/evstore.conf >/dev/null
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  pg_bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "no postgres user: the PostgreSQL tests run the server as that user when root" >&2
  exit 1
fi
pg_version=$("$pg_bindir/pg_ctl" --version | awk '{ print $3 }')
step "tools ready: wasm-bindgen $wasm_bindgen_version, chromium $chromium_version, postgresql $pg_version"
