# aifs operator (docs/operators.md) end to end: an http-embed operator against
# a local OpenAI-compatible embeddings server (tests/tools/embed_server.py),
# passages of a long text found by a query embedded the same way and read
# back with `aifs cat --range`; lineage; idempotent re-runs; the embedder
# down, wrong, garbage and a poison input on the dead-letter list; exec
# operators (numpy, torch); tensor statistics queryable with `aifs query`;
# and (embedded mode) a server SIGKILLed mid-batch resuming without
# duplicates or gaps. As cli_remote.test_operators every command goes
# through a server, which runs the operators itself.
source "$(dirname "$0")/lib.sh"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || { echo "skipped: no python3-numpy"; exit 77; }
json() { $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
remote=${AIFS_REMOTE_REAL:+yes}

# The embeddings server (its vectors: embed_server.embed(text, 32)).
$PY "$TOOLS/embed_server.py" --dim 32 --log "$WORK/requests.log" > "$WORK/embed.out" &
EMBED_PID=$!
for i in $(seq 100); do grep -qs "^PORT " "$WORK/embed.out" && break; sleep 0.1; done
EMBED_URL=http://127.0.0.1:$(sed -n 's/^PORT //p' "$WORK/embed.out")
control() { curl -sf -X POST -H 'Content-Type: application/json' -d "$1" "$EMBED_URL/control" >/dev/null; }
# query TEXT FILE: the text's vector as the embedder makes it, as .npy
query() {
  $PY -c 'import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from embed_server import embed
np.save(sys.argv[3], np.asarray(embed(sys.argv[2], 32), dtype="float32"))' "$TOOLS" "$1" "$2"
}

$AIFS init -q
put_text() { printf '%s' "$2" > "$WORK/$1.txt"; $AIFS put "$WORK/$1.txt" --meta content_type=text/plain; }
a=$(put_text a "the quick brown fox jumps over the lazy dog")
b=$(put_text b "a journey of a thousand miles begins with a single step")
# A long text: paragraphs on different subjects, in passages of <= 200 bytes.
long=""
for topic in "volcanoes erupt molten basalt lava" "submarines dive under arctic pack ice" \
  "orchids bloom in humid tropical greenhouses" "glaciers carve deep alpine valleys slowly"; do
  long+="Paragraph about $topic. It goes on about $topic for a while, and then ends.\n\n"
done
printf "$long" > "$WORK/long.txt"
long_id=$($AIFS put "$WORK/long.txt" --meta content_type=text/plain)
blob=$(head -c 5000 /dev/urandom > "$WORK/r.bin" && $AIFS put "$WORK/r.bin")
before=$($AIFS ls | wc -l)

expect_error UNKNOWN_OPERATOR_KIND $AIFS operator add x --kind nope
expect_error BAD_OPERATOR_NAME $AIFS operator add 'Bad/Name' --kind sniff
expect_error BAD_OPERATOR_MATCH $AIFS operator add x --kind sniff --match 'kind=nokind'
expect_error BAD_OPERATOR_PARAM $AIFS operator add x --kind http-embed -p model=m
expect_error OPERATOR_NOT_FOUND $AIFS operator status nope
expect_error OPERATOR_NOT_FOUND $AIFS operator drain nope
ok "bad operator specs refused"

# Backfill: the four assets are there already; only the three texts match.
$AIFS operator add emb --kind http-embed --match 'kind=blob,content_type^=text/' --backfill \
  -p url="$EMBED_URL" -p model=hashbow -p chunk_bytes=200 -p batch=4 >/dev/null
expect_error OPERATOR_EXISTS $AIFS operator add emb --kind sniff
out=$($AIFS --json operator drain emb --timeout 60)
[ "$(echo "$out" | json 'd["processed"]')" = 3 ] || fail "processed: $out"
[ "$(echo "$out" | json 'd["failed"]')" = 0 ] || fail "failed: $out"
made=$(echo "$out" | json 'd["produced"]')
[ "$made" -ge 6 ] || fail "passages made: $out"
space=$($AIFS --json space ls | json '[(s["dim"], s["vectors"] + s["pending"]) for s in d if s["space"] == "hashbow"]')
[ "$space" = "[(32, $made)]" ] || fail "space: $space (made $made)"
# The requests the embedder saw: the model, floats, batches of at most 4 strings.
$PY - "$WORK/requests.log" <<'EOF' || fail "request shape"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert reqs and all(r["model"] == "hashbow" and r["encoding_format"] == "float" for r in reqs), reqs
assert all(isinstance(r["input"], list) and 1 <= len(r["input"]) <= 4 for r in reqs), reqs
assert not any("molten" in t and "arctic" in t for r in reqs for t in r["input"]), "passages not split"
EOF
ok "backfill embeds the matching texts, in passages, batched ($made Embed assets)"

# A query embedded the same way finds the passage about submarines.
query "submarines dive under arctic pack ice" "$WORK/q.npy"
hit=$($AIFS --json search --vector "$WORK/q.npy" --space hashbow -k 1)
[ "$(echo "$hit" | json 'd["hits"][0]["source"]')" = "$long_id" ] || fail "source: $hit"
range=$(echo "$hit" | json '"%d-%d" % (d["hits"][0]["source_range"]["offset"], d["hits"][0]["source_range"]["offset"] + d["hits"][0]["source_range"]["length"] - 1)')
passage=$($AIFS cat "$long_id" --range "$range")
[[ $passage == *"submarines dive under arctic pack ice"* ]] || fail "passage: $passage"
[[ $passage != *"volcanoes"* ]] || fail "passage spans paragraphs: $passage"
embed_id=$(echo "$hit" | json 'd["hits"][0]["id"]')
# (whole outputs first: `| grep -q` under pipefail fails when grep stops reading early)
lineage=$($AIFS --json lineage "$embed_id" --up)
[[ $lineage == *"operator:emb"* ]] || fail "lineage: $lineage"
st=$($AIFS --json stat "$embed_id")
[[ $st == *'"aifs.operator": "emb"'* ]] || fail "stat: $st"
# The same query as text, embedded by the operator itself.
hit2=$($AIFS --json search --text "submarines dive under arctic pack ice" --with emb -k 1)
[ "$(echo "$hit2" | json 'd["hits"][0]["id"]')" = "$embed_id" ] || fail "search --text: $hit2"
[ "$(echo "$hit2" | json 'd["space"]')" = hashbow ] || fail "space of --with: $hit2"
expect_error BAD_QUERY $AIFS search --text "x" --space hashbow
expect_error OPERATOR_NOT_FOUND $AIFS search --text "x" --with nope
ok "search finds the passage: source, byte range, lineage; --text through the operator"

# New puts are picked up from the log; operator output is never an input.
c=$(put_text c "submarines and volcanoes")
out=$($AIFS --json operator drain emb --timeout 60)
[ "$(echo "$out" | json 'd["processed"]')" = 4 ] || fail "after a put: $out"
[[ $($AIFS --json events) == *'"operator_completed"'* ]] || fail "no operator_completed event"
ok "puts after the add run; events"

# Idempotent: the same operator added again (a new generation) over the same
# assets makes the same Embed assets (same content IDs), not duplicates.
n_assets=$($AIFS ls | wc -l)
$AIFS operator rm emb >/dev/null
$AIFS operator add emb --kind http-embed --match 'kind=blob,content_type^=text/' --backfill \
  -p url="$EMBED_URL" -p model=hashbow -p chunk_bytes=200 -p batch=4 >/dev/null
$AIFS operator drain emb --timeout 60 >/dev/null
[ "$($AIFS ls | wc -l)" = "$n_assets" ] || fail "re-run made new assets: $($AIFS ls | wc -l) vs $n_assets"
ok "a re-run finds its results by content ID"

# Faults. The embedder down: the operator backs off; nothing is dead-lettered.
control '{"mode": "down"}'
d=$(put_text d "dog days of summer")
expect_error OPERATOR_BEHIND $AIFS operator drain emb --timeout 2
st=$($AIFS --json operator status emb)
[[ $(echo "$st" | json 'd["last_error"]') == EMBEDDER_* ]] || fail "status: $st"
[ "$(echo "$st" | json 'd["failed"]')" = 0 ] || fail "dead-lettered while down: $st"
for mode in wrong-dim garbage; do
  control "{\"mode\": \"$mode\"}"
  expect_error OPERATOR_BEHIND $AIFS operator drain emb --timeout 2
done
expect_error EMBEDDER_BAD_RESPONSE $AIFS operator drain emb --timeout 2
control '{"mode": "ok"}'
out=$($AIFS --json operator drain emb --timeout 60)
[ "$(echo "$out" | json 'd["failed"]')" = 0 ] || fail "after recovery: $out"
ok "embedder down, wrong dimension, garbage: backs off, then catches up"

# A poison input fails alone and goes to the dead-letter list.
control '{"mode": "ok", "poison": "hemlock"}'
e=$(put_text e "wild hemlock by the river")
f=$(put_text f "quiet river at dawn")
out=$($AIFS --json operator drain emb --timeout 60)
[ "$(echo "$out" | json 'd["failed"]')" = 1 ] || fail "poison: $out"
failures=$($AIFS --json operator failures emb)
[ "$(echo "$failures" | json 'd[0]["asset"]')" = "$e" ] || fail "failures: $failures"
[ "$(echo "$failures" | json 'd[0]["reason"]')" = EMBEDDER_REJECTED_INPUT ] || fail "$failures"
[ "$(echo "$failures" | json 'd[0]["attempts"]')" = 3 ] || fail "attempts: $failures"
[[ $($AIFS --json events) == *'"operator_failed"'* ]] || fail "no operator_failed event"
$AIFS operator retry emb --all >/dev/null
$AIFS operator drain emb --timeout 60 >/dev/null
[ "$($AIFS --json operator failures emb | json 'len(d)')" = 1 ] || fail "retry while poisoned"
control '{"mode": "ok"}'
$AIFS operator retry emb "$e" >/dev/null
out=$($AIFS --json operator drain emb --timeout 60)
[ "$(echo "$out" | json 'd["failed"]')" = 0 ] || fail "after retry: $out"
[ "$($AIFS --json operator failures emb | json 'len(d)')" = 0 ] || fail "list not empty"
expect_error OPERATOR_FAILURE_NOT_FOUND $AIFS operator skip emb "$e"
ok "a poison input is dead-lettered alone; retry runs it again"

# Paused: drain refuses, puts go on; resumed: it catches up.
$AIFS operator pause emb >/dev/null
g=$(put_text g "paused but stored")
expect_error OPERATOR_PAUSED $AIFS operator drain emb --timeout 1
$AIFS get "$g" -o /dev/null
$AIFS operator resume emb >/dev/null
$AIFS operator drain emb --timeout 60 >/dev/null
ok "pause and resume"

# Backpressure: with the embedder slow, puts through a server running the
# operator go on without waiting for it.
if [ -n "$remote" ]; then
  control '{"mode": "slow", "sleep": 2}'
  p0=$($AIFS --json operator status emb | json 'd["processed"]')
  for i in 1 2 3 4; do put_text slow$i "slow embedder text $i" >/dev/null; done
  p1=$($AIFS --json operator status emb | json 'd["processed"]')
  [ "$p1" = "$p0" ] || fail "puts waited for the slow embedder ($p0 -> $p1)"
  control '{"mode": "ok"}'
  [ "$($AIFS --json operator drain emb --timeout 60 | json 'd["processed"]')" = $((p0 + 4)) ] ||
    fail "after the slow embedder"
  ok "a slow embedder does not hold up puts"
fi

# exec with numpy: the same vectors as the server makes, in a space of its own.
$AIFS operator add np --kind exec --match 'content_type^=text/' --backfill \
  -p argv="[\"$PY\", \"$TOOLS/exec_embed_numpy.py\", \"--dim\", \"32\"]" -p output=npy \
  -p space=np32 >/dev/null
out=$($AIFS --json operator drain np --timeout 120)
[ "$(echo "$out" | json 'd["failed"]')" = 0 ] || fail "exec numpy: $out"
query "the quick brown fox jumps over the lazy dog" "$WORK/qa.npy"
hit=$($AIFS --json search --vector "$WORK/qa.npy" --space np32 -k 1)
[ "$(echo "$hit" | json 'd["hits"][0]["source"]')" = "$a" ] || fail "np32: $hit"
[ "$(echo "$hit" | json 'round(d["hits"][0]["score"], 4)')" = 1.0 ] || fail "np32 score: $hit"
ok "exec operator with numpy"

# The quarantine policy holds operator output like any other vector.
$AIFS ns create quar >/dev/null
$AIFS ns policy quar --quarantine-embeddings true >/dev/null
qt=$(printf 'held back for review' > "$WORK/q.txt" && $AIFS put "$WORK/q.txt" --ns quar --meta content_type=text/plain)
$AIFS operator add qe --ns quar --kind http-embed -p url="$EMBED_URL" -p model=qbow >/dev/null
# (added after the put and without --backfill: nothing to do yet)
[ "$($AIFS --json operator drain qe --ns quar | json 'd["processed"]')" = 0 ] || fail "no backfill"
q2=$(printf 'second text held back' > "$WORK/q2.txt" && $AIFS put "$WORK/q2.txt" --ns quar --meta content_type=text/plain)
$AIFS operator drain qe --ns quar >/dev/null
[ "$($AIFS --json space pending --ns quar | json 'len(d)')" = 1 ] || fail "not quarantined: $($AIFS space pending --ns quar)"
query "second text held back" "$WORK/qq.npy"
[ "$($AIFS --json search --ns quar --space qbow --vector "$WORK/qq.npy" | json 'len(d["hits"])')" = 0 ] ||
  fail "a quarantined vector was searchable"
$AIFS space approve --ns quar --all >/dev/null
[ "$($AIFS --json search --ns quar --space qbow --vector "$WORK/qq.npy" | json 'd["hits"][0]["source"]')" = "$q2" ] ||
  fail "approved vector not found"
[ -n "$qt" ] || fail "put"
ok "operator vectors are held by the quarantine policy"

if $PY -c 'import torch' 2>/dev/null; then
  # Only assets put from here on (no backfill): a torch process per input
  # takes seconds.
  $AIFS operator add tt --kind exec --match 'content_type^=text/' \
    -p argv="[\"$PY\", \"$TOOLS/exec_embed_torch.py\"]" -p output=npy -p space=torch \
    -p memory_mb=8192 -p timeout_ms=120000 >/dev/null
  t1=$(put_text t1 "a transformer reads these bytes")
  t2=$(put_text t2 "and these other ones, quite different")
  out=$($AIFS --json operator drain tt --timeout 600)
  [ "$(echo "$out" | json 'd["processed"]')" = 2 ] || fail "exec torch: $out $($AIFS operator failures tt)"
  # The model's own vector of t1, as the query: t1 is its nearest.
  $PY "$TOOLS/exec_embed_torch.py" < "$WORK/t1.txt" > "$WORK/qt.npy"
  hit=$($AIFS --json search --vector "$WORK/qt.npy" --space torch -k 1)
  [ "$(echo "$hit" | json 'd["hits"][0]["source"]')" = "$t1" ] || fail "torch: $hit"
  [ "$(echo "$hit" | json 'round(d["hits"][0]["score"], 4)')" = 1.0 ] || fail "torch score: $hit"
  [ -n "$t2" ] || fail "put"
  ok "exec operator with a torch model"
else
  echo "note: python3-torch missing, torch operator not tried"
fi

# Tensor statistics as metadata of a record asset, queryable.
$PY -c 'import numpy as np, sys; np.save(sys.argv[1], np.arange(12, dtype=np.float32).reshape(3, 4) / 4)' "$WORK/t.npy"
t=$($AIFS put "$WORK/t.npy" --meta content_type=application/x-npy)
$AIFS operator add ts --kind tensor-stats --match 'content_type=application/x-npy' >/dev/null
$AIFS operator add sn --kind sniff --match 'content_type=application/x-npy' >/dev/null
t2=$($PY -c 'import numpy as np, sys; np.save(sys.argv[1], np.array([1.0, 2.0, float("nan"), 4.0]))' "$WORK/t2.npy" &&
  $AIFS put "$WORK/t2.npy" --meta content_type=application/x-npy)
$AIFS operator drain ts --timeout 60 >/dev/null
$AIFS operator drain sn --timeout 60 >/dev/null
rec=$($AIFS --json ls --where aifs.operator=ts --where "aifs.source=$t2")
[ "$(echo "$rec" | json 'd[0]["metadata"]["tensor.nan_count"]')" = 1 ] || fail "stats: $rec"
[ "$(echo "$rec" | json 'float(d[0]["metadata"]["tensor.mean"])')" = "$($PY -c 'import numpy as np; print(float(np.nanmean([1.0,2.0,4.0])))')" ] ||
  fail "mean: $rec"
[ "$($AIFS --json query count --where aifs.operator=ts | json 'd["count"]')" = 1 ] || fail "query count"
mean=$($AIFS --json query mean tensor.max --where aifs.operator=ts | json 'd["mean"]')
[ "$mean" = 4.0 ] || fail "query mean tensor.max: $mean"
sniffed=$($AIFS --json ls --where aifs.operator=sn --where "aifs.source=$t2" | json 'd[0]["metadata"]["sniff.content_type"]')
[ "$sniffed" = application/x-npy ] || fail "sniffed: $sniffed"
[ "$($AIFS --json ls --where "aifs.source=$t" | json 'len(d)')" = 0 ] || fail "ran on an asset from before the add"
ok "tensor statistics and sniffing as queryable metadata"

# SIGKILL a server mid-batch (embedded mode: this test starts the server).
if [ -z "$remote" ]; then
  control '{"mode": "slow", "sleep": 0.3}'
  ids=()
  for i in $(seq 1 12); do ids+=("$(put_text k$i "killed batch number $i words")"); done
  $AIFS operator add kb --kind http-embed --match 'content_type^=text/' -p url="$EMBED_URL" \
    -p model=killbow -p batch=1 --backfill >/dev/null
  start_server s1
  sleep 1.5
  kill -KILL "$PID_s1"
  wait "$PID_s1" 2>/dev/null || true
  partial=$($AIFS --json operator status kb | json 'd["processed"]')
  control '{"mode": "ok"}'
  out=$($AIFS --json operator drain kb --timeout 120)
  $PY - "$($AIFS --json ls)" "$(echo "$out" | json 'd["processed"]')" <<'EOF' || fail "after the kill"
import json, sys, collections
assets = json.loads(sys.argv[1])
texts = [a for a in assets if a["metadata"].get("content_type", "").startswith("text/")]
per_source = collections.Counter(a["metadata"]["aifs.source"] for a in assets
                                 if a["metadata"].get("aifs.operator") == "kb")
assert int(sys.argv[2]) == len(texts), (sys.argv[2], len(texts))
assert all(per_source[t["id"]] == 1 for t in texts), per_source
assert len(per_source) == len(texts), (len(per_source), len(texts))
EOF
  ok "a server killed mid-batch ($partial done before the kill): resumed, no duplicates, no gaps"
fi

[ "$($AIFS ls | wc -l)" -gt "$before" ] || fail "nothing made"
kill "$EMBED_PID" 2>/dev/null || true
echo "PASS: $PASS"
