#!/usr/bin/env bash
# The FUSE mount against the tools it replaces, in the same run (issue 19):
#   bench/mount_bench.sh BUILD_DIR [SIZE_MIB=1024] [FILES=10000]
# 1. sequential read of a SIZE_MIB asset: the mount (kernel cache cold, then
#    warm) vs `aifs get` vs the same file on the local file system;
# 2. fio 4 KiB random reads (psync, 1 job, 5 s) on the mount vs the file;
#    both next to a FUSE file system that does no work (aifs_fuse_null);
# 3. find / ls -lR / stat over FILES paths (1-64 KiB files in 100 dirs);
# 4. a PyTorch-style loop (Python, one worker) reading all FILES files from
#    the mount vs from the local file system.
# The mount is embedded (the data directory, read-only).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BUILD=$(realpath "$1")
AIFS=$BUILD/apps/aifs/aifs
SIZE=${2:-1024}
N=${3:-10000}
WORK=$(mktemp -d /var/tmp/aifs-mount-bench.XXXXXX)
MNT=$WORK/mnt
NULL_MNT=$WORK/null
trap 'fusermount3 -u -z "$MNT" 2>/dev/null; fusermount3 -u -z "$NULL_MNT" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$MNT" "$NULL_MNT"
# until_mounted LOG: waits up to 10 s for a mount's "mounted" line in LOG.
until_mounted() { for _ in $(seq 100); do grep -q mounted "$1" && break; sleep 0.1; done; }
# (Re)mounts the store at $MNT: the kernel's cache of it starts empty.
MOUNT_PID=
remount() {
  if [ -n "$MOUNT_PID" ]; then fusermount3 -u "$MNT"; wait "$MOUNT_PID"; fi
  : > "$WORK/mount.out"  # now, not in the child: until_mounted must not see the last mount's line
  "$AIFS" mount "$MNT" > "$WORK/mount.out" 2>&1 &
  MOUNT_PID=$!
  until_mounted "$WORK/mount.out"
}
# The FUSE ceiling: a file system that answers every read at once (bench/fuse_null.cpp)
NULL_PID=
null_mount() {
  if [ -n "$NULL_PID" ]; then fusermount3 -u "$NULL_MNT"; wait "$NULL_PID" || true; fi
  : > "$WORK/null.out"
  "$BUILD/bench/aifs_fuse_null" "$NULL_MNT" "$SIZE" > "$WORK/null.out" 2>&1 &
  NULL_PID=$!
  until_mounted "$WORK/null.out"
}
export AIFS_DATA=$WORK/store
"$AIFS" -q init > /dev/null
head -c "${SIZE}M" /dev/urandom > "$WORK/big.bin"
id=$("$AIFS" -q put "$WORK/big.bin" --path big.bin)
make_tree "$WORK/small" "$N" 4096 65536 19
"$AIFS" -q put -r "$WORK/small" --prefix small/ -j 8 > /dev/null
remount

echo "Mount vs local file system, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(stat -f -c %T "$WORK")"
echo
t_cold=$(time_it cat "$MNT/head/big.bin")
t_warm=$(time_it cat "$MNT/head/big.bin")
remount
t_dd=$(time_it dd if="$MNT/head/big.bin" of=/dev/null bs=1M)
t_get=$(time_it "$AIFS" get "$id" -o /dev/null)
cat "$WORK/big.bin" > /dev/null
t_fs=$(time_it cat "$WORK/big.bin")
null_mount
t_null=$(time_it cat "$NULL_MNT/data")
echo "| sequential read of ${SIZE} MiB | seconds | GB/s | vs aifs get |"
echo "|---|---:|---:|---:|"
for row in "mount, cat, kernel cache cold:$t_cold" "mount, dd bs=1M, kernel cache cold:$t_dd" "mount, cat, kernel cache warm:$t_warm" "aifs get (embedded):$t_get" "local file, page cache:$t_fs" "null FUSE file system (the FUSE ceiling), cold:$t_null"; do
  name=${row%%:*}; t=${row##*:}
  echo "| $name | $t | $(gbps "$t" "$SIZE") | $(awk -v a="$t" -v b="$t_get" 'BEGIN { printf "%.2fx", b / a }') |"
done
echo
# fio drops the file's kernel cache before it starts (invalidate=1) unless
# told --invalidate=0.
fio_iops() {
  local file=$1
  shift
  fio --name=r --filename="$file" --readonly --rw=randread --bs=4k --runtime=5 --time_based \
    --ioengine=psync --output-format=json "$@" 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.0f %.0f %.0f" % (j["iops"], j["clat_ns"]["percentile"]["50.000000"]/1e3, j["clat_ns"]["percentile"]["99.000000"]/1e3))'
}
remount
read -r m_cold m_cold50 m_cold99 <<< "$(fio_iops "$MNT/head/big.bin")"
read -r m_warm m_warm50 m_warm99 <<< "$(fio_iops "$MNT/head/big.bin" --invalidate=0)"
read -r d_iops d50 d99 <<< "$(fio_iops "$WORK/big.bin")"
cat "$WORK/big.bin" > /dev/null
read -r f_iops f50 f99 <<< "$(fio_iops "$WORK/big.bin" --invalidate=0)"
null_mount
read -r n_iops n50 n99 <<< "$(fio_iops "$NULL_MNT/data")"
# The in-process Api on the same asset: 50,000 random 4 KiB ranges, one call.
/usr/bin/python3 -c 'import random, sys; r = random.Random(5); n = int(sys.argv[2]) << 20
for _ in range(50000): print(sys.argv[1], r.randrange(0, n - 4096) & ~4095, 4096)' "$id" "$SIZE" > "$WORK/ranges.txt"
t_ranges=$(time_it "$AIFS" read-ranges "$WORK/ranges.txt")
a_iops=$(awk -v t="$t_ranges" 'BEGIN { printf "%.0f", 50000 / t }')
echo "| fio 4 KiB random reads, psync, 1 job | IOPS | P50 | P99 |"
echo "|---|---:|---:|---:|"
echo "| mount, kernel cache dropped | $m_cold | $m_cold50 us | $m_cold99 us |"
echo "| mount, again, kernel cache kept | $m_warm | $m_warm50 us | $m_warm99 us |"
echo "| null FUSE file system (the FUSE ceiling), kernel cache dropped | $n_iops | $n50 us | $n99 us |"
echo "| local file, kernel cache dropped (the disk) | $d_iops | $d50 us | $d99 us |"
echo "| local file, page cache | $f_iops | $f50 us | $f99 us |"
echo "| in-process Api, aifs read-ranges of 50,000 random 4 KiB ranges | $a_iops | | |"
echo "mount (kernel cache dropped) / in-process Api: $(awk -v a="$m_cold" -v b="$a_iops" 'BEGIN { printf "%.2fx", a / b }')"
echo "mount (kernel cache dropped) / FUSE ceiling: $(awk -v a="$m_cold" -v b="$n_iops" 'BEGIN { printf "%.2fx", a / b }')"
echo
t_find=$(time_it find "$MNT/head/small" -type f)
t_find2=$(time_it find "$MNT/head/small" -type f)
t_ls=$(time_it ls -lR "$MNT/head/small")
t_stat=$(time_it sh -c "find '$MNT/head/small' -type f -print0 | xargs -0 stat -c %s")
t_fs_ls=$(time_it ls -lR "$WORK/small")
echo "| $N paths | seconds | rate |"
echo "|---|---:|---:|"
echo "| find (first: lists the tree) | $t_find | $(awk -v t="$t_find" -v n="$N" 'BEGIN { printf "%.0f paths/s", n / t }') |"
echo "| find again | $t_find2 | $(awk -v t="$t_find2" -v n="$N" 'BEGIN { printf "%.0f paths/s", n / t }') |"
echo "| ls -lR | $t_ls | $(awk -v t="$t_ls" -v n="$N" 'BEGIN { printf "%.0f paths/s", n / t }') |"
echo "| stat every file (xargs stat) | $t_stat | $(awk -v t="$t_stat" -v n="$N" 'BEGIN { printf "%.0f stats/s", n / t }') |"
echo "| ls -lR of the local tree | $t_fs_ls | $(awk -v t="$t_fs_ls" -v n="$N" 'BEGIN { printf "%.0f paths/s", n / t }') |"
echo
loop() {
  /usr/bin/python3 - "$1" <<'PY'
import os, sys, time
root = sys.argv[1]
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
t = time.perf_counter(); n = 0
for p in paths:
    with open(p, "rb") as f:
        n += len(f.read())
print("%.3f %d" % (time.perf_counter() - t, n))
PY
}
remount
read -r l_mnt bytes <<< "$(loop "$MNT/head/small")"
read -r l_mnt2 _ <<< "$(loop "$MNT/head/small")"
read -r l_fs _ <<< "$(loop "$WORK/small")"
echo "| PyTorch-style loop, $N files ($((bytes / 1048576)) MiB) | seconds | files/s |"
echo "|---|---:|---:|"
echo "| mount, fresh | $l_mnt | $(awk -v t="$l_mnt" -v n="$N" 'BEGIN { printf "%.0f", n / t }') |"
echo "| mount, second epoch | $l_mnt2 | $(awk -v t="$l_mnt2" -v n="$N" 'BEGIN { printf "%.0f", n / t }') |"
echo "| local file system, page cache | $l_fs | $(awk -v t="$l_fs" -v n="$N" 'BEGIN { printf "%.0f", n / t }') |"
