# Lineage, signed snapshots, branches, tags, proofs and key pinning through
# the CLI, end to end. Proofs are checked offline after the data directory is
# gone, with nothing but the proof file and the trust store.
source "$(dirname "$0")/lib.sh"
export AIFS_TRUST=$WORK/trust.json
zero=0000000000000000000000000000000000000000000000000000000000000000
py() { python3 -c "$@"; }

$AIFS init >/dev/null
for f in raw vocab tok train eval model leaf1 leaf2; do head -c $((20000 + RANDOM)) /dev/urandom > "$WORK/$f"; done

# ---------------------------------------------------------------- lineage
raw=$($AIFS put "$WORK/raw")
vocab=$($AIFS put "$WORK/vocab")
tok=$($AIFS put "$WORK/tok" --parent "$raw:tokenize:sha256:aa11" --parent "$vocab:lookup")
train=$($AIFS put "$WORK/train" --parent "$tok:split")
eval=$($AIFS put "$WORK/eval" --parent "$tok:split")
model=$($AIFS put "$WORK/model" --parent "$train:fit" --parent "$eval:score")
[ "$model" = "$(b3 "$WORK/model")" ] || fail "put printed the wrong ID"
expect_error PARENT_NOT_COMMITTED $AIFS put "$WORK/leaf1" --parent "$zero:x"
[ "$($AIFS ls | wc -l)" = 6 ] || fail "a refused put became visible"
$AIFS --json stat "$tok" | py '
import json, sys
a = json.load(sys.stdin)
p = [(x["id"], x["transform"], x["transform_digest"]) for x in a["parents"]]
assert p == [(sys.argv[1], "tokenize", "sha256:aa11"), (sys.argv[2], "lookup", "")], p' "$raw" "$vocab"
ok "puts with --parent, PARENT_NOT_COMMITTED"

# Text form: one line per edge, indented by depth.
out=$($AIFS lineage "$model" --up --depth 1)
[ "$(echo "$out" | wc -l)" = 2 ] || fail "depth 1 up: $out"
[[ $out == *"$train  fit"* && $out == *"$eval  score"* ]] || fail "depth 1 up: $out"
[ "$($AIFS lineage "$model" --up --depth 2 | wc -l)" = 4 ] || fail "depth 2 up"
# JSON: the diamond (model <- train, eval <- tok) has every asset once and
# edges in breadth-first order. One Python process runs every query.
py '
import json, subprocess, sys
aifs, model, raw = sys.argv[1:4]
for root, direction, depth, n_edges, n_assets in [
        (model, "--up", 10, 6, 6), (model, "--up", 2, 4, 4), (raw, "--down", 1, 1, 2),
        (raw, "--down", 2, 3, 4), (raw, "--down", 9, 5, 5), (model, "--down", 3, 0, 1)]:
    what = "%s %s --depth %d" % (root[:8], direction, depth)
    g = json.loads(subprocess.run([aifs, "--json", "lineage", root, direction, "--depth",
                                   str(depth)], check=True, capture_output=True).stdout)
    ids = [a["id"] for a in g["assets"]]
    assert g["root"] == root and ids[0] == root, what + ": root first"
    assert len(ids) == len(set(ids)), what + ": duplicate assets %r" % ids
    assert len(g["edges"]) == n_edges, what + ": %d edges" % len(g["edges"])
    assert len(ids) == n_assets, what + ": %d assets" % len(ids)
    depths = [e["depth"] for e in g["edges"]]
    assert depths == sorted(depths) and depths[:1] in ([], [1]), what + ": order %r" % depths
    assert all(b - a <= 1 for a, b in zip(depths, depths[1:])), what + ": %r" % depths
    for e in g["edges"]:
        assert e["parent"] in ids and e["child"] in ids, what + ": %r" % e
' "$AIFS" "$model" "$raw"
expect_error BAD_DEPTH $AIFS lineage "$model" --depth 0
expect_error ASSET_NOT_FOUND $AIFS lineage "$zero"
ok "lineage --up/--down --depth (text and JSON)"

# DOT: parsed by Graphviz when it is installed, checked structurally always.
check_dot() {  # check_dot FILE EDGES NODES [FILE EDGES NODES ...]
  local i
  if command -v dot >/dev/null; then
    for ((i = 1; i <= $#; i += 3)); do
      dot -Tsvg "${!i}" -o "${!i}.svg" || fail "dot rejected the lineage graph ${!i}"
      grep -q "<svg" "${!i}.svg" || fail "dot produced no SVG"
    done
  fi
  py '
import re, sys
args = sys.argv[1:]
for k in range(0, len(args), 3):
  text = open(args[k]).read()
  n_edges, n_nodes = int(args[k + 1]), int(args[k + 2])
  lines = text.strip().splitlines()
  assert lines[0] == "digraph lineage {" and lines[-1] == "}", "not a digraph block"
  assert text.count("{") == text.count("}") == 1, "unbalanced braces"
  assert text.count("\"") % 2 == 0, "unbalanced quotes"
  node_re = re.compile(r"^  \"([0-9a-f]{64})\" \[(.*)\];$")
  edge_re = re.compile(r"^  \"([0-9a-f]{64})\" -> \"([0-9a-f]{64})\" \[label=\"[^\"]*\"\];$")
  nodes, edges = [], []
  for l in lines[1:-1]:
      if l.startswith("  rankdir") or l.startswith("  node "):
          continue
      m = edge_re.match(l)
      if m:
          edges.append(m.groups()); continue
      m = node_re.match(l)
      assert m, "unparsable DOT line: %r" % l
      nodes.append(m.group(1))
  assert len(nodes) == len(set(nodes)) == n_nodes, (nodes, n_nodes)
  assert len(edges) == n_edges, (len(edges), n_edges)
  for a, b in edges:
      assert a in nodes and b in nodes, "edge to an undeclared node"
' "$@"
}
$AIFS lineage "$model" --up --depth 10 --dot > "$WORK/up.dot"
$AIFS lineage "$raw" --down --depth 2 --dot > "$WORK/down.dot"
check_dot "$WORK/up.dot" 6 6 "$WORK/down.dot" 3 4
grep -q "\"$model\" \[.*penwidth=2" "$WORK/up.dot" || fail "root not highlighted"
grep -q "\"$tok\" -> \"$train\" \[label=\"split\"\]" "$WORK/up.dot" || fail "edge tok -> train missing"
ok "lineage --dot ($(command -v dot >/dev/null && echo 'checked by graphviz' || echo 'graphviz not installed: structural check'))"

# Deletes: a parent with live children stays unless forced; a forced delete
# keeps a tombstone that lineage still shows (dashed in DOT).
expect_error HAS_CHILDREN $AIFS rm "$tok"
$AIFS rm --force "$tok" >/dev/null
expect_error ASSET_NOT_FOUND $AIFS stat "$tok"
$AIFS --json lineage "$model" --up --depth 10 | py '
import json, sys
g = json.load(sys.stdin)
dead = [a["id"] for a in g["assets"] if a.get("deleted")]
assert dead == [sys.argv[1]], dead
assert len(g["edges"]) == 6' "$tok"
$AIFS lineage "$model" --up --depth 10 --dot > "$WORK/tomb.dot"
check_dot "$WORK/tomb.dot" 6 6
grep -q "\"$tok\" \[.*style=dashed" "$WORK/tomb.dot" || fail "tombstone not dashed"
# raw and vocab lost their only live child: they delete without force now.
$AIFS rm "$vocab" >/dev/null
ok "HAS_CHILDREN, rm --force keeps a tombstone"

# -------------------------------------------------------------- snapshots
[ ! -e "$AIFS_TRUST" ] || fail "trust store exists before any snapshot was seen"
s1=$($AIFS -q snapshot create)
[[ $s1 =~ ^[0-9a-f]{32}$ ]] || fail "snapshot create -q printed '$s1'"
show=$($AIFS snapshot show "$s1" 2>"$WORK/err")
grep -q "pinned the signing key" "$WORK/err" || fail "first use did not pin: $(cat "$WORK/err")"
key=$($AIFS key export)
[[ $key =~ ^[0-9a-f]{64}$ ]] || fail "key export: $key"
grep -q "$key" "$AIFS_TRUST" || fail "trust store does not pin $key"
[[ $show == *"aifs-snap://default/$s1"* && $show == *"signed by: $key"* ]] || fail "show: $show"
[[ $show == *"assets:    4"* ]] || fail "snapshot of 4 live assets: $show"
$AIFS snapshot verify "$s1" | grep -q "^verified" || fail "verify"
$AIFS snapshot verify "aifs-snap://default/$s1" >/dev/null
$AIFS --json snapshot show "$s1" > "$WORK/s1.json"
# The signature verifies independently when Python has an Ed25519 library;
# the ID derivation is checked with b3sum either way.
py '
import json, subprocess, sys
s = json.load(open(sys.argv[1]))
assert s["version"] == 2, "new snapshots are version 2"
pre = (bytes.fromhex(s["root"]) + s["created_unix_ns"].to_bytes(8, "little", signed=True) +
       bytes.fromhex(s["path_root"]))
h = subprocess.run(["b3sum", "--no-names"], input=pre, capture_output=True, check=True).stdout.decode().split()[0]
assert h[:32] == s["id"], "snapshot id is not BLAKE3(root || created || path_root)[0:16]"
def text(t):
    b = t.encode()
    return len(b).to_bytes(4, "little") + b
msg = (b"aifs/snapshot/v2\0" + s["namespace"].encode() + b"\0" + bytes.fromhex(s["id"]) +
       bytes.fromhex(s["root"]) + bytes([s["height"]]) + s["count"].to_bytes(8, "little") +
       s["created_unix_ns"].to_bytes(8, "little", signed=True) + bytes([1 if s["explicit_set"] else 0]) +
       bytes.fromhex(s["path_root"]) + bytes([s["path_height"]]) + s["path_count"].to_bytes(8, "little") +
       len(s["parents"]).to_bytes(4, "little") + b"".join(bytes.fromhex(p) for p in s["parents"]) +
       text(s["message"]) + text(s["author"]))
try:
    from nacl.signing import VerifyKey
except ImportError:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        print("note: no Python Ed25519 library, signature checked by aifs only"); sys.exit(0)
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(s["public_key"])).verify(bytes.fromhex(s["signature"]), msg)
    sys.exit(0)
VerifyKey(bytes.fromhex(s["public_key"])).verify(msg, bytes.fromhex(s["signature"]))
' "$WORK/s1.json"
ok "snapshot create/show/verify, TOFU pin, ID and signature"

ids_before=$($AIFS ls | cut -f1 | sort | tr '\n' ' ')
l1=$($AIFS put "$WORK/leaf1")
l2=$($AIFS put "$WORK/leaf2" --parent "$model:eval")
$AIFS rm "$raw" >/dev/null
s2=$($AIFS -q snapshot create)
ids_after=$($AIFS ls | cut -f1 | sort | tr '\n' ' ')
[ "$($AIFS snapshot ls | wc -l)" = 2 ] || fail "snapshot ls"
py '
import json, subprocess, sys
aifs, s1, s2 = sys.argv[1:4]
run = lambda *a: json.loads(subprocess.run([aifs, "--json"] + list(a), check=True, capture_output=True).stdout)
l = run("snapshot", "ls")
assert [s["id"] for s in l] == [s1, s2] and [s["count"] for s in l] == [4, 5], l
d = run("diff", s1, s2)
a, b = set(sys.argv[4].split()), set(sys.argv[5].split())
assert set(d["added"]) == b - a and set(d["removed"]) == a - b, d
assert len(d["added"]) == 2 and len(d["removed"]) == 1, d' "$AIFS" "$s1" "$s2" "$ids_before" "$ids_after"
diff_text=$($AIFS diff "$s1" "$s2")
[[ $diff_text == *"- $raw"* && $diff_text == *"+ $l1"* && $diff_text == *"+ $l2"* ]] || fail "diff: $diff_text"
[ -z "$($AIFS diff "$s2" "$s2")" ] || fail "diff of a snapshot with itself"
printf '%s\n%s\n' "$l1" "aifs://default/$model" > "$WORK/ids"
s3=$($AIFS -q snapshot create --ids "$WORK/ids")
$AIFS snapshot show "$s3" | grep -q "assets:    2 (explicit set)" || fail "explicit set"
$AIFS snapshot verify "$s3" >/dev/null
echo "$zero" > "$WORK/bad-ids"
expect_error ASSET_NOT_FOUND $AIFS snapshot create --ids "$WORK/bad-ids"
expect_error SNAPSHOT_NOT_FOUND $AIFS snapshot show ffffffffffffffffffffffffffffffff
expect_error REF_NOT_FOUND $AIFS snapshot show no-such-ref
ok "snapshot ls, diff, explicit sets"

# --------------------------------------------------------------- branches
$AIFS branch create main "$s1" >/dev/null
$AIFS snapshot show main | grep -q "aifs-snap://default/$s1$" || fail "branch create"
expect_error BRANCH_EXISTS $AIFS branch create main "$s2"
expect_error BRANCH_MOVED $AIFS branch move main "$s3" --expect "$s2"
$AIFS branch move main "$s2" --expect "$s1" | grep -q "$s1 -> $s2" || fail "branch move"
$AIFS branch move main "$s3" >/dev/null  # from wherever it is now
$AIFS branch ls | grep -q "^main	$s3	" || fail "branch ls: $($AIFS branch ls)"
$AIFS snapshot verify main >/dev/null
$AIFS branch rm main >/dev/null
expect_error REF_NOT_FOUND $AIFS snapshot show main
expect_error BRANCH_NOT_FOUND $AIFS branch move main "$s1" --expect "$s3"
$AIFS --json branch log main | py '
import json, sys
log = json.load(sys.stdin)
s1, s2, s3 = sys.argv[1:4]
assert [(e["old"], e["new"]) for e in log] == [("-", s1), (s1, s2), (s2, s3), (s3, "-")], log
assert all(e["who"] and e["time"] for e in log), log
assert [e["time"] for e in log] == sorted(e["time"] for e in log), log' "$s1" "$s2" "$s3"
[ "$($AIFS branch log main | wc -l)" = 4 ] || fail "branch log text"
expect_error INVALID_REF_NAME $AIFS branch create "bad/name" "$s1"
ok "branch create/move (compare-and-swap)/ls/rm/log"

# ------------------------------------------------------------------- tags
$AIFS tag create v1 "$s1" >/dev/null
expect_error TAG_EXISTS $AIFS tag create v1 "$s2"
$AIFS tag ls | grep -q "^v1	$s1	" || fail "tag ls"
$AIFS snapshot verify v1 >/dev/null
[ "$($AIFS diff v1 "$s2" | cut -c1 | sort | tr -d '\n')" = "++-" ] || fail "diff through a tag"
$AIFS branch create from-tag v1 >/dev/null
$AIFS tag rm v1 | grep -q "audit" || fail "tag rm"
expect_error REF_NOT_FOUND $AIFS snapshot show v1
[ -z "$($AIFS tag ls)" ] || fail "tag ls after rm"
$AIFS snapshot show from-tag | grep -q "$s1" || fail "the branch made from the tag moved"
ok "tag create/ls/rm"

# ------------------------------------------------------------ key pinning
$AIFS --json key export | grep -q "\"public_key\": \"$key\"" || fail "key export --json"
$AIFS ns create other >/dev/null
other_key=$($AIFS key export --ns other)
[ "$other_key" != "$key" ] || fail "two namespaces share a key"
expect_error BAD_PUBLIC_KEY $AIFS key pin "${key:1}"
$AIFS key pin "$other_key" >/dev/null  # the wrong key for "default"
expect_error KEY_PIN_MISMATCH $AIFS snapshot verify "$s1"
expect_error KEY_PIN_MISMATCH $AIFS snapshot show "$s2"
expect_error KEY_PIN_MISMATCH $AIFS snapshot verify from-tag
$AIFS key pin "$key" >/dev/null
$AIFS snapshot verify "$s1" >/dev/null
ok "key export, key pin of a wrong key -> KEY_PIN_MISMATCH"

# ----------------------------------------------------------------- proofs
$AIFS proof "$l2" --snapshot "$s2" -o "$WORK/proof.json" 2>/dev/null
$AIFS proof "$train" --snapshot from-tag > "$WORK/proof-train.json"
$AIFS proof "$l1" --snapshot "$s3" > "$WORK/proof-explicit.json"
$AIFS verify-proof "$WORK/proof.json" | grep -q "^valid: $l2 is in aifs-snap://default/$s2" || fail "verify-proof"
expect_error ASSET_NOT_IN_SNAPSHOT $AIFS proof "$l1" --snapshot "$s1"
# Offline: nothing left but the proof files and the trust store. (Remotely
# the server's health probe may be writing an object in there right now.)
rm -rf "$AIFS_DATA" 2>/dev/null || { sleep 0.2; rm -rf "$AIFS_DATA"; }
expect_error STORE_NOT_INITIALIZED $AIFS snapshot ls
$AIFS verify-proof "$WORK/proof.json" >/dev/null
$AIFS verify-proof "$WORK/proof-train.json" >/dev/null
$AIFS verify-proof "$WORK/proof-explicit.json" >/dev/null || fail "proof in an explicit-set snapshot"
$AIFS --json verify-proof "$WORK/proof.json" | tr -d ' \n' | grep -q "\"asset\":\"$l2\".*\"valid\":true" || fail "verify-proof --json"
$AIFS verify-proof "$WORK/proof.json" --key "$key" >/dev/null
expect_error KEY_MISMATCH $AIFS verify-proof "$WORK/proof.json" --key "$other_key"
AIFS_TRUST=$WORK/empty-trust.json expect_error KEY_NOT_PINNED $AIFS verify-proof "$WORK/proof.json"
# Tampered copies: one hex digit (or the count) changed in one field each.
py '
import json, sys
src, work = sys.argv[1:3]
def flip(h, i):
    return h[:i] + ("0" if h[i] != "0" else "1") + h[i + 1:]
for field in ["leaf", "root-node", "signature", "asset", "root", "count"]:
    p = json.load(open(src))
    if field == "leaf":
        h = p["nodes"][-1]; p["nodes"][-1] = flip(h, len(h) // 2)
    elif field == "root-node":
        h = p["nodes"][0]; p["nodes"][0] = flip(h, len(h) - 3)
    elif field == "signature":
        p["snapshot"]["signature"] = flip(p["snapshot"]["signature"], 17)
    elif field == "asset":
        p["asset"] = flip(p["asset"], 40)
    elif field == "root":
        p["snapshot"]["root"] = flip(p["snapshot"]["root"], 5)
    elif field == "count":
        p["snapshot"]["count"] += 1
    json.dump(p, open("%s/bad-%s.json" % (work, field), "w"), indent=2)
' "$WORK/proof.json" "$WORK"
check_tamper() {  # check_tamper FIELD REASON
  local out
  if out=$($AIFS verify-proof "$WORK/bad-$1.json" 2>&1); then fail "tampered $1 accepted: $out"; fi
  [[ $out == *"$2"* ]] || fail "tampered $1: expected $2, got: $out"
  [[ $out == *"aifs: error: "* ]] || fail "tampered $1: no clear error line: $out"
  echo "  tampered $1 -> ${out#aifs: error: }"
}
check_tamper leaf MST_PROOF_INVALID
check_tamper root-node MST_PROOF_INVALID
check_tamper signature SIGNATURE_INVALID
check_tamper asset MST_PROOF_INVALID
check_tamper root SNAPSHOT_ID_MISMATCH
check_tamper count SIGNATURE_INVALID
echo '{"format": "aifs-proof/1"' > "$WORK/bad.json"
expect_error BAD_PROOF_FILE $AIFS verify-proof "$WORK/bad.json"
ok "proof + verify-proof offline; tampered proofs fail with a reason"

# ------------------------------------------ pins per store and namespace
# Two stores, each with its own "default" namespace and key: each is pinned on
# its own (the second is not KEY_PIN_MISMATCH), and both proofs verify offline.
export AIFS_TRUST=$WORK/trust2.json
declare -A sid skey snap
for s in a b; do
  export AIFS_DATA=$WORK/store-$s
  $AIFS init >/dev/null
  echo "asset of store $s" > "$WORK/in-$s"
  id=$($AIFS put "$WORK/in-$s")
  snap[$s]=$($AIFS -q snapshot create)
  $AIFS snapshot verify "${snap[$s]}" >/dev/null 2>&1 || fail "store $s: snapshot verify"
  $AIFS proof "$id" --snapshot "${snap[$s]}" -o "$WORK/proof-$s.json" 2>/dev/null
  sid[$s]=$($AIFS --json info | py 'import json,sys; print(json.load(sys.stdin)["store_id"])')
  skey[$s]=$($AIFS key export)
  [[ ${sid[$s]} =~ ^[0-9a-f]{32}$ ]] || fail "store $s: store id '${sid[$s]}'"
done
[ "${sid[a]}" != "${sid[b]}" ] && [ "${skey[a]}" != "${skey[b]}" ] || fail "two stores, one identity"
py '
import json, sys
t = json.load(open(sys.argv[1]))
assert t["stores"] == {sys.argv[2]: {"default": sys.argv[3]}, sys.argv[4]: {"default": sys.argv[5]}}, t
' "$AIFS_TRUST" "${sid[a]}" "${skey[a]}" "${sid[b]}" "${skey[b]}"
for s in a b; do
  grep -q "\"store\": \"${sid[$s]}\"" "$WORK/proof-$s.json" || fail "proof of store $s names no store"
  $AIFS verify-proof "$WORK/proof-$s.json" >/dev/null || fail "proof of store $s"
done
# A wrong key pinned for one store refuses that store only.
$AIFS key pin --store "${sid[a]}" "${skey[b]}" >/dev/null
AIFS_DATA=$WORK/store-a expect_error KEY_PIN_MISMATCH $AIFS snapshot verify "${snap[a]}"
expect_error KEY_MISMATCH $AIFS verify-proof "$WORK/proof-a.json"
AIFS_DATA=$WORK/store-b $AIFS snapshot verify "${snap[b]}" >/dev/null || fail "store b refused"
$AIFS key pin --store "${sid[a]}" "${skey[a]}" >/dev/null
AIFS_DATA=$WORK/store-a $AIFS snapshot verify "${snap[a]}" >/dev/null || fail "store a after re-pin"
ok "pins per store: two stores' 'default' namespaces, proofs name their store"

# An old trust store (name-only pins) still guards: store a's key pinned for
# "default" by name refuses store b's key (with a hint), until store a shows
# its key and claims the pin; then store b is pinned on first use.
echo "{\"namespaces\": {\"default\": \"${skey[a]}\"}}" > "$AIFS_TRUST"
out=$(AIFS_DATA=$WORK/store-b $AIFS snapshot verify "${snap[b]}" 2>&1 >/dev/null || true)
[[ $out == *KEY_PIN_MISMATCH*"--store ${sid[b]}"* ]] || fail "name-only pin accepted another key: $out"
AIFS_DATA=$WORK/store-a $AIFS snapshot verify "${snap[a]}" >/dev/null 2>&1 || fail "old pin, its store"
AIFS_DATA=$WORK/store-b $AIFS snapshot verify "${snap[b]}" >/dev/null 2>&1 || fail "after the claim"
py '
import json, sys
t = json.load(open(sys.argv[1]))
assert t["namespaces"] == {} and t["stores"][sys.argv[2]] == {"default": sys.argv[3]}, t
' "$AIFS_TRUST" "${sid[a]}" "${skey[a]}"
# Proofs from before store IDs (no "store") verify against the pins of their
# namespace name, whichever store holds them.
for s in a b; do
  py 'import json,sys; p=json.load(open(sys.argv[1])); del p["store"]; json.dump(p, open(sys.argv[2], "w"))' \
    "$WORK/proof-$s.json" "$WORK/old-proof-$s.json"
  $AIFS verify-proof "$WORK/old-proof-$s.json" >/dev/null || fail "old proof of store $s"
done
AIFS_TRUST=$WORK/only-b.json $AIFS key pin --store "${sid[b]}" "${skey[b]}" >/dev/null
AIFS_TRUST=$WORK/only-b.json expect_error KEY_MISMATCH $AIFS verify-proof "$WORK/old-proof-a.json"
ok "old name-only pins are claimed, never silently widened; old proofs verify"

echo "PASS $PASS"
