# aifs query (docs/privacy.md): exact answers without a policy; under
# `aifs ns policy --dp-*` noisy answers whose epsilon the ledger debits,
# refusals once it is spent, a token's --dp-epsilon budget, the ledger and its
# events; the Gaussian mechanism with its delta budget. As
# cli_remote.test_query every command goes through a server.
source "$(dirname "$0")/lib.sh"
remote=${AIFS_REMOTE_REAL:+yes}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

$AIFS init -q
for i in $(seq 0 19); do
  c=fr; [ $((i % 2)) = 1 ] && c=de
  echo "person $i" | $AIFS put - --meta age=$i --meta country=$c >/dev/null
done

# Without a policy: exact.
[ "$($AIFS --json query count | json 'd["count"]')" = 20 ] || fail "count: $($AIFS query count)"
[ "$($AIFS --json query count --where country=fr | json 'd["count"]')" = 10 ] || fail "count fr"
[ "$($AIFS --json query sum age --where 'age>=10' | json 'd["sum"]')" = 145.0 ] || fail "sum"
[ "$($AIFS --json query mean age | json 'd["mean"]')" = 9.5 ] || fail "mean"
[ "$($AIFS --json query histogram age --bins 2 --lower 0 --upper 20 |
    json '[b["count"] for b in d["bins"]]')" = "[10, 10]" ] || fail "histogram"
[ "$($AIFS --json query quantiles age --q 0.5 --lower 0 --upper 20 |
    json 'd["quantiles"][0]["value"]')" = 9.0 ] || fail "median"
[ "$($AIFS --json query count | json 'd["mechanism"]')" = exact ] || fail "mechanism"
expect_error BOUNDS_MISSING $AIFS query histogram age
expect_error TOO_MANY_BINS $AIFS query histogram age --bins 1001 --lower 0 --upper 1
expect_error FIELD_NOT_FOUND $AIFS query sum height
ok "exact answers without a policy"

# A policy: total 1, at most 0.5 a query, age clamped to [0, 100].
$AIFS ns policy default --dp-epsilon 1 --dp-max-query 0.5 --dp-field age:0:100 >/dev/null
expect_error BAD_EPSILON $AIFS query count
expect_error BAD_EPSILON $AIFS query count --epsilon -0.1
expect_error EPSILON_TOO_LARGE $AIFS query count --epsilon 0.6
expect_error FIELD_NOT_IN_POLICY $AIFS query sum height --epsilon 0.1
expect_error BAD_FIELD_SPEC $AIFS ns policy default --dp-field age:0
out=$($AIFS --json query count --epsilon 0.25 --who analyst)
[ "$(echo "$out" | json 'd["noisy"]')" = True ] || fail "not noisy: $out"
[ "$(echo "$out" | json 'd["remaining_epsilon"]')" = 0.75 ] || fail "remaining: $out"
[ "$(echo "$out" | json 'd["mechanism"]')" = "discrete_laplace(scale=4/1)" ] || fail "$out"
$AIFS query histogram age --bins 5 --epsilon 0.5 >/dev/null
out=$($AIFS --json query mean age --epsilon 0.25)
[ "$(echo "$out" | json 'd["remaining_epsilon"]')" = 0 ] || fail "remaining: $out"
out=$($AIFS query count --epsilon 0.000001 2>&1 >/dev/null) && fail "answered past the budget"
[[ $out == *PRIVACY_BUDGET_EXHAUSTED*"epsilon 0 left"* ]] || fail "exhausted: $out"
ok "a policy's budget is spent exactly and then refused"

ledger=$($AIFS --json query ledger)
[ "$(echo "$ledger" | json 'd["spent_epsilon"], d["queries"], len(d["charges"])')" = "1 3 3" ] ||
  fail "ledger: $ledger"
[ "$(echo "$ledger" | json 'd["charges"][2]["query"]')" = count ] || fail "ledger: $ledger"
[[ $(echo "$ledger" | json 'd["charges"][2]["who"]') == *analyst* ]] || fail "who: $ledger"
events=$($AIFS --json events --type privacy_budget_spent | wc -l)
[ "$events" = 3 ] || fail "privacy_budget_spent events: $events"
ok "the ledger and the event log name who spent what"

# The Gaussian mechanism: a delta budget beside epsilon, both spent together.
expect_error GAUSSIAN_NOT_ALLOWED $AIFS query count --epsilon 0.1 --mechanism gaussian --delta 1e-6
expect_error BAD_DELTA $AIFS ns policy default --dp-delta 1
expect_error BAD_DELTA $AIFS ns policy default --dp-delta -1e-6
$AIFS ns policy default --dp-epsilon 2 --dp-delta 1e-5 --dp-max-query-delta 6e-6 >/dev/null
expect_error BAD_DELTA $AIFS query count --epsilon 0.1 --mechanism gaussian --delta abc
expect_error DELTA_REQUIRED $AIFS query count --epsilon 0.1 --mechanism gaussian
expect_error DELTA_TOO_LARGE $AIFS query count --epsilon 0.1 --mechanism gaussian --delta 7e-6
expect_error BAD_MECHANISM $AIFS query count --epsilon 0.1 --mechanism cauchy
out=$($AIFS --json query count --epsilon 0.5 --mechanism gaussian --delta 6e-6)
[ "$(echo "$out" | json 'd["delta"], d["remaining_delta"], d["remaining_epsilon"]')" = \
  "6e-6 4e-6 0.5" ] || fail "gaussian count: $out"
[[ $(echo "$out" | json 'd["mechanism"]') == "discrete_gaussian(sigma2="* ]] || fail "$out"
out=$($AIFS --json query histogram age --bins 5 --epsilon 0.2 --mechanism gaussian --delta 4e-6)
[ "$(echo "$out" | json 'd["remaining_delta"], len(d["bins"])')" = "0 5" ] || fail "$out"
out=$($AIFS query count --epsilon 0.1 --mechanism gaussian --delta 1e-12 2>&1 >/dev/null) &&
  fail "answered past the delta budget"
[[ $out == *PRIVACY_BUDGET_EXHAUSTED*"epsilon 0.3, delta 0 left"* ]] || fail "exhausted: $out"
$AIFS query count --epsilon 0.1 >/dev/null || fail "a laplace query needs no delta"
ledger=$($AIFS --json query ledger)
[ "$(echo "$ledger" | json 'd["spent_delta"], d["remaining_delta"], d["policy"]["total_delta"]')" = \
  "1e-5 0 1e-5" ] || fail "ledger delta: $ledger"
[ "$(echo "$ledger" | json 'd["charges"][0]["delta"], d["charges"][1]["delta"]')" = "0 4e-6" ] ||
  fail "charges' delta: $ledger"
[[ $(echo "$ledger" | json 'd["charges"][1]["mechanism"]') == "discrete_gaussian(per bin sigma2="* ]] ||
  fail "charge mechanism: $ledger"
[[ $($AIFS query ledger) == *"delta 4e-6"*"discrete_gaussian"* ]] || fail "$($AIFS query ledger)"
ok "gaussian queries spend epsilon and delta, and are refused once delta is spent"

# A token budget: through a server, an analyst token capped at 0.3.
if [ -n "$remote" ]; then
  $AIFS ns policy default --dp-epsilon 3 >/dev/null
  analyst=$($AIFS token mint --ns default --ops query --dp-epsilon 0.3)
  AIFS_TOKEN=$analyst $AIFS query count --epsilon 0.2 >/dev/null || fail "analyst cannot query"
  out=$(AIFS_TOKEN=$analyst $AIFS query count --epsilon 0.2 2>&1 >/dev/null) &&
    fail "the analyst spent past its caveat"
  [[ $out == *PRIVACY_BUDGET_EXHAUSTED*"0.1 left"* ]] || fail "caveat: $out"
  narrower=$($AIFS token attenuate "$analyst" --dp-epsilon 0.5)
  expect_error PRIVACY_BUDGET_EXHAUSTED env AIFS_TOKEN="$narrower" $AIFS query count --epsilon 0.2
  expect_error OPERATION_NOT_ALLOWED env AIFS_TOKEN="$analyst" $AIFS ls
  reader=$($AIFS token mint --ns default --ops get,list)
  expect_error OPERATION_NOT_ALLOWED env AIFS_TOKEN="$reader" $AIFS query count --epsilon 0.1
  ok "a token's dp_epsilon caveat caps it and its attenuations"
fi
