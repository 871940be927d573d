# Shared helpers for the CLI tests. Usage: source lib.sh; AIFS=<binary>.
set -euo pipefail
AIFS=${1:?usage: $0 path/to/aifs}
WORK=$(mktemp -d /tmp/aifs-clitest.XXXXXX)
export AIFS_DATA=$WORK/data
# Key pins of the test's own: never the user's trust store (~/.config/aifs).
export AIFS_TRUST=$WORK/trust.json
CLEANUP_CMDS=()
# Kills every process below PID (deepest first): a test that fails leaves no
# background pipeline behind to hold CTest's output pipe open.
kill_tree() {
  local kid
  for kid in $(pgrep -P "$1" || true); do
    kill_tree "$kid"
    kill "$kid" 2>/dev/null || true
  done
}
cleanup() {
  for c in "${CLEANUP_CMDS[@]}"; do eval "$c" || true; done
  kill_tree $$
  # In remote mode the server still runs (remote_run.sh stops it after this)
  # and may be writing its high-water file or an index checkpoint right now.
  rm -rf "$WORK" 2>/dev/null || { sleep 1; rm -rf "$WORK"; } || true
}
trap cleanup EXIT
PASS=0
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
# expect_error REASON cmd...: the command must fail with REASON on stderr.
expect_error() {
  local reason=$1; shift
  local out
  if out=$("$@" 2>&1 >/dev/null); then fail "expected $reason from: $*"; fi
  [[ $out == *"$reason"* ]] || fail "expected $reason from: $*; got: $out"
}
b3() { b3sum --no-names "$1"; }
# corrupt_one_object URL: flips one bit in the middle of one object of the
# chunk store at URL (`aifs info`'s chunk_url): a file:// directory, or a
# RADOS pool (through the rados tool).
corrupt_one_object() {
  local url=$1 obj
  case $url in
    file://*)
      obj=$(find "${url#file://}" -type f | head -n 1)
      [ -n "$obj" ] || fail "no object in $url"
      flip_middle_bit "$obj" ;;
    rados://*)
      local rados_args
      rados_args=$(/usr/bin/python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); q = dict(u.parse_qsl(p.query))
args = ["-p", p.netloc, "-c", q["conf"], "--id", q.get("id", "admin")]
if "namespace" in q: args += ["-N", q["namespace"]]
if "keyring" in q: args += ["--keyring", q["keyring"]]
print(" ".join(args))' "$url")
      obj=$(rados $rados_args ls | head -n 1)
      [ -n "$obj" ] || fail "no object in $url"
      rados $rados_args get "$obj" "$WORK/object.tmp"
      flip_middle_bit "$WORK/object.tmp"
      rados $rados_args put "$obj" "$WORK/object.tmp" ;;
    *) fail "corrupt_one_object: no way to reach $url" ;;
  esac
}
flip_middle_bit() {
  /usr/bin/python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 1; open(p, "wb").write(b)' "$1"
}
# After a change that servers keep in memory (a token or key revocation, a
# KMS rotation): in cluster mode (remote_aifs.sh) the next command goes to
# another server, which learns of it within 1 s; one server, or a local
# store, acts on it at once.
servers_catch_up() { if [ "${AIFS_REMOTE_CLUSTER:-0}" = 1 ]; then sleep 1.1; fi; }
is_root() { [ "$(id -u)" -eq 0 ]; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# A process that has not exited (a zombie has: it only waits to be reaped).
running() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# start_server NAME [--limit NOFILE --] [serve options...]: `aifs serve` on
# $DATA (default $AIFS_DATA), listening on $LISTEN (default 127.0.0.1:0, a
# port the kernel picks), under prlimit --nofile=NOFILE when given; logs in
# $WORK/NAME.out|err. Sets PID_<NAME> and ADDR_<NAME> (127.0.0.1:port, or
# unix:PATH when LISTEN is one).
start_server() {
  local name=$1 pid addr="" i pre=()
  shift
  if [ "${1:-}" = "--limit" ]; then
    pre=(prlimit "--nofile=$2" --)
    shift 2
    [ "${1:-}" = "--" ] && shift
  fi
  : > "$WORK/$name.out"
  "${pre[@]}" $AIFS --data "${DATA:-$AIFS_DATA}" serve --listen "${LISTEN:-127.0.0.1:0}" "$@" \
    > "$WORK/$name.out" 2>> "$WORK/$name.err" &
  pid=$!
  CLEANUP_CMDS+=("kill -KILL $pid 2>/dev/null")
  for i in $(seq 300); do
    addr=$(sed -n 's/^aifs: serving on \([^ ]*\).*/\1/p' "$WORK/$name.out")
    [ -n "$addr" ] && break
    running $pid || fail "server $name exited at start: $(cat "$WORK/$name.err")"
    sleep 0.1
  done
  [ -n "$addr" ] || fail "server $name printed no address within 30 s"
  printf -v "PID_$name" %s $pid
  case $addr in
    unix:*) printf -v "ADDR_$name" %s "$addr" ;;
    *) printf -v "ADDR_$name" %s "127.0.0.1:${addr##*:}" ;;
  esac
}
# stop_server NAME [MAX_SECONDS]: SIGTERM; the server must exit 0 within
# MAX_SECONDS (default 15) and log its shutdown. Sets STOP_TIME (seconds).
stop_server() {
  local name=$1 max=${2:-15} pid t0 rc=0 i
  pid=PID_$1
  pid=${!pid}
  t0=$(now)
  kill -TERM $pid
  for i in $(seq $((max * 20))); do running $pid || break; sleep 0.05; done
  if running $pid; then
    kill -KILL $pid
    fail "server $name still running $max s after SIGTERM"
  fi
  STOP_TIME=$(since "$t0")
  wait $pid || rc=$?
  [ $rc = 0 ] || fail "server $name exited with $rc after SIGTERM: $(tail -n 5 "$WORK/$name.err")"
  grep -q "shutting down" "$WORK/$name.err" || fail "server $name did not log its shutdown"
}
