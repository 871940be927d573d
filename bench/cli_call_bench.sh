#!/usr/bin/env bash
# What one CLI call costs before and while it works (issue 22): a bare
# process start, `aifs info`, `ls`, a `put` of a new 20 KB file, each timed
# whole by farm-bench (medians), with the fsyncs a put makes (strace), and a
# shell loop putting N small files one process each next to `restic backup`
# of the same files and one `put -r`.
#
#   bench/cli_call_bench.sh AIFS [BASELINE_AIFS] [N]
#
# With BASELINE_AIFS (an older build), every call is timed against it pair by
# pair (farm-bench --vs), each binary on a store of its own.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
A=$(realpath "$1")
B=${2:+$(realpath "$2")}
N=${3:-200}
WORK=$(mktemp -d /var/tmp/aifs-cli-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
AIFS_DATA=$WORK/a "$A" init > /dev/null
[ -n "$B" ] && AIFS_DATA=$WORK/b "$B" init > /dev/null
head -c 20000 /dev/urandom > "$WORK/seed"
AIFS_DATA=$WORK/a "$A" put "$WORK/seed" > /dev/null
[ -n "$B" ] && AIFS_DATA=$WORK/b "$B" put "$WORK/seed" > /dev/null

# call NAME ARGS...: farm-bench of "aifs ARGS" (A vs B when B is given).
call() {
  local name=$1
  shift
  echo "## $name"
  local a="env AIFS_DATA=$WORK/a $A $*"
  if [ -n "$B" ]; then
    farm-bench -n 15 --warmup 2 --vs "env AIFS_DATA=$WORK/b $B $*" -- $a 2>&1 | grep -vE '^\s*$'
  else
    farm-bench -n 15 --warmup 2 -- $a 2>&1 | grep -vE '^\s*$'
  fi
}
call "process start (aifs --version)" --version
call "aifs info" info
call "aifs ls" ls
# Each put stores new bytes: the file is rewritten by the run before.
cat > "$WORK/put.sh" <<EOF
#!/bin/sh
head -c 20000 /dev/urandom > "\$2.in" && exec env AIFS_DATA="\$2" "\$1" put "\$2.in"
EOF
chmod +x "$WORK/put.sh"
echo "## aifs put (a new 20 KB file; includes head -c 20000 /dev/urandom)"
if [ -n "$B" ]; then
  farm-bench -n 15 --warmup 2 --vs "$WORK/put.sh $B $WORK/b" -- "$WORK/put.sh" "$A" "$WORK/a" 2>&1 |
    grep -vE '^\s*$'
else
  farm-bench -n 15 --warmup 2 -- "$WORK/put.sh" "$A" "$WORK/a" 2>&1 | grep -vE '^\s*$'
fi

if command -v strace > /dev/null; then
  for side in A B; do
    bin=$A dir=$WORK/a
    [ "$side" = B ] && { [ -n "$B" ] || continue; bin=$B dir=$WORK/b; }
    head -c 20000 /dev/urandom > "$WORK/one"
    syncs=$(AIFS_DATA=$dir strace -f -c -e trace=fsync,fdatasync "$bin" put "$WORK/one" 2>&1 >/dev/null |
      awk '$NF == "fsync" || $NF == "fdatasync" { n += $4 } END { print n + 0 }')
    echo "fsync + fdatasync calls in one put ($side): $syncs"
  done
fi

echo "## $N small files (1-64 KiB): one process per file, put -r, restic"
make_tree "$WORK/src" "$N" 1024 65536 7
mib=$(du -sm "$WORK/src" | cut -f1)
loop() { find "$WORK/src" -type f | while read -r f; do AIFS_DATA=$1 "$2" put "$f" > /dev/null; done; }
AIFS_DATA=$WORK/loop "$A" init > /dev/null
t_loop=$(time_it loop "$WORK/loop" "$A")
AIFS_DATA=$WORK/tree "$A" init > /dev/null
t_tree=$(time_it env AIFS_DATA="$WORK/tree" "$A" put -r "$WORK/src")
t_restic=skipped
if command -v restic > /dev/null; then
  export RESTIC_REPOSITORY=$WORK/restic RESTIC_PASSWORD=bench
  restic init > /dev/null 2>&1
  t_restic=$(time_it restic backup "$WORK/src")
fi
echo "| how | seconds | files/s |"
echo "|---|---:|---:|"
for row in "aifs put, one process per file:$t_loop" "aifs put -r:$t_tree" "restic backup:$t_restic"; do
  t=${row##*:}
  rate=$([ "$t" = skipped ] && echo - || awk -v n="$N" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
  echo "| ${row%%:*} | $t | $rate |"
done
echo "($N files, $mib MiB)"
