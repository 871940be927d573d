# Bad input gets a clear error with a stable reason, and nothing is lost.
source "$(dirname "$0")/lib.sh"
expect_error STORE_NOT_INITIALIZED $AIFS ls
$AIFS init >/dev/null
expect_error STORE_ALREADY_INITIALIZED $AIFS init
head -c 100000 /dev/urandom > "$WORK/f"
id=$($AIFS put "$WORK/f")

zero=0000000000000000000000000000000000000000000000000000000000000000
expect_error ASSET_NOT_FOUND $AIFS get $zero
expect_error ASSET_NOT_FOUND $AIFS stat $zero
expect_error ASSET_NOT_FOUND $AIFS rm $zero
expect_error MALFORMED_ID $AIFS get abc
expect_error MALFORMED_ID $AIFS get "${id^^}"
expect_error MALFORMED_ID $AIFS get "${id}0"
expect_error MALFORMED_URI $AIFS get "aifs://Default/$id"
expect_error MALFORMED_URI $AIFS get "aifs:/default/$id"
expect_error MALFORMED_URI $AIFS get "aifs://default/${id:1}"
expect_error NAMESPACE_NOT_FOUND $AIFS get "aifs://nope/$id"
expect_error NAMESPACE_MISMATCH $AIFS get "aifs://default/$id" --ns other
expect_error NAMESPACE_NOT_FOUND $AIFS put "$WORK/f" --ns nope
expect_error INVALID_NAMESPACE_NAME $AIFS ns create "Bad/Name"
# A huge name is echoed cut short: remotely the error still fits gRPC's 8 KiB
# header limit (else the client would see RESOURCE_EXHAUSTED).
long_name=$(printf 'n%.0s' $(seq 5000))
out=$($AIFS ns create "$long_name" 2>&1 >/dev/null || true)
[[ $out == *"INVALID_ARGUMENT INVALID_NAMESPACE_NAME"*"(5000 bytes)"* ]] || fail "5,000-character namespace: $out"
[ ${#out} -lt 400 ] || fail "the error echoes the whole name (${#out} characters)"
expect_error RANGE_OUT_OF_BOUNDS $AIFS get $id --range 100001-
expect_error BAD_RANGE $AIFS get $id --range 5-2
expect_error BAD_METADATA $AIFS put "$WORK/f" --meta novalue
expect_error FILE_NOT_FOUND $AIFS put "$WORK/does-not-exist"
expect_error BAD_PATH $AIFS put "$WORK"
ok "bad IDs, URIs, ranges, paths"

$AIFS ns create team-a >/dev/null
expect_error NAMESPACE_EXISTS $AIFS ns create team-a
id2=$($AIFS put "$WORK/f" --ns team-a)
expect_error NAMESPACE_NOT_EMPTY $AIFS ns rm team-a
$AIFS rm "aifs://team-a/$id2" >/dev/null
$AIFS ns rm team-a >/dev/null
ok "namespace lifecycle"

# A failed get to a file leaves no file behind.
expect_error ASSET_NOT_FOUND $AIFS get $zero -o "$WORK/out"
[ ! -e "$WORK/out" ] || fail "failed get created its output file"
# JSON errors are machine-readable.
{ $AIFS --json get $zero 2>&1 >/dev/null || true; } | python3 -c '
import json,sys; e=json.load(sys.stdin)["error"]; assert e["code"]=="NOT_FOUND" and e["reason"]=="ASSET_NOT_FOUND", e'
ok "no partial output, JSON errors"

# Tampering with a stored chunk is detected by get and verify.
corrupt_one_object "$($AIFS --json info | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunk_url"])')"
expect_error CHUNK_CORRUPT $AIFS verify
expect_error CHUNK_CORRUPT $AIFS get $id -o "$WORK/out"
[ ! -e "$WORK/out" ] || fail "corrupt get left an output file"
ok "tampered chunk detected"

# -o with a bare file name (no directory part) writes into the current
# directory and succeeds: every -o goes through one atomic-write helper.
head -c 5000 /dev/urandom > "$WORK/g"
gid=$($AIFS put "$WORK/g")
snap=$($AIFS -q snapshot create)
/usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[1], np.arange(6, dtype=np.int32))' "$WORK/t.npy"
tensor=$($AIFS put --kind tensor "$WORK/t.npy")
mkdir "$WORK/cwd"
cd "$WORK/cwd"
$AIFS proof "$gid" --snapshot "$snap" -o p.json 2>/dev/null || fail "proof -o p.json"
$AIFS get "$tensor" --as npy -o back.npy || fail "get --as npy -o back.npy"
$AIFS get "$gid" -o copy.bin || fail "get -o copy.bin"
cd - >/dev/null
export AIFS_TRUST=$WORK/trust.json
$AIFS key pin "$($AIFS key export)" >/dev/null
$AIFS verify-proof "$WORK/cwd/p.json" >/dev/null || fail "proof written to a bare name"
cmp -s "$WORK/t.npy" "$WORK/cwd/back.npy" || fail "npy written to a bare name differs"
cmp -s "$WORK/g" "$WORK/cwd/copy.bin" || fail "get -o to a bare name differs"
ok "-o with a bare file name"

# -o to something that is no regular file (a FIFO here; /dev/null in real
# life) is written in place: renaming a temp file over it would replace the
# device for every process on the machine
mkfifo "$WORK/pipe"
cat "$WORK/pipe" > "$WORK/from_pipe" &
$AIFS get "$gid" -o "$WORK/pipe" || fail "get -o FIFO"
wait $!
[ -p "$WORK/pipe" ] || fail "get -o replaced the FIFO with a file"
cmp -s "$WORK/g" "$WORK/from_pipe" || fail "get -o FIFO: other bytes"
cat "$WORK/pipe" > "$WORK/from_pipe" &
$AIFS get "$tensor" --as npy -o "$WORK/pipe" || fail "get --as npy -o FIFO"
wait $!
[ -p "$WORK/pipe" ] || fail "get --as npy -o replaced the FIFO with a file"
cmp -s "$WORK/t.npy" "$WORK/from_pipe" || fail "get --as npy -o FIFO: other bytes"
[ -c /dev/null ] || fail "/dev/null is no device any more"
ok "-o to a FIFO writes in place"

# An unknown command says so (not "A subcommand is required"), with a hint.
for cmd in "frobnicate" "ns frob"; do
  # shellcheck disable=SC2086
  if out=$($AIFS $cmd 2>&1); then fail "aifs $cmd succeeded"; fi
  [[ $out == *"UNKNOWN_COMMAND: unknown command '${cmd##* }'"*"--help"* ]] ||
    fail "aifs $cmd: $out"
done
ok "unknown commands"

if ! is_root; then echo "SKIP: unreadable-file, full-disk and read-only cases need root"; echo "PASS $PASS"; exit 0; fi
if [ "${AIFS_REMOTE_CLUSTER:-0}" = 1 ]; then
  echo "SKIP: unreadable-file, full-disk and read-only cases are about a local data directory;"
  echo "      a cluster keeps its data in PostgreSQL and RADOS"
  echo "PASS $PASS"; exit 0
fi

# An unreadable file (as an unprivileged user), in a directory it can reach.
UNPRIV=$(mktemp -d /var/tmp/aifs-unpriv.XXXXXX); chmod 755 "$UNPRIV"
CLEANUP_CMDS+=("rm -rf '$UNPRIV'")
cp -r "$AIFS_DATA" "$UNPRIV/data"; chown -R nobody "$UNPRIV/data"
cp "$WORK/f" "$UNPRIV/f"; chmod 000 "$UNPRIV/f"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups env AIFS_DATA="$UNPRIV/data" $AIFS put "$UNPRIV/f" 2>&1 || true)
[[ $out == *STORAGE_ACCESS_DENIED* ]] || fail "unreadable file: $out"
ok "unreadable file"

# A full data directory: the put fails cleanly and everything else survives.
mkdir -p "$WORK/small"
mount -t tmpfs -o size=48m tmpfs "$WORK/small"
CLEANUP_CMDS+=("umount -l '$WORK/small'")
export AIFS_DATA="$WORK/small/data"
$AIFS init >/dev/null
head -c $((8 * 1024 * 1024)) /dev/urandom > "$WORK/small8"
small=$($AIFS put "$WORK/small8")
head -c $((64 * 1024 * 1024)) /dev/urandom > "$WORK/big"
expect_error STORAGE_FULL $AIFS put "$WORK/big"
[ "$($AIFS ls | wc -l)" = 1 ] || fail "a failed put became visible"
$AIFS cat "$small" | cmp -s - "$WORK/small8" || fail "full disk damaged an existing asset"
$AIFS verify >/dev/null
ok "full data directory"

# A read-only data directory: reads work, writes fail with a clear reason.
mount -o remount,ro "$WORK/small"
$AIFS cat "$small" | cmp -s - "$WORK/small8" || fail "read-only: read failed"
$AIFS ls >/dev/null
out=$($AIFS put "$WORK/f" 2>&1 || true)
[[ $out == *STORAGE_READ_ONLY* || $out == *READ_ONLY* ]] || fail "read-only put: $out"
ok "read-only data directory"
echo "PASS $PASS"
