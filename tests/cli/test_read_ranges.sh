# aifs read-ranges: the bytes of a list of ranges, concatenated in list
# order, checked against dd and against Python slicing of the original files;
# --index, stdin, batches beyond the Api's limits, and errors naming the line.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || fail "python3 is required"
$AIFS init --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536 >/dev/null

head -c $((3 * 1024 * 1024 + 5)) /dev/urandom > "$WORK/rand"
python3 -c 'import sys; sys.stdout.write("".join("line %d of the shard\n" % i for i in range(40000)))' \
  > "$WORK/text"
: > "$WORK/empty"
rand=$($AIFS put "$WORK/rand"); text=$($AIFS put "$WORK/text"); empty=$($AIFS put "$WORK/empty")
rsize=$(stat -c %s "$WORK/rand")

# expect LIST FILE...: the bytes and index the list means, sliced by Python
# from the files that were put (ID or aifs://NS/ID; blank and # lines skipped).
expect() {
  python3 - "$@" <<'EOF'
import sys, subprocess
lst, out, idx, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
blobs = {}
for f in files:
    h = subprocess.run(["b3sum", "--no-names", f], capture_output=True, text=True).stdout.strip()
    blobs[h] = open(f, "rb").read()
pos = 0
with open(out, "wb") as o, open(idx, "w") as x:
    for line in open(lst):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        ident, off, n = s.split()
        piece = blobs[ident.rsplit("/", 1)[-1]][int(off):int(off) + int(n)]
        o.write(piece)
        x.write("%d %d\n" % (pos, len(piece)))
        pos += len(piece)
EOF
}

# Unsorted, overlapping, zero-length, at and past the end, a whole file, a URI,
# blank lines and comments.
cat > "$WORK/list" <<EOF
# samples for one step
$text 1000 5000
$rand $((rsize - 10)) 4096
$rand 0 4096

$rand 100 0
$rand $rsize 4096
	$text   2000	10000
aifs://default/$rand 65530 20
$empty 0 10
$text 0 $(stat -c %s "$WORK/text")
$rand 12345 1500000
$rand 3 18446744073709551615
EOF
$AIFS read-ranges "$WORK/list" --index "$WORK/got.idx" > "$WORK/got" 2> "$WORK/err"
expect "$WORK/list" "$WORK/want" "$WORK/want.idx" "$WORK/rand" "$WORK/text" "$WORK/empty"
cmp "$WORK/got" "$WORK/want" || fail "bytes differ from Python's slices"
cmp "$WORK/got.idx" "$WORK/want.idx" || fail "index differs: $(diff "$WORK/got.idx" "$WORK/want.idx" | head)"
grep -q "4 range(s) reached their asset's end" "$WORK/err" || fail "no note on short ranges: $(cat "$WORK/err")"
ok "mixed list ($(stat -c %s "$WORK/got") bytes) equals Python slicing, index too"

# The same against dd, range by range, through the index.
n=0
while read -r at len; do
  n=$((n + 1))
  line=$(grep -v '^\s*#' "$WORK/list" | grep -v '^\s*$' | sed -n "${n}p")
  read -r ident off _ <<< "$line"
  case ${ident##*/} in $rand) f=$WORK/rand ;; $text) f=$WORK/text ;; *) f=$WORK/empty ;; esac
  dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count="$len" bs=64K status=none > "$WORK/dd"
  dd if="$WORK/got" iflag=skip_bytes,count_bytes skip="$at" count="$len" bs=64K status=none |
    cmp -s - "$WORK/dd" || fail "range $n ($line) differs from dd"
done < "$WORK/got.idx"
[ $n = 11 ] || fail "index has $n lines, want 11"
ok "every range equals dd's"

# stdin, and more ranges than one batch holds (65536): random offsets and
# lengths, zero-length ones included.
python3 - "$rand" "$text" "$rsize" > "$WORK/many" <<'EOF'
import random, sys
rand, text, rsize = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = random.Random(16)
for i in range(70000):
    if i % 5 == 0:
        print(text, r.randrange(0, 900000), r.randrange(0, 40))
    else:
        print(rand, r.randrange(0, rsize + 1), r.randrange(0, 64))
EOF
$AIFS read-ranges - --index "$WORK/many.idx" < "$WORK/many" > "$WORK/got" 2>/dev/null
expect "$WORK/many" "$WORK/want" "$WORK/want.idx" "$WORK/rand" "$WORK/text"
cmp "$WORK/got" "$WORK/want" || fail "70000 ranges from stdin differ"
cmp -s "$WORK/many.idx" "$WORK/want.idx" || fail "70000-range index differs"
ok "70000 ranges from stdin ($(stat -c %s "$WORK/got") bytes) in two batches"

# One range longer than a batch may read (256 MiB) is read in pieces: a
# 300 MiB asset of the random file repeated (its chunks dedup).
for i in $(seq 100); do cat "$WORK/rand"; done > "$WORK/big"
big=$($AIFS put "$WORK/big")
printf '%s 777 314572800\n%s 5 5\n' "$big" "$rand" > "$WORK/biglist"
$AIFS read-ranges "$WORK/biglist" --index "$WORK/big.idx" > "$WORK/got"
expect "$WORK/biglist" "$WORK/want" "$WORK/want.idx" "$WORK/big" "$WORK/rand"
cmp "$WORK/got" "$WORK/want" || fail "a 300 MiB range differs"
cmp -s "$WORK/big.idx" "$WORK/want.idx" || fail "big index differs"
rm -f "$WORK/big" "$WORK/got" "$WORK/want"
ok "a 300 MiB range in pieces"

# Errors name the list's line; nothing is written for a refused batch.
unknown=$(printf 'never stored' | b3sum --no-names)
printf '%s 0 10\n\n%s 0 10\n' "$rand" "$unknown" > "$WORK/bad"
expect_error "ASSET_NOT_FOUND: line 3" $AIFS read-ranges "$WORK/bad"
[ -z "$($AIFS read-ranges "$WORK/bad" 2>/dev/null)" ] || fail "bytes written before a refusal"
printf '%s 0 10\n%s %d 1\n' "$rand" "$rand" $((rsize + 1)) > "$WORK/bad"
expect_error "RANGE_OUT_OF_BOUNDS: line 2" $AIFS read-ranges "$WORK/bad"
printf '%s 0\n' "$rand" > "$WORK/bad"
expect_error "BAD_RANGE_LINE: line 1" $AIFS read-ranges "$WORK/bad"
printf '%s 0 -5\n' "$rand" > "$WORK/bad"
expect_error "BAD_RANGE_LINE: line 1" $AIFS read-ranges "$WORK/bad"
printf 'aifs://other/%s 0 5\n' "$rand" > "$WORK/bad"
expect_error "NAMESPACE_MISMATCH: line 1" $AIFS read-ranges "$WORK/bad" --ns default
expect_error "FILE_NOT_FOUND" $AIFS read-ranges "$WORK/nothing-here"
ok "errors name the line"

# As of a snapshot: an asset removed since is still read through it (and
# listed by ls --assets --as-of); at the head it is gone.
ids() { python3 -c 'import json, sys; print(" ".join(sorted(a["id"] for a in json.load(sys.stdin))))'; }
at_snapshot=$($AIFS ls --json | ids)
snap=$($AIFS -q snapshot create)
$AIFS rm "$text" > /dev/null
printf '%s 1000 5000\n%s 0 100\n' "$text" "$rand" > "$WORK/asof"
$AIFS read-ranges "$WORK/asof" --as-of "$snap" --index "$WORK/asof.idx" > "$WORK/got"
expect "$WORK/asof" "$WORK/want" "$WORK/want.idx" "$WORK/rand" "$WORK/text"
cmp "$WORK/got" "$WORK/want" || fail "as-of bytes differ from Python's slices"
expect_error "ASSET_NOT_FOUND: line 1" $AIFS read-ranges "$WORK/asof"
later=$(printf 'after the snapshot' | $AIFS put -)
printf '%s 0 5\n' "$later" > "$WORK/bad"
expect_error "ASSET_NOT_IN_SNAPSHOT: line 1" $AIFS read-ranges "$WORK/bad" --as-of "$snap"
listed=$($AIFS ls --assets --as-of "$snap" --json | ids)
[[ $at_snapshot == *"$text"* ]] || fail "the head listing lacks $text"
[ "$listed" = "$at_snapshot" ] || fail "ls --assets --as-of listed: $listed, not $at_snapshot"
$AIFS ls --json | grep -q "$text" && fail "the removed asset is still listed at the head"
expect_error "BAD_ARGUMENTS" $AIFS ls --assets --paths
ok "as of a snapshot: read-ranges and ls --assets"

# A namespace whose new chunks have 4 KiB segments (ns policy --segment-size)
# answers the same ranges; sizes outside 4 KiB - 16 MiB are refused.
$AIFS ns create small >/dev/null
expect_error BAD_SEGMENT_SIZE $AIFS ns policy small --segment-size 4095
expect_error BAD_SEGMENT_SIZE $AIFS ns policy small --segment-size 17MiB
$AIFS ns policy small --segment-size 4KiB >/dev/null
[ "$($AIFS --json ns show small | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"]["segment_size"])')" = 4096 ] ||
  fail "ns show does not give the 4 KiB segment size"
srand=$($AIFS put --ns small "$WORK/rand")
[ "$srand" = "$rand" ] || fail "the same bytes got another ID in namespace small"
$AIFS cat --ns small "$srand" | cmp -s - "$WORK/rand" || fail "4 KiB segments: whole read differs"
python3 - "$srand" "$rsize" > "$WORK/small" <<'EOF2'
import random, sys
r = random.Random(17)
for _ in range(2000):
    print("aifs://small/" + sys.argv[1], r.randrange(0, int(sys.argv[2])), r.randrange(1, 20000))
EOF2
$AIFS read-ranges "$WORK/small" --ns small --index "$WORK/small.idx" > "$WORK/got"
expect "$WORK/small" "$WORK/want" "$WORK/want.idx" "$WORK/rand"
cmp "$WORK/got" "$WORK/want" || fail "4 KiB segments: ranges differ from Python's slices"
ok "4 KiB segments per namespace: 2000 random ranges and the whole asset equal the file"

echo "PASS ($PASS checks)"
