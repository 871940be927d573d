#!/usr/bin/env bash
# Runs one CLI test script in remote mode: remote_run.sh TEST.sh path/to/aifs.
# The script gets remote_aifs.sh as its $AIFS, so its `init` starts a server on
# the data directory and every later command talks to that server over gRPC.
# Afterwards every server is stopped with SIGTERM; the run fails when the
# script fails, when no command went to a server at all (the wrapper would
# then prove nothing), or when a server did not stop on SIGTERM.
set -uo pipefail
script=${1:?usage: $0 TEST.sh path/to/aifs}
real=${2:?usage: $0 TEST.sh path/to/aifs}
here=$(cd "$(dirname "$0")" && pwd)
# Cluster mode (remote_aifs.sh) needs the fixtures' PostgreSQL and Ceph.
if [ "${AIFS_REMOTE_CLUSTER:-0}" = 1 ] &&
  { [ ! -s "${AIFS_TEST_PG_DIR:-/nonexistent}/url" ] || [ ! -s "${AIFS_TEST_CEPH_DIR:-/nonexistent}/rados-url" ]; }; then
  echo "skip: cluster mode needs PostgreSQL and Ceph (AIFS_TEST_PG_DIR, AIFS_TEST_CEPH_DIR)"
  exit 77
fi
state=$(mktemp -d /tmp/aifs-remote.XXXXXX)
export AIFS_REMOTE_REAL=$real AIFS_REMOTE_STATE=$state
unset AIFS_SERVER AIFS_TLS_CA AIFS_TLS_CERT AIFS_TLS_KEY
# A read-only remount of a served store first stops its server (remote_mount.sh).
mkdir "$state/bin"
export AIFS_REMOTE_MOUNT=$(type -P mount || echo /usr/bin/mount)
ln -s "$here/remote_mount.sh" "$state/bin/mount"
export PATH="$state/bin:$PATH"

stop_all() {  # prints one line per server; returns 1 if one would not stop
  local bad=0 d pid i
  for d in "$state"/*/; do
    [ -f "$d/data" ] || continue
    if [ -f "$d/pid" ] && [ ! -f "$d/rc" ]; then
      pid=$(cat "$d/pid")
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 300); do [ -f "$d/rc" ] && break; sleep 0.05; done
      if [ ! -f "$d/rc" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "remote: server on $(cat "$d/data") ignored SIGTERM for 15 s" >&2
        bad=1
      fi
    fi
    # The test's own cleanup usually deleted the data directory before this
    # SIGTERM, so the exit code is reported, not judged.
    echo "remote: server on $(cat "$d/data") exit code $(cat "$d/rc" 2>/dev/null || echo '?')"
  done
  return $bad
}

trap 'stop_all >/dev/null 2>&1; rm -rf "$state"; exit 143' TERM INT
rc=0
bash "$script" "$here/remote_aifs.sh" || rc=$?
stop_all || rc=1
remote=$(grep -c '^remote ' "$state/calls" 2>/dev/null || true)
local_calls=$(grep -c '^local ' "$state/calls" 2>/dev/null || true)
echo "remote: ${remote:-0} commands ran against a server, ${local_calls:-0} locally"
if [ "${remote:-0}" = 0 ]; then
  echo "FAIL: no command ran in remote mode" >&2
  rc=1
fi
if [ $rc != 0 ]; then
  for d in "$state"/*/; do
    [ -s "$d/err" ] || continue
    echo "--- server stderr ($(cat "$d/data")):" >&2
    tail -n 40 "$d/err" >&2
  done
fi
rm -rf "$state"
exit $rc
