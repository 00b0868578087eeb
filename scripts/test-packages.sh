#!/usr/bin/env bash
# What `cargo publish` and `npm publish` would ship, and that it works once installed:
#
#   crate  one version in Cargo.toml, pkg-template/package.json and CHANGELOG.md, no placeholder
#          URLs; the file list of `cargo package` equals package-tests/crate-files.txt;
#          `cargo package` verifies that the packaged crate builds on its own; its tests and
#          examples compile from the unpacked .crate, and the quickstart example runs from there
#   docs   rustdoc of the unpacked .crate with -D warnings, every feature, natively and for
#          wasm32-unknown-unknown: as `cargo doc` builds it on stable, and as docs.rs builds it
#          (the targets and rustdoc-args of [package.metadata.docs.rs], `--cfg docsrs`)
#   npm    package-tests/npm.test.js: `npm pack` of pkg/ ships exactly package-tests/npm-files.txt;
#          installed from the tarball into a fresh project and run there under Node, in a page
#          and through a Vite build in headless Chromium
#
#   scripts/test-packages.sh              # all of it
#   scripts/test-packages.sh crate docs   # some parts only
#
# Each check counts as one test, each npm test as one; the last line is `N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(crate docs npm)

step() { printf '\n==> %s\n' "$*"; }

target_dir=${CARGO_TARGET_DIR:-$root/target}
# evstore's entry of `cargo metadata`, through a JavaScript expression over it as `p`.
package_field() {
  cargo metadata --format-version 1 --no-deps --offline |
    node -e 'const p = JSON.parse(require("fs").readFileSync(0, "utf8")).packages.find((p) => p.name === "evstore");
      const value = eval(process.argv[1]); console.log(Array.isArray(value) ? value.join(" ") : value);' "$1"
}
version=$(package_field p.version)
# The unpacked .crate, kept between runs: only files whose content changed are rewritten, so an
# unchanged package needs no rebuild.
unpacked="$target_dir/package-check/evstore-$version"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
# check NAME COMMAND...: runs one check and counts it.
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    echo "FAILED: $name"
  fi
}

# One version everywhere (Cargo.toml, the npm package.json, the changelog's newest entry) and no
# placeholder URLs in the metadata.
metadata() {
  local npm_version changelog_version
  npm_version=$(node -p 'require("./pkg-template/package.json").version')
  changelog_version=$(sed -n 's/^## \([0-9][^ ]*\)$/\1/p' CHANGELOG.md | head -n 1)
  if [ "$npm_version" != "$version" ] || [ "$changelog_version" != "$version" ]; then
    echo "versions differ: Cargo.toml $version, pkg-template/package.json $npm_version," \
      "CHANGELOG.md $changelog_version" >&2
    return 1
  fi
  ! grep -nE 'example\.(invalid|com|org)|localhost' Cargo.toml pkg-template/package.json
}

crate_file_list() {
  cargo package --list --allow-dirty --quiet -p evstore | grep -vx '.cargo_vcs_info.json' >"$work/crate-files.txt" ||
    return 1
  diff -u package-tests/crate-files.txt "$work/crate-files.txt" && return 0
  echo "the crate would ship other files than package-tests/crate-files.txt lists (+ shipped," \
    "- listed): change \`include\` in Cargo.toml, or the list (the + side is" \
    "\`cargo package --list -p evstore\` without .cargo_vcs_info.json)" >&2
  return 1
}

packaged=false
crate_package() {
  cargo package --allow-dirty -p evstore || return 1
  # Unpack it (standing alone, as under ~/.cargo/registry) and keep what did not change.
  local fresh="$work/unpacked"
  mkdir -p "$fresh" "$unpacked"
  tar -xzf "$target_dir/package/evstore-$version.crate" -C "$fresh" || return 1
  fresh="$fresh/evstore-$version"
  printf '\n[workspace]\n' >>"$fresh/Cargo.toml"
  local file
  while IFS= read -r -d '' file; do
    if ! cmp -s "$fresh/$file" "$unpacked/$file"; then
      mkdir -p "$(dirname "$unpacked/$file")" && cp "$fresh/$file" "$unpacked/$file" || return 1
    fi
  done < <(cd "$fresh" && find . -type f -print0)
  while IFS= read -r -d '' file; do
    [ -e "$fresh/$file" ] || rm -f "$unpacked/$file"
  done < <(cd "$unpacked" && find . -type f -print0)
  packaged=true
}

crate_tests_compile() {
  (cd "$unpacked" && CARGO_TARGET_DIR="$target_dir" cargo test --locked --quiet --no-run)
}

crate_example_runs() {
  (cd "$unpacked" && CARGO_TARGET_DIR="$target_dir" cargo run --locked --quiet --example quickstart)
}

# doc TARGET_DIR TARGET|native [docs.rs]: rustdoc of the unpacked crate with every feature.
doc() {
  local dir=$1 target=$2 mode=${3:-}
  local args=(--locked --quiet --no-deps --all-features)
  [ "$target" = native ] || args+=(--target "$target")
  if [ "$mode" = docs.rs ]; then
    # docs.rs runs nightly rustdoc; RUSTC_BOOTSTRAP lets this stable toolchain accept the
    # nightly-only feature that `--cfg docsrs` enables. Own target dir: the flag changes every
    # dependency's fingerprint.
    (cd "$unpacked" && CARGO_TARGET_DIR="$dir" RUSTC_BOOTSTRAP=1 \
      RUSTDOCFLAGS="-D warnings $docsrs_args" cargo doc "${args[@]}")
  else
    (cd "$unpacked" && CARGO_TARGET_DIR="$dir" RUSTDOCFLAGS="-D warnings" cargo doc "${args[@]}")
  fi
}

npm_package() {
  scripts/js-deps.sh
  scripts/js-deps.sh package-tests
  scripts/build-pkg.sh
  local status=0
  node --test --test-concurrency=1 --test-timeout=180000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$work/npm.tap" \
    package-tests/npm.test.js || status=$?
  local pass fail
  pass=$(awk '/^# pass / { print $3 }' "$work/npm.tap" | tail -n 1)
  fail=$(awk '/^# fail / { n = $3 } /^# cancelled / { n += $3 } END { print n + 0 }' "$work/npm.tap")
  if [ -z "$pass" ]; then
    echo "no npm package test ran" >&2
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + pass))
  failed=$((failed + fail))
  [ "$status" -eq 0 ] || [ "$fail" -gt 0 ] || failed=$((failed + 1))
}

for part in "${parts[@]}"; do
  case $part in
    crate)
      check "crate: one version in Cargo.toml, package.json and CHANGELOG.md; no placeholder URLs" metadata
      check "crate: cargo package --list equals package-tests/crate-files.txt" crate_file_list
      check "crate: cargo package (the packaged crate builds on its own)" crate_package
      check "crate: its tests and examples compile from the package" crate_tests_compile
      check "crate: the quickstart example runs from the package" crate_example_runs
      ;;
    docs)
      $packaged || crate_package >/dev/null
      docsrs_targets=$(package_field 'p.metadata.docs.rs.targets')
      docsrs_args=$(package_field 'p.metadata.docs.rs["rustdoc-args"]')
      for target in native wasm32-unknown-unknown; do
        check "docs: cargo doc --all-features ($target) with -D warnings" doc "$target_dir" "$target"
      done
      # docs.rs's native target is this machine's own; anything else needs --target.
      host=$(rustc -vV | awk '/^host:/ { print $2 }')
      for target in $docsrs_targets; do
        [ "$target" = "$host" ] && target=native
        check "docs: as docs.rs builds them ($target, $docsrs_args)" doc "$target_dir/docsrs" "$target" docs.rs
      done
      ;;
    npm)
      step "npm: the package installed from its tarball (package-tests/npm.test.js)"
      npm_package
      ;;
    *)
      echo "unknown part: $part (crate, docs or npm)" >&2
      exit 2
      ;;
  esac
done

step "summary"
echo "packages: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
