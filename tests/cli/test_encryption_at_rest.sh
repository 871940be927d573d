# Encryption at rest through the CLI, checked on the bytes on disk: a
# distinctive metadata value and a distinctive vector byte pattern appear in
# no file of the data directory (RocksDB WAL before a flush, SST files after
# one, the vector index checkpoint), while ls --where and search still find
# them; rotation + rewrap + retiring the old key version keeps them readable;
# a changed hex digit in the keyfile is KMS_KEY_CORRUPT, not CHUNK_CORRUPT.
# (Not run remotely: it edits the keyfile under a stopped store.)
source "$(dirname "$0")/lib.sh"
py() { /usr/bin/python3 "$@"; }

MARKER=md-marker-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
# A 16-float vector, as .npy (written by hand: the format is 10 header bytes,
# a padded dict, then the float32 data), and its first 32 bytes in hex.
py - "$WORK/v.npy" <<'PYEOF'
import struct, sys
v = [1234.5678 + 0.25 * i * i for i in range(16)]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (16,), }"
header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<16f", *v))
PYEOF
PATTERN=$(tail -c 64 "$WORK/v.npy" | head -c 32 | od -An -tx1 | tr -d ' \n')

# no_plaintext WHEN: no file under the data directory holds the marker or the
# vector pattern; CONTROL (a plaintext string that is there) must be found.
no_plaintext() {
  py - "$AIFS_DATA" "$MARKER" "$PATTERN" "$2" <<'PYEOF' || fail "$1: plaintext at rest"
import os, sys
root, marker, pattern, control = sys.argv[1], sys.argv[2].encode(), bytes.fromhex(sys.argv[3]), sys.argv[4].encode()
bad, seen = [], []
for d, _, files in os.walk(root):
    for name in files:
        p = os.path.join(d, name)
        b = open(p, "rb").read()
        if marker in b or pattern in b: bad.append(p)
        if control and control in b: seen.append(p)
if bad: print("plaintext in:", bad); sys.exit(1)
if control and not seen: print("control not found: the scan sees nothing"); sys.exit(1)
PYEOF
}

$AIFS init >/dev/null
$AIFS space create s --dim 16 --metric l2 >/dev/null
id=$(echo "secret asset" | $AIFS put - --meta "secret=$MARKER" --meta team=blue --embed "s=$WORK/v.npy")
echo "other asset" | $AIFS put - --meta team=red >/dev/null

check_readable() {
  [ "$($AIFS ls --where "secret=$MARKER")" = "$id" ] || [[ "$($AIFS ls --where "secret=$MARKER")" == "$id"* ]] ||
    fail "$1: ls --where secret=... does not find the asset: $($AIFS ls --where "secret=$MARKER")"
  $AIFS --json stat "$id" | grep -q "$MARKER" || fail "$1: stat does not show the metadata"
  [[ "$($AIFS search --vector "$WORK/v.npy" -k 1)" == "$id"* ]] || fail "$1: search by vector"
  $AIFS search --like "$id" -k 1 >/dev/null || fail "$1: search --like (reads the stored vector)"
}
check_readable "after put"
ls "$AIFS_DATA"/meta/*.log >/dev/null || fail "no WAL"
no_plaintext "WAL before a flush" "as/default/$id"
ok "metadata value and vector bytes are in no file (WAL before a flush); ls --where and search find them"

[ -f "$AIFS_DATA/index/default/s/graph.hnsw" ] && [ -f "$AIFS_DATA/index/default/s/labels" ] ||
  fail "no index checkpoint after the commands closed the store"
head -c 8 "$AIFS_DATA/index/default/s/labels" | grep -q AIFSSEF1 || fail "labels not a sealed file"
# Many puts make RocksDB flush its memtable into SST files (and every open
# after a crash-free close may write one too).
for i in $(seq 1 30); do echo "filler $i $(head -c 3000 /dev/urandom | od -An -tx1 | tr -d ' \n')" | $AIFS put - --meta "n=$i" >/dev/null; done
$AIFS rm "$($AIFS ls --where n=30 | cut -f1)" >/dev/null
no_plaintext "index files and SST files" ""
check_readable "after more writes"
ok "index checkpoint sealed; still no plaintext after $(ls "$AIFS_DATA"/meta/*.sst 2>/dev/null | wc -l) SST file(s)"

# One changed hex digit of the key in the keyfile: a key error at open.
cp "$AIFS_DATA/kms/master.keys" "$WORK/keys.good"
py - "$AIFS_DATA/kms/master.keys" <<'PYEOF'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
f = lines[1].split(" ")          # key <N> <created> <hex> <check>
f[3] = ("1" if f[3][10] != "1" else "2").join([f[3][:10], f[3][11:]])
lines[1] = " ".join(f)
open(p, "w").write("\n".join(lines))
PYEOF
expect_error KMS_KEY_CORRUPT $AIFS cat "$id"
expect_error KMS_KEY_CORRUPT $AIFS ls
out=$($AIFS cat "$id" 2>&1 >/dev/null) || true
[[ $out != *CHUNK_CORRUPT* ]] || fail "a damaged key still reads as CHUNK_CORRUPT: $out"
cp "$WORK/keys.good" "$AIFS_DATA/kms/master.keys"
[ "$($AIFS cat "$id")" = "secret asset" ] || fail "the good keyfile back: cat"
ok "a changed key digit is DATA_LOSS KMS_KEY_CORRUPT at open (not CHUNK_CORRUPT)"

# Rotate, rewrap, retire v1 (drop its line): everything still reads.
$AIFS key rotate >/dev/null
id2=$(echo "after rotation" | $AIFS put - --meta "secret=$MARKER-2")
report=$($AIFS --json key rewrap)
echo "$report" | py -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["complete"] and d["namespaces_rewrapped"] >= 1 else 1)' ||
  fail "rewrap report: $report"
grep -v '^key 1 ' "$AIFS_DATA/kms/master.keys" > "$WORK/keys.v2"
cat "$WORK/keys.v2" > "$AIFS_DATA/kms/master.keys"
grep -q '^key 1 ' "$AIFS_DATA/kms/master.keys" && fail "v1 still there"
check_readable "after rotate, rewrap and retiring v1"
[ "$($AIFS ls --where "secret=$MARKER-2")" != "" ] || fail "the asset put after the rotation"
rm -rf "$AIFS_DATA/index"
check_readable "index rebuilt from the records without v1"
ok "rotate + rewrap + retire the old key version: metadata, vectors and index still read"

# Another store's keyfile: clear errors, never data or empty results.
AIFS_DATA=$WORK/other $AIFS init >/dev/null
cp "$WORK/other/kms/master.keys" "$AIFS_DATA/kms/master.keys"
expect_error "record key of namespace 'default'" $AIFS ls
ok "a wrong keyfile names the namespace's record key"
