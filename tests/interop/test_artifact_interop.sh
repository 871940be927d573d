#!/usr/bin/env bash
# Artifact interop: AIFS artifacts are ordinary, deterministic ZIPs that
# Info-ZIP `unzip` and Python's zipfile read, with a MANIFEST.json whose BLAKE3
# values match `b3sum`; ZIPs built by Python with a correct manifest validate;
# malicious ZIPs built by Python are rejected with the documented reason and
# extraction writes nothing anywhere (sentinel paths stay absent).
#   usage: test_artifact_interop.sh PATH/TO/artifact_tool
set -euo pipefail
TOOL=${1:?usage: $0 PATH/TO/artifact_tool}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/aifs-artifact-interop-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- a model-like directory ---------------------------------------------------
SRC=$TMP/src
mkdir -p "$SRC/tokenizer" "$SRC/weights" "$SRC/données"
printf '{"hidden_size": 384, "layers": 6}\n' > "$SRC/config.json"
seq 1 20000 | sed 's/^/token-/' > "$SRC/tokenizer/vocab.txt"
printf '{"model": {"type": "WordPiece"}}\n' > "$SRC/tokenizer/tokenizer.json"
head -c 3000000 /dev/urandom > "$SRC/model.safetensors"
head -c 100000 /dev/urandom > "$SRC/weights/part-00001.bin"
printf '# Model card\n' > "$SRC/README.md"
printf 'print("hi")\n' > "$SRC/données/été.py"
: > "$SRC/weights/empty.bin"
DEP=$(b3sum --no-names "$SRC/config.json")

# --- determinism ----------------------------------------------------------------
"$TOOL" pack "$SRC" "$TMP/a.zip" --dep "base=$DEP" --dep-uri "paper=https://example.org/p.pdf" --meta team=vision
touch -d '2001-02-03 04:05:06' "$SRC/config.json" "$SRC/README.md"
TZ=Asia/Kolkata "$TOOL" pack "$SRC" "$TMP/b.zip" --dep "base=$DEP" --dep-uri "paper=https://example.org/p.pdf" --meta team=vision
cmp "$TMP/a.zip" "$TMP/b.zip" || fail "packing the same directory twice gave different bytes"
echo "deterministic: $(b3sum --no-names "$TMP/a.zip")"

# --- independent readers ----------------------------------------------------------
unzip -t "$TMP/a.zip" > "$TMP/unzip.log" || { cat "$TMP/unzip.log"; fail "unzip -t"; }
grep -q "No errors detected" "$TMP/unzip.log" || fail "unzip -t output"
mkdir "$TMP/unzipped"
unzip -q "$TMP/a.zip" -d "$TMP/unzipped"
"$PY" - "$TMP/a.zip" "$TMP/pyx" "$DEP" <<'PYEOF'
import json, os, subprocess, sys, zipfile
path, out, dep = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(path) as z:
    assert z.testzip() is None
    names = z.namelist()
    assert names[0] == "MANIFEST.json", names
    assert names[1:] == sorted(names[1:], key=lambda s: s.encode()), names
    for zi in z.infolist():
        assert zi.date_time == (1980, 1, 1, 0, 0, 0), zi
        assert zi.external_attr >> 16 == 0o100644, oct(zi.external_attr)
    m = json.loads(z.read("MANIFEST.json"))
    z.extractall(out)
assert m["format"] == "aifs-artifact/1"
assert m["dependencies"] == [{"name": "base", "asset": dep}, {"name": "paper", "uri": "https://example.org/p.pdf"}], m["dependencies"]
assert m["metadata"] == {"team": "vision"}
paths = [f["path"] for f in m["files"]]
assert paths == sorted(paths, key=lambda s: s.encode()) and set(paths) == set(names) - {"MANIFEST.json"}
types = {f["path"]: f["media_type"] for f in m["files"]}
assert types["config.json"] == "application/json" and types["model.safetensors"] == "application/octet-stream"
assert types["README.md"] == "text/markdown" and types["données/été.py"] == "text/x-python"
assert types["tokenizer/vocab.txt"] == "text/plain"
for f in m["files"]:
    p = os.path.join(out, f["path"])
    assert os.path.getsize(p) == f["size"], f
    b3 = subprocess.run(["b3sum", "--no-names", p], check=True, capture_output=True, text=True).stdout.strip()
    assert b3 == f["blake3"], (f["path"], b3, f["blake3"])
print("python zipfile: testzip ok, %d files match their b3sum" % len(m["files"]))
PYEOF
"$TOOL" extract "$TMP/a.zip" "$TMP/ours"
diff -r "$SRC" "$TMP/ours" || fail "extracted tree differs from the packed directory"
[ ! -e "$TMP/ours/MANIFEST.json" ] || fail "MANIFEST.json should not be extracted"
# unpack -> pack gives the same artifact.
"$TOOL" pack "$TMP/ours" "$TMP/c.zip" --dep "base=$DEP" --dep-uri "paper=https://example.org/p.pdf" --meta team=vision
cmp "$TMP/a.zip" "$TMP/c.zip" || fail "pack(extract(a)) != a"
echo "extract and re-pack: identical"

# --- Python-built ZIPs -----------------------------------------------------------------
mkdir "$TMP/z"
"$PY" - "$TMP/z" "$TMP" <<'PYEOF'
import io, json, struct, subprocess, sys, zipfile
out, tmp = sys.argv[1], sys.argv[2]

def b3(data):
    return subprocess.run(["b3sum", "--no-names", "-"], input=data, check=True,
                          capture_output=True).stdout.decode().strip()

def manifest(files, **extra):
    m = {"format": "aifs-artifact/1",
         "files": [{"path": p, "size": len(d), "media_type": "application/octet-stream", "blake3": b3(d)}
                   for p, d in sorted(files.items(), key=lambda kv: kv[0].encode())],
         "dependencies": [], "metadata": {}}
    m.update(extra)
    return json.dumps(m, indent=1).encode()

def build(name, members, method=zipfile.ZIP_DEFLATED):
    """members: list of (ZipInfo-or-name, bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for info, data in members:
            z.writestr(info, data)
    open(f"{out}/{name}.zip", "wb").write(buf.getvalue())
    return bytearray(buf.getvalue())

files = {"config.json": b'{"a": 1}\n', "weights/w.bin": bytes(range(256)) * 64}
good = [("weights/", b"")] + [(p, d) for p, d in files.items()] + [("MANIFEST.json", manifest(files))]
build("good", good)  # directory entry, manifest last, deflated
build("good_stored", [("MANIFEST.json", manifest(files))] + list(files.items()), zipfile.ZIP_STORED)

def with_extra(path, data):
    fs = dict(files); fs[path] = data
    return [(p, d) for p, d in fs.items()] + [("MANIFEST.json", manifest(fs))]

# Unsafe paths (listed in the manifest as the attacker would).
build("traversal", with_extra("../evil", b"pwned"))
build("traversal_deep", with_extra("weights/../../evil", b"pwned"))
build("absolute", with_extra(tmp + "/abs-evil", b"pwned"))
build("backslash", with_extra("..\\evil", b"pwned"))
build("drive", with_extra("C:/evil", b"pwned"))
# Symlink entry.
link = zipfile.ZipInfo("link")
link.create_system = 3
link.external_attr = (0o120777 << 16)
build("symlink", [(p, d) for p, d in files.items()] + [(link, b"../../evil"), ("MANIFEST.json", manifest(files))])
# Duplicates.
import warnings
warnings.simplefilter("ignore")
build("duplicate", list(files.items()) + [("config.json", b"other"), ("MANIFEST.json", manifest(files))])
build("duplicate_case", with_extra("CONFIG.json", b"x"))
# Manifest problems.
build("missing_from_manifest", list(files.items()) + [("extra.txt", b"sneaky"), ("MANIFEST.json", manifest(files))])
fs2 = dict(files); fs2["ghost.bin"] = b"ghost"
build("missing_member", list(files.items()) + [("MANIFEST.json", manifest(fs2))])
bad = json.loads(manifest(files)); bad["files"][0]["blake3"] = "0" * 64
build("wrong_blake3", list(files.items()) + [("MANIFEST.json", json.dumps(bad).encode())])
bad = json.loads(manifest(files)); bad["files"][0]["size"] += 1
build("wrong_size", list(files.items()) + [("MANIFEST.json", json.dumps(bad).encode())])
build("no_manifest", list(files.items()))
build("bad_manifest", list(files.items()) + [("MANIFEST.json", b'{"format": "aifs-artifact/1", "files": 7}')])
build("bad_manifest_json", list(files.items()) + [("MANIFEST.json", b'{"format": ')])
open(f"{out}/not_zip.zip", "wb").write(b"this is not a zip archive at all" * 10)

# Zip bomb: 200 MiB of zeros, deflated (about 200 KiB), streamed so Python
# never holds it; the manifest is truthful.
zeros_b3 = subprocess.run("head -c 209715200 /dev/zero | b3sum --no-names", shell=True, check=True,
                          capture_output=True, text=True).stdout.strip()
bm = {"format": "aifs-artifact/1", "files": [{"path": "zeros.bin", "size": 200 << 20,
      "media_type": "application/octet-stream", "blake3": zeros_b3}]}
def bomb(name, declared=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("MANIFEST.json", json.dumps(bm if declared is None else
                   dict(bm, files=[dict(bm["files"][0], size=declared)])))
        with z.open("zeros.bin", "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(200):
                f.write(chunk)
    d = bytearray(buf.getvalue())
    if declared is not None:
        # Lie about the uncompressed size in both the local and the central header.
        with zipfile.ZipFile(io.BytesIO(bytes(d))) as z:
            zi = z.getinfo("zeros.bin")
        assert d[zi.header_offset:zi.header_offset + 4] == b"PK\x03\x04"
        struct.pack_into("<I", d, zi.header_offset + 22, declared)
        pos = 0
        while True:
            pos = d.find(b"PK\x01\x02", pos)
            assert pos >= 0
            n = struct.unpack_from("<H", d, pos + 28)[0]
            if d[pos + 46:pos + 46 + n] == b"zeros.bin":
                struct.pack_into("<I", d, pos + 24, declared)
                break
            pos += 4
    open(f"{out}/{name}.zip", "wb").write(d)
bomb("bomb")
bomb("bomb_lying_size", declared=1000)

# Many small members, each under the per-member ratio threshold (1 MiB):
# 1,000 members of 1 MiB of zeros deflate to about 1 KiB each, so a 1.1 MB
# archive would make the server inflate 1 GiB. The archive's inflation budget
# refuses it before any member is inflated. The manifest is truthful.
mib_b3 = b3(bytes(1 << 20))
many = {"format": "aifs-artifact/1", "dependencies": [], "metadata": {},
        "files": [{"path": "z/%04d.bin" % i, "size": 1 << 20,
                   "media_type": "application/octet-stream", "blake3": mib_b3}
                  for i in range(1000)]}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("MANIFEST.json", json.dumps(many))
    for i in range(1000):
        z.writestr("z/%04d.bin" % i, bytes(1 << 20))
assert len(buf.getvalue()) < 1300000, len(buf.getvalue())
open(f"{out}/bomb_many_small.zip", "wb").write(buf.getvalue())
# The same shape at an honest ratio (text-like members, ~3:1) is accepted.
import random
rng = random.Random(7)
words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 8))) for _ in range(500)]
honest = {"z/%03d.txt" % i: b" ".join(rng.choice(words) for _ in range(20000)) for i in range(50)}
build("many_small_honest", list(honest.items()) + [("MANIFEST.json", manifest(honest))])

# Encrypted: zipfile cannot encrypt, so set the "encrypted" flag bit by hand
# in the local and central headers of a member.
d = build("tmp_enc", list(files.items()) + [("MANIFEST.json", manifest(files))])
with zipfile.ZipFile(io.BytesIO(bytes(d))) as z:
    zi = z.getinfo("config.json")
struct.pack_into("<H", d, zi.header_offset + 6, struct.unpack_from("<H", d, zi.header_offset + 6)[0] | 1)
pos = d.find(b"PK\x01\x02")  # the first central record is config.json
struct.pack_into("<H", d, pos + 8, struct.unpack_from("<H", d, pos + 8)[0] | 1)
open(f"{out}/encrypted.zip", "wb").write(d)

# Overlapping members: a second central record pointing at the first member's
# local header (the "overlapping files" bomb construction).
d = build("tmp_overlap", [("MANIFEST.json", manifest({})), ("a.bin", bytes(1000))], zipfile.ZIP_STORED)
eocd = d.rfind(b"PK\x05\x06")
cd_off = struct.unpack_from("<I", d, eocd + 16)[0]
first_len = 46 + struct.unpack_from("<H", d, cd_off + 28)[0]
first = d[cd_off:cd_off + first_len]            # MANIFEST.json
second = bytearray(d[cd_off + first_len:eocd])  # a.bin
dup = bytearray(second)                         # b.bin: same local header offset as a.bin
dup[46:46 + 5] = b"b.bin"
new_cd = bytes(first) + bytes(second) + bytes(dup)
rest = bytearray(d[eocd:])
struct.pack_into("<H", rest, 8, 3); struct.pack_into("<H", rest, 10, 3)
struct.pack_into("<I", rest, 12, len(new_cd))
open(f"{out}/overlap.zip", "wb").write(bytes(d[:cd_off]) + new_cd + bytes(rest))
import os
os.remove(f"{out}/tmp_enc.zip"); os.remove(f"{out}/tmp_overlap.zip")
print("python built %d zips" % len(os.listdir(out)))
PYEOF

for ok in good good_stored; do
  "$TOOL" validate "$TMP/z/$ok.zip" > /dev/null || fail "$ok.zip (built by Python) does not validate"
  "$TOOL" extract "$TMP/z/$ok.zip" "$TMP/x-$ok"
  cmp "$TMP/x-$ok/weights/w.bin" <(unzip -p "$TMP/z/$ok.zip" weights/w.bin) || fail "$ok extract"
  echo "validated and extracted Python-built $ok.zip"
done

"$TOOL" validate "$TMP/z/many_small_honest.zip" > /dev/null ||
  fail "many_small_honest.zip (50 text members at ~3:1) does not validate"
echo "validated Python-built many_small_honest.zip"

expect_reject() {  # NAME REASON
  local out target="$TMP/target-$1"
  if out=$("$TOOL" validate "$TMP/z/$1.zip" 2>&1); then fail "$1.zip was accepted"; fi
  [[ "$out" == "INVALID_ARGUMENT $2:"* ]] || fail "$1.zip: expected $2, got: $out"
  if out=$("$TOOL" extract "$TMP/z/$1.zip" "$target/x" 2>&1); then fail "$1.zip extracted"; fi
  [[ "$out" == "INVALID_ARGUMENT $2:"* ]] || fail "$1.zip extract: expected $2, got: $out"
  [ ! -e "$target" ] || fail "$1.zip: extraction created $target"
  [ ! -e "$TMP/evil" ] && [ ! -e "$TMP/abs-evil" ] || fail "$1.zip: a sentinel path was written"
  echo "rejected $1.zip: $out"
}
expect_reject traversal ARTIFACT_PATH_TRAVERSAL
expect_reject traversal_deep ARTIFACT_PATH_TRAVERSAL
expect_reject absolute ARTIFACT_PATH_TRAVERSAL
expect_reject backslash ARTIFACT_PATH_TRAVERSAL
expect_reject drive ARTIFACT_PATH_TRAVERSAL
expect_reject symlink ARTIFACT_SYMLINK
expect_reject duplicate ARTIFACT_DUPLICATE_NAME
expect_reject duplicate_case ARTIFACT_DUPLICATE_NAME
expect_reject missing_from_manifest ARTIFACT_MANIFEST_MISMATCH
expect_reject missing_member ARTIFACT_MANIFEST_MISMATCH
expect_reject wrong_blake3 ARTIFACT_MANIFEST_MISMATCH
expect_reject wrong_size ARTIFACT_MANIFEST_MISMATCH
expect_reject no_manifest ARTIFACT_NO_MANIFEST
expect_reject bad_manifest ARTIFACT_BAD_MANIFEST
expect_reject bad_manifest_json ARTIFACT_BAD_MANIFEST
expect_reject not_zip ARTIFACT_NOT_ZIP
expect_reject bomb ARTIFACT_ZIP_BOMB
expect_reject bomb_many_small ARTIFACT_ZIP_BOMB
out=$("$TOOL" validate "$TMP/z/bomb_many_small.zip" 2>&1) || true
[[ "$out" == *"inflation budget"* ]] || fail "bomb_many_small.zip: not refused by the budget: $out"
expect_reject bomb_lying_size ARTIFACT_ZIP_BOMB
expect_reject encrypted ARTIFACT_ENCRYPTED
expect_reject overlap ARTIFACT_ZIP_BOMB

# --- a target whose subdirectory is a symlink pointing outside ---------------------
mkdir -p "$TMP/outside" "$TMP/t-link"
ln -s "$TMP/outside" "$TMP/t-link/weights"
if out=$("$TOOL" extract "$TMP/z/good.zip" "$TMP/t-link" 2>&1); then fail "extracted through a symlink"; fi
[[ "$out" == "FAILED_PRECONDITION ARTIFACT_UNSAFE_TARGET:"* ]] || fail "symlinked target: got $out"
[ -z "$(ls -A "$TMP/outside")" ] || fail "extraction wrote through a symlink"
[ ! -e "$TMP/t-link/config.json" ] || fail "partial extraction left behind"
echo "refused to extract through a symlinked directory: $out"
# --- one damaged byte is corruption, not a bomb --------------------------------------
# A valid ZIP written by Python (deflated members at honest ratios), one byte
# flipped at every position in turn: whatever the validator says, it is never
# ARTIFACT_ZIP_BOMB (nothing declares or inflates beyond the ratio limit), and
# a flip inside a member's deflate data is ARTIFACT_CORRUPT (or accepted when
# the inflated bytes still match the manifest's BLAKE3: a flip of a deflate
# stream's BFINAL bit or of its padding bits leaves the output as it was).
"$PY" - "$TOOL" "$TMP/flip" <<'PYEOF'
import collections, io, json, subprocess, sys, zipfile
tool, d = sys.argv[1], sys.argv[2]
import os; os.makedirs(d)
def b3(b):
    return subprocess.run(["b3sum", "--no-names", "-"], input=b, check=True,
                          capture_output=True).stdout.decode().strip()
files = {"config.json": b'{"layers": 2}\n', "vocab.txt": b"hello world, " * 500}
man = {"format": "aifs-artifact/1", "files": [
    {"path": p, "size": len(b), "media_type": "text/plain", "blake3": b3(b)}
    for p, b in sorted(files.items())]}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("MANIFEST.json", json.dumps(man))
    for p, b in sorted(files.items()):
        z.writestr(p, b)
good = buf.getvalue()
def validate(data):
    open(f"{d}/x.zip", "wb").write(data)
    r = subprocess.run([tool, "validate", f"{d}/x.zip"], capture_output=True, text=True)
    return "OK" if r.returncode == 0 else r.stdout.split(":")[0] + r.stderr.split(":")[0]
assert validate(good) == "OK", validate(good)
data_ranges = []
for zi in zipfile.ZipFile(io.BytesIO(good)).infolist():
    start = zi.header_offset + 30 + len(zi.filename.encode())
    data_ranges.append((start, start + zi.compress_size))
seen, bombs, not_corrupt, in_data = collections.Counter(), [], [], 0
for pos in range(len(good)):
    b = bytearray(good); b[pos] ^= 0x01
    got = validate(bytes(b))
    seen[got] += 1
    if "ZIP_BOMB" in got: bombs.append(pos)
    if any(s <= pos < e for s, e in data_ranges):
        in_data += 1
        if "ARTIFACT_CORRUPT" not in got: not_corrupt.append((pos, got))
print("one-byte flips at %d positions: %s" % (len(good), dict(seen)))
assert not bombs, "a one-byte flip reported as a zip bomb at offsets %s" % bombs
wrong = [(p, g) for p, g in not_corrupt if g != "OK"]
assert not wrong, "flips in deflate data not reported corrupt: %s" % wrong[:10]
assert len(not_corrupt) * 10 < in_data, "most flips in deflate data accepted: %s" % not_corrupt
PYEOF
echo "PASS artifact interop"
