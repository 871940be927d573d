#!/usr/bin/env bash
# The main job: a fresh store in a data directory; store real data,
# deduplicate it, find it by metadata and by vector, read ranges, record lineage, take
# signed snapshots with a branch, a tag and an offline proof, rotate keys, verify;
# then serve it over gRPC and do the same remotely, where an ingest operator
# embeds text as it arrives; back it up online and
# restore the backup into a new store that verifies.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
AIFS=$PWD/build/apps/aifs/aifs
export AIFS_DATA=${AIFS_DATA:-$(mktemp -d /tmp/aifs-demo.XXXXXX)/data}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "aifs init  (data directory: $AIFS_DATA)"
$AIFS init
$AIFS info

step "store a dataset: 64 MiB of float32 'weights', a text corpus and this repository's sources"
work=$(mktemp -d /tmp/aifs-demo-files.XXXXXX)
python3 - "$work" <<'PY'
import math, random, struct, sys
d = sys.argv[1]; random.seed(7)
with open(f"{d}/weights.f32", "wb") as f:
    f.write(struct.pack("<%df" % (16 << 20), *(math.sin(i / 977) + random.gauss(0, 0.01) for i in range(16 << 20))))
words = "model data train loss epoch tensor gradient batch layer token vision text audio".split()
with open(f"{d}/corpus.txt", "w") as f:
    for i in range(300000):
        f.write(" ".join(random.choice(words) for _ in range(12)) + f" {i}\n")
PY
W=$($AIFS put "$work/weights.f32" --meta role=weights --meta model=demo-net)
C=$($AIFS put "$work/corpus.txt" --meta role=corpus --meta split=train)
echo "weights: aifs://default/$W"
echo "corpus:  aifs://default/$C"
echo "b3sum agrees: $(b3sum --no-names "$work/weights.f32")"
$AIFS ns create sources --label owner=demo
for f in src/aifs/*/*.cpp; do $AIFS put "$f" --ns sources --meta "path=$f" >/dev/null; done
$AIFS ns ls

step "edit the corpus in the middle and store it again: only the changed chunk is new"
python3 - "$work/corpus.txt" <<'PY'
import sys
p = sys.argv[1]; b = open(p, "rb").read(); m = len(b) // 2
open(p + ".v2", "wb").write(b[:m] + b"an inserted line of brand new text\n" + b[m:])
PY
$AIFS --json put "$work/corpus.txt.v2" --meta role=corpus --meta split=train --meta version=2 |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("v2 %s: %d of %d chunks new, %d bytes stored" % (d["id"][:16], d["chunks_new"], d["chunks"], d["bytes_stored"]))'
$AIFS ns show default

step "find assets by metadata"
$AIFS ls --where role=corpus
$AIFS ls --ns sources --where 'path^=src/aifs/storage' | head -n 3

step "vector search: a bag-of-words vector for every header, the nearest ones to a question"
# A toy embedding (hashed word counts) computed by numpy; real ones come from a model.
$AIFS space create bow --dim 256 --metric cosine --ns sources
/usr/bin/python3 - "$work" src/aifs/*/*.h <<'PY'
import math, numpy as np, re, sys, zlib
words = lambda text: re.findall(r"[a-z]{3,}", text.lower())
docs = [words(open(p).read()) for p in sys.argv[2:]]
df = {}
for d in docs:
    for w in set(d): df[w] = df.get(w, 0) + 1
def embed(ws):  # tf-idf of hashed words: rare words weigh more
    v = np.zeros(256, np.float32)
    for w in ws:
        v[zlib.crc32(w.encode()) % 256] += math.log((1 + len(docs)) / (1 + df.get(w, 0)))
    return v / max(float(np.linalg.norm(v)), 1e-9)
for i, d in enumerate(docs):
    np.save("%s/h%d.npy" % (sys.argv[1], i), embed(d))
np.save(sys.argv[1] + "/q.npy", embed(words("signed merkle snapshot of a namespace, branch and tag")))
PY
i=0
for h in src/aifs/*/*.h; do
  $AIFS put "$h" --ns sources --meta "path=$h" --embed "bow=$work/h$i.npy" >/dev/null
  i=$((i + 1))
done
$AIFS --json search --ns sources --vector "$work/q.npy" -k 3 | python3 -c '
import json, subprocess, sys
r = json.load(sys.stdin)
for h in r["hits"]:
    a = json.loads(subprocess.run([sys.argv[1], "--json", "stat", "--ns", "sources", h["id"]],
                                  check=True, capture_output=True).stdout)
    print("%.3f  %s" % (h["score"], a["metadata"]["path"]))
print("plan:", r["plan"])' "$AIFS"

step "read a byte range (bytes 0-199 of the corpus)"
$AIFS cat "$C" --range 0-199

step "lineage: a tokenized corpus derived from the corpus, then a model trained on both"
echo "tokens for $C" > "$work/tokens.bin"
T=$($AIFS put "$work/tokens.bin" --parent "$C:tokenize:sha256:0f1e2d")
{ cat "$work/weights.f32"; echo "fine-tuned"; } > "$work/model.bin"
M=$($AIFS put "$work/model.bin" --parent "$T:train" --parent "$W:init")
$AIFS lineage "$M" --up --depth 3

step "signed snapshots, a branch and a tag; an inclusion proof checked offline"
export AIFS_TRUST=${AIFS_TRUST:-$(dirname "$AIFS_DATA")/trust.json}
S1=$($AIFS -q snapshot create)
$AIFS snapshot show "$S1"
$AIFS branch create main "$S1"
$AIFS tag create v1 "$S1"
echo "a later file" | $AIFS put - >/dev/null
S2=$($AIFS -q snapshot create)
$AIFS branch move main "$S2" --expect "$S1"
$AIFS diff v1 main
$AIFS proof "$M" --snapshot main -o "$work/proof.json"
$AIFS verify-proof "$work/proof.json"
$AIFS snapshot verify main

step "paths, history and time travel (docs/paths.md)"
mkdir -p "$work/ds/train"
for i in 1 2 3; do echo "sample $i" > "$work/ds/train/$i.txt"; done
$AIFS put -r "$work/ds" --prefix ds/
P1=$($AIFS -q snapshot create --branch data -m "import 3 samples")
echo "sample 1, relabeled" | $AIFS put - --path ds/train/1.txt > /dev/null
$AIFS -q snapshot create --branch data -m "relabel sample 1" > /dev/null
$AIFS ls ds/train/
$AIFS diff "$P1" data
echo "ds/train/1.txt now: $($AIFS cat ds/train/1.txt); as of the import: $($AIFS cat ds/train/1.txt --as-of "$P1")"
$AIFS log data -n 2

step "rotate the encryption key; old and new data stay readable"
$AIFS key rotate
echo "new data after rotation" | $AIFS put - --meta note=after-rotation
$AIFS stat "$C" --chunks | tail -n 2

step "verify every asset, chunk by chunk"
$AIFS verify --all-namespaces -q && echo "all assets verified"

step "serve the store over gRPC and HTTP; the same CLI works remotely (--server)"
$AIFS serve --listen 127.0.0.1:0 --http 127.0.0.1:0 > "$work/serve.log" &
server_pid=$!
for _ in $(seq 50); do grep -q "serving HTTP" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
export AIFS_SERVER=$(sed -n 's/^aifs: serving on //p' "$work/serve.log")
http=$(sed -n 's/^aifs: serving HTTP on //p' "$work/serve.log")
echo "gRPC on $AIFS_SERVER, HTTP on $http"
# Every call needs a capability token: init left the admin token in the data
# directory; a narrower one is minted (or attenuated offline) from there.
export AIFS_TOKEN=@$AIFS_DATA/admin.token
RO=$(AIFS_SERVER= $AIFS token mint --ns default --ops get,list --expires 10m)
$AIFS token inspect "$RO"
$AIFS --token "$RO" ls > /dev/null && echo "read-only token: ls allowed"
if $AIFS --token "$RO" put "$work/model.bin" 2> "$work/denied"; then
  echo "read-only token could put" >&2; exit 1
fi
grep -o 'PERMISSION_DENIED OPERATION_NOT_ALLOWED' "$work/denied"
$AIFS health
R=$(head -c 3000000 /dev/urandom | tee "$work/remote.bin" | $AIFS put - --meta via=grpc)
[ "$R" = "$(b3sum --no-names "$work/remote.bin")" ] && echo "remote put: ID matches b3sum"
$AIFS get "$R" -o - | cmp - "$work/remote.bin" && echo "remote get: bytes match"
$AIFS ls --where via=grpc
$AIFS -q snapshot create >/dev/null
$AIFS format                                # idempotent: root namespace, root snapshot
$AIFS events --type asset_committed --type snapshot_created | tail -n 3
$AIFS backup "$work/backup"                 # online, consistent: metadata, config, keys

step "ingest operators (docs/operators.md): the server embeds text as it arrives"
# An OpenAI-compatible embeddings endpoint (Ollama, vLLM, llama.cpp and TEI
# serve one); here the tests' deterministic stand-in, hashed bag of words.
/usr/bin/python3 tests/tools/embed_server.py --dim 256 > "$work/embed.out" &
embed_pid=$!
for _ in $(seq 50); do grep -q '^PORT' "$work/embed.out" && break; sleep 0.1; done
$AIFS operator add notes --kind http-embed --match 'content_type^=text/' -p model=demo-bow \
  -p url="http://127.0.0.1:$(sed -n 's/^PORT //p' "$work/embed.out")" -p chunk_bytes=60
printf 'Volcanoes erupt molten basalt near the coast.\n\nGlaciers carve deep valleys over centuries.\n\nOrchids bloom in warm, humid greenhouses.\n' > "$work/notes.txt"
NOTES=$($AIFS put "$work/notes.txt" --meta content_type=text/plain)
$AIFS operator drain notes
hit=$($AIFS search --text "what carves deep valleys? glaciers" --with notes -k 1)  # the query embedded by the operator
echo "$hit"
range=$(echo "$hit" | sed -n 's/.*bytes \([0-9]*-[0-9]*\).*/\1/p')
echo "the passage (aifs cat $NOTES --range $range): $($AIFS cat "$NOTES" --range "$range")"
kill $embed_pid

step "a pre-signed URL: plain HTTP for curl, browsers and data loaders (docs/http.md)"
url=$($AIFS url "$R" --expires 15m)
echo "$url"
curl -s "$url" | cmp - "$work/remote.bin" && echo "curl: the whole asset, bytes match"
curl -s -r 1000-1999 "$url" | cmp - <(tail -c +1001 "$work/remote.bin" | head -c 1000) &&
  echo "curl -r 1000-1999: 206, bytes match"
echo "tampered URL: $(curl -s "${url/sig=/sig=0}")"
curl -s -H "Authorization: Bearer $(cat "$AIFS_DATA/admin.token")" "http://$http/metrics" |
  grep -m 2 '^aifs_http_requests_total'

step "mount the namespace read-only (FUSE, docs/fuse.md): head, branches, tags, snapshots"
if command -v fusermount3 > /dev/null && python3 -c 'import os; os.close(os.open("/dev/fuse", os.O_RDWR))' 2> /dev/null; then
  mkdir -p "$work/mnt"
  $AIFS mount "$work/mnt" --daemon
  ls "$work/mnt" "$work/mnt/tags"
  find "$work/mnt/head" -maxdepth 2 | head -n 5
  cmp "$work/mnt/by-id/$R" "$work/remote.bin" && echo "by-id/$R: bytes match"
  getfattr -n user.aifs.kind "$work/mnt/by-id/$R" 2> /dev/null | grep kind || true
  $AIFS umount "$work/mnt"
else
  echo "(no /dev/fuse here: the mount is skipped)"
fi
step "the Python SDK (docs/python.md): pip install ./python, then numpy in and out, proofs, a dataset"
/usr/bin/python3 -m pip install -q --no-deps --no-build-isolation --target "$work/py" ./python 2>&1 |
  grep -v "^WARNING" || true
PYTHONPATH="$work/py" /usr/bin/python3 - <<'PY'
import aifs, numpy as np
from aifs.torch import AssetDataset
c = aifs.connect()                                   # AIFS_SERVER, AIFS_TOKEN
w = np.random.default_rng(7).standard_normal((256, 64)).astype(np.float32)
r = c.put("default", w, path="py/weights.t", metadata={"via": "python"})
assert np.array_equal(c.get_tensor("default", r.id), w)
print("put an ndarray as a tensor asset and read it back:", r.id[:16], w.shape, w.dtype)
s = c.snapshot("default", message="from python")
c.create_tag("default", "py-v1", s.id)
aifs.proofs.verify_proof(c.prove("default", "py-v1", r.id),
                         c.namespace("default").signing_public_key)
print("inclusion proof of it in tag py-v1: verified offline in Python")
ds = AssetDataset(c, "default", ref="py-v1", prefix="py/", decode="tensor")
print("AssetDataset over py-v1:", len(ds), "sample(s), first", tuple(ds[0].shape))
PY
kill -TERM "$server_pid"; wait "$server_pid"
unset AIFS_SERVER AIFS_TOKEN

step "restore the backup into a new store (chunks hard-linked) and verify it"
$AIFS --data "$work/restored" restore "$work/backup" --chunks "$AIFS_DATA/chunks"
$AIFS --data "$work/restored" verify --all-namespaces -q && echo "restored store verified"
$AIFS --data "$work/restored" get "$R" -o - | cmp - "$work/remote.bin" && echo "restored asset: bytes match"
rm -rf "$work"
echo; echo "the store is in $AIFS_DATA; try: AIFS_DATA=$AIFS_DATA $AIFS ls"
