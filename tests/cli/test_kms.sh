# The PKCS#11 KMS end to end with a SoftHSM2 token this script initialises:
# init with the pkcs11 KMS, put/get, rotate, rewrap, restart, clear reasons
# when the token is out of reach, and no PIN or plaintext in the data
# directory or the server's logs.
source "$(dirname "$0")/lib.sh"
MODULE=/usr/lib/softhsm/libsofthsm2.so
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null; then
  echo "SKIP: SoftHSM2 is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi
remote=${AIFS_REMOTE_REAL:+yes}

export SOFTHSM2_CONF=$WORK/softhsm2.conf
mkdir -p "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$WORK/tokens" > "$SOFTHSM2_CONF"
PIN=cli-pin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
softhsm2-util --init-token --free --label aifs-cli --pin "$PIN" --so-pin "so-$PIN" >/dev/null
(umask 077 && printf '%s\n' "$PIN" > "$WORK/pin")
URL="pkcs11:token=aifs-cli;object=aifs-kek?module-path=$MODULE&pin-source=file:$WORK/pin"

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
keys_of() { $AIFS --json stat "$1" --chunks | json '" ".join(sorted({c["kms_key_id"] for c in d["chunk_list"]}))'; }
count_on() { $AIFS --json stat "$1" --chunks | json "sum(c['kms_key_id'] == '$2' for c in d['chunk_list'])"; }

expect_error KMS_PIN_IN_URL $AIFS init --kms "pkcs11:token=aifs-cli?module-path=$MODULE&pin-value=$PIN"
rm -rf "$AIFS_DATA"
$AIFS init --kms "$URL" --chunk-min 4096 --chunk-avg 16384 --chunk-max 65536 >/dev/null
[ "$($AIFS --json info | json 'd["kms"], d["kms_current_key"]')" = "pkcs11 pkcs11:aifs-kek-v1" ] ||
  fail "info does not show the pkcs11 KMS: $($AIFS --json info)"
ok "init with the pkcs11 KMS (key v1 generated on the token)"

MARKER=plaintext-marker-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
python3 - "$WORK/a" "$MARKER" <<'EOF'
import sys, random
r = random.Random(7)
words = ["tensor", "weights", "layer", "shard", sys.argv[2]]
open(sys.argv[1], "w").write(" ".join(r.choice(words) for _ in range(60000)))
EOF
head -c 200000 /dev/urandom > "$WORK/b"
a=$($AIFS put "$WORK/a")
$AIFS cat "$a" | cmp -s - "$WORK/a" || fail "asset a reads back differently"
[ "$(keys_of "$a")" = "pkcs11:aifs-kek-v1" ] || fail "a's chunks: $(keys_of "$a")"
ok "put/get through the token"

[ "$($AIFS --json key rotate | json 'd["current_key"]')" = "pkcs11:aifs-kek-v2" ] || fail "rotate"
servers_catch_up
b=$($AIFS put "$WORK/b")
[ "$(keys_of "$b")" = "pkcs11:aifs-kek-v2" ] || fail "b's chunks after rotate: $(keys_of "$b")"
[ "$(keys_of "$a")" = "pkcs11:aifs-kek-v1" ] || fail "rotate touched a's chunks"
$AIFS cat "$a" | cmp -s - "$WORK/a" || fail "a unreadable after rotate"
ok "rotate: new chunks on v2, old ones still read through v1"

old=$(count_on "$a" pkcs11:aifs-kek-v1)
report=$($AIFS --json key rewrap --batch-size 3)
[ "$(echo "$report" | json 'd["complete"], d["chunks_rewrapped"], d["target_key"], d["root_keys_rewrapped"]')" = \
  "True $old pkcs11:aifs-kek-v2 1" ] || fail "rewrap report: $report (expected $old chunks, 1 token root key)"
[ "$(keys_of "$a")" = "pkcs11:aifs-kek-v2" ] || fail "a's chunks after rewrap: $(keys_of "$a")"
[ "$($AIFS --json key rewrap | json 'd["chunks_rewrapped"], d["root_keys_rewrapped"]')" = "0 0" ] || fail "second rewrap moved keys"
ok "rewrap moved $old chunk keys to v2; a rerun has nothing to do"

for f in a b; do $AIFS cat "${!f}" | cmp -s - "$WORK/$f" || fail "$f unreadable after rewrap"; done
$AIFS verify >/dev/null || fail "verify after rewrap"
ok "everything reads and verifies after rewrap"

if [ -z "$remote" ]; then
  # Each embedded command is a restart: module loaded, token found, logged in.
  printf 'wrong-pin\n' > "$WORK/pin"
  expect_error KMS_PIN_INCORRECT $AIFS cat "$a"
  printf '%s\n' "$PIN" > "$WORK/pin"
  chmod 644 "$WORK/pin"
  expect_error KMS_PIN_INSECURE $AIFS cat "$a"
  chmod 600 "$WORK/pin"
  mv "$WORK/pin" "$WORK/pin.away"
  expect_error KMS_PIN_UNAVAILABLE $AIFS cat "$a"
  mv "$WORK/pin.away" "$WORK/pin"
  $AIFS cat "$b" | cmp -s - "$WORK/b" || fail "b unreadable once the PIN is back"
  ok "wrong, exposed and missing PINs fail with their reasons; the right one reads again"
fi

# No PIN or plaintext anywhere in the data directory, nor in the server's
# logs when there is a server.
scan=("$AIFS_DATA")
[ -z "$remote" ] || scan+=("$AIFS_REMOTE_STATE")
for secret in "$PIN" "$MARKER"; do
  if grep -rlaF -- "$secret" "${scan[@]}"; then fail "found a secret in the files above"; fi
done
ok "no PIN or plaintext in $(find "${scan[@]}" -type f | wc -l) files"
echo "PASS $PASS"
