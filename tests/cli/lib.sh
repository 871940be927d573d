# Shared helpers for the CLI tests. Usage: source lib.sh; AIFS=<binary>.
set -euo pipefail
AIFS=${1:?usage: $0 path/to/aifs}
WORK=$(mktemp -d /tmp/aifs-clitest.XXXXXX)
export AIFS_DATA=$WORK/data
CLEANUP_CMDS=()
cleanup() {
  for c in "${CLEANUP_CMDS[@]}"; do eval "$c" || true; done
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
is_root() { [ "$(id -u)" -eq 0 ]; }
