# History end to end: commit to branches, checkout, log, merge (clean, with
# a conflict stopped and then resolved), revert. Runs embedded and, as
# cli_remote.test_history, through the server.
source "$(dirname "$0")/lib.sh"
export AIFS_TRUST="$WORK/trust.json"
$AIFS init >/dev/null
put() { printf '%s' "$1" > "$WORK/f"; $AIFS put "$WORK/f" --path "$2"; }

put a1 a >/dev/null; put b1 b >/dev/null
s1=$($AIFS -q snapshot create --branch main -m base)
$AIFS branch create dev main >/dev/null
put a2 a >/dev/null; put c1 c >/dev/null
$AIFS -q snapshot create --branch dev -m "dev work" >/dev/null
$AIFS checkout main | grep -q "1 paths bound, 1 unbound" || fail "checkout main"
[ "$($AIFS cat a)" = a1 ] || fail "checkout restored a"
put b2 b >/dev/null
$AIFS -q snapshot create --branch main -m "main work" >/dev/null
out=$($AIFS merge dev --into main)
[[ $out == *"main: merged at"* ]] || fail "merge: $out"
$AIFS checkout main >/dev/null
[ "$($AIFS cat a)$($AIFS cat b)$($AIFS cat c)" = a2b2c1 ] || fail "merged content"
log=$($AIFS log main)
[[ $log == *"Merge:"* && $log == *"dev work"* && $log == *"main work"* && $log == *"base"* ]] \
  || fail "log: $log"
ok "branches, checkout, clean merge, log"

put a3 a >/dev/null
$AIFS -q snapshot create --branch main -m "main a3" >/dev/null
$AIFS checkout dev >/dev/null
put a4 a >/dev/null
$AIFS -q snapshot create --branch dev -m "dev a4" >/dev/null
before=$($AIFS --json snapshot show main | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
out=$($AIFS merge dev --into main 2>&1) && fail "conflicting merge succeeded"
[[ $out == *"CONFLICT"*"a"* && $out == *"MERGE_CONFLICT"* ]] || fail "conflict report: $out"
after=$($AIFS --json snapshot show main | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[ "$before" = "$after" ] || fail "a stopped merge moved main"
$AIFS merge dev --into main --strategy theirs >/dev/null
[ "$($AIFS cat a --as-of main)" = a4 ] || fail "--strategy theirs"
ok "conflicts stop the merge; --strategy resolves"

rev=$($AIFS --json log main -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
$AIFS revert "$rev" --branch main >/dev/null
[ "$($AIFS cat a --as-of main)" = a3 ] || fail "revert of the merge's change to a"
ok "revert"
echo "PASS ($PASS)"
