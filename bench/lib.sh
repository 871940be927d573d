# Helpers the bench scripts share: source "$(dirname "$0")/lib.sh".

# time_it CMD...: the seconds one run of CMD takes (its output discarded).
time_it() {
  local t0 t1
  t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

# wait_for FILE SED_SCRIPT: the first line SED_SCRIPT (sed -n, e.g.
# 's/^PORT //p') prints from FILE, waiting up to 30 s for a process writing
# FILE to print it; empty when it never does.
wait_for() {
  local v
  for _ in $(seq 300); do
    v=$(sed -n "$2" "$1" | head -n 1)
    [ -n "$v" ] && { echo "$v"; return; }
    sleep 0.1
  done
}
SERVING='s/^aifs: serving on \([^ ]*\).*/\1/p'

# put_random AIFS DIR MIB: puts MIB MiB of random bytes (staged in DIR) into
# the store $AIFS_DATA names; prints the asset ID.
put_random() {
  head -c $(($3 << 20)) /dev/urandom > "$2/random.bin"
  "$1" put "$2/random.bin"
  rm "$2/random.bin"
}

# gbps SECONDS MIB: the rate of reading MIB MiB in SECONDS, in GB/s.
gbps() { awk -v s="$1" -v m="$2" 'BEGIN { printf "%.2f", m * 1048576 / s / 1e9 }'; }

# make_tree DIR N MIN MAX SEED: N files of MIN..MAX pseudo-random bytes (from
# SEED) in 100 directories d000..d099.
make_tree() {
  python3 - "$@" <<'PY'
import os, random, sys
root, n, lo, hi, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d.bin" % i), "wb") as f:
        f.write(rng.randbytes(rng.randint(lo, hi)))
PY
}
