# Token administration from the CLI: mint, inspect, revoke one token (by the
# token, @FILE or its ID), list, rotate and revoke root keys; the last live
# root key is refused. Locally these work on the data directory; as
# cli_remote.test_tokens every command goes through the Admin RPCs of a
# running server, which must then refuse the revoked tokens at once.
source "$(dirname "$0")/lib.sh"
remote=${AIFS_REMOTE_REAL:+yes}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

$AIFS init -q
echo hello > "$WORK/f"
id=$($AIFS put "$WORK/f")

reader=$($AIFS token mint --ns default --ops get,list --expires 1h)
[ "$($AIFS --json token inspect "$reader" | json '" ".join(d["caveats"][:2])')" = \
  "ns = default ops = get,list" ] || fail "minted caveats: $($AIFS token inspect "$reader")"
reader_id=$($AIFS --json token inspect "$reader" | json 'd["token_id"]')
copy=$($AIFS token attenuate "$reader" --ops get)
other=$($AIFS token mint --ops get,list)
echo "$other" > "$WORK/other.token"
ok "mint and inspect"

if [ -n "$remote" ]; then
  AIFS_TOKEN=$reader $AIFS cat "$id" | cmp -s - "$WORK/f" || fail "reader token cannot read"
  AIFS_TOKEN=$copy $AIFS cat "$id" >/dev/null || fail "attenuated copy cannot read"
  # Through the server, a minted token keeps the caller's caveats.
  narrow=$(AIFS_TOKEN=$other $AIFS token mint 2>&1 >/dev/null || true)
  [[ $narrow == *OPERATION_NOT_ALLOWED* ]] || fail "a get,list token minted a token: $narrow"
fi

# The README's narrower token, literally: `token mint --ns NS --ops get,search
# --expires 1h`, then `aifs search` without --space (which lists the spaces to
# pick the only one: search admits ListSpaces).
if [ -n "$remote" ]; then
  $AIFS space create clip --dim 4 --metric cosine >/dev/null
  /usr/bin/python3 -c 'import numpy as np, sys; np.save(sys.argv[1], np.array([1, 0, 0, 0], np.float32))' "$WORK/v.npy"
  hit=$(echo img | $AIFS put - --embed "clip=$WORK/v.npy")
  searcher=$($AIFS token mint --ns default --ops get,search --expires 1h)
  out=$(AIFS_TOKEN=$searcher $AIFS search --vector "$WORK/v.npy" -k 10) ||
    fail "a get,search token cannot search: $out"
  [[ $out == *"$hit"* ]] || fail "search with a get,search token: $out"
  expect_error OPERATION_NOT_ALLOWED env AIFS_TOKEN="$searcher" $AIFS ls
  ok "README: a get,search token searches"
fi

$AIFS token revoke "$reader_id"
$AIFS token revoke "$reader_id"  # again: fine
$AIFS token revoke "@$WORK/other.token"
expect_error BAD_TOKEN_ID $AIFS token revoke 0123
revoked=$($AIFS --json token keys | json '" ".join(sorted(t["token_id"] for t in d["revoked_tokens"]))')
other_id=$($AIFS --json token inspect "$other" | json 'd["token_id"]')
[ "$revoked" = "$(printf '%s\n' "$reader_id" "$other_id" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "revoked tokens listed: $revoked"
if [ -n "$remote" ]; then
  servers_catch_up
  expect_error TOKEN_REVOKED env AIFS_TOKEN="$reader" $AIFS cat "$id"
  expect_error TOKEN_REVOKED env AIFS_TOKEN="$copy" $AIFS cat "$id"
  expect_error TOKEN_REVOKED env AIFS_TOKEN="$other" $AIFS ls
fi
$AIFS cat "$id" | cmp -s - "$WORK/f" || fail "the admin token stopped working"
ok "revoke one token (and its copies), others unaffected"

# Root keys: rotate (locally the new admin token replaces admin.token; a
# remote admin gets it printed and keeps it), then retire r1.
old_admin=$(cat "$AIFS_DATA/admin.token")
rot=$($AIFS --json token rotate-root)
[ "$(echo "$rot" | json 'd["root_key"]')" = r2 ] || fail "rotate-root: $rot"
if [ -n "$remote" ]; then
  echo "$rot" | json 'd["admin_token"]' > "$AIFS_DATA/admin.token"
else
  [ "$(echo "$rot" | json 'd["admin_token_file"]')" = "$AIFS_DATA/admin.token" ] || fail "rotate-root: $rot"
fi
[ "$($AIFS --json token inspect "@$AIFS_DATA/admin.token" | json 'd["root_key"]')" = r2 ] ||
  fail "the new admin token is not under r2"
$AIFS token revoke-root r1
expect_error LAST_ROOT_KEY $AIFS token revoke-root r2
expect_error UNKNOWN_KEY $AIFS token revoke-root r7
[ "$($AIFS --json token keys | json '" ".join(k["id"] + ":" + k["state"] for k in d["root_keys"])')" = \
  "r1:revoked r2:current" ] || fail "root keys: $($AIFS token keys)"
if [ -n "$remote" ]; then
  servers_catch_up
  expect_error KEY_REVOKED env AIFS_TOKEN="$old_admin" $AIFS ls
fi
$AIFS cat "$id" | cmp -s - "$WORK/f" || fail "the r2 admin token cannot read"
ok "rotate-root and revoke-root"
echo "PASS test_tokens ($PASS checks)"
