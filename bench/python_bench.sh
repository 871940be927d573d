#!/usr/bin/env bash
# The Python SDK against the C++ CLI on one `aifs serve`, in the same run (issue 20):
#   bench/python_bench.sh BUILD_DIR [SIZE_MIB=1024] [SAMPLES=10000]
# 1. put and get of SIZE_MIB MiB of random bytes: Python (aifs.Client, from/to
#    a file) vs `aifs put` / `aifs get` (gRPC); puts of fresh bytes each (no
#    dedup), gets median of 3 of a warm asset; ratio CLI time / Python time,
#    for the Python process as a whole and for the SDK call alone.
# 2. SAMPLES files of 4-64 KiB: samples/s of aifs.torch.AssetDataset over a
#    tag (one ReadRanges call per batch of 64) vs a plain torch Dataset
#    reading the same files from ext4 (page cache warm for both), DataLoader
#    with 0 and 2 workers, median of 3 epochs each.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "$1")
AIFS=$BUILD/apps/aifs/aifs
SIZE=${2:-1024}
SAMPLES=${3:-10000}
PY=/usr/bin/python3
WORK=$(mktemp -d /var/tmp/aifs-py-bench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export AIFS_DATA=$WORK/store
"$AIFS" -q init > /dev/null
"$AIFS" serve --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
pid=$!
grpc=$(wait_for "$WORK/serve.out" "$SERVING")
[ -n "$grpc" ] || { echo "the server printed no address: $(cat "$WORK/serve.err")" >&2; exit 1; }
export AIFS_SERVER=$grpc AIFS_TOKEN=@$WORK/store/admin.token
unset AIFS_DATA
$PY "$ROOT/python/gen_protos.py" --out "$WORK/gen" > /dev/null
export PYTHONPATH=$ROOT/python:$WORK/gen
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

# ---- 1. put/get ------------------------------------------------------------
head -c "${SIZE}M" /dev/urandom > "$WORK/a"
head -c "${SIZE}M" /dev/urandom > "$WORK/b"
# pyput/pyget: one Python process each; the call alone (after import and
# connect) is timed inside and appended to $WORK/call.s
pyput() {
  $PY -c 'import aifs, sys, time
c = aifs.connect(); c.info(); t = time.perf_counter(); c.put("default", sys.argv[1])
open(sys.argv[2], "a").write("%.3f\n" % (time.perf_counter() - t))' "$1" "$WORK/call.s"
}
t_cli_put=$(time_it "$AIFS" put "$WORK/a")
t_py_put=$(time_it pyput "$WORK/b")
c_py_put=$(tail -n 1 "$WORK/call.s")
ida=$(b3sum --no-names "$WORK/a"); idb=$(b3sum --no-names "$WORK/b")
[ "$("$AIFS" stat "$idb" 2>/dev/null | grep -c "$idb")" -ge 1 ] || { echo "python put failed" >&2; exit 1; }
pyget() {
  $PY -c 'import aifs, sys, time
c = aifs.connect(); c.info(); t = time.perf_counter(); c.get_file("default", sys.argv[1], sys.argv[2])
open(sys.argv[3], "a").write("%.3f\n" % (time.perf_counter() - t))' "$1" "$2" "$WORK/call.s"
}
"$AIFS" get "$ida" -o "$WORK/back"; pyget "$ida" "$WORK/back2"  # warm, and check
[ "$(b3sum --no-names "$WORK/back2")" = "$ida" ] || { echo "python get: other bytes" >&2; exit 1; }
rm -f "$WORK/back" "$WORK/back2" "$WORK/a" "$WORK/b"
t_cli_get=$(for _ in 1 2 3; do time_it "$AIFS" get "$ida" -o /dev/null; done | median)
: > "$WORK/call.s"
t_py_get=$(for _ in 1 2 3; do time_it pyget "$ida" /dev/null; done | median)
c_py_get=$(median < "$WORK/call.s")
echo "Python SDK vs C++ CLI, ${SIZE} MiB, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "CLI and Python process: the whole process (start, import, connect, transfer); Python call: the SDK call alone."
echo
echo "| operation | CLI process s | Python process s | Python call s | CLI GB/s | Python call GB/s | Python process vs CLI | Python call vs CLI |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| put (fresh bytes) | $t_cli_put | $t_py_put | $c_py_put | $(gbps "$t_cli_put" "$SIZE") | $(gbps "$c_py_put" "$SIZE") | $(ratio "$t_cli_put" "$t_py_put") | $(ratio "$t_cli_put" "$c_py_put") |"
echo "| get (median of 3) | $t_cli_get | $t_py_get | $c_py_get | $(gbps "$t_cli_get" "$SIZE") | $(gbps "$c_py_get" "$SIZE") | $(ratio "$t_cli_get" "$t_py_get") | $(ratio "$t_cli_get" "$c_py_get") |"
echo

# ---- 2. DataLoader ---------------------------------------------------------
make_tree "$WORK/tree" "$SAMPLES" 4096 65536 20
"$AIFS" -q put -r "$WORK/tree" --prefix ds/ > /dev/null
"$AIFS" -q tag create ds-v1 "$("$AIFS" -q snapshot create -m dataset | grep -o '[0-9a-f]\{32\}' | head -1)" > /dev/null
cat > "$WORK/loader_bench.py" <<'PY'
import os
import statistics
import sys
import time

import torch.utils.data as tud

import aifs
from aifs.torch import AssetDataset

B = 64


class Files(tud.Dataset):
    """The baseline: the same files read from ext4, one open+read a sample."""

    def __init__(self, files):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        with open(self.files[i], "rb") as f:
            return f.read()


def epoch(loader, n):
    t0 = time.perf_counter()
    assert sum(len(b) for b in loader) == n
    return n / (time.perf_counter() - t0)


def main():
    root, n = sys.argv[1], int(sys.argv[2])
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
    assert len(files) == n, (len(files), n)
    ds = AssetDataset(aifs.connect(), "default", ref="ds-v1", prefix="ds/")
    rel = sorted(os.path.relpath(p, root) for p in files)
    assert [p[3:] for p, _ in ds.members] == rel  # the same files, in the same order
    print("| DataLoader, %d samples of 4-64 KiB, batch %d | workers | samples/s (median of 3) "
          "| vs ext4 |" % (n, B))
    print("|---|---:|---:|---:|")
    for workers in (0, 2):
        plain = tud.DataLoader(Files(files), batch_size=B, num_workers=workers, collate_fn=list)
        ours = ds.loader(batch_size=B, num_workers=workers, collate_fn=list)
        epoch(plain, n), epoch(ours, n)  # warm: page cache, server cache, worker start-up
        p = statistics.median(epoch(plain, n) for _ in range(3))
        a = statistics.median(epoch(ours, n) for _ in range(3))
        print("| plain Dataset, files on ext4 | %d | %.0f | 1.00x |" % (workers, p))
        print("| aifs.torch.AssetDataset (tag) | %d | %.0f | %.2fx |" % (workers, a, a / p))


if __name__ == "__main__":  # forkserver workers re-import this file
    main()
PY
$PY "$WORK/loader_bench.py" "$WORK/tree" "$SAMPLES"
