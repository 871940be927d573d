# Stores written by earlier builds keep working: tests/fixtures/store-format1
# (format_version 1, see its .txt) opens, every asset reads back byte-exact
# (b3sum of the bytes = the AssetID; for blobs also = b3sum of the source file
# recorded when the fixture was made), verifies, its signed snapshot verifies,
# filters and vector search answer as they did, and new writes work beside
# the old data. Then `aifs key rewrap` seals what format 1 wrote in clear:
# a metadata value and a vector's bytes that the files of the data directory
# held before are in none of them after, and filters and search still find
# them.
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
tar -C "$WORK" -xzf "$FIX/store-format1.tar.gz"
export AIFS_DATA=$WORK/store AIFS_TRUST=$WORK/trust.json

hex() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }
# files_with HEX...: the files under the data directory holding any of the
# byte strings, one a line (the files as they are: SST blocks compressed).
files_with() {
  /usr/bin/python3 - "$AIFS_DATA" "$@" <<'PYEOF'
import os, sys
root, needles = sys.argv[1], [bytes.fromhex(h) for h in sys.argv[2:]]
for d, _, files in os.walk(root):
    for name in files:
        p = os.path.join(d, name)
        b = open(p, "rb").read()
        if any(n in b for n in needles): print(os.path.relpath(p, root))
PYEOF
}
VISION=$(hex vision)  # the metadata value team=vision of random.bin
V2=$(tail -c 32 "$FIX/store-format1-query-v2.npy" | od -An -tx1 | tr -d ' \n')  # e2.txt's vector
[ -n "$(files_with "$VISION")" ] && [ -n "$(files_with "$V2")" ] ||
  fail "the control: the fixture holds team=vision and e2's vector in clear"
n=0
while read -r id src sum meta; do
  [[ $id == \#* ]] && continue
  $AIFS get "$id" -o "$WORK/out" >/dev/null || fail "get $src ($id)"
  [ "$(b3 "$WORK/out")" = "$id" ] || fail "$src: bytes do not hash to their AssetID"
  if [[ $meta != kind=tensor* ]]; then
    [ "$(b3 "$WORK/out")" = "$sum" ] || fail "$src: differs from the source recorded"
  fi
  n=$((n + 1))
done < "$FIX/store-format1.txt"
[ $n = 10 ] || fail "read $n assets, expected 10"
ok "all 10 assets of the format-1 store read back byte-exact"

# Ranges of chunks sealed whole (before segments) read like new ones: each
# checked against dd's slice of the full read.
while read -r id src sum meta; do
  [[ $id == \#* ]] && continue
  $AIFS get "$id" -o "$WORK/full" >/dev/null
  size=$(stat -c %s "$WORK/full")
  for spec in "0 1" "1 4096" "$((size / 3)) 70000" "$((size > 5 ? size - 5 : 0)) 100"; do
    set -- $spec
    [ "$1" -lt "$size" ] || continue
    $AIFS cat "$id" --range "$1-$(($1 + $2 - 1))" > "$WORK/part" || fail "$src: cat --range $1+$2"
    dd if="$WORK/full" of="$WORK/want" bs=1 skip="$1" count="$2" status=none
    cmp -s "$WORK/part" "$WORK/want" || fail "$src: range $1+$2 differs from dd's slice"
  done
done < "$FIX/store-format1.txt"
ok "ranges of every old asset match dd's slices of the full read"

$AIFS verify --all-namespaces >/dev/null || fail "verify"
$AIFS snapshot verify v1 >/dev/null || fail "snapshot verify v1"
[ "$($AIFS ls --where split=train)" != "" ] || fail "ls --where split=train"
[ "$($AIFS ls --where split=train | awk '{print $1}')" = f237e14a89d3ba32a47e0d52ef924862c6c6d4183a3a8ec714e3dee8f5cdf911 ] ||
  fail "ls --where split=train: $($AIFS ls --where split=train)"
[ "$($AIFS diff v1 main | wc -l)" = 0 ] || fail "diff v1 main"
top=$($AIFS --json search --vector "$FIX/store-format1-query-v2.npy" -k 1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])')
[ "$top" = 2611f9a4d492c2afb4e3d4e697a0dc22d04d698b7c282afad23640c169ab669c ] ||
  fail "nearest to v2 is $top, not e2.txt"
$AIFS lineage 35074239aa1a7ef87866e456cec71e97ec6d54b7d40b103b52d13710d0c13ab5 --up | grep -q f237e14a ||
  fail "lineage of the tensor lost its parent"
ok "format-1 store: verify, snapshot signature, filters, vector search, lineage"

new=$(echo "written by this build" | $AIFS -q put -)
$AIFS -q snapshot create >/dev/null
$AIFS verify --all-namespaces >/dev/null || fail "verify after a new put"
[ "$($AIFS ls | wc -l)" = 11 ] || fail "ls after a new put"
$AIFS cat "$new" | grep -q "written by this build" || fail "new asset"
ok "new writes beside the old data"

# Format 1's plaintext is still on disk (in metadata SST files) until a rewrap.
[ -n "$(files_with "$VISION" | grep '^meta/')" ] || fail "team=vision no longer in meta/ before rewrap"
[ -n "$(files_with "$V2" | grep '^meta/')" ] || fail "e2's vector no longer in meta/ before rewrap"
report=$($AIFS --json key rewrap --batch-size 3)
echo "$report" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["complete"] and d["compacted"] and d["records_resealed"] == 8 and d["vectors_resealed"] == 6 else 1)' ||
  fail "rewrap report: $report"
left=$(files_with "$VISION" "$V2")
[ -z "$left" ] || fail "plaintext of format 1 still in: $left"
[ -n "$(files_with "$(hex local:v1)" | grep '^meta/.*\.sst$')" ] ||
  fail "the control: the scan finds a plaintext field of the compacted SST files"
[ "$($AIFS ls --where team=vision | awk '{print $1}')" = f237e14a89d3ba32a47e0d52ef924862c6c6d4183a3a8ec714e3dee8f5cdf911 ] ||
  fail "ls --where team=vision after rewrap"
[ "$($AIFS ls --where i=3 | awk '{print $1}')" = c465f92f8f4b13e4f88bae7fa7da93e480312aa4df093a1a20e46662ac6f4467 ] ||
  fail "ls --where i=3 after rewrap"
top=$($AIFS --json search --vector "$FIX/store-format1-query-v2.npy" -k 1 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])')
[ "$top" = 2611f9a4d492c2afb4e3d4e697a0dc22d04d698b7c282afad23640c169ab669c ] ||
  fail "nearest to v2 after rewrap is $top, not e2.txt"
$AIFS verify --all-namespaces >/dev/null || fail "verify after rewrap"
$AIFS snapshot verify v1 >/dev/null || fail "snapshot verify v1 after rewrap"
again=$($AIFS --json key rewrap)
echo "$again" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["complete"] and not d["compacted"] and d["records_resealed"] + d["vectors_resealed"] == 0 else 1)' ||
  fail "second rewrap: $again"
ok "rewrap sealed 8 metadata records and 6 vectors of format 1 and compacted: team=vision and e2's vector are in no file, ls --where and search find them"

[ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("format_version", d.get("formatVersion")))' "$AIFS_DATA/aifs.json")" = 5 ] ||
  fail "a writable open did not mark the store format 5"
old=$(awk '!/^#/ {print $1; exit}' "$FIX/store-format1.txt")
$AIFS rm --force "$old" >/dev/null || fail "rm an old-format asset"
$AIFS verify --all-namespaces >/dev/null || fail "verify after removing an old asset"
ok "the store is marked format 5; old assets can be removed"
# aifs upgrade: every chunk sealed whole is rewritten in segments, every inline
# chunk list moved to its table, in two resumable steps; bytes and snapshot
# stay as they were, nothing is left for gc, and a rerun finds nothing to do.
first=$($AIFS --json upgrade --max-chunks 1 --batch-size 1)
echo "$first" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["chunks_rewritten"] == 1 and not d["complete"] else 1)' ||
  fail "a bounded upgrade: $first"
rest=$($AIFS --json upgrade)
echo "$rest" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["complete"] and d["chunks_rewritten"] >= 1 and d["asset_tables_written"] >= 9 else 1)' ||
  fail "upgrade: $rest"
again=$($AIFS --json upgrade)
echo "$again" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["complete"] and d["chunks_rewritten"] == 0 and d["asset_tables_written"] == 0 else 1)' ||
  fail "a second upgrade still found work: $again"
while read -r id src sum meta; do
  [[ $id == \#* ]] && continue
  [ "$id" = "$old" ] && continue
  $AIFS get "$id" -o "$WORK/out" >/dev/null || fail "get $src after upgrade"
  [ "$(b3 "$WORK/out")" = "$id" ] || fail "$src: bytes changed by the upgrade"
  $AIFS --json stat "$id" --chunks | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["chunks"] == len(d.get("chunk_list", [])) else 1)' || fail "$src: stat --chunks after upgrade"
done < "$FIX/store-format1.txt"
$AIFS verify --all-namespaces >/dev/null || fail "verify after upgrade"
$AIFS snapshot verify v1 >/dev/null || fail "snapshot verify v1 after upgrade"
orphans=$($AIFS --json gc --dry-run | python3 -c 'import json,sys; print(json.load(sys.stdin)["orphan_objects"])')
[ "$orphans" = 0 ] || fail "upgrade left $orphans orphan objects"
ok "aifs upgrade: resumable, bytes and snapshots unchanged, no orphans, a rerun finds nothing"
echo "PASS: $PASS checks"
