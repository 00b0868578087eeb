#!/usr/bin/env bash
# Builds the npm package `evstore` into pkg/ and prints the size of its .wasm (raw and gzipped).
#
#   scripts/build-pkg.sh           # build when something changed, else report the sizes
#   scripts/build-pkg.sh --force   # rebuild pkg/ even when it looks up to date
#
# Steps: release build for wasm32-unknown-unknown (cargo skips it when nothing changed) →
# `wasm-bindgen --target web` (plain ES module; bundlers understand its
# `new URL('evstore_bg.wasm', import.meta.url)`) → `wasm-opt -Oz` from the npm `binaryen` package
# installed under js/node_modules (never Debian's binaryen: its output is rejected by Chromium) →
# the hand-written files of pkg-template/, plus the license texts and CHANGELOG.md of the
# repository root. pkg/ is replaced as a whole, so it never mixes builds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

force=false
[ "${1:-}" = "--force" ] && force=true

step() { printf '==> %s\n' "$*"; }

# Tools: the wasm target and a wasm-bindgen CLI equal to the crate in Cargo.lock.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
  [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  scripts/ensure-tools.sh
fi

# npm tools (binaryen for wasm-opt): `npm ci` only when js/node_modules is not the lockfile's.
scripts/js-deps.sh
wasm_opt="$root/js/node_modules/.bin/wasm-opt"

# The `wasm-release` profile (Cargo.toml) is the release profile optimizing for size.
step "cargo build --profile wasm-release --target wasm32-unknown-unknown --lib"
cargo build --quiet --profile wasm-release --target wasm32-unknown-unknown --lib
target_dir=${CARGO_TARGET_DIR:-$root/target}
raw_wasm="$target_dir/wasm32-unknown-unknown/wasm-release/evstore.wasm"

# Everything pkg/ is made from; when none of it changed, pkg/ is up to date.
stamp=$(
  {
    sha256sum "$raw_wasm" scripts/build-pkg.sh LICENSE-MIT LICENSE-APACHE CHANGELOG.md
    find pkg-template -type f -print0 | sort -z | xargs -0 sha256sum
    wasm-bindgen --version
    "$wasm_opt" --version
  } | sha256sum | cut -d' ' -f1
)
if ! $force && [ -f pkg/.build-stamp ] && [ "$(cat pkg/.build-stamp)" = "$stamp" ]; then
  step "pkg/ is up to date"
else
  mkdir -p "$target_dir"
  out=$(mktemp -d "$target_dir/pkg-build.XXXXXX")
  chmod 755 "$out"
  trap 'rm -rf "$out"' EXIT
  step "wasm-bindgen --target web"
  wasm-bindgen --target web --out-dir "$out" --out-name evstore "$raw_wasm"

  step "wasm-opt -Oz (npm binaryen $("$wasm_opt" --version | awk '{ print $3 }'))"
  # Features are read from the module's target_features section (what rustc enabled).
  "$wasm_opt" -Oz "$out/evstore_bg.wasm" -o "$out/evstore_bg.opt.wasm"
  mv "$out/evstore_bg.opt.wasm" "$out/evstore_bg.wasm"

  step "package files from pkg-template/, the license texts and CHANGELOG.md"
  cp -R pkg-template/. "$out/"
  cp LICENSE-MIT LICENSE-APACHE CHANGELOG.md "$out/"
  # The package must ship what the generated module imports.
  for file in evstore.js evstore.d.ts evstore_bg.wasm evstore_bg.wasm.d.ts package.json README.md \
    LICENSE-MIT LICENSE-APACHE CHANGELOG.md; do
    [ -f "$out/$file" ] || { echo "build-pkg: $file is missing from the package" >&2; exit 1; }
  done
  grep -q "from './snippets/" "$out/evstore.js" && [ -d "$out/snippets" ] ||
    { echo "build-pkg: evstore.js imports snippets/ but there are none" >&2; exit 1; }

  echo "$stamp" >"$out/.build-stamp"
  rm -rf pkg
  mv "$out" pkg
  trap - EXIT
fi

raw=$(stat -c %s pkg/evstore_bg.wasm)
gzipped=$(gzip -9 -c pkg/evstore_bg.wasm | wc -c)
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
echo "pkg/evstore_bg.wasm: $raw bytes ($(kib "$raw")) raw, $gzipped bytes ($(kib "$gzipped")) gzipped"
