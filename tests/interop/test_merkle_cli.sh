# The root the CLI signs for a namespace snapshot equals an independent
# Python computation of the Merkle search tree (merkle_check.py, reusing the
# construction of mst_vectors.py; BLAKE3 by b3sum), before and after changes,
# and the CLI's proofs pass the Python verifier.
#
# usage: test_merkle_cli.sh path/to/aifs
#
# Every `aifs put` opens the store for writing (~0.3 s), so the set is kept
# small but deep: besides plain files it holds contents found by search whose
# IDs end in boundary bytes (level 0, and levels 0 and 1), which forces a tree
# of height >= 2. MERKLE_FILES raises the number of plain files.
source "$(dirname "$0")/../cli/lib.sh"
CHECK="python3 $(dirname "$0")/merkle_check.py"
export AIFS_TRUST=$WORK/trust.json
n=${MERKLE_FILES:-8}

$AIFS init >/dev/null
mkdir "$WORK/files"
# "aifs merkle interop N\n": 68, 123, 223, 265 (and 19) hash to level-0 boundaries,
# 2986 and 9105 to keys that are boundaries on levels 0 and 1.
for i in $(seq 0 $((n - 1))) 68 123 223 265 2986 9105; do
  printf 'aifs merkle interop %d\n' "$i" > "$WORK/files/$i"
done
: > "$WORK/files/empty"
for f in "$WORK"/files/*; do
  id=$($AIFS put "$f")
  [ "$id" = "$(b3 "$f")" ] || fail "put $f printed $id, b3sum says $(b3 "$f")"
done
for i in 2986 9105; do
  b3 "$WORK/files/$i" | python3 -c '
import sys; k = bytes.fromhex(sys.stdin.read().strip())
assert k[31] & 0x3F == 0 and k[30] & 0x3F == 0, "not a level-0/1 boundary key"' || fail "boundary file $i"
done
count=$(ls "$WORK/files" | wc -l)

ids() { $AIFS --json ls | python3 -c 'import json,sys; print("\n".join(a["id"] for a in json.load(sys.stdin)))'; }
ids > "$WORK/ids1"
[ "$(wc -l < "$WORK/ids1")" = "$count" ] || fail "ls shows $(wc -l < "$WORK/ids1") of $count assets"
$AIFS --json snapshot create > "$WORK/snap1.json"
s1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/snap1.json")
python3 -c 'import json,sys; h = json.load(open(sys.argv[1]))["height"]; assert h >= 2, h' \
  "$WORK/snap1.json" || fail "the test set should give a tree of height >= 2"
# Proofs of the first, a middle and the last ID, and of the ground keys.
proofs=()
for id in $(sort "$WORK/ids1" | sed -n '1p;7p;$p') $(b3 "$WORK/files/2986") $(b3 "$WORK/files/9105"); do
  $AIFS proof "$id" --snapshot "$s1" -o "$WORK/proof-$id.json" 2>/dev/null
  proofs+=("$WORK/proof-$id.json")
done
$CHECK "$WORK/ids1" "$WORK/snap1.json" "${proofs[@]}" || fail "snapshot 1 differs from the python tree"
ok "namespace snapshot of $count assets = python MST root, proofs verified in python"

# Incremental: delete a boundary key and two others, add one; the next
# snapshot is updated from the first one's tree, the python one is cold.
$AIFS rm "$(b3 "$WORK/files/2986")" "$(b3 "$WORK/files/3")" "$(b3 "$WORK/files/empty")" >/dev/null
printf 'one more\n' > "$WORK/more"
$AIFS put "$WORK/more" >/dev/null
ids > "$WORK/ids2"
$AIFS --json snapshot create > "$WORK/snap2.json"
$CHECK "$WORK/ids2" "$WORK/snap2.json" || fail "snapshot 2 differs from the python tree"
ok "incremental snapshot after deletes and a put = python MST root"

echo "PASS $PASS"
