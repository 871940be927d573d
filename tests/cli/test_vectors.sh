# Vector search through the CLI (and, as cli_remote.test_vectors, through the
# gRPC server): results against numpy's exact search, as-of a branch after
# later puts and deletes (which the branch's snapshot keeps), the quarantine review, and Embed assets indexed with
# their source.
source "$(dirname "$0")/lib.sh"
py() { /usr/bin/python3 -c "$@"; }

$AIFS init >/dev/null
$AIFS space create s --dim 8 --metric l2 >/dev/null

# 60 assets with random vectors (numpy writes them), metadata i and half.
py '
import numpy as np, sys
rng = np.random.default_rng(7)
v = rng.normal(size=(90, 8)).astype(np.float32)
np.save(sys.argv[1] + "/all.npy", v)
for i in range(90):
    np.save("%s/v%d.npy" % (sys.argv[1], i), v[i])
' "$WORK"
ids=()
for i in $(seq 0 59); do
  ids+=("$(echo "asset $i" | $AIFS put - --embed "s=$WORK/v$i.npy" --meta i=$i --meta half=$((i % 2)))")
done
$AIFS snapshot create >/dev/null
snap=$($AIFS --json snapshot ls | py 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
$AIFS branch create before "$snap" >/dev/null
# Later: 30 more assets (60..89), and every tenth of the first 60 deleted.
for i in $(seq 60 89); do
  ids+=("$(echo "asset $i" | $AIFS put - --embed "s=$WORK/v$i.npy" --meta i=$i --meta half=$((i % 2)))")
done
for i in $(seq 0 10 59); do $AIFS rm "${ids[$i]}" >/dev/null; done

# check QUERY_ROW K "ARGS" ELIGIBLE_PY: the search's hits are exactly numpy's
# top K among the eligible rows, scores included.
check() {
  local q=$1 k=$2 args=$3 eligible=$4
  # shellcheck disable=SC2086
  $AIFS --json search --vector "$WORK/v$q.npy" -k "$k" $args | py '
import json, sys, numpy as np
q, k, eligible = int(sys.argv[1]), int(sys.argv[2]), eval(sys.argv[3])
ids = sys.argv[4].split()
v = np.load(sys.argv[5])
r = json.load(sys.stdin)
rows = [i for i in range(len(v)) if eligible(i)]
d = {i: float(((v[i] - v[q]) ** 2).sum()) for i in rows}
want = sorted(rows, key=lambda i: d[i])[:k]
got = [ids.index(h["id"]) for h in r["hits"]]
assert got == want, (got, want, r["plan"])
for h, i in zip(r["hits"], got):
    assert abs(h["score"] + d[i]) < 1e-3 * max(1, d[i]), (h["score"], d[i])
' "$q" "$k" "$eligible" "${ids[*]}" "$WORK/all.npy"
}
check 5 10 "" "lambda i: i % 10 != 0 or i >= 60"
check 70 5 "--where half=1" "lambda i: i % 2 == 1 and (i % 10 != 0 or i >= 60)"
ok "search and --where against numpy's exact top-k"
# As of the snapshot: its assets, the ones removed since included (the
# snapshot keeps them), none put later.
check 70 10 "--as-of before" "lambda i: i < 60"
check 3 7 "--as-of $snap --where half=1" "lambda i: i < 60 and i % 2 == 1"
check 10 3 "--as-of before" "lambda i: i < 60"
expect_error REF_NOT_FOUND $AIFS search --vector "$WORK/v1.npy" --as-of nosuchbranch
ok "search --as-of a branch and a snapshot ID: its removed assets too, no later puts"

# Quarantine: held vectors are stored, listed, and searchable only once approved.
$AIFS ns policy default --quarantine-embeddings true >/dev/null
py 'import numpy as np, sys; np.save(sys.argv[1], np.full(8, 9, np.float32))' "$WORK/far.npy"
held=$(echo held | $AIFS put - --embed "s=$WORK/far.npy")
gone=$(echo rejected | $AIFS put - --embed "s=$WORK/far.npy")
top() { $AIFS --json search --vector "$WORK/far.npy" -k 1 | py 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])'; }
[ "$(top)" != "$held" ] || fail "a quarantined vector was searchable"
[ "$($AIFS space pending | wc -l)" = 2 ] || fail "pending: $($AIFS space pending)"
$AIFS --json space ls | py 'import json,sys; s = json.load(sys.stdin)[0]; assert s["pending"] == 2, s'
[ "$($AIFS space reject "$gone")" = "rejected 1" ] || fail "reject"
expect_error NOT_PENDING $AIFS space approve "$gone"
[ "$($AIFS space approve --all)" = "approved 1" ] || fail "approve --all"
[ "$(top)" = "$held" ] || fail "an approved vector is not found"
[ -z "$($AIFS space pending)" ] || fail "still pending after review"
$AIFS ns policy default --quarantine-embeddings false >/dev/null
ok "quarantine: pending, reject, approve"

# Embed assets: one vector, model = a space: indexed, hits name the source.
$AIFS space create clip --dim 8 --metric cosine >/dev/null
src=$(echo "a picture" | $AIFS put -)
emb=$($AIFS put --kind embed --model clip --vector "$WORK/v3.npy" --source "$src")
$AIFS --json search --space clip --vector "$WORK/v3.npy" -k 3 | py '
import json, sys
r = json.load(sys.stdin)
assert [h["id"] for h in r["hits"]] == [sys.argv[1]], r
assert r["hits"][0]["source"] == sys.argv[2] and abs(r["hits"][0]["score"] - 1) < 1e-5, r
' "$emb" "$src"
py 'import numpy as np, sys; np.save(sys.argv[1], np.ones(4, np.float32))' "$WORK/v4d.npy"
expect_error DIMENSION_MISMATCH $AIFS put --kind embed --model clip --vector "$WORK/v4d.npy"
ok "Embed assets indexed in their model's space, hits carry the source"

# Embed assets put before their space: adopted when it is created.
early=$($AIFS put --kind embed --model late --vector "$WORK/v5.npy")
$AIFS --json space create late --dim 8 --metric l2 | py '
import json, sys
s = json.load(sys.stdin)
assert s["vectors"] == 1 and s["pending"] == 0, s
'
$AIFS --json search --space late --vector "$WORK/v5.npy" -k 3 | py '
import json, sys
r = json.load(sys.stdin)
assert [h["id"] for h in r["hits"]] == [sys.argv[1]], r
' "$early"
ok "a new space adopts the Embed assets already stored for its model"
echo "PASS ($PASS checks)"
