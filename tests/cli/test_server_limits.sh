# The server defends itself (docs/security.md, "Limits"), each against a real
# fault on 127.0.0.1 with the real server:
# - fd exhaustion: a server limited to 256 descriptors, 1,000 idle
#   connections (and 1,000 that speak HTTP/2 and then idle); after the flood
#   health and a put work again within seconds;
# - TLS under the same flood (the same accept loop hands TLS connections to
#   gRPC): accepts again within seconds, a put works;
# - silent connections are closed after the handshake timeout;
# - stalled artifact puts: server memory stays near its baseline while they
#   hang, they are cancelled (DEADLINE_EXCEEDED PUT_STALLED) and commit nothing;
# - a capped number of concurrent puts (RESOURCE_EXHAUSTED TOO_MANY_PUTS);
# - the soft fd limit is raised to the hard one; a non-loopback plaintext
#   listener is warned about.
# Skips (exit 77) when prlimit or enough descriptors for the flood are missing.
source "$(dirname "$0")/lib.sh"
for tool in python3 openssl; do
  command -v $tool >/dev/null || fail "$tool is required"
done
if ! command -v prlimit >/dev/null; then echo "SKIP: prlimit (util-linux) is missing"; exit 77; fi
FLOOD=$(cd "$(dirname "$0")/../tools" && pwd)/flood.py
AIFS=$(cd "$(dirname "$AIFS")" && pwd)/$(basename "$AIFS")
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
mib() { echo "$(($1 / 1024)) MiB"; }

$AIFS init >/dev/null
export AIFS_TOKEN=@$AIFS_DATA/admin.token

# recover ADDR MAX [client args]: seconds until `aifs health` passes (fails after MAX).
recover() {
  local addr=$1 max=$2 t0
  shift 2
  t0=$(now)
  while ! timeout 5 $AIFS --server "$addr" "$@" health >/dev/null 2>&1; do
    awk -v s="$(since "$t0")" -v m="$max" 'BEGIN { exit !(s > m) }' &&
      fail "no health within $max s after the flood"
    sleep 0.2
  done
  since "$t0"
}
# flood NAME ADDR COUNT MODE: opens the connections in the background, holds
# them until unflood NAME.
flood() {
  touch "$WORK/hold-$1"
  python3 "$FLOOD" 127.0.0.1 "${2##*:}" "$3" "$4" "$WORK/hold-$1" > "$WORK/flood-$1.out" 2>&1 &
  printf -v "FLOOD_$1" %s $!
  local i
  for i in $(seq 150); do [ -s "$WORK/flood-$1.out" ] && break; sleep 0.1; done
  if grep -q "needs" "$WORK/flood-$1.out"; then echo "SKIP: $(cat "$WORK/flood-$1.out")"; exit 77; fi
  grep -q "^opened" "$WORK/flood-$1.out" || fail "flood $1 did not start: $(cat "$WORK/flood-$1.out")"
}
unflood() {
  local pid=FLOOD_$1
  rm -f "$WORK/hold-$1"
  wait ${!pid} || true
}

# ====================================================== fd limit and warning
start_server lim --limit 256:4096 -- --handshake-timeout 2
soft=$(awk '/^Max open files/ { print $4 }' "/proc/$PID_lim/limits")
[ "$soft" = 4096 ] || fail "soft fd limit $soft, expected it raised to the hard limit 4096"
ok "the soft fd limit is raised to the hard limit at start (256 -> 4096)"
stop_server lim
grep -q "without TLS" "$WORK/lim.err" && fail "a loopback listener was warned about"
LISTEN=0.0.0.0:0 start_server wide
grep -q "warning: listening on 0.0.0.0:0 without TLS" "$WORK/wide.err" ||
  fail "no warning for a plaintext non-loopback listener: $(cat "$WORK/wide.err")"
stop_server wide
ok "a plaintext listener on 0.0.0.0 is warned about on stderr"

# ============================================ silent connections are closed
start_server hs --handshake-timeout 1
python3 - "${ADDR_hs##*:}" <<'PY' || fail "a silent connection was not closed after the handshake timeout"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(6)
t0 = time.time()
try:
    data = s.recv(1)
except ConnectionResetError:
    data = b""
sys.exit(0 if data == b"" and time.time() - t0 < 6 else 1)
PY
stop_server hs
ok "a connection that sends nothing is closed after --handshake-timeout"

# ========================================== connection flood, 256 descriptors
start_server fl --limit 256:256 -- --handshake-timeout 2
$AIFS --server "$ADDR_fl" health >/dev/null || fail "health before the flood"
for mode in silent preface; do
  flood $mode "$ADDR_fl" 1000 $mode
  sleep 3  # the server sheds, runs into its fd limit, times connections out
  running $PID_fl || fail "server died under the $mode flood: $(tail -n 5 "$WORK/fl.err")"
  unflood $mode
  t=$(recover "$ADDR_fl" 15)
  echo "  $mode flood of 1000 ($(cat "$WORK/flood-$mode.out")): health again after ${t} s"
  echo "data after $mode flood" > "$WORK/after-$mode"
  id=$($AIFS --server "$ADDR_fl" put "$WORK/after-$mode") || fail "put after the $mode flood"
  [ "$id" = "$(b3 "$WORK/after-$mode")" ] || fail "put after the $mode flood: wrong id"
  ok "after 1000 $mode connections against a 256-fd server: health in ${t} s, put works"
done
grep -q "connections held" "$WORK/fl.err" ||
  fail "the server did not log the shedding: $(tail -n 5 "$WORK/fl.err")"
stop_server fl
# The same with the connection cap above the fd limit: the flood really runs
# the server out of descriptors (EMFILE), and it must keep accepting.
start_server fx --limit 256:256 -- --handshake-timeout 2 --max-connections 5000
flood emfile "$ADDR_fx" 1000 silent
sleep 3
running $PID_fx || fail "server died at EMFILE: $(tail -n 5 "$WORK/fx.err")"
unflood emfile
t=$(recover "$ADDR_fx" 15)
grep -q "out of file descriptors" "$WORK/fx.err" ||
  fail "the flood did not reach EMFILE: $(tail -n 5 "$WORK/fx.err")"
echo "data after EMFILE" > "$WORK/after-emfile"
[ "$($AIFS --server "$ADDR_fx" put "$WORK/after-emfile")" = "$(b3 "$WORK/after-emfile")" ] ||
  fail "put after EMFILE"
ok "after 1000 connections ran a 256-fd server out of descriptors (EMFILE): health in ${t} s, put works"
stop_server fx

# ======================================================= TLS under the flood
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -keyout tls.key -out tls.crt \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null || fail "openssl"
# The cap above the fd limit, so the flood really runs the server out of
# descriptors (EMFILE), as in the plaintext round above.
start_server tls --limit 256:256 -- --tls-cert "$WORK/tls.crt" --tls-key "$WORK/tls.key" \
  --handshake-timeout 2 --max-connections 5000
T="$AIFS --server $ADDR_tls --tls-ca $WORK/tls.crt"
$T health >/dev/null || fail "TLS health before"
flood tls "$ADDR_tls" 1000 silent
sleep 3
unflood tls
t0=$(now)
while ! timeout 5 $T health >/dev/null 2>&1; do
  running $PID_tls || fail "the TLS server died after the flood: $(tail -n 3 "$WORK/tls.err")"
  awk -v s="$(since "$t0")" 'BEGIN { exit !(s > 30) }' &&
    fail "the TLS server does not accept 30 s after the flood"
  sleep 0.2
done
outcome="accepts again after $(since "$t0") s"
echo "over TLS after the flood" | $T -q put - >/dev/null || fail "TLS put after the flood"
stop_server tls
ok "TLS after a 1000-connection flood ran a 256-fd server out of descriptors: $outcome, put works"
cd - >/dev/null

# ================================================= stalled puts free memory
# trickle SIZE MARK: SIZE pseudo-random bytes, then writes its PID to MARK and
# stalls (until killed).
trickle() {
  python3 -c '
import os, sys, time
size, mark = int(sys.argv[1]), sys.argv[2]
out, block = sys.stdout.buffer, os.urandom(1 << 20)
while size > 0:
    n = min(size, len(block)); out.write(block[:n]); size -= n
out.flush(); open(mark + ".tmp", "w").write(str(os.getpid())); os.rename(mark + ".tmp", mark)
while True: time.sleep(60)
' "$@"
}
stop_trickle() { kill "$(cat "$1")" 2>/dev/null || true; }
start_server st --put-stall-timeout 4
assets_before=$($AIFS --server "$ADDR_st" ls | wc -l)
base=$(rss_kb $PID_st)
pids=()
for i in 1 2 3 4; do
  trickle $((60 << 20)) "$WORK/sent-$i" | $AIFS --server "$ADDR_st" put --kind artifact - \
    > "$WORK/stall-$i.out" 2> "$WORK/stall-$i.err" &
  pids+=($!)
done
for i in 1 2 3 4; do
  for j in $(seq 600); do [ -e "$WORK/sent-$i" ] && break; sleep 0.1; done
  [ -e "$WORK/sent-$i" ] || fail "stalled put $i did not send its bytes"
done
sleep 1
during=$(rss_kb $PID_st)
# Cancelled 4 s after their last byte; the watchdog looks a few times a second.
sleep 6
after=$(rss_kb $PID_st)
echo "  server RSS: baseline $(mib $base), 4 x 60 MiB artifact puts stalled $(mib $during), after the stall deadline $(mib $after)"
# The budget of a stalled artifact put: its spill buffer's 1 MiB, the block
# the writer was filling (2 x the largest chunk, 8 MiB, on huge pages: all
# resident) and gRPC's receive window, ~15 MiB; x 4, plus the blocks the
# engine keeps for the next puts (up to 4 x 8 MiB, freed when puts end) and
# freed heap the allocator has not handed back yet (trimmed when puts end).
# Held whole, the artifacts would be 4 x 60 MiB: 240 MiB. Measured +99 to
# +104 MiB (+69 to +93 before blocks were kept).
[ $((during - base)) -lt $((150 * 1024)) ] ||
  fail "stalled artifact puts hold $(mib $((during - base))) of server memory"
[ $((after - base)) -lt $((50 * 1024)) ] ||
  fail "server RSS $(mib $after) did not return near its baseline $(mib $base)"
# The clients learn why once they try to go on.
for i in 1 2 3 4; do stop_trickle "$WORK/sent-$i"; done
for i in 0 1 2 3; do wait ${pids[$i]} && fail "stalled put $((i + 1)) succeeded"; done
grep -q "DEADLINE_EXCEEDED PUT_STALLED" "$WORK/stall-1.err" ||
  fail "stalled put did not report PUT_STALLED: $(cat "$WORK/stall-1.err")"
[ "$($AIFS --server "$ADDR_st" ls | wc -l)" = "$assets_before" ] || fail "a stalled put committed something"
orph=$($AIFS --server "$ADDR_st" --json gc --dry-run |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["orphan_objects"])')
[ "$orph" = 0 ] || fail "stalled puts left $orph chunk objects behind"
ok "4 stalled 60 MiB artifact puts: RSS +$(mib $((during - base))) while stalled, +$(mib $((after - base))) after; cancelled with PUT_STALLED, nothing committed, no objects left"
stop_server st

# =================================================== concurrent put cap
start_server cap --max-puts 2 --put-stall-timeout 60
stall_pids=()
for i in 1 2; do
  trickle 1000 "$WORK/cap-$i" | $AIFS --server "$ADDR_cap" put - > /dev/null 2>&1 &
  stall_pids+=($!)
done
for i in 1 2; do
  for j in $(seq 100); do [ -e "$WORK/cap-$i" ] && break; sleep 0.1; done
done
sleep 1
echo "third" > "$WORK/third"
expect_error "RESOURCE_EXHAUSTED TOO_MANY_PUTS" $AIFS --server "$ADDR_cap" put "$WORK/third"
$AIFS --server "$ADDR_cap" ls >/dev/null || fail "other calls are refused while puts are capped"
for i in 1 2; do stop_trickle "$WORK/cap-$i"; done
for p in "${stall_pids[@]}"; do wait $p || true; done
id=$($AIFS --server "$ADDR_cap" put "$WORK/third") || fail "put after the others finished"
[ "$id" = "$(b3 "$WORK/third")" ] || fail "wrong id after the cap"
ok "a third concurrent put is refused with RESOURCE_EXHAUSTED TOO_MANY_PUTS; accepted once a slot frees"
stop_server cap

echo "PASS ($PASS checks)"
