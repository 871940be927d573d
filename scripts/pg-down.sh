#!/usr/bin/env bash
# Stops the server scripts/pg-up.sh started in DIR (fast shutdown: sessions
# are disconnected) and removes DIR's cluster. Idempotent.
#   scripts/pg-down.sh DIR [--keep]   (--keep: stop but keep the data, to start again)
set -euo pipefail
if [ $# -lt 1 ]; then echo "usage: $0 DIR [--keep]" >&2; exit 2; fi
DIR=$1
[ -d "$DIR" ] || exit 0
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -f "$DIR/data/postmaster.pid" ] && [ -f "$DIR/bin" ]; then
  as_pg "$(cat "$DIR/bin")/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null || true
fi
if [ "${2:-}" != "--keep" ]; then rm -rf "$DIR/data" "$DIR/sock" "$DIR/url"; fi
