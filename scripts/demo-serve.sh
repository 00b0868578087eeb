#!/usr/bin/env bash
# Serves the browser demo (www/, an event-sourced kanban board on the evstore npm package) at
# http://127.0.0.1:8080 (PORT=… to change it). Builds pkg/ first when it is missing or stale.
# www/pkg is a link to ../pkg, so the demo imports the package as built. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-8080}

scripts/build-pkg.sh
[ -L www/pkg ] || ln -sfn ../pkg www/pkg

echo
echo "evstore demo: http://127.0.0.1:$port/  (open it in two tabs and edit the same card)"
echo
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory www
