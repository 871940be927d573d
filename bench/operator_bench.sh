#!/usr/bin/env bash
# Ingest operators (issue 23), one `aifs serve` and the test embeddings server
# (tests/tools/embed_server.py, hashed bag of words, 64-d), same run:
#   bench/operator_bench.sh BUILD_DIR [N=2000] [LATENCY_SAMPLES=200]
# 1. Overhead per asset of the cheapest operator (sniff: reads 4 KiB, commits
#    one record asset with lineage, marker, cursor and event), N small texts,
#    as a backfill drained through the server; next to the put of the same
#    assets through the SDK (one put each) as the yardstick.
# 2. Embedding throughput: an http-embed operator over the N texts with
#    batch=1 and batch=32, texts/s, next to the embedder alone answering the
#    same texts in batches of 32 (Python, one keep-alive connection).
# 3. Put-to-searchable latency: one put at a time with the batch-32 operator
#    running; the time until a search with the text's own vector returns
#    the new Embed asset with that source; P50/P99.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "$1")
AIFS=$BUILD/apps/aifs/aifs
N=${2:-2000}
SAMPLES=${3:-200}
PY=/usr/bin/python3
WORK=$(mktemp -d /var/tmp/aifs-op-bench.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export AIFS_DATA=$WORK/store
"$AIFS" -q init > /dev/null
"$AIFS" serve --listen 127.0.0.1:0 --search-rate 100000 > "$WORK/serve.out" 2> "$WORK/serve.err" &
pids+=($!)
$PY "$ROOT/tests/tools/embed_server.py" --dim 64 > "$WORK/embed.out" 2>/dev/null &
pids+=($!)
grpc=$(wait_for "$WORK/serve.out" "$SERVING")
port=$(wait_for "$WORK/embed.out" 's/^PORT //p')
[ -n "$grpc" ] && [ -n "$port" ] || { echo "the server printed no address: $(cat "$WORK/serve.err")" >&2; exit 1; }
export AIFS_SERVER=$grpc AIFS_TOKEN=@$WORK/store/admin.token EMBED_URL=http://127.0.0.1:$port
unset AIFS_DATA
$PY "$ROOT/python/gen_protos.py" --out "$WORK/gen" > /dev/null
export PYTHONPATH=$ROOT/python:$WORK/gen:$ROOT/tests/tools
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
$PY - "$N" "$SAMPLES" <<'PY'
import http.client, json, os, random, statistics, sys, time, urllib.parse
import numpy as np
import aifs
from embed_server import embed

n, samples = int(sys.argv[1]), int(sys.argv[2])
c = aifs.connect()
ns = "bench"
c.create_namespace(ns)
rng = random.Random(7)
words = ["alpha", "river", "stone", "cloud", "ember", "pine", "salt", "orbit", "lumen", "quartz",
         "delta", "fjord", "maple", "nova", "prism", "tundra", "vapor", "willow", "zephyr", "basalt"]
def text(i):
    return ("doc %d " % i + " ".join(rng.choice(words) for _ in range(40))).encode()
texts = [text(i) for i in range(n)]

t = time.perf_counter()
ids = [c.put(ns, b, metadata={"content_type": "text/plain"}).id for b in texts]
put_s = time.perf_counter() - t

def drain(name, kind, params=None):
    c.add_operator(ns, name, kind, match="content_type^=text/", params=params or {}, backfill=True)
    t = time.perf_counter()
    info = c.drain_operator(ns, name, timeout=3600)
    s = time.perf_counter() - t
    assert info.processed == n and info.failed == 0, info
    return s

sniff_s = drain("sniff", "sniff")
print("| 1. overhead | per asset | assets/s |")
print("|---|---:|---:|")
print("| put (SDK, one put each, the yardstick) | %.0f us | %.0f |" % (put_s / n * 1e6, n / put_s))
print("| sniff operator (read 4 KiB, commit record + marker + event) | %.0f us | %.0f |"
      % (sniff_s / n * 1e6, n / sniff_s))
print("| operator / put | %.2fx | |" % (sniff_s / put_s))
print()

url = os.environ["EMBED_URL"]
b1 = drain("e1", "http-embed", {"url": url, "model": "b1", "batch": 1})
b32 = drain("e32", "http-embed", {"url": url, "model": "b32", "batch": 32})
# The embedder alone, the same texts in batches of 32 on one connection.
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
t = time.perf_counter()
for i in range(0, n, 32):
    body = json.dumps({"model": "raw", "input": [x.decode() for x in texts[i:i + 32]],
                       "encoding_format": "float"})
    conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    r.read()
raw = time.perf_counter() - t
print("| 2. embedding %d texts | seconds | texts/s | vs embedder alone |" % n)
print("|---|---:|---:|---:|")
print("| embedder alone, batches of 32 | %.2f | %.0f | 1.00x |" % (raw, n / raw))
print("| http-embed operator, batch=32 | %.2f | %.0f | %.2fx |" % (b32, n / b32, raw / b32))
print("| http-embed operator, batch=1 | %.2f | %.0f | %.2fx |" % (b1, n / b1, raw / b1))
print("| batching gain (batch=32 over batch=1) | | %.2fx | |" % (b1 / b32))
print()

# 3. put-to-searchable, with e32 following the log.
lat, puts = [], []
for i in range(samples):
    b = ("latency probe %d " % i + " ".join(rng.choice(words) for _ in range(30))).encode()
    q = np.asarray(embed(b.decode(), 64), dtype=np.float32)
    t = time.perf_counter()
    pid = c.put(ns, b, metadata={"content_type": "text/plain"}).id
    puts.append(time.perf_counter() - t)
    while True:
        hits = c.search(ns, "b32", q, k=1)
        if hits and hits[0].source == pid:
            break
        if time.perf_counter() - t > 30:
            raise SystemExit("probe %d not searchable after 30 s" % i)
    lat.append(time.perf_counter() - t)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] * 1e3
print("| 3. put-to-searchable, %d probes | P50 | P99 |" % samples)
print("|---|---:|---:|")
print("| put alone (committed) | %.1f ms | %.1f ms |" % (pct(puts, 50), pct(puts, 99)))
print("| put -> embedded -> indexed -> found | %.1f ms | %.1f ms |" % (pct(lat, 50), pct(lat, 99)))
PY
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
