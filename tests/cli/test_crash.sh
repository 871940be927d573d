# A put killed with SIGKILL at any point leaves no visible asset and no
# corruption: the store opens, verifies clean, and the orphans are reclaimed.
source "$(dirname "$0")/lib.sh"
$AIFS init >/dev/null
head -c $((20 * 1024 * 1024)) /dev/urandom > "$WORK/keep"
keep=$($AIFS put "$WORK/keep")

for round in 1 2 3 4 5; do
  # A slow, endless producer; the put is killed after a varying delay.
  ( while true; do head -c $((8 * 1024 * 1024)) /dev/urandom; done ) |
    $AIFS put - > "$WORK/put.out" 2>&1 &
  pid=$!  # the put (a background pipeline's last command; $AIFS execs the binary)
  sleep "0.$((round * 2))"
  # Only this test's put: CTest runs other tests' puts beside it.
  kill -KILL "$pid" 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [ ! -s "$WORK/put.out" ] || fail "round $round: killed put printed an ID: $(cat "$WORK/put.out")"
  n=$($AIFS ls | wc -l)
  [ "$n" = 1 ] || fail "round $round: $n assets visible after a killed put"
  $AIFS verify >/dev/null || fail "round $round: verify failed after crash"
  ok "round $round: store clean after SIGKILL"
done

orphans=$($AIFS --json gc --dry-run | python3 -c 'import json,sys; print(json.load(sys.stdin)["orphan_objects"])')
echo "orphaned objects after 5 killed puts: $orphans"
[ "$orphans" -gt 0 ] || fail "expected the killed puts to leave orphaned chunk objects"
$AIFS gc >/dev/null
left=$($AIFS --json gc --dry-run | python3 -c 'import json,sys; print(json.load(sys.stdin)["orphan_objects"])')
[ "$left" = 0 ] || fail "gc left $left orphans"
ok "gc reclaimed $orphans orphans"
$AIFS cat "$keep" | cmp -s - "$WORK/keep" || fail "surviving asset damaged"
ok "surviving asset intact"
echo "PASS $PASS"
