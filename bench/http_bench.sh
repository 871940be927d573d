#!/usr/bin/env bash
# The HTTP plane against gRPC on one `aifs serve`, in the same run (issue 18):
#   bench/http_bench.sh BUILD_DIR [SIZE_MIB=256] [DOWNLOADS=200]
# 1. full download of a cached asset: curl (signed URL) vs `aifs get` (gRPC),
#    median of 5 each, b3sum-checked;
# 2. 4 KiB Range GETs, 1 and 16 keep-alive clients, next to gRPC ReadRanges
#    (aifs_http_bench);
# 3. DOWNLOADS concurrent full downloads: aggregate GB/s and server RSS.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BUILD=$(realpath "$1")
AIFS=$BUILD/apps/aifs/aifs
SIZE=${2:-256}
DOWNLOADS=${3:-200}
WORK=$(mktemp -d /var/tmp/aifs-http-bench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export AIFS_DATA=$WORK/store
"$AIFS" -q init > /dev/null
head -c "${SIZE}M" /dev/urandom > "$WORK/blob"
id=$("$AIFS" -q put "$WORK/blob" --path bench/blob.bin)
ulimit -n "$(ulimit -Hn)"
"$AIFS" serve --listen 127.0.0.1:0 --http 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
pid=$!
grpc=$(wait_for "$WORK/serve.out" "$SERVING")
http=$(wait_for "$WORK/serve.out" 's/^aifs: serving HTTP on \([^ ]*\).*/\1/p')
[ -n "$http" ] || { echo "the server printed no HTTP address: $(cat "$WORK/serve.err")" >&2; exit 1; }
export AIFS_SERVER=$grpc AIFS_TOKEN=@$WORK/store/admin.token
url=$("$AIFS" url "$id" --expires 2h)

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
want=$(b3sum --no-names "$WORK/blob")
curl -s -o "$WORK/back" "$url"  # warms the server's cache, and checks the bytes
[ "$(b3sum --no-names "$WORK/back")" = "$want" ] || { echo "curl got other bytes" >&2; exit 1; }
"$AIFS" get "$id" -o "$WORK/back2"
[ "$(b3sum --no-names "$WORK/back2")" = "$want" ] || { echo "aifs get got other bytes" >&2; exit 1; }
rm -f "$WORK/back" "$WORK/back2"
t_curl=$(for _ in 1 2 3 4 5; do time_it curl -s -o /dev/null "$url"; done | median)
t_get=$(for _ in 1 2 3 4 5; do time_it "$AIFS" get "$id" -o /dev/null; done | median)
echo "Full download of a cached ${SIZE} MiB asset, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| client | seconds (median of 5) | GB/s | vs aifs get |"
echo "|---|---:|---:|---:|"
echo "| curl, signed URL (HTTP) | $t_curl | $(gbps "$t_curl" "$SIZE") | $(awk -v a="$t_curl" -v b="$t_get" 'BEGIN { printf "%.2fx", b / a }') |"
echo "| aifs get (gRPC) | $t_get | $(gbps "$t_get" "$SIZE") | 1.00x |"
echo
"$BUILD/bench/aifs_http_bench" --url "$url" --grpc "$grpc" --token-file "$WORK/store/admin.token" \
  --id "$id" --server-pid "$pid" --clients 16 --downloads "$DOWNLOADS" --seconds 5
