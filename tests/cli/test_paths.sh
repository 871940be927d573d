# Paths end to end: put -r of a tree (compared file by file with b3sum),
# ls of a prefix against find(1), renames and removals, time travel with
# --as-of, diff by path, and an offline path proof. Runs embedded and, as
# cli_remote.test_paths, through the server.
source "$(dirname "$0")/lib.sh"
export AIFS_TRUST="$WORK/trust.json"
$AIFS init >/dev/null

mkdir -p "$WORK/tree/train/cats" "$WORK/tree/val" "$WORK/tree/empty-dir"
for i in $(seq 1 40); do head -c $((RANDOM % 5000 + 1)) /dev/urandom > "$WORK/tree/train/cats/$i.jpg"; done
for i in $(seq 1 10); do echo "label $i" > "$WORK/tree/val/$i.txt"; done
echo same > "$WORK/tree/val/dup-a"; echo same > "$WORK/tree/val/dup-b"
printf 'ünï\n' > "$WORK/tree/val/ünïcødé name.txt"
ln -s cats "$WORK/tree/train/link"

summary=$($AIFS put -r "$WORK/tree" --prefix ds/ -j 4)
[[ $summary == *"put 53 files"* ]] || fail "put -r summary: $summary"
ok "put -r: $summary"

# ls PREFIX lists exactly the files find(1) sees (symlinks not followed).
(cd "$WORK/tree" && find . -type f | sed 's|^\./|ds/|' | LC_ALL=C sort) > "$WORK/want"
$AIFS ls ds/ | cut -f2 | LC_ALL=C sort > "$WORK/got"
diff "$WORK/want" "$WORK/got" || fail "ls ds/ differs from find"
[ "$($AIFS ls ds/train/ | wc -l)" = 40 ] || fail "ls ds/train/"
ok "ls PREFIX matches find(1)"

# Every path reads back the bytes of its file (b3sum both sides).
while IFS=$'\t' read -r id path; do
  rel=${path#ds/}
  [ "$id" = "$(b3sum --no-names "$WORK/tree/$rel")" ] || fail "$path: ID is not the file's BLAKE3"
  [ "$($AIFS cat "$path" | b3sum --no-names)" = "$id" ] || fail "cat $path"
done < <($AIFS ls ds/val/)
[ "$($AIFS ls ds/val/dup-a | cut -f1)" = "$($AIFS ls ds/val/dup-b | cut -f1)" ] || fail "dedup"
ok "cat PATH returns each file's bytes"

s1=$($AIFS -q snapshot create -m "first import")
old=$($AIFS ls ds/val/1.txt | cut -f1)
echo "relabeled" > "$WORK/new1"
$AIFS put "$WORK/new1" --path ds/val/1.txt >/dev/null
$AIFS path mv ds/val/2.txt ds/val/two.txt >/dev/null
$AIFS path rm ds/val/3.txt >/dev/null
s2=$($AIFS -q snapshot create -m "second")
[ "$($AIFS cat ds/val/1.txt)" = relabeled ] || fail "head after replace"
[ "$($AIFS cat ds/val/1.txt --as-of "$s1")" = "label 1" ] || fail "as-of read"
[ "$($AIFS cat default:ds/val/two.txt)" = "label 2" ] || fail "NS:PATH after mv"
[ "$($AIFS stat ds/val/1.txt --as-of "$s1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" = "$old" ] \
  || fail "stat --as-of"
$AIFS ls --as-of "$s1" ds/val/ | cut -f2 | grep -qx "ds/val/3.txt" || fail "ls --as-of keeps 3.txt"
$AIFS ls ds/val/ | cut -f2 | grep -qx "ds/val/3.txt" && fail "3.txt still at head"
expect_error PATH_NOT_FOUND $AIFS cat ds/val/3.txt
ok "replace, mv, rm; --as-of reads the old bytes"

# A removed asset stays readable through the snapshots that hold it.
gone=$($AIFS ls ds/val/5.txt | cut -f1)
$AIFS rm "$gone" >/dev/null
expect_error ASSET_NOT_FOUND $AIFS cat "$gone"
[ "$($AIFS cat "$gone" --as-of "$s1")" = "label 5" ] || fail "cat ID --as-of after rm"
[ "$($AIFS cat ds/val/5.txt --as-of "$s2")" = "label 5" ] || fail "cat PATH --as-of after rm"
$AIFS get "$gone" --as-of "$s1" -o "$WORK/gone.txt"
[ "$(b3sum --no-names "$WORK/gone.txt")" = "$gone" ] || fail "get --as-of bytes"
expect_error PATH_NOT_FOUND $AIFS cat ds/val/5.txt
other=$($AIFS -q snapshot create)
expect_error ASSET_NOT_IN_SNAPSHOT $AIFS cat "$gone" --as-of "$other"
ok "removed assets stay readable --as-of the snapshots that hold them"

$AIFS diff "$s1" "$s2" > "$WORK/diff"
grep -qP "^M\tds/val/1.txt\t" "$WORK/diff" || fail "diff M: $(cat "$WORK/diff")"
grep -qP "^D\tds/val/2.txt\t" "$WORK/diff" || fail "diff D 2"
grep -qP "^A\tds/val/two.txt\t" "$WORK/diff" || fail "diff A"
grep -qP "^D\tds/val/3.txt\t" "$WORK/diff" || fail "diff D 3"
[ "$(grep -cP '^[ADM]\t' "$WORK/diff")" = 4 ] || fail "diff has extra paths: $(cat "$WORK/diff")"
$AIFS snapshot show "$s2" | grep -q "^message:   second" || fail "message"
$AIFS snapshot show "$s2" | grep -q "^parent:    $s1" || fail "parent"
ok "diff by path, message and parent"

$AIFS proof ds/val/1.txt --snapshot "$s1" -o "$WORK/p.json" 2>/dev/null
$AIFS verify-proof "$WORK/p.json" | grep -q "names $old" || fail "path proof"
python3 - "$WORK/p.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["path"] = "ds/val/4.txt"  # another path of the snapshot, same nodes
json.dump(p, open(sys.argv[1] + ".bad", "w"))
PY
expect_error MST_PROOF_INVALID $AIFS verify-proof "$WORK/p.json.bad"
ok "path proofs verify offline; another path is refused"

expect_error INVALID_PATH $AIFS put "$WORK/new1" --path /abs
expect_error INVALID_PATH $AIFS path mv ds/val/two.txt "a/../b"
ok "bad paths are refused"
echo "PASS ($PASS)"
