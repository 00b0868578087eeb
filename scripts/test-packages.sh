#!/usr/bin/env bash
# What `cargo publish` and `npm publish` would ship, and that it works once installed:
#
#   crate  one version in Cargo.toml, pkg-template/package.json and CHANGELOG.md, no placeholder
#          URLs; the file list of `cargo package` equals package-tests/crate-files.txt;
#          `cargo package` verifies that the packaged crate builds on its own; its tests and
#          examples compile from the unpacked .crate with every feature, and the quickstart
#          example runs from there
#   docs   rustdoc of the unpacked .crate with -D warnings, every feature, natively and for
#          wasm32-unknown-unknown: as `cargo doc` builds it on stable, and as docs.rs builds it
#          (the targets and rustdoc-args of [package.metadata.docs.rs], `--cfg docsrs`)
#   cli    the `evstore` program (crate evstore-cli in cli/, packaged with the crate): its file
#          list equals package-tests/cli-files.txt; the unpacked .crate builds against the
#          unpacked library; `cargo install --path cli` into a temporary root, and the installed
#          `evstore --version` and `evstore serve` (random loopback port, /healthz, SIGTERM) work
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
if [ ${#parts[@]} -eq 0 ]; then
  parts=(crate docs npm)
  [ -f cli/Cargo.toml ] && parts+=(cli)
fi

step() { printf '\n==> %s\n' "$*"; }

target_dir=${CARGO_TARGET_DIR:-$root/target}
# package_field EXPRESSION [PACKAGE]: a JavaScript expression over the package's (default
# evstore) entry of `cargo metadata`, as `p`.
package_field() {
  cargo metadata --format-version 1 --no-deps --offline |
    node -e 'const { packages } = JSON.parse(require("fs").readFileSync(0, "utf8"));
      const p = packages.find((p) => p.name === process.argv[2]);
      const value = eval(process.argv[1]);
      console.log(Array.isArray(value) ? value.join(" ") : value);' "$1" "${2:-evstore}"
}
version=$(package_field p.version)
# The unpacked .crate, kept between runs: only files whose content changed are rewritten, so an
# unchanged package needs no rebuild.
unpacked="$target_dir/package-check/evstore-$version"
# The packaged program is built in a target dir of its own: there the library is built only with
# the features the program asks for (in the shared one, a build of the unpacked library with
# other features was seen to stand in for it).
cli_target="$target_dir/package-check/target"

work=$(mktemp -d)
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill -KILL "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

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
  local cli_version=$version manifests=(Cargo.toml pkg-template/package.json)
  if [ -f cli/Cargo.toml ]; then
    cli_version=$(package_field p.version evstore-cli)
    manifests+=(cli/Cargo.toml)
  fi
  if [ "$npm_version" != "$version" ] || [ "$changelog_version" != "$version" ] ||
    [ "$cli_version" != "$version" ]; then
    echo "versions differ: Cargo.toml $version, cli/Cargo.toml $cli_version," \
      "pkg-template/package.json $npm_version, CHANGELOG.md $changelog_version" >&2
    return 1
  fi
  ! grep -nE 'example\.(invalid|com|org)|localhost' "${manifests[@]}"
}

# file_list PACKAGE LIST MANIFEST: `cargo package --list` of PACKAGE equals package-tests/LIST.
file_list() {
  cargo package --list --allow-dirty --quiet -p "$1" | grep -vx '.cargo_vcs_info.json' >"$work/$2" ||
    return 1
  diff -u "package-tests/$2" "$work/$2" && return 0
  echo "$1 would ship other files than package-tests/$2 lists (+ shipped, - listed): change" \
    "\`include\` in $3, or the list (the + side is \`cargo package --list -p $1\` without" \
    ".cargo_vcs_info.json)" >&2
  return 1
}

# unpack NAME: the packaged NAME-$version.crate unpacked into $target_dir/package-check/, standing
# alone (its own workspace, as under ~/.cargo/registry); files that did not change are kept, so
# an unchanged package needs no rebuild.
unpack() {
  local fresh="$work/unpacked" into="$target_dir/package-check/$1-$version" file
  mkdir -p "$fresh" "$into"
  tar -xzf "$target_dir/package/$1-$version.crate" -C "$fresh" || return 1
  fresh="$fresh/$1-$version"
  printf '\n[workspace]\n' >>"$fresh/Cargo.toml"
  while IFS= read -r -d '' file; do
    if ! cmp -s "$fresh/$file" "$into/$file"; then
      mkdir -p "$(dirname "$into/$file")" && cp "$fresh/$file" "$into/$file" || return 1
    fi
  done < <(cd "$fresh" && find . -type f -print0)
  while IFS= read -r -d '' file; do
    [ -e "$fresh/$file" ] || rm -f "$into/$file"
  done < <(cd "$into" && find . -type f -print0)
}

packaged=false
crate_package() {
  cargo package --allow-dirty -p evstore || return 1
  unpack evstore || return 1
  if [ -f cli/Cargo.toml ]; then
    # The program depends on this version of the library, which cargo takes from the package
    # made in the same run. Not verified by cargo: its verification would build against the
    # library as first unpacked under ~/.cargo/registry for this version, however old that is.
    cargo package --allow-dirty --no-verify -p evstore -p evstore-cli || return 1
    unpack evstore-cli || return 1
  fi
  packaged=true
}

# The packaged program builds against the packaged library.
cli_package_builds() {
  (cd "$target_dir/package-check/evstore-cli-$version" && CARGO_TARGET_DIR="$cli_target" \
    cargo build --quiet --config "patch.crates-io.evstore.path = \"$unpacked\"")
}

crate_tests_compile() {
  (cd "$unpacked" && CARGO_TARGET_DIR="$target_dir" cargo test --locked --quiet --all-features \
    --no-run)
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

cli_install() {
  local prefix="$work/cli-install"
  # --debug: the dev profile the tests already built, instead of a cold LTO release build.
  cargo install --locked --debug --quiet --path cli --root "$prefix" --target-dir "$target_dir" ||
    return 1
  local evstore="$prefix/bin/evstore" printed
  printed=$("$evstore" --version) || return 1
  [ "$printed" = "evstore $version" ] || { echo "evstore --version printed: $printed" >&2; return 1; }
  "$evstore" serve --db "$work/served.db" --listen 127.0.0.1:0 \
    >"$work/serve.out" 2>"$work/serve.err" &
  serve_pid=$!
  local url=""
  for _ in $(seq 1 300); do
    url=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9][0-9]*\)$|\1|p' "$work/serve.out")
    [ -n "$url" ] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "the installed evstore serve did not start:" >&2
    cat "$work/serve.out" "$work/serve.err" >&2
    return 1
  fi
  echo "installed evstore serve: $url"
  node -e 'fetch(process.argv[1]).then(
    (r) => { console.log(`GET /healthz: ${r.status}`); process.exit(r.ok ? 0 : 1); },
    (e) => { console.error(e); process.exit(1); })' "$url/healthz" || return 1
  kill -TERM "$serve_pid"
  for _ in $(seq 1 100); do
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$serve_pid" 2>/dev/null && { echo "evstore serve still runs 10 s after SIGTERM" >&2; return 1; }
  local status=0
  wait "$serve_pid" || status=$?
  serve_pid=""
  if [ "$status" -ne 0 ]; then
    echo "evstore serve exited with $status after SIGTERM" >&2
    cat "$work/serve.err" >&2
    return 1
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
      check "crate: cargo package --list equals package-tests/crate-files.txt" \
        file_list evstore crate-files.txt Cargo.toml
      check "crate: cargo package (the packaged crate builds on its own)" crate_package
      check "crate: its tests and examples compile from the package, with every feature" \
        crate_tests_compile
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
        check "docs: as docs.rs builds them ($target, $docsrs_args)" \
          doc "$target_dir/docsrs" "$target" docs.rs
      done
      ;;
    npm)
      step "npm: the package installed from its tarball (package-tests/npm.test.js)"
      npm_package
      ;;
    cli)
      check "cli: cargo package --list -p evstore-cli equals package-tests/cli-files.txt" \
        file_list evstore-cli cli-files.txt cli/Cargo.toml
      $packaged || check "cli: cargo package (evstore-cli with the library it depends on)" crate_package
      check "cli: the packaged evstore-cli builds against the packaged library" cli_package_builds
      check "cli: cargo install --path cli; the installed evstore --version and serve work" cli_install
      ;;
    *)
      echo "unknown part: $part (crate, docs, npm or cli)" >&2
      exit 2
      ;;
  esac
done

step "summary"
echo "packages: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
