# The gRPC server end to end, through the CLI's remote mode: TLS and mutual
# TLS with certificates made here by openssl; graceful shutdown with a put in
# flight (all or nothing, never partial); a client killed mid-put; a 2 GiB
# streamed put and get in bounded server memory; the event log and its follow
# mode; health. Every server runs on 127.0.0.1 with a port picked by the kernel.
source "$(dirname "$0")/lib.sh"
for tool in openssl b3sum python3; do
  command -v $tool >/dev/null || fail "$tool is required"
done
T_START=$(date +%s.%N)
count() { $AIFS --server "$1" ls | wc -l; }
orphans() {
  $AIFS --server "$1" --json gc --dry-run |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["orphan_objects"])'
}

# gen.py SIZE SEED [BLOCK [DELAY]]: SIZE deterministic pseudo-random bytes on
# stdout, BLOCK bytes a write, DELAY seconds between writes (a slow producer).
cat > "$WORK/gen.py" <<'PY'
import random, signal, sys, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a reader that goes away ends us quietly
size, seed = int(sys.argv[1]), int(sys.argv[2])
block = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 20
delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
r, out = random.Random(seed), sys.stdout.buffer
while size > 0:
    b = r.randbytes(min(size, block))
    out.write(b)
    size -= len(b)
    if delay:
        out.flush()
        time.sleep(delay)
out.flush()
PY
gen() { python3 "$WORK/gen.py" "$@"; }

# ===================================================================== TLS
cd "$WORK"
mkca() {  # mkca NAME: a self-signed CA
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$1" -keyout "$1.key" -out "$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>/dev/null || fail "openssl: CA $1"
}
mkcert() {  # mkcert NAME CA EXTENSIONS: a key and a certificate signed by CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null || fail "openssl: request $1"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null || fail "openssl: sign $1"
}
mkca ca
mkca other-ca
mkcert server ca $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE'
mkcert client ca $'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE'
mkcert rogue other-ca $'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE'
openssl verify -CAfile ca.crt server.crt client.crt >/dev/null || fail "openssl verify"
! openssl verify -CAfile ca.crt rogue.crt >/dev/null 2>&1 || fail "rogue.crt chains to ca.crt"
cd - >/dev/null

$AIFS --data "$WORK/tls-data" init -q
$AIFS --data "$WORK/mtls-data" init -q
# Every call carries a token (init leaves the admin token in the data
# directory); TLS does not replace it. Each section below uses its own store's.
export AIFS_TOKEN=@$WORK/tls-data/admin.token
MTLS_TOKEN=@$WORK/mtls-data/admin.token
DATA="$WORK/tls-data" start_server tls --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key"
DATA="$WORK/mtls-data" start_server mtls --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" \
  --tls-client-ca "$WORK/ca.crt"
grep -q "(TLS)$" "$WORK/tls.out" || fail "TLS server does not say TLS: $(cat "$WORK/tls.out")"

# Refused connections take the client's whole connect deadline (about 10 s):
# they run side by side, each in the background, and are collected below.
NEG_PIDS=() NEG_NAMES=()
refused() {  # refused NAME REASON cmd...: the command must fail with REASON
  local name=$1
  shift
  ( expect_error "$@" && touch "$WORK/refused.$name.ok" ) > "$WORK/refused.$name.log" 2>&1 &
  NEG_PIDS+=($!)
  NEG_NAMES+=("$name")
}
refused plaintext-client UNAVAILABLE $AIFS --server "$ADDR_tls" ls
refused other-ca UNAVAILABLE $AIFS --server "$ADDR_tls" --tls-ca "$WORK/other-ca.crt" ls
refused wrong-server-name UNAVAILABLE $AIFS --server "$ADDR_tls" --tls-ca "$WORK/ca.crt" \
  --tls-server-name wrong.example ls
refused mtls-no-client-cert UNAVAILABLE $AIFS --server "$ADDR_mtls" --tls-ca "$WORK/ca.crt" ls
refused mtls-cert-of-other-ca UNAVAILABLE $AIFS --server "$ADDR_mtls" --tls-ca "$WORK/ca.crt" \
  --tls-client-cert "$WORK/rogue.crt" --tls-client-key "$WORK/rogue.key" ls

head -c $((3 * 1024 * 1024 + 17)) /dev/urandom > "$WORK/f"
want=$(b3 "$WORK/f")
id=$($AIFS --server "$ADDR_tls" --tls-ca "$WORK/ca.crt" put "$WORK/f")
[ "$id" = "$want" ] || fail "put over TLS printed $id, b3sum says $want"
$AIFS --server "$ADDR_tls" --tls-ca "$WORK/ca.crt" get "$id" -o "$WORK/f.back"
cmp -s "$WORK/f" "$WORK/f.back" || fail "get over TLS differs"
AIFS_SERVER=$ADDR_tls AIFS_TLS_CA=$WORK/ca.crt $AIFS cat "$id" | cmp -s - "$WORK/f" ||
  fail "cat over TLS with AIFS_SERVER/AIFS_TLS_CA differs"
[ "$($AIFS --server "localhost:${ADDR_tls##*:}" --tls-ca "$WORK/ca.crt" ls | cut -f1)" = "$id" ] ||
  fail "TLS to localhost (DNS SAN)"
[ "$($AIFS --server "$ADDR_tls" --tls-ca "$WORK/ca.crt" --tls-server-name localhost ls | cut -f1)" = "$id" ] ||
  fail "--tls-server-name localhost"
ok "TLS: put/get/cat round trip with --tls-ca and AIFS_TLS_CA; IP and DNS names"

expect_error BAD_TLS_FILES $AIFS --server "$ADDR_mtls" --tls-ca "$WORK/ca.crt" \
  --tls-client-cert "$WORK/client.crt" ls
id=$($AIFS --server "$ADDR_mtls" --token "$MTLS_TOKEN" --tls-ca "$WORK/ca.crt" --tls-client-cert "$WORK/client.crt" \
  --tls-client-key "$WORK/client.key" put "$WORK/f")
[ "$id" = "$want" ] || fail "put over mutual TLS printed $id"
AIFS_SERVER=$ADDR_mtls AIFS_TOKEN=$MTLS_TOKEN AIFS_TLS_CA=$WORK/ca.crt AIFS_TLS_CERT=$WORK/client.crt \
  AIFS_TLS_KEY=$WORK/client.key $AIFS get "$id" -o - | cmp -s - "$WORK/f" ||
  fail "get over mutual TLS (AIFS_TLS_CERT/AIFS_TLS_KEY) differs"
ok "mutual TLS: a client with a certificate of the CA is served"

t0=$(now)
for i in "${!NEG_PIDS[@]}"; do
  wait "${NEG_PIDS[i]}" || true
  [ -f "$WORK/refused.${NEG_NAMES[i]}.ok" ] ||
    fail "${NEG_NAMES[i]} was not refused: $(grep -v '^E[0-9]' "$WORK/refused.${NEG_NAMES[i]}.log")"
  echo "  refused: ${NEG_NAMES[i]}"
done
ok "refused with UNAVAILABLE: plaintext client, other CA, wrong server name, no client certificate, client certificate of another CA (waited $(since "$t0") s more)"
stop_server tls
stop_server mtls
ok "TLS servers stopped with exit code 0"

# ======================================================= graceful shutdown
GS=$WORK/gs-data
$AIFS --data "$GS" init -q
export AIFS_TOKEN=@$GS/admin.token
DATA="$GS" start_server gs --grace-ms 500
expect_error LOCAL_ONLY $AIFS --server "$ADDR_gs" init
expect_error LOCAL_ONLY $AIFS --server "$ADDR_gs" serve
printf 'keep me' > "$WORK/keep"
keep=$($AIFS --server "$ADDR_gs" put "$WORK/keep")
# A put trickling at ~6 MB/s that cannot end within the 500 ms grace period.
TRICKLE_SIZE=$((256 * 1024 * 1024))
trickle_id=$(gen $TRICKLE_SIZE 11 | b3sum --no-names)
gen $TRICKLE_SIZE 11 65536 0.01 | $AIFS --server "$ADDR_gs" put - > "$WORK/trickle.out" 2> "$WORK/trickle.err" &
put_pid=$!
sleep 1.5
running $put_pid || fail "the trickling put ended early: $(cat "$WORK/trickle.err")"
stop_server gs 10
put_rc=0
wait $put_pid || put_rc=$?
echo "  server exited 0 ${STOP_TIME} s after SIGTERM (--grace-ms 500); the put exited $put_rc: $(cat "$WORK/trickle.err")"
DATA="$GS" start_server gs --grace-ms 500
n=$(count "$ADDR_gs")
if [ "$n" = 1 ]; then
  [ $put_rc != 0 ] || fail "the put succeeded but its asset is gone"
  [ ! -s "$WORK/trickle.out" ] || fail "a failed put printed an ID: $(cat "$WORK/trickle.out")"
  outcome=absent
elif [ "$n" = 2 ]; then
  got=$($AIFS --server "$ADDR_gs" ls | cut -f1 | grep -v "$keep")
  [ "$got" = "$trickle_id" ] || fail "a partial asset is visible: $got (the whole stream is $trickle_id)"
  [ "$($AIFS --server "$ADDR_gs" get "$got" -o - | b3sum --no-names)" = "$trickle_id" ] ||
    fail "the asset's bytes do not hash to its ID"
  [ $put_rc = 0 ] && [ "$(cat "$WORK/trickle.out")" = "$trickle_id" ] ||
    fail "the asset is present but the put said otherwise (exit $put_rc)"
  outcome="fully present"
else
  fail "$n assets after the restart (expected 1 or 2)"
fi
left=$(orphans "$ADDR_gs")
$AIFS --server "$ADDR_gs" gc >/dev/null
[ "$(orphans "$ADDR_gs")" = 0 ] || fail "gc left orphans"
$AIFS --server "$ADDR_gs" verify >/dev/null || fail "verify after the shutdown"
[ "$($AIFS --server "$ADDR_gs" cat "$keep")" = "keep me" ] || fail "the kept asset changed"
ok "SIGTERM with a put in flight: exit 0, the asset is $outcome, never partial; $left orphans before gc, 0 after; verify passes"

# A put that ends within a longer grace period completes, and the server exits
# as soon as it has (not after the whole grace period).
stop_server gs
# (A generous grace: on a loaded 2-core machine the 2-second put can take
# several seconds more; the point is that the server does not wait it out.)
DATA="$GS" start_server gs --grace-ms 30000
SHORT_SIZE=$((40 * 1024 * 1024))
short_id=$(gen $SHORT_SIZE 12 | b3sum --no-names)
gen $SHORT_SIZE 12 $((1024 * 1024)) 0.05 | $AIFS --server "$ADDR_gs" put - > "$WORK/short.out" 2> "$WORK/short.err" &
put_pid=$!
sleep 1
running $put_pid || fail "the 2-second put ended within 1 s"
stop_server gs 35
wait $put_pid || fail "a put in flight failed within the grace period: $(cat "$WORK/short.err")"
[ "$(cat "$WORK/short.out")" = "$short_id" ] || fail "the put printed $(cat "$WORK/short.out")"
awk -v t="$STOP_TIME" 'BEGIN { exit !(t < 25.0) }' || fail "the server waited the whole grace period ($STOP_TIME s)"
DATA="$GS" start_server gs
[ "$($AIFS --server "$ADDR_gs" get "$short_id" -o - | b3sum --no-names)" = "$short_id" ] ||
  fail "the put completed in the grace period is not readable"
ok "SIGTERM with --grace-ms 30000: the put in flight completed, the server exited 0 after $STOP_TIME s"

# ================================================== a client killed mid-put
before=$(count "$ADDR_gs")
gen $((300 * 1000 * 1000)) 13 $((1024 * 1024)) 0.015 | $AIFS --server "$ADDR_gs" put - > "$WORK/killed.out" 2>&1 &
put_pid=$!
sleep 1
tr '\0' ' ' < "/proc/$put_pid/cmdline" | grep -q " put -" || fail "pid $put_pid is not the put"
running $put_pid || fail "the 300 MB put ended within 1 s: $(cat "$WORK/killed.out")"
kill -KILL $put_pid
wait $put_pid 2>/dev/null || true
[ ! -s "$WORK/killed.out" ] || fail "the killed put printed: $(cat "$WORK/killed.out")"
running "$PID_gs" || fail "the server died with its client"
[ "$(count "$ADDR_gs")" = "$before" ] || fail "an asset of the killed put is visible"
$AIFS --server "$ADDR_gs" health >/dev/null || fail "health after a killed client"
printf 'after the kill' | $AIFS --server "$ADDR_gs" put - >/dev/null
[ "$(count "$ADDR_gs")" = $((before + 1)) ] || fail "a put after the killed one did not land"
# The server notices the client is gone and discards what the put wrote.
for i in $(seq 100); do [ "$(orphans "$ADDR_gs")" = 0 ] && break; sleep 0.1; done
[ "$(orphans "$ADDR_gs")" = 0 ] || fail "the aborted put's chunks stayed as orphans"
$AIFS --server "$ADDR_gs" verify >/dev/null || fail "verify after a killed client"
ok "client SIGKILLed mid-put: nothing visible, no orphans, the server still serves"
stop_server gs

# ============================================================ events, health
EV=$WORK/ev-data
$AIFS --data "$EV" init -q
export AIFS_TOKEN=@$EV/admin.token
DATA="$EV" start_server ev
export AIFS_SERVER=$ADDR_ev
printf 'a' > "$WORK/a"; printf 'b' > "$WORK/b"; printf 'c' > "$WORK/c"
a=$($AIFS put "$WORK/a")
b=$($AIFS put "$WORK/b" --parent "$a:derive")
$AIFS rm --force "$a" >/dev/null
snap=$($AIFS -q snapshot create)
c=$($AIFS put "$WORK/c")
$AIFS events --json > "$WORK/events.json"
python3 - "$WORK/events.json" "$a" "$b" "$c" "$snap" <<'PY' || fail "events --json: $(cat "$WORK/events.json")"
import json, sys
path, a, b, c, snap = sys.argv[1:]
ev = [json.loads(l) for l in open(path)]
seqs = [e["seq"] for e in ev]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "sequence numbers not increasing: %r" % seqs
mine = [(e["type"], e.get("asset") or e.get("snapshot"), e.get("parent"))
        for e in ev if e["type"] != "namespace_created"]
# No snapshot holds a: its data is released right after the delete.
want = [("asset_committed", a, None), ("asset_committed", b, None), ("lineage_edge_added", b, a),
        ("asset_deleted", a, None), ("asset_released", a, None), ("snapshot_created", snap, None),
        ("asset_committed", c, None)]
assert mine == want, "events %r, expected %r" % (mine, want)
assert all(e["ns"] == "default" for e in ev), ev
PY
[ "$($AIFS events --type asset_committed | awk '{print $NF}' | tr '\n' ' ')" = "asset=$a asset=$b asset=$c " ] ||
  fail "events --type asset_committed: $($AIFS events --type asset_committed)"
last=$(tail -n 1 "$WORK/events.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
[ "$($AIFS events --after $((last - 1)) --json | wc -l)" = 1 ] || fail "events --after"
ok "events --json: the test's commits, lineage, delete and snapshot in order; --type, --after"

$AIFS events -f --after "$last" --limit 1 --json > "$WORK/follow.out" 2> "$WORK/follow.err" &
follow_pid=$!
sleep 0.5
running $follow_pid || fail "events -f exited without a new event: $(cat "$WORK/follow.err")"
[ ! -s "$WORK/follow.out" ] || fail "events -f --after $last replayed: $(cat "$WORK/follow.out")"
printf 'd' > "$WORK/d"
d=$($AIFS put "$WORK/d")
t0=$(now)
for i in $(seq 40); do [ -s "$WORK/follow.out" ] && break; sleep 0.05; done
latency=$(since "$t0")
[ -s "$WORK/follow.out" ] || fail "events -f did not see the put within 2 s"
python3 -c '
import json, sys
e = json.loads(open(sys.argv[1]).read())
assert e["type"] == "asset_committed" and e["asset"] == sys.argv[2] and e["seq"] > int(sys.argv[3]), e
' "$WORK/follow.out" "$d" "$last" || fail "events -f printed $(cat "$WORK/follow.out")"
for i in $(seq 40); do running $follow_pid || break; sleep 0.05; done
running $follow_pid && fail "events -f --limit 1 did not stop after one event"
wait $follow_pid || fail "events -f --limit 1 exited non-zero: $(cat "$WORK/follow.err")"
ok "events -f --after $last --limit 1 saw the new put ${latency} s after it returned, then exited 0"

[ "$($AIFS health)" = ready ] || fail "health"
[ "$($AIFS --json health)" = '{"ready":true}' ] || fail "health --json"
ok "health exits 0 against a healthy server"
$AIFS events --json > "$WORK/events-remote.json"
unset AIFS_SERVER
stop_server ev
port_ev=${ADDR_ev##*:}
# The same log read embedded, from the data directory, is identical.
$AIFS --data "$EV" events --json > "$WORK/events-local.json"
cmp -s "$WORK/events-remote.json" "$WORK/events-local.json" ||
  fail "events differ remote vs embedded: $(diff "$WORK/events-remote.json" "$WORK/events-local.json")"
ok "events remote and embedded are identical ($(wc -l < "$WORK/events-local.json") events)"
t0=$(now)
expect_error UNAVAILABLE $AIFS --server "127.0.0.1:$port_ev" health
ok "health against a stopped server fails with UNAVAILABLE ($(since "$t0") s)"

# ============================================== 2 GiB streamed put and get
BIG_SIZE=$((2 * 1024 * 1024 * 1024))
need_kb=$((3 * 1024 * 1024))  # the store's 2 GiB plus room
big_dir=""
for d in "$WORK" /var/tmp; do
  if [ "$(df -Pk "$d" | awk 'NR == 2 { print $4 }')" -ge $need_kb ]; then big_dir=$d; break; fi
done
[ -n "$big_dir" ] || fail "neither /tmp nor /var/tmp has 3 GiB free for the 2 GiB test"
if [ "$big_dir" != "$WORK" ]; then
  big_dir=$(mktemp -d /var/tmp/aifs-server-test.XXXXXX)
  CLEANUP_CMDS+=("rm -rf '$big_dir'")
fi
BIG=$big_dir/big-data
$AIFS --data "$BIG" init -q
export AIFS_TOKEN=@$BIG/admin.token
DATA="$BIG" start_server big
rss_peak_kb() { sort -n "$1" | tail -n 1; }
sample_rss() {  # sample_rss PID FILE: VmRSS in kB every 0.2 s while PID lives
  while running "$1"; do
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
    sleep 0.2
  done > "$2"
}
sample_rss "$PID_big" "$WORK/rss.put" &
sampler=$!
CLEANUP_CMDS+=("kill $sampler 2>/dev/null")
mkfifo "$WORK/big.fifo"
b3sum --no-names < "$WORK/big.fifo" > "$WORK/big.b3" &
hasher=$!
t0=$(now)
gen $BIG_SIZE 21 | tee "$WORK/big.fifo" | $AIFS --server "$ADDR_big" put - > "$WORK/big.id" ||
  fail "the 2 GiB put failed"
put_time=$(since "$t0")
wait $hasher
kill $sampler; wait $sampler 2>/dev/null || true
big_id=$(cat "$WORK/big.id")
[ "$big_id" = "$(cat "$WORK/big.b3")" ] || fail "2 GiB put: ID $big_id, b3sum of the stream $(cat "$WORK/big.b3")"
$AIFS --server "$ADDR_big" --json stat "$big_id" |
  python3 -c 'import json,sys; assert json.load(sys.stdin)["size"] == int(sys.argv[1])' $BIG_SIZE ||
  fail "2 GiB asset has the wrong size"
sample_rss "$PID_big" "$WORK/rss.get" &
sampler=$!
CLEANUP_CMDS+=("kill $sampler 2>/dev/null")
t0=$(now)
got=$($AIFS --server "$ADDR_big" get "$big_id" -o - | b3sum --no-names) || fail "the 2 GiB get failed"
get_time=$(since "$t0")
kill $sampler; wait $sampler 2>/dev/null || true
[ "$got" = "$big_id" ] || fail "2 GiB get: b3sum $got, expected $big_id"
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$PID_big/status")
put_kb=$(rss_peak_kb "$WORK/rss.put")
get_kb=$(rss_peak_kb "$WORK/rss.get")
samples=$(cat "$WORK/rss.put" "$WORK/rss.get" | wc -l)
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
rate() { awk -v s="$1" -v n=$BIG_SIZE 'BEGIN { printf "%.0f MiB/s", n / 1048576 / s }'; }
echo "  2 GiB put: ${put_time} s ($(rate "$put_time")); get: ${get_time} s ($(rate "$get_time")); data in $big_dir"
echo "  server VmRSS peak (0.2 s samples, $samples of them): put $(mib "$put_kb"), get $(mib "$get_kb"); VmHWM $(mib "$hwm_kb")"
[ "$samples" -ge 10 ] || fail "only $samples RSS samples"
limit_kb=$((300 * 1024))
for v in "$put_kb" "$get_kb" "$hwm_kb"; do
  [ "$v" -lt $limit_kb ] || fail "server RSS $(mib "$v") exceeds 300 MiB"
done
ok "2 GiB streamed put and get through the server match b3sum; server RSS stayed below 300 MiB"
stop_server big
rm -rf "$BIG"

echo "total $(since "$T_START") s"
echo "PASS $PASS"
