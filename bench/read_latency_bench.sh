#!/usr/bin/env bash
# read_latency_bench.sh BUILD_DIR [SIZE_MIB] [SECONDS]: small reads from a
# separate `aifs serve` process, as a data loader makes them (issue 16's
# "single 4 KiB read over gRPC, P50 < 200 µs"): one SIZE_MIB (default 256)
# asset of random bytes, read in random 4 KiB blocks by build/bench/
# aifs_read_latency (see its header for the cases) over loopback TCP, then
# over a unix-domain socket; the server's CPU comes from /proc. Prints
# markdown tables. The segment cache holds the whole asset: cached reads.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BUILD=$(realpath "$1")
SIZE_MIB=${2:-256}
SECONDS_PER_CASE=${3:-5}
AIFS=$BUILD/apps/aifs/aifs
work=$(mktemp -d /var/tmp/aifs-read-latency.XXXXXX)
server=""
stop() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
trap 'stop; rm -rf "$work"' EXIT
export AIFS_DATA=$work/data
"$AIFS" init > /dev/null
id=$(put_random "$AIFS" "$work" "$SIZE_MIB")
token=$(cat "$AIFS_DATA/admin.token")
echo "# Small reads from a separate server ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
for listen in 127.0.0.1:0 "unix:$work/aifs.sock"; do
  "$AIFS" --cache-size $((SIZE_MIB * 2 << 20)) serve --listen "$listen" --no-operators \
    > "$work/serve.log" 2>&1 &
  server=$!
  target=$(wait_for "$work/serve.log" "$SERVING")
  [ -n "$target" ] || { cat "$work/serve.log" >&2; exit 1; }
  # Fill the cache first: one pass of 1 MiB ranges.
  python3 -c "
import sys
for o in range(0, $SIZE_MIB << 20, 1 << 20): print('$id', o, 1 << 20)" > "$work/pass"
  AIFS_SERVER=$target AIFS_TOKEN=$token "$AIFS" read-ranges "$work/pass" > /dev/null
  echo
  echo "## $listen"
  echo
  "$BUILD/bench/aifs_read_latency" --target "$target" --token "$token" --id "$id" \
    --size $((SIZE_MIB << 20)) --seconds "$SECONDS_PER_CASE" --server-pid "$server"
  stop
done
