#!/usr/bin/env bash
# Embed interop: the FlatBuffers encoding AIFS writes is read by the Python
# FlatBuffers runtime (Debian python3-flatbuffers) with code flatc generates
# from schemas/embedding.fbs, and buffers the Python builder writes are decoded
# by AIFS to the same record. Invalid Python-built buffers are rejected with
# the documented reasons.
#   usage: test_embed_python.sh PATH/TO/embed_tool
set -euo pipefail
TOOL=${1:?usage: $0 PATH/TO/embed_tool}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/aifs-embed-interop-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

flatc --python -o "$TMP/gen" "$ROOT/schemas/embedding.fbs"
"$TOOL" write "$TMP/aifs.fb"
"$TOOL" read "$TMP/aifs.fb" > "$TMP/aifs.json"

cat > "$TMP/interop.py" <<'PYEOF'
import json, math, struct, sys
sys.path.insert(0, sys.argv[1] + "/gen")
import flatbuffers
import numpy as np
from aifs.fbs import Embedding as E, Vector as V, KeyValue as KV
from aifs.fbs.Metric import Metric
from aifs.fbs.ElementType import ElementType

tmp = sys.argv[1]
MODEL = "aifs-test/minilm-l6-v2"
DIGEST = "blake3:9f4e0d6c2a1b"
VECTORS = [[0.5, -1.25, 3.0, 0.09375], [1.0, 2.0, -3.5, 1024.0], [0.0, -0.125, 7.75, -65504.0]]
SOURCE = bytes((i * 7 + 1) & 0xff for i in range(32))
META = {"lang": "en", "split": "train", "\u00fcnicode": "caf\u00e9"}

# 1. Python reads the buffer AIFS wrote and checks every field.
buf = bytearray(open(tmp + "/aifs.fb", "rb").read())
assert E.Embedding.EmbeddingBufferHasIdentifier(buf, 0), "file identifier AIFE"
e = E.Embedding.GetRootAs(buf, 0)
assert e.Model().decode() == MODEL, e.Model()
assert e.ModelDigest().decode() == DIGEST
assert e.Dimension() == 4
assert e.Metric() == Metric.L2
assert e.ElementType() == ElementType.FLOAT32
assert e.VectorsLength() == len(VECTORS)
for i, want in enumerate(VECTORS):
    v = e.Vectors(i)
    assert v.ValuesF16IsNone()
    got = v.ValuesAsNumpy()
    assert got.dtype == np.float32 and got.tolist() == want, (i, got)
assert e.SourceLength() == 32 and bytes(e.SourceAsNumpy().tobytes()) == SOURCE
assert e.ChunkIndex() == 7
got_meta = {}
for i in range(e.MetadataLength()):
    kv = e.Metadata(i)
    got_meta[kv.Key().decode()] = kv.Value().decode()
assert got_meta == META, got_meta
keys = [e.Metadata(i).Key() for i in range(e.MetadataLength())]
assert keys == sorted(keys), "metadata sorted by key bytes"
print("python read the AIFS buffer: all fields match")

# 2. Python builds buffers with the generated builder.
def build(vectors=VECTORS, dim=4, model=MODEL, f16=False, source=SOURCE, chunk=7, meta=META,
          metric=Metric.L2, ident=b"AIFE"):
    b = flatbuffers.Builder(1024)
    vecs = []
    for row in vectors:
        if f16:
            data = b.CreateNumpyVector(np.array(row, dtype=np.float16).view(np.uint16))
            V.Start(b); V.AddValuesF16(b, data)
        else:
            data = b.CreateNumpyVector(np.array(row, dtype=np.float32))
            V.Start(b); V.AddValues(b, data)
        vecs.append(V.End(b))
    E.StartVectorsVector(b, len(vecs))
    for off in reversed(vecs):
        b.PrependUOffsetTRelative(off)
    vectors_off = b.EndVector()
    kvs = []
    for k in sorted(meta, key=lambda s: s.encode()):
        ko, vo = b.CreateString(k), b.CreateString(meta[k])
        KV.Start(b); KV.AddKey(b, ko); KV.AddValue(b, vo)
        kvs.append(KV.End(b))
    E.StartMetadataVector(b, len(kvs))
    for off in reversed(kvs):
        b.PrependUOffsetTRelative(off)
    meta_off = b.EndVector()
    src_off = b.CreateByteVector(source) if source is not None else None
    m, d = b.CreateString(model), b.CreateString(DIGEST)
    E.Start(b)
    E.AddModel(b, m); E.AddModelDigest(b, d); E.AddDimension(b, dim); E.AddMetric(b, metric)
    E.AddElementType(b, ElementType.FLOAT16 if f16 else ElementType.FLOAT32)
    E.AddVectors(b, vectors_off)
    if src_off is not None:
        E.AddSource(b, src_off)
    E.AddChunkIndex(b, chunk)
    E.AddMetadata(b, meta_off)
    b.Finish(E.End(b), file_identifier=ident)
    return bytes(b.Output())

def write(name, data):
    open(tmp + "/" + name, "wb").write(data)

write("py.fb", build())
write("py_f16.fb", build(f16=True))
write("py_nan.fb", build(vectors=[[0.5, float("nan"), 1.0, 2.0]]))
write("py_inf.fb", build(vectors=[[0.5, 1.0, float("inf"), 2.0]]))
write("py_dim.fb", build(vectors=[[0.5, 1.0, 2.0]]))
write("py_dim0.fb", build(vectors=[[]], dim=0))
write("py_novec.fb", build(vectors=[]))
write("py_nomodel.fb", build(model=""))
write("py_ident.fb", build(ident=b"XXXX"))
write("py_src.fb", build(source=SOURCE[:31]))
good = build()
write("py_trunc.fb", good[: len(good) // 2])
PYEOF
"$PY" "$TMP/interop.py" "$TMP"

# 3. AIFS decodes the Python-built buffers to exactly the record it wrote.
"$TOOL" read "$TMP/py.fb" > "$TMP/py.json"
"$TOOL" read "$TMP/py_f16.fb" > "$TMP/py_f16.json"
"$PY" - "$TMP" <<'PYEOF'
import json, sys
t = sys.argv[1]
a = json.load(open(t + "/aifs.json"))
for name in ("py.json", "py_f16.json"):
    b = json.load(open(t + "/" + name))
    assert a == b, (name, a, b)
print("AIFS decoded the Python buffers (float32 and float16) to the same record")
PYEOF

# 4. Invalid Python-built buffers: rejected with the documented reason.
expect_reject() {  # FILE REASON
  local out
  if out=$("$TOOL" read "$TMP/$1" 2>&1); then
    echo "FAIL: $1 was accepted" >&2
    exit 1
  fi
  if [[ "$out" != "INVALID_ARGUMENT $2:"* ]]; then
    echo "FAIL: $1: expected $2, got: $out" >&2
    exit 1
  fi
  echo "rejected $1: $out"
}
expect_reject py_nan.fb EMBED_NAN
expect_reject py_inf.fb EMBED_NAN
expect_reject py_dim.fb EMBED_DIM_MISMATCH
expect_reject py_dim0.fb EMBED_DIM_MISMATCH
expect_reject py_novec.fb EMBED_NO_VECTORS
expect_reject py_nomodel.fb EMBED_BAD_MODEL
expect_reject py_ident.fb EMBED_BAD_BUFFER
expect_reject py_src.fb EMBED_BAD_SOURCE
expect_reject py_trunc.fb EMBED_BAD_BUFFER
echo "PASS embed interop"
