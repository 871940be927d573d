# Damaged metadata is loud and never destroys data (issue 15): the reports
# that a flipped WAL byte left a store listing fewer assets, `verify` exiting
# 0 and `gc` deleting a committed asset's chunk, re-run embedded and through
# a server; then recovery, and an online backup restored into a new store.
source "$(dirname "$0")/lib.sh"

objects() { find "$1" -type f | wc -l; }
wal() { ls -S "$AIFS_DATA"/meta/*.log | head -n 1; }  # the largest write-ahead log
flip() {  # flip FILE OFFSET
  python3 - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(path, "rb").read())
b[off] ^= 0x20
open(path, "wb").write(b)
EOF
}

# ----------------------------------------------------- embedded, 3 puts
$AIFS init -q >/dev/null
for i in 1 2 3; do echo "asset $i" | $AIFS -q put - >> "$WORK/ids"; done
before=$(objects "$AIFS_DATA/chunks")
w=$(wal)
flip "$w" $(( $(stat -c %s "$w") < 600 ? $(stat -c %s "$w") / 2 : 300 ))
expect_error METADATA_CORRUPT $AIFS ls
expect_error METADATA_CORRUPT $AIFS verify
expect_error METADATA_CORRUPT $AIFS gc
expect_error METADATA_CORRUPT $AIFS health
out=$($AIFS ls 2>&1 || true)
[[ $out == *"intact up to sequence"* && $out == *"aifs recover"* ]] || fail "refusal does not say where: $out"
[ "$(objects "$AIFS_DATA/chunks")" = "$before" ] || fail "a refused store lost chunk objects"
ok "one flipped WAL byte: every command refuses, nothing deleted"

snapshot_tree() { (cd "$AIFS_DATA" && find . -type f -exec b3sum {} + | sort); }
tree=$(snapshot_tree)
$AIFS recover --dry-run > "$WORK/dry.txt" || fail "recover --dry-run failed"
[ "$(snapshot_tree)" = "$tree" ] || fail "recover --dry-run changed the data directory"
grep -q "metadata damaged" "$WORK/dry.txt" || fail "dry run did not report the damage"
ok "recover --dry-run reports and changes nothing"

$AIFS --json recover > "$WORK/recover.json" || fail "recover failed"
python3 - "$WORK/recover.json" "$AIFS_DATA" <<'EOF' || fail "recover report"
import json, os, sys
r = json.load(open(sys.argv[1]))
assert r["damaged"] and os.path.isdir(r["saved_copy"]), r
assert r["saved_copy"].startswith(sys.argv[2]), r
EOF
after=$(objects "$AIFS_DATA/chunks")
kept=0
[ -d "$AIFS_DATA/lost+found" ] && kept=$(objects "$AIFS_DATA/lost+found")
[ $((after + kept)) = "$before" ] || fail "recovery lost chunk objects: $before -> $after + $kept"
$AIFS verify >/dev/null || fail "verify after recover"
n=$($AIFS ls | wc -l)
[ "$n" -ge 1 ] || fail "nothing salvaged"
$AIFS gc >/dev/null
[ "$($AIFS ls | wc -l)" = "$n" ] || fail "gc after recovery changed the assets"
while read -r id; do
  if $AIFS cat "$id" > "$WORK/back" 2>/dev/null; then
    grep -q "^asset [123]$" "$WORK/back" || fail "salvaged asset $id has other bytes"
  fi
done < "$WORK/ids"
ok "recover: damaged metadata kept, $n of 3 assets readable, objects kept ($after + $kept), gc safe"

# ------------------------------------------- history cut: WAL deleted, restored old copy
rm -rf "$AIFS_DATA"; : > "$WORK/ids"
$AIFS init -q >/dev/null
for i in 1 2 3 4; do echo "cut $i" | $AIFS -q put - >/dev/null; done
rm "$(wal)"
expect_error METADATA_CORRUPT $AIFS ls
out=$($AIFS ls 2>&1 || true)
[[ $out == *"committed writes are missing"* || $out == *"was committed"* ]] || fail "cut history: $out"
ok "a deleted WAL is refused (high-water mark)"

# ----------------------------------------------------- through a server
rm -rf "$AIFS_DATA"
$AIFS init -q >/dev/null
export AIFS_TOKEN=@$AIFS_DATA/admin.token
start_server mc
R="$AIFS --server $ADDR_mc"
head -c 2000000 /dev/urandom > "$WORK/big"
BIG=$($R -q put "$WORK/big")
for i in $(seq 20); do echo "served $i" | $R -q put - >/dev/null; done
$R backup "$WORK/backup" >/dev/null || fail "online backup through the server"
echo "after the backup" | $R -q put - >/dev/null
stop_server mc
before=$(objects "$AIFS_DATA/chunks")
off=$(python3 - "$(wal)" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
print(b.find(b"as/default/") + 40)
EOF
)
[ "$off" -gt 40 ] || fail "no asset key in the WAL"
flip "$(wal)" "$off"
rc=0
$AIFS serve --listen 127.0.0.1:0 > "$WORK/bad.out" 2> "$WORK/bad.err" || rc=$?
[ $rc = 1 ] || fail "the server on damaged metadata exited $rc"
grep -q METADATA_CORRUPT "$WORK/bad.err" || fail "server error: $(cat "$WORK/bad.err")"
[ "$(objects "$AIFS_DATA/chunks")" = "$before" ] || fail "the refused server lost chunk objects"
ok "a flipped byte after the first asset key: the server refuses to start"

# ----------------------------------------------------- restore the backup
$AIFS --data "$WORK/restored" restore "$WORK/backup" --chunks "$AIFS_DATA/chunks" >/dev/null ||
  fail "restore"
$AIFS --data "$WORK/restored" verify --all-namespaces >/dev/null || fail "restored store does not verify"
[ "$($AIFS --data "$WORK/restored" ls | wc -l)" = 21 ] || fail "restored store has $($AIFS --data "$WORK/restored" ls | wc -l) assets, not 21"
$AIFS --data "$WORK/restored" get "$BIG" -o "$WORK/big.back" >/dev/null
[ "$(b3 "$WORK/big.back")" = "$(b3 "$WORK/big")" ] || fail "restored asset differs (b3sum)"
expect_error BACKUP_EXISTS $AIFS --data "$WORK/restored" backup "$WORK/backup"
expect_error STORE_ALREADY_INITIALIZED $AIFS --data "$WORK/restored" restore "$WORK/backup"
expect_error BACKUP_INVALID $AIFS --data "$WORK/nowhere" restore "$WORK"
ok "backup taken through the server restores into a new store that verifies (b3sum equal)"
echo "PASS: $PASS checks"
