# Stores written by earlier builds keep working: tests/fixtures/store-format1
# (format_version 1, see its .txt) opens, every asset reads back byte-exact
# (b3sum of the bytes = the AssetID; for blobs also = b3sum of the source file
# recorded when the fixture was made), verifies, its signed snapshot verifies,
# filters and vector search answer as they did, and new writes work beside
# the old data.
source "$(dirname "$0")/lib.sh"
FIX=$(cd "$(dirname "$0")/../fixtures" && pwd)
tar -C "$WORK" -xzf "$FIX/store-format1.tar.gz"
export AIFS_DATA=$WORK/store AIFS_TRUST=$WORK/trust.json
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
[ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("format_version", d.get("formatVersion")))' "$AIFS_DATA/aifs.json")" = 3 ] ||
  fail "a writable open did not mark the store format 3"
old=$(awk '!/^#/ {print $1; exit}' "$FIX/store-format1.txt")
$AIFS rm --force "$old" >/dev/null || fail "rm an old-format asset"
$AIFS verify --all-namespaces >/dev/null || fail "verify after removing an old asset"
ok "the store is marked format 3; old assets can be removed"
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
