#!/usr/bin/env bash
# A stand-in for the aifs binary that runs the CLI tests in remote mode. Used
# as $AIFS by remote_run.sh (which sets AIFS_REMOTE_REAL, the real binary, and
# AIFS_REMOTE_STATE, a directory for server state, and stops the servers).
#
# - `init` runs the real init on the data directory ($AIFS_DATA or --data) and,
#   when it succeeds, starts `aifs serve --listen 127.0.0.1:0` on it in the
#   background; pid, port, logs and exit code go to a state directory named
#   after the data directory.
# - Every other command runs the real binary with AIFS_SERVER pointing at that
#   data directory's server, exec'd: the PID a test started (`$!`) is the
#   binary's, and it keeps this script's path as argv[0].
# - A data directory that has no server (never initialized through here, or
#   not visible to the calling user) runs locally, as does `serve`.
# - A server that died is an error, never a silent fall-back to local mode.
# - A data directory deleted by the test takes its server down with it (a
#   server keeps serving deleted files it has open, which a test cannot tell
#   apart from a store that still exists): the server is stopped and the
#   command runs locally, where it sees the store is gone.
# - Cluster mode (AIFS_REMOTE_CLUSTER=1, with AIFS_TEST_PG_DIR and
#   AIFS_TEST_CEPH_DIR naming running PostgreSQL and Ceph): `init` makes the
#   store on PostgreSQL (a fresh schema) and RADOS (a fresh namespace), joins
#   two more data directories to it (<data>.b, <data>.c, the same KMS key)
#   and starts a server on each; every later command goes to the next of the
#   three servers in turn.
set -euo pipefail
REAL=${AIFS_REMOTE_REAL:?remote_aifs.sh: AIFS_REMOTE_REAL (the real aifs binary) is not set}
STATE=${AIFS_REMOTE_STATE:?remote_aifs.sh: AIFS_REMOTE_STATE (a state directory) is not set}

# The data directory and the command, found the way the CLI finds them.
data=${AIFS_DATA:-./aifs-data}
cmd=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  case $a in
    --data) data=${args[i + 1]:-}; i=$((i + 1)) ;;
    --data=*) data=${a#--data=} ;;
    --threads | --server | --tls-ca | --tls-client-cert | --tls-client-key | --tls-server-name)
      i=$((i + 1)) ;;
    -*) ;;
    *) [ -n "$cmd" ] || cmd=$a ;;
  esac
done
data=$(realpath -m -- "$data")
st=$STATE/${data//\//_}

note() { { echo "$1 $cmd" >> "$STATE/calls"; } 2>/dev/null || true; }
run_local() { note local; exec -a "$0" "$REAL" "$@"; }

alive() { [ -f "$st/pid" ] && [ ! -f "$st/rc" ] && kill -0 "$(cat "$st/pid")" 2>/dev/null; }

CLUSTER=${AIFS_REMOTE_CLUSTER:-0}
fresh() { head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# stop_server: SIGTERM, then wait for the exit code the watcher records.
stop_server() {
  local pid
  pid=$(cat "$st/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 200); do [ -f "$st/rc" ] && break; sleep 0.05; done
  if [ ! -f "$st/rc" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "remote_aifs.sh: server $pid did not stop within 10 s of SIGTERM" >&2
  fi
  mv "$st/pid" "$st/stopped.pid"
}

start_server() {
  local st=${1:-$st} data=${2:-$data}
  mkdir -p "$st"
  rm -f "$st/pid" "$st/stopped.pid" "$st/rc" "$st/port"
  echo "$data" > "$st/data"
  # The watcher subshell records the server's exit code; no descriptor of the
  # caller stays open in it, so `out=$($AIFS init)` returns at once.
  (
    "$REAL" --data "$data" serve --listen 127.0.0.1:0 --grace-ms 2000 \
      < /dev/null > "$st/out" 2> "$st/err" &
    echo $! > "$st/pid.tmp"; mv "$st/pid.tmp" "$st/pid"
    rc=0; wait $! || rc=$?
    echo $rc > "$st/rc"
  ) < /dev/null > /dev/null 2>&1 &
  local port=""
  for _ in $(seq 400); do
    if [ -f "$st/rc" ]; then
      echo "remote_aifs.sh: aifs serve on $data exited with $(cat "$st/rc"): $(cat "$st/err")" >&2
      exit 70
    fi
    port=$(sed -n 's/^aifs: serving on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$st/out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    echo "remote_aifs.sh: aifs serve on $data printed no port within 20 s" >&2
    exit 70
  fi
  echo "$port" > "$st/port"
}

case $cmd in
  init)
    note local
    if [ "$CLUSTER" = 1 ]; then
      pg=${AIFS_TEST_PG_DIR:?cluster mode: AIFS_TEST_PG_DIR is not set}
      ceph=${AIFS_TEST_CEPH_DIR:?cluster mode: AIFS_TEST_CEPH_DIR is not set}
      meta="$(cat "$pg/url")&schema=c$(fresh)"
      rc=0; "$REAL" "$@" --meta "$meta" --chunks "$(cat "$ceph/rados-url")&namespace=c$(fresh)" || rc=$?
      [ $rc = 0 ] || exit $rc
      # The peers use the KMS the test gave init (--kms URL), else the first
      # server's keyfile.
      kms="local://$data/kms/master.keys"
      for ((i = 0; i < ${#args[@]}; i++)); do
        case ${args[i]} in
          --kms) kms=${args[i + 1]:-} ;;
          --kms=*) kms=${args[i]#--kms=} ;;
        esac
      done
      for peer in b c; do
        "$REAL" --data "$data.$peer" -q init --meta "$meta" --kms "$kms" >/dev/null
        start_server "$st.$peer" "$data.$peer"
      done
    else
      rc=0; "$REAL" "$@" || rc=$?
      [ $rc = 0 ] || exit $rc
    fi
    if [ -f "$st/pid" ] && alive; then stop_server; fi
    start_server
    exit 0 ;;
  serve) run_local "$@" ;;
esac

if [ -f "$st/pid" ]; then
  if ! alive; then
    echo "remote_aifs.sh: the server for $data is gone (exit code $(cat "$st/rc" 2>/dev/null || echo '?')); its stderr:" >&2
    cat "$st/err" >&2 2>/dev/null || true
    exit 70
  fi
  if [ ! -d "$data" ]; then
    stop_server
    for peer in "$st.b" "$st.c"; do [ -f "$peer/pid" ] && st=$peer stop_server; done
    run_local "$@"
  fi
  note remote
  target=$st
  if [ "$CLUSTER" = 1 ]; then  # the next server in turn
    n=$(( $(cat "$st/turn" 2>/dev/null || echo 0) + 1 ))
    echo $n > "$st/turn"
    case $((n % 3)) in 1) target=$st.b ;; 2) target=$st.c ;; esac
  fi
  export AIFS_SERVER=127.0.0.1:$(cat "$target/port")
  # Every call needs a token: the admin token `init` left in the data directory.
  export AIFS_TOKEN=${AIFS_TOKEN:-@$data/admin.token}
  exec -a "$0" "$REAL" "$@"
fi
run_local "$@"
