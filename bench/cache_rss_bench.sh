#!/usr/bin/env bash
# cache_rss_bench.sh AIFS [SIZE_MIB] [CACHE_MIB]: the resident memory of one
# `aifs serve` whose segment cache is CACHE_MIB (default 1024), while clients
# read a SIZE_MIB (default 1024) asset of random bytes through it: a pass of
# 256 KiB ranges (which fills the cache) and 20,000 random 4 KiB ranges.
# Issue 16's goal: RSS stays within cache size + 150 MiB. Prints a markdown
# table; the server's VmRSS/VmHWM come from /proc. PER_CALL (default 1024):
# ranges per read-ranges call of the pass (1024 x 256 KiB = the 256 MiB
# batch limit).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
AIFS=$(realpath "$1")
SIZE_MIB=${2:-1024}
CACHE_MIB=${3:-1024}
work=$(mktemp -d /var/tmp/aifs-cache-rss.XXXXXX)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
export AIFS_DATA=$work/data
"$AIFS" init > /dev/null
id=$(put_random "$AIFS" "$work" "$SIZE_MIB")
"$AIFS" --cache-size $((CACHE_MIB << 20)) serve --listen 127.0.0.1:0 --no-operators \
  > "$work/serve.log" 2>&1 &
server=$!
export AIFS_SERVER=$(wait_for "$work/serve.log" "$SERVING")
export AIFS_TOKEN=@$AIFS_DATA/admin.token
[ -n "$AIFS_SERVER" ] || { cat "$work/serve.log" >&2; exit 1; }
kib() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$server/status"; }
rss0=$(kib VmRSS)
# The pass: 256 KiB ranges, 1024 per call (the batch limit is 256 MiB).
python3 - "$id" "$SIZE_MIB" "$work" "${PER_CALL:-1024}" <<'PY'
import random, sys
ident, size, work = sys.argv[1], int(sys.argv[2]) << 20, sys.argv[3]
step = 256 << 10
PER_CALL = int(sys.argv[4])
offs = list(range(0, size, step))
for k in range(0, len(offs), PER_CALL):
    with open("%s/pass.%05d" % (work, k // PER_CALL), "w") as f:
        for o in offs[k:k + PER_CALL]:
            f.write("%s %d %d\n" % (ident, o, step))
rng = random.Random(7)
with open("%s/random" % work, "w") as f:
    for _ in range(20000):
        f.write("%s %d 4096\n" % (ident, rng.randrange(size // 4096) * 4096))
PY
t0=$(date +%s.%N)
for list in "$work"/pass.*; do "$AIFS" read-ranges "$list" > /dev/null; done
t1=$(date +%s.%N)
rss1=$(kib VmRSS)
for _ in 1 2 3; do "$AIFS" read-ranges "$work/random" > /dev/null; done
rss2=$(kib VmRSS)
hwm=$(kib VmHWM)
awk -v c="$CACHE_MIB" -v s="$SIZE_MIB" -v r0="$rss0" -v r1="$rss1" -v r2="$rss2" -v h="$hwm" \
    -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN {
  printf "| asset MiB | cache MiB | RSS at start | after the 256 KiB pass (%.1f s) | after 60,000 random 4 KiB | peak | peak - start | goal (peak - start <= cache + 150) |\n", t
  printf "|---:|---:|---:|---:|---:|---:|---:|---|\n"
  d = (h - r0) / 1024
  printf "| %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n", s, c, r0 / 1024, r1 / 1024, r2 / 1024,
         h / 1024, d, (d <= c + 150 ? "met" : "**missed**")
}'
