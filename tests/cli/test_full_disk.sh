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

# ------------------------------------------------------------------ embedded
embedded_round() {  # embedded_round LABEL
  put_until_full $AIFS
  fill
  check_writes $AIFS
  if [ "$STRICT" = 1 ]; then run_full DEGRADED $AIFS health; fi
  $AIFS ls > /dev/null || fail "ls on a full disk"
  $AIFS get "$KEEP" -o "$WORK/keep.out" 2>/dev/null || fail "get on a full disk"
  [ "$(b3 "$WORK/keep.out")" = "$(b3 "$WORK/keep.bin")" ] || fail "read back differs"
  rm -f "$WORK/keep.out"
  local victim
  victim=$(tail -n 1 "$WORK/ids")
  if [ "$STRICT" = 1 ]; then
    $AIFS rm "$victim" >/dev/null || fail "rm on a full disk ($1)"
    $AIFS gc >/dev/null || fail "gc on a full disk ($1)"
  else
    # A 4 KiB reserve lets the disk reach 0 bytes, where even opening the
    # metadata may not fit: a clean STORAGE_FULL, then fine once freed.
    run_full_or_ok $AIFS rm "$victim" || { unfill; $AIFS rm "$victim" >/dev/null || fail "rm after freeing ($1)"; }
    run_full_or_ok $AIFS gc || true
  fi
  sed -i '$d' "$WORK/ids"
  unfill
  echo "after $1" | $AIFS -q put - >/dev/null || fail "put after space was freed ($1)"
  $AIFS -q snapshot create >/dev/null || fail "snapshot after space was freed ($1)"
  $AIFS health >/dev/null || fail "health after space was freed ($1)"
  # make room for the next round
  while read -r id; do $AIFS rm "$id" >/dev/null; done < "$WORK/ids"
  : > "$WORK/ids"
  $AIFS gc >/dev/null
  ok "embedded full disk, $1"
}
STRICT=1
for r in 1 2 3; do embedded_round "reserve round $r"; done
STRICT=0
set_reserve 4096
for r in 1 2; do embedded_round "4 KiB reserve, round $r"; done
set_reserve 0
$AIFS verify --all-namespaces >/dev/null || fail "verify after the embedded rounds"
ok "store verifies clean after six full-disk rounds"

# ------------------------------------------------------------------ server
export AIFS_TOKEN=@$AIFS_DATA/admin.token
start_server fd
R="$AIFS --server $ADDR_fd"
# waits up to 10 s for `health` to print/fail with WANT ("ready" or DEGRADED)
wait_health() {
  local want=$1 i out
  for i in $(seq 50); do
    out=$($R health 2>&1) || true
    [[ $out == *"$want"* ]] && return 0
    sleep 0.2
  done
  fail "server health never said $want: $out"
}
server_round() {
  put_until_full $R
  fill
  check_writes $R
  if [ "$STRICT" = 1 ]; then wait_health DEGRADED; fi
  running $PID_fd || fail "server died on a full disk ($1): $(tail -n 5 "$WORK/fd.err")"
  $R get "$KEEP" -o "$WORK/keep.out" 2>/dev/null || fail "remote get on a full disk"
  [ "$(b3 "$WORK/keep.out")" = "$(b3 "$WORK/keep.bin")" ] || fail "remote read back differs"
  rm -f "$WORK/keep.out"
  if [ "$STRICT" = 1 ]; then
    $R rm "$(tail -n 1 "$WORK/ids")" >/dev/null || fail "remote rm on a full disk ($1)"
    $R gc >/dev/null || fail "remote gc on a full disk ($1)"
  else
    run_full_or_ok $R rm "$(tail -n 1 "$WORK/ids")" || { unfill; wait_health ready; $R rm "$(tail -n 1 "$WORK/ids")" >/dev/null || fail "remote rm after freeing ($1)"; }
    run_full_or_ok $R gc || true
  fi
  sed -i '$d' "$WORK/ids"
  unfill
  wait_health ready
  echo "after $1" | $R -q put - >/dev/null || fail "remote put after space was freed ($1)"
  $R -q snapshot create >/dev/null || fail "remote snapshot after space was freed ($1)"
  while read -r id; do $R rm "$id" >/dev/null; done < "$WORK/ids"
  : > "$WORK/ids"
  $R gc >/dev/null
  ok "server full disk, $1 (same server process)"
}
STRICT=1
for r in 1 2 3; do server_round "reserve round $r"; done
STRICT=0
stop_server fd
set_reserve 4096
start_server fd
R="$AIFS --server $ADDR_fd"
for r in 1 2; do server_round "4 KiB reserve, round $r"; done
stop_server fd
set_reserve 0
$AIFS verify --all-namespaces >/dev/null || fail "verify after the server rounds"
ok "store verifies clean after the server rounds"
echo "PASS: $PASS checks"
