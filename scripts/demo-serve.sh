#!/usr/bin/env bash
# Serves the browser demo (www/, an event-sourced kanban board on the evstore npm package) at
# http://127.0.0.1:8080 (PORT=… to change it), and beside it `evstore serve` on
# http://127.0.0.1:7070 (SYNC_PORT=…) over target/demo/kanban.db, for the board's sync mode
# (http://127.0.0.1:8080/?sync). Builds pkg/ and the evstore program first when they are missing
# or stale. www/pkg is a link to ../pkg, so the demo imports the package as built. Ctrl-C stops
# both servers.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8080}
sync_port=${SYNC_PORT:-7070}
target_dir=${CARGO_TARGET_DIR:-$(pwd)/target}

scripts/build-pkg.sh
cargo build --quiet -p evstore-cli
[ -L www/pkg ] || ln -sfn ../pkg www/pkg

mkdir -p "$target_dir/demo"
log="$target_dir/demo/serve.log"
"$target_dir/debug/evstore" serve --db "$target_dir/demo/kanban.db" --listen "127.0.0.1:$sync_port" \
  --allow-origin "http://127.0.0.1:$port" --allow-origin "http://localhost:$port" >"$log" 2>&1 &
serve_pid=$!
stop() {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "evstore serve did not start (is port $sync_port free? SYNC_PORT=… picks another):" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

sync_query="?sync"
[ "$sync_port" = 7070 ] || sync_query="?sync=http://127.0.0.1:$sync_port"
echo
echo "evstore demo:"
echo "  http://127.0.0.1:$port/              the board in this browser (open two tabs, edit the same card)"
echo "  http://127.0.0.1:$port/$sync_query        the board synced through evstore serve on 127.0.0.1:$sync_port"
echo "                                       (open it in two browsers or profiles; try Go offline)"
echo "  Ctrl-C stops both servers."
echo
python3 -m http.server "$port" --bind 127.0.0.1 --directory www
