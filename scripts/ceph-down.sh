#!/usr/bin/env bash
# Stops the cluster scripts/ceph-up.sh started in DIR (the daemons by their
# recorded PIDs, newest first: SIGTERM, then SIGKILL after 10 s) and removes
# DIR. Idempotent.
#   scripts/ceph-down.sh DIR
set -uo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 DIR" >&2; exit 2; fi
DIR=$1
[ -d "$DIR" ] || exit 0
if [ -f "$DIR/pids" ]; then
  pids=$(awk '{print $2}' "$DIR/pids" | tac)
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 1 40); do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && break
    sleep 0.25
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
fi
rm -rf "$DIR"
