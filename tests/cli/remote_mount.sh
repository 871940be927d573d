#!/usr/bin/env bash
# `mount` as remote_run.sh puts it on PATH. `mount -o remount,ro DIR`
# (test_errors' read-only data directory) fails with EBUSY while a server holds
# a store under DIR open for writing, and `aifs serve` needs a writable data
# directory anyway. So such servers are stopped first (SIGTERM, as an operator
# would) and the wrapper runs later commands on those stores locally. Anything
# else goes straight to the real mount.
set -uo pipefail
state=${AIFS_REMOTE_STATE:?}
real=${AIFS_REMOTE_MOUNT:?}
opts=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[i]}" = -o ] && opts=,${args[i + 1]:-},
done
if [[ $opts == *,remount,* && $opts == *,ro,* ]]; then
  target=$(realpath -m -- "${args[-1]}")
  for d in "$state"/*/; do
    [ -f "$d/pid" ] && [ ! -f "$d/rc" ] || continue
    data=$(cat "$d/data")
    [[ $data/ == "$target"/* ]] || continue
    kill -TERM "$(cat "$d/pid")"
    for _ in $(seq 200); do [ -f "$d/rc" ] && break; sleep 0.05; done
    mv "$d/pid" "$d/stopped.pid"
    echo "remote: stopped the server on $data (exit code $(cat "$d/rc" 2>/dev/null || echo '?')) to remount $target read-only; commands on it run locally from here" >&2
  done
fi
exec "$real" "$@"
