# Three stateless servers on one store (issue 21): metadata in PostgreSQL
# (a server of this test's own, so it can be stopped), chunks in Ceph RADOS
# (AIFS_TEST_CHUNKS=rados, the default), radosgw's S3 (=s3) or a shared
# directory (=file), each server with its own small data directory.
#   - put through A; get, stat, search and snapshot through B; C follows the
#     event log with no gap or duplicate against the log itself
#   - a namespace quota stays exact under concurrent puts on all three
#   - SIGKILL of a server mid-put: nothing visible, its lease lapses, gc on
#     another server reclaims its chunks
#   - PostgreSQL stopped for 10 s: clear UNAVAILABLE errors, recovery without
#     restarting any server
#   - s3: a wrong secret fails at init, not at the first put
# Ceph comes from the CTest fixture aifs_ceph (AIFS_TEST_CEPH_DIR); without
# it (or without PostgreSQL) the test is skipped (77).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODE=${AIFS_TEST_CHUNKS:-rados}
for tool in b3sum python3; do command -v $tool >/dev/null || fail "$tool is required"; done
py() { /usr/bin/python3 -c "$@"; }
rand() { head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ---- backends
PG=/tmp/aifs-so-pg.$$
CLEANUP_CMDS+=("'$ROOT/scripts/pg-down.sh' '$PG'; rm -rf '$PG'")
port=$((40000 + $$ % 20000))
PGURL=$("$ROOT/scripts/pg-up.sh" "$PG" $port) || { rc=$?; [ $rc = 77 ] && exit 77; fail "pg-up: $rc"; }
META="$PGURL&schema=so$(rand)"
CEPH=${AIFS_TEST_CEPH_DIR:-}
case $MODE in
  rados)
    [ -n "$CEPH" ] && [ -s "$CEPH/rados-url" ] || { echo "skip: no Ceph cluster (AIFS_TEST_CEPH_DIR)"; exit 77; }
    CHUNKS="$(cat "$CEPH/rados-url")&namespace=so$(rand)" ;;
  s3)
    [ -n "$CEPH" ] && [ -s "$CEPH/s3-endpoint" ] || { echo "skip: no radosgw (AIFS_TEST_CEPH_DIR)"; exit 77; }
    CHUNKS="s3://so$(rand)?endpoint=$(cat "$CEPH/s3-endpoint")&credentials=$CEPH/s3-credentials" ;;
  file) CHUNKS="file://$WORK/shared-chunks" ;;
  *) fail "AIFS_TEST_CHUNKS=$MODE: rados, s3 or file" ;;
esac
echo "metadata: postgresql (schema of its own); chunks: $MODE"

if [ "$MODE" = s3 ]; then
  printf '[default]\naws_access_key_id = AIFSTESTACCESSKEY\naws_secret_access_key = wrong\n' >"$WORK/bad-creds"
  bad="s3://so$(rand)?endpoint=$(cat "$CEPH/s3-endpoint")&credentials=$WORK/bad-creds"
  out=$($AIFS --data "$WORK/bad" init --meta "$PGURL&schema=bad$(rand)" --chunks "$bad" 2>&1) &&
    fail "init with a wrong S3 secret succeeded"
  [[ $out == *S3_AUTH_FAILED* ]] || fail "wrong S3 secret: $out"
  [[ $out != *wrong* ]] || fail "the secret shows in the error: $out"
  ok "a wrong S3 secret fails at init (S3_AUTH_FAILED), the secret not shown"
fi

# ---- three servers: A creates the store, B and C join it (same KMS key)
$AIFS --data "$WORK/a" -q init --meta "$META" --chunks "$CHUNKS" >/dev/null
for s in b c; do
  $AIFS --data "$WORK/$s" -q init --meta "$META" --kms "local://$WORK/a/kms/master.keys" >/dev/null
done
for s in a b c; do
  info=$($AIFS --data "$WORK/$s" --json info)
  py "import json,sys; d=json.loads(sys.argv[1]); assert d['meta_url'].startswith('postgresql://') and d['chunk_url'] == sys.argv[2], d" \
    "$info" "$CHUNKS" || fail "info on $s: $info"
done
ids=$(for s in a b c; do $AIFS --data "$WORK/$s" --json info | py 'import json,sys; print(json.load(sys.stdin)["store_id"])'; done | sort -u | wc -l)
[ "$ids" = 1 ] || fail "the three servers have $ids store IDs"
ok "three data directories joined one store (info shows postgresql:// and the chunk URL)"
export AIFS_TOKEN=@$WORK/a/admin.token  # root keys live in the shared metadata
# No periodic health probes: each writes a chunk object under its server's
# lease, which would blur the gc counts of the SIGKILL check below.
DATA=$WORK/a start_server A --lease-ttl 3 --health-interval 3600
DATA=$WORK/b start_server B --health-interval 3600
DATA=$WORK/c start_server C --health-interval 3600

# C follows the log from the start.
$AIFS --server "$ADDR_C" --json events -f >"$WORK/followed.json" 2>"$WORK/follow.err" &
FOLLOW=$!

head -c 3000000 /dev/urandom >"$WORK/f1"
id=$($AIFS --server "$ADDR_A" -q put "$WORK/f1" --path data/f1.bin)
$AIFS --server "$ADDR_B" get "$id" -o "$WORK/f1.back"
[ "$(b3 "$WORK/f1")" = "$(b3 "$WORK/f1.back")" ] || fail "get through B differs from what A stored"
$AIFS --server "$ADDR_C" cat data/f1.bin | cmp - "$WORK/f1" || fail "cat by path through C"
ok "put through A, get through B, cat by path through C: b3sum equal"

$AIFS --server "$ADDR_A" space create s --dim 4 --metric l2 >/dev/null
py 'import numpy as np, sys
for i in range(20): np.save(sys.argv[1] + "/v%d.npy" % i, np.array([i, i % 3, 1.0, -i], dtype=np.float32))' "$WORK"
vec_ids=()
for i in $(seq 0 19); do
  vec_ids+=("$(echo "vec $i" | $AIFS --server "$ADDR_A" -q put - --embed "s=$WORK/v$i.npy" --meta i=$i)")
done
hit=$($AIFS --server "$ADDR_B" --json search --vector "$WORK/v7.npy" -k 1 |
  py 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])')
[ "$hit" = "${vec_ids[7]}" ] || fail "search through B found $hit, not ${vec_ids[7]}"
ok "vectors put through A are found by a search through B"

snap=$($AIFS --server "$ADDR_B" -q snapshot create)
count=$($AIFS --server "$ADDR_C" --json snapshot show "$snap" | py 'import json,sys; print(json.load(sys.stdin)["count"])')
[ "$count" = 21 ] || fail "snapshot through B holds $count assets, not 21"
$AIFS --server "$ADDR_C" snapshot verify "$snap" >/dev/null || fail "snapshot verify through C"
ok "snapshot through B holds every asset put through A; verified through C"

# ---- quota: exactly 30 more assets, puts racing on all three servers
have=$($AIFS --server "$ADDR_A" --json ns show default | py 'import json,sys; print(json.load(sys.stdin)["assets"])')
$AIFS --server "$ADDR_A" ns policy default --max-assets $((have + 30)) >/dev/null
racers=()
for s in A B C; do
  addr=ADDR_$s
  (
    for i in $(seq 1 20); do
      if echo "quota $s $i $(rand)" | $AIFS --server "${!addr}" -q put - >/dev/null 2>"$WORK/q-$s-$i.err"; then
        echo ok
      else
        grep -q QUOTA_EXCEEDED "$WORK/q-$s-$i.err" && echo quota || echo "other: $(cat "$WORK/q-$s-$i.err")"
      fi
    done >"$WORK/quota-$s"
  ) &
  racers+=($!)
done
wait "${racers[@]}"
okays=$(cat "$WORK"/quota-? | grep -c '^ok$' || true)
others=$(cat "$WORK"/quota-? | grep '^other' || true)
[ -z "$others" ] || fail "puts failed for another reason than the quota: $others"
[ "$okays" = 30 ] || fail "$okays puts succeeded under a quota of 30 more"
now_count=$($AIFS --server "$ADDR_B" --json ns show default | py 'import json,sys; print(json.load(sys.stdin)["assets"])')
[ "$now_count" = $((have + 30)) ] || fail "asset_count $now_count, expected $((have + 30))"
ok "quota exact: 30 of 60 racing puts on 3 servers succeeded, the rest QUOTA_EXCEEDED"
$AIFS --server "$ADDR_A" ns policy default --max-assets 0 >/dev/null

# ---- SIGKILL of A mid-put
python3 - "$WORK/slow.py" <<'PY'
import sys
open(sys.argv[1], "w").write('''import os, sys, time
out = sys.stdout.buffer
for i in range(400):
    out.write(os.urandom(1 << 16)); out.flush(); time.sleep(0.01)
''')
PY
before=$($AIFS --server "$ADDR_B" --json gc --dry-run | py 'import json,sys; print(json.load(sys.stdin)["objects_scanned"])')
python3 "$WORK/slow.py" | $AIFS --server "$ADDR_A" put - >/dev/null 2>&1 &
PUTTER=$!
for i in $(seq 100); do
  dry=$($AIFS --server "$ADDR_B" --json gc --dry-run)
  n=$(py 'import json,sys; print(json.loads(sys.argv[1])["objects_scanned"])' "$dry")
  [ "$n" -gt "$before" ] && break
  sleep 0.1
done
[ "$n" -gt "$before" ] || fail "the slow put stored no chunk within 10 s"
kill -KILL "$PID_A"
wait "$PUTTER" 2>/dev/null || true
report1=$($AIFS --server "$ADDR_B" --json gc)
leased=$(py 'import json,sys; d=json.loads(sys.argv[1]); print(d["objects_leased"], d["reclaimed_objects"])' "$report1")
[ "${leased#* }" = 0 ] || fail "gc right after the kill reclaimed chunks of a live lease: $report1"
[ "${leased% *}" -gt 0 ] || fail "gc right after the kill saw no leased objects: $report1 (a dry run before the kill: $dry)"
sleep 3.5
report2=$($AIFS --server "$ADDR_B" --json gc)
gc=$(py 'import json,sys; d=json.loads(sys.argv[1]); print(d["leases_revoked"], d["reclaimed_objects"], d["objects_leased"])' "$report2")
set -- $gc
[ "$1" -ge 1 ] && [ "$2" -ge "${leased% *}" ] && [ "$3" = 0 ] ||
  fail "gc after the lease lapsed: revoked/reclaimed/leased = $gc; first gc $report1; second $report2"
after=$($AIFS --server "$ADDR_B" --json gc --dry-run | py 'import json,sys; print(json.load(sys.stdin)["objects_scanned"])')
[ "$after" = "$before" ] || fail "$after objects after gc, $before before the killed put"
$AIFS --server "$ADDR_C" get "$id" -o "$WORK/f1.again" && cmp "$WORK/f1" "$WORK/f1.again" || fail "committed data after the kill"
ok "SIGKILL mid-put: nothing visible; its chunks leased ($leased), reclaimed once the 3 s lease lapsed"

# ---- PostgreSQL away for 10 s: clear errors, recovery without restarts
"$ROOT/scripts/pg-down.sh" "$PG" --keep
t0=$(now)
err=$($AIFS --server "$ADDR_B" stat "$id" 2>&1 >/dev/null) && fail "stat succeeded with PostgreSQL stopped"
[[ $err == *UNAVAILABLE* && $err == *METADATA_UNAVAILABLE* ]] || fail "stat without PostgreSQL: $err"
err=$(echo "while down" | $AIFS --server "$ADDR_C" put - 2>&1 >/dev/null) && fail "put succeeded with PostgreSQL stopped"
[[ $err == *UNAVAILABLE* ]] || fail "put without PostgreSQL: $err"
took=$(since "$t0")
sleep 10
"$ROOT/scripts/pg-up.sh" "$PG" $port >/dev/null
for i in $(seq 50); do $AIFS --server "$ADDR_B" stat "$id" >/dev/null 2>&1 && break; sleep 0.2; done
$AIFS --server "$ADDR_B" stat "$id" >/dev/null || fail "B did not recover after PostgreSQL came back"
id2=$(echo "after the outage" | $AIFS --server "$ADDR_C" -q put -) || fail "put through C after the outage"
[ "$($AIFS --server "$ADDR_B" cat "$id2")" = "after the outage" ] || fail "cat through B after the outage"
ok "PostgreSQL stopped 10 s: UNAVAILABLE METADATA_UNAVAILABLE (errors took ${took}s), B and C recovered without restart"

# ---- the followed log: every entry once, in order, as the log itself has it
sleep 1
kill "$FOLLOW" 2>/dev/null || true
wait "$FOLLOW" 2>/dev/null || true
$AIFS --server "$ADDR_B" --json events >"$WORK/all.json"
py 'import json, sys
seqs = lambda p: [json.loads(l)["seq"] for l in open(p) if l.strip()]
followed, logged = seqs(sys.argv[1]), seqs(sys.argv[2])
assert len(followed) == len(set(followed)), "duplicates in the followed stream"
assert followed == sorted(followed), "the followed stream is out of order"
assert followed == logged[:len(followed)], "followed %d entries, first difference at %s" % (
    len(followed), next((i for i, (a, b) in enumerate(zip(followed, logged)) if a != b), None))
assert len(followed) >= len(logged) - 2, "follow missed entries: %d of %d" % (len(followed), len(logged))
print(len(followed), "events followed")' "$WORK/followed.json" "$WORK/all.json" || fail "event follow through C"
ok "events followed through C: no gap, no duplicate (against the log read through B)"
stop_server B
stop_server C
echo "PASS: $PASS checks"
