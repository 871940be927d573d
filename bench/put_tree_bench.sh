#!/usr/bin/env bash
# put -r of many small files next to restic backup, git add + commit, and a
# plain copy onto the same ext4 with an fsync per file (the durable-write
# floor of one file per asset), in the same run (issues 17 and 22).
#   bench/put_tree_bench.sh AIFS_BINARY [FILES=100000] [WORKDIR]
# Files are 1-64 KiB of pseudo-random bytes in 100 directories. Each tool
# starts from an empty repository/store on the same file system; the page
# cache holds the source tree for all (it is read once before timing).
# Prints a markdown table: seconds, files/s and AIFS's ratio to each tool.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
AIFS=$(realpath "$1")
N=${2:-100000}
WORK=${3:-$(mktemp -d /var/tmp/aifs-put-tree.XXXXXX)}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
SRC=$WORK/src
make_tree "$SRC" "$N" 1024 65536 17
bytes=$(du -sb "$SRC" | cut -f1)
find "$SRC" -type f -exec cat {} + > /dev/null
# The tree was just written: flush it now, or the first tool's first fsync
# pays for writing back the source tree (its data and 100k inodes) as well.
sync

export AIFS_DATA=$WORK/aifs AIFS_TRUST=$WORK/trust.json
"$AIFS" init > /dev/null
t_aifs=$(time_it "$AIFS" put -r "$SRC" --prefix ds/ -j 8)
[ "$("$AIFS" ls ds/ | wc -l)" = "$N" ] || { echo "aifs stored the wrong number of paths" >&2; exit 1; }

t_restic=skipped
if command -v restic > /dev/null; then
  export RESTIC_REPOSITORY=$WORK/restic RESTIC_PASSWORD=bench
  restic init > /dev/null 2>&1
  t_restic=$(time_it restic backup "$SRC")
fi
t_git=skipped
if command -v git > /dev/null; then
  git init -q "$WORK/git"
  cp -r "$SRC" "$WORK/git/ds"
  t_git=$(cd "$WORK/git" && time_it sh -c 'git add -A && git -c user.name=b -c user.email=b@b commit -qm import')
fi

copy_fsync() {
  python3 - "$SRC" "$WORK/copy" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
for d, _, files in os.walk(src):
    out = os.path.join(dst, os.path.relpath(d, src))
    os.makedirs(out, exist_ok=True)
    for f in files:
        with open(os.path.join(d, f), "rb") as i:
            data = i.read()
        fd = os.open(os.path.join(out, f), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
    dfd = os.open(out, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
PY
}
t_copy=$(time_it copy_fsync)

rate() { [ "$1" = skipped ] && echo "-" || awk -v n="$N" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { [ "$1" = skipped ] && echo "-" || awk -v a="$t_aifs" -v t="$1" 'BEGIN { printf "%.2fx", t / a }'; }
echo "put -r of $N files ($((bytes / 1048576)) MiB, 1-64 KiB each), $(nproc) cores"
echo
echo "| tool | seconds | files/s | AIFS speed-up |"
echo "|---|---:|---:|---:|"
echo "| aifs put -r -j 8 | $t_aifs | $(rate "$t_aifs") | 1.00x |"
echo "| restic backup | $t_restic | $(rate "$t_restic") | $(ratio "$t_restic") |"
echo "| git add + commit | $t_git | $(rate "$t_git") | $(ratio "$t_git") |"
echo "| copy to ext4, fsync per file | $t_copy | $(rate "$t_copy") | $(ratio "$t_copy") |"
