# A full disk is an ordinary error (issue 15): on a small tmpfs, every write
# command fails with RESOURCE_EXHAUSTED STORAGE_FULL (exit 1, never a signal),
# reads and deletes keep working, health says DEGRADED, and writes work again
# once space is freed, without a restart. Embedded and through a running
# server, repeatedly; with the free-space reserve, and with the reserve set to
# 4 KiB so writes run into ENOSPC in the chunk store (RocksDB's own ENOSPC is
# test_meta_durability's RocksDbOnAFullDisk: the engine's reserve keeps it
# from happening here).
source "$(dirname "$0")/lib.sh"
is_root || { echo "skip: mounting a tmpfs needs root"; exit 77; }
MNT=$WORK/tfs
mkdir "$MNT"
mount -t tmpfs -o size=48m tmpfs "$MNT" || { echo "skip: cannot mount a tmpfs here"; exit 77; }
CLEANUP_CMDS+=("umount -l $MNT")
export AIFS_DATA=$MNT/data

# run_full WANT CMD...: CMD must exit 1 (not die of a signal) with WANT on stderr.
run_full() {
  local want=$1 rc=0 out
  shift
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -lt 128 ] || fail "killed by signal $((rc - 128)): $* ($out)"
  [ $rc -eq 1 ] || fail "expected exit 1 ($want) from $*, got $rc: $out"
  [[ $out == *"$want"* ]] || fail "expected $want from $*; got: $out"
}
# run_full_or_ok CMD...: with a 4 KiB reserve a write may still fit: exit 0,
# or exit 1 with STORAGE_FULL; never a signal.
run_full_or_ok() {
  local rc=0 out
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [ $rc -lt 128 ] || fail "killed by signal $((rc - 128)): $* ($out)"
  [ $rc -eq 0 ] || [[ $rc -eq 1 && $out == *STORAGE_FULL* ]] || fail "$*: exit $rc: $out"
  return $rc
}
# check_writes CMD...: every kind of write is refused (reserve rounds), or
# small puts go on until one meets ENOSPC inside RocksDB or the chunk store.
check_writes() {
  if [ "$STRICT" = 1 ]; then
    echo small | { run_full STORAGE_FULL "$@" put -; }
    run_full STORAGE_FULL "$@" ns create "ns$RANDOM"
    run_full STORAGE_FULL "$@" snapshot create
    return
  fi
  local i
  for i in $(seq 400); do
    head -c 200000 /dev/urandom > "$WORK/s.bin"
    run_full_or_ok "$@" put "$WORK/s.bin" || return 0
    run_full_or_ok "$@" ns create "ns$RANDOM$i" || return 0
    run_full_or_ok "$@" snapshot create || return 0
  done
  fail "writes never met the full disk"
}
fill() { dd if=/dev/zero of="$MNT/filler" bs=1M 2>/dev/null || true; }
unfill() { rm -f "$MNT/filler"; }
set_reserve() {  # set_reserve BYTES: the store's space_reserve_bytes (0: default)
  python3 - "$AIFS_DATA/aifs.json" "$1" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["space_reserve_bytes"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
}

$AIFS init -q >/dev/null
head -c 3000000 /dev/urandom > "$WORK/keep.bin"
KEEP=$($AIFS -q put "$WORK/keep.bin")

# puts of 3 MB random files until the disk refuses one
put_until_full() {
  local i rc out
  for i in $(seq 40); do
    head -c 3000000 /dev/urandom > "$WORK/r.bin"
    rc=0
    out=$("$@" -q put "$WORK/r.bin" 2>&1) || rc=$?
    [ $rc -lt 128 ] || fail "put killed by signal $((rc - 128)): $out"
    if [ $rc -ne 0 ]; then
      [[ $out == *STORAGE_FULL* ]] || fail "put failed other than STORAGE_FULL: $out"
      return 0
    fi
    echo "$out" >> "$WORK/ids"
  done
  fail "48 MB tmpfs never filled"
}

# health_is WANT: `health` says WANT ("ready" or DEGRADED); a server's probe
# runs every 2 s, so it is given up to 10 s.
health_is() {
  local want=$1 i out
  for i in $(seq 50); do
    out=$($C health 2>&1) || true
    [[ $out == *"$want"* ]] && return 0
    sleep 0.2
  done
  fail "health never said $want: $out"
}
# full_disk_round LABEL: with $C the CLI (embedded or --server): fill the disk,
# check what works and what is refused, free it, check writes work again.
full_disk_round() {
  put_until_full $C
  fill
  check_writes $C
  if [ "$STRICT" = 1 ]; then health_is DEGRADED; fi
  [ -z "${PID_fd:-}" ] || running $PID_fd || fail "server died on a full disk ($1)"
  $C ls > /dev/null || fail "ls on a full disk ($1)"
  $C get "$KEEP" -o "$WORK/keep.out" 2>/dev/null || fail "get on a full disk ($1)"
  [ "$(b3 "$WORK/keep.out")" = "$(b3 "$WORK/keep.bin")" ] || fail "read back differs ($1)"
  rm -f "$WORK/keep.out"
  local victim
  victim=$(tail -n 1 "$WORK/ids")
  if [ "$STRICT" = 1 ]; then
    $C rm "$victim" >/dev/null || fail "rm on a full disk ($1)"
    $C gc >/dev/null || fail "gc on a full disk ($1)"
  else
    # A 4 KiB reserve lets the disk reach 0 bytes, where even opening the
    # metadata may not fit: a clean STORAGE_FULL, then fine once freed.
    run_full_or_ok $C rm "$victim" || {
      unfill
      health_is ready
      $C rm "$victim" >/dev/null || fail "rm after freeing ($1)"
    }
    run_full_or_ok $C gc || true
  fi
  sed -i '$d' "$WORK/ids"
  unfill
  health_is ready
  echo "after $1" | $C -q put - >/dev/null || fail "put after space was freed ($1)"
  $C -q snapshot create >/dev/null || fail "snapshot after space was freed ($1)"
  # make room for the next round: removed assets stay for the snapshots that
  # hold them, so a fresh snapshot replaces the older ones before gc
  while read -r id; do $C rm "$id" >/dev/null; done < "$WORK/ids"
  : > "$WORK/ids"
  $C -q snapshot create >/dev/null
  $C snapshot prune --keep-last 1 >/dev/null
  $C gc >/dev/null
  ok "full disk, $1"
}

C=$AIFS
STRICT=1
for r in 1 2 3; do full_disk_round "embedded, reserve round $r"; done
STRICT=0
set_reserve 4096
for r in 1 2; do full_disk_round "embedded, 4 KiB reserve, round $r"; done
set_reserve 0
$AIFS verify --all-namespaces >/dev/null || fail "verify after the embedded rounds"
ok "store verifies clean after the embedded rounds"

# Through one server process per reserve setting: no restart between rounds.
export AIFS_TOKEN=@$AIFS_DATA/admin.token
start_server fd
C="$AIFS --server $ADDR_fd"
STRICT=1
for r in 1 2 3; do full_disk_round "server, reserve round $r"; done
stop_server fd
set_reserve 4096
start_server fd
C="$AIFS --server $ADDR_fd"
STRICT=0
for r in 1 2; do full_disk_round "server, 4 KiB reserve, round $r"; done
stop_server fd
set_reserve 0
$AIFS verify --all-namespaces >/dev/null || fail "verify after the server rounds"
ok "store verifies clean after the server rounds"
echo "PASS: $PASS checks"
