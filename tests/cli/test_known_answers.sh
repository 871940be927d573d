# Asset IDs equal b3sum's output, and every byte round-trips, for edge sizes.
source "$(dirname "$0")/lib.sh"
command -v b3sum >/dev/null || fail "b3sum is required (apt-get install b3sum)"
$AIFS init --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536 >/dev/null

check() {  # file label
  local f=$1 id
  id=$($AIFS put "$f")
  [ "$id" = "$(b3 "$f")" ] || fail "$2: id $id != b3sum $(b3 "$f")"
  $AIFS get "$id" -o "$WORK/out"
  cmp -s "$f" "$WORK/out" || fail "$2: read-back differs"
  [ "$($AIFS cat "$id" | b3sum --no-names)" = "$id" ] || fail "$2: cat differs"
  ok "$2 ($(stat -c %s "$f") bytes) id=$id"
}

: > "$WORK/empty"; check "$WORK/empty" empty
[ "$(b3 "$WORK/empty")" = af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262 ] ||
  fail "b3sum disagrees with the published BLAKE3 empty-input hash"
printf 'a' > "$WORK/one"; check "$WORK/one" one-byte
for n in 1023 1024 1025 4095 4096 4097 65535 65536 65537; do
  head -c $n /dev/urandom > "$WORK/f$n"; check "$WORK/f$n" "size-$n"
done
head -c $((5 * 1024 * 1024 + 3)) /dev/urandom > "$WORK/multi"; check "$WORK/multi" multi-MiB
python3 -c 'import sys; sys.stdout.write("the quick brown fox jumps over the lazy dog\n" * 70000)' > "$WORK/text"
check "$WORK/text" text

# stdin gives the same ID as the file, and a URI works wherever an ID does.
id=$($AIFS put - < "$WORK/multi")
[ "$id" = "$(b3 "$WORK/multi")" ] || fail "stdin put id differs"
$AIFS cat "aifs://default/$id" | cmp -s - "$WORK/multi" || fail "URI read differs"
ok "stdin and URI"

# Ranges (inclusive A-B, and A-) match dd.
for r in "0-0" "1-4096" "4095-4097" "65530-70000" "100-"; do
  a=${r%-*}; b=${r#*-}
  if [ -z "$b" ]; then len=$(( $(stat -c %s "$WORK/multi") - a )); else len=$((b - a + 1)); fi
  $AIFS get "$id" --range "$r" > "$WORK/range"
  head -c $((a + len)) "$WORK/multi" | tail -c $len | cmp -s - "$WORK/range" || fail "range $r"
done
ok "ranges"

# Same bytes twice: same ID, nothing new stored.
# The namespace's chunk count and stored bytes, and the chunk directory's
# size when the chunks are files (not so on a cluster's RADOS).
stored() {
  local url
  $AIFS --json ns show default | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["chunks"], d["stored_bytes"], end=" ")'
  url=$($AIFS --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunk_url"])')
  if [[ $url == file://* ]]; then du -sb "${url#file://}" | cut -f1; else echo "-"; fi
}
before=$(stored)
$AIFS put "$WORK/multi" >/dev/null
after=$(stored)
[ "$before" = "$after" ] || fail "second put of the same bytes grew the store ($before -> $after)"
ok "dedup: chunks, stored bytes and chunk files unchanged ($after)"

# --json output is valid JSON with the fields scripts use.
$AIFS --json stat "$id" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["id"]==sys.argv[1] and d["size"]>0' "$id"
$AIFS ls --json | python3 -c 'import json,sys; assert len(json.load(sys.stdin))==13'
printf 'b' > "$WORK/tagged"
$AIFS put "$WORK/tagged" --meta team=vision --meta split=train >/dev/null
[ "$($AIFS ls --where team=vision | cut -f1)" = "$(b3 "$WORK/tagged")" ] || fail "ls --where"
[ "$($AIFS ls --where team=nlp)" = "" ] || fail "ls --where mismatch"
[ "$($AIFS ls --where 'split^=tr' --where team | cut -f1)" = "$(b3 "$WORK/tagged")" ] || fail "ls prefix filter"
# Re-putting existing bytes keeps the first record and says so.
$AIFS put "$WORK/tagged" --meta team=nlp 2> "$WORK/note" >/dev/null
grep -q "already stored" "$WORK/note" || fail "no note about kept metadata"
ok "json and filters"

# No progress bar when stderr is not a terminal.
$AIFS put "$WORK/multi" 2> "$WORK/stderr" >/dev/null
[ ! -s "$WORK/stderr" ] || fail "unexpected stderr output when piped: $(cat "$WORK/stderr")"
ok "quiet when piped"
$AIFS verify >/dev/null
echo "PASS $PASS"
