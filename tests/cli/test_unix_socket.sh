# `aifs serve --listen unix:PATH`: clients on the same host reach the server
# through a unix-domain socket (no TCP stack). Bytes read back match b3sum of
# the source; the socket file is mode 0660 and goes away with the server; a
# stale socket file left by a killed server is replaced, while a live
# server's socket and a file that is not a socket are left alone (the listen
# fails with LISTEN_FAILED); the HTTP plane refuses a unix socket.
source "$(dirname "$0")/lib.sh"
command -v b3sum >/dev/null || fail "b3sum is required"
$AIFS init >/dev/null
TOKEN=@$AIFS_DATA/admin.token
SOCK=$WORK/aifs.sock

LISTEN=unix:$SOCK start_server a
[ "$ADDR_a" = "unix:$SOCK" ] || fail "server printed $ADDR_a, not unix:$SOCK"
[ -S "$SOCK" ] || fail "no socket at $SOCK"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK"), not 660"
ok "serve --listen unix:PATH binds a 0660 socket"

export AIFS_TOKEN=$TOKEN
head -c $((5 * 1024 * 1024 + 17)) /dev/urandom > "$WORK/src.bin"
id=$($AIFS --server "$ADDR_a" put "$WORK/src.bin")
[ "$id" = "$(b3 "$WORK/src.bin")" ] || fail "put over the socket: id $id is not b3sum's"
$AIFS --server "$ADDR_a" get "$id" -o "$WORK/back"
cmp -s "$WORK/src.bin" "$WORK/back" || fail "get over the socket returned other bytes"
# gRPC's own spelling of an absolute path works too.
$AIFS --server "unix://$SOCK" cat "$id" --range 1000-5095 > "$WORK/part"
cmp -s "$WORK/part" <(tail -c +1001 "$WORK/src.bin" | head -c 4096) || fail "range over the socket"
ok "put, get and a range over the socket match b3sum and cmp"

# No token, no access: the socket is only a transport.
expect_error TOKEN_MISSING env -u AIFS_TOKEN $AIFS --server "$ADDR_a" stat "$id"
ok "the socket still needs a token"

# A second server (of another store) on the same socket: refused, the first
# keeps serving. (timeout: a server that did listen would never return.)
AIFS_DATA=$WORK/other $AIFS init >/dev/null
if AIFS_DATA=$WORK/other timeout 20 $AIFS serve --listen "unix:$SOCK" > /dev/null 2> "$WORK/b.err"; then
  fail "a second server listened on a live socket"
fi
grep -q "LISTEN_FAILED" "$WORK/b.err" && grep -q "another server is listening" "$WORK/b.err" ||
  fail "second server: $(cat "$WORK/b.err")"
$AIFS --server "$ADDR_a" stat "$id" >/dev/null || fail "first server gone"
ok "a live server's socket is not taken over"

# SIGTERM: the socket file goes with the server.
stop_server a
[ ! -e "$SOCK" ] || fail "socket file left after a clean shutdown"
ok "a clean shutdown removes the socket file"

# SIGKILL leaves the file behind; the next server replaces it.
LISTEN=unix:$SOCK start_server c
kill -KILL "$PID_c"
wait "$PID_c" 2>/dev/null || true
[ -S "$SOCK" ] || fail "expected a stale socket after SIGKILL"
LISTEN=unix:$SOCK start_server d
cmp -s "$WORK/src.bin" <($AIFS --server "$ADDR_d" get "$id" -o -) ||
  fail "get after replacing a stale socket"
stop_server d
ok "a stale socket file from a killed server is replaced"

# A file that is not a socket is never removed.
echo keep > "$WORK/plain"
if timeout 20 $AIFS serve --listen "unix:$WORK/plain" > /dev/null 2> "$WORK/e.err"; then
  fail "served on a regular file"
fi
grep -q "not a socket" "$WORK/e.err" || fail "regular file: $(cat "$WORK/e.err")"
[ "$(cat "$WORK/plain")" = keep ] || fail "the regular file was touched"
# Paths longer than a socket address holds, and an empty one.
long=$WORK/$(printf 'x%.0s' $(seq 120)).sock
expect_error LISTEN_FAILED timeout 20 $AIFS serve --listen "unix:$long"
expect_error LISTEN_FAILED timeout 20 $AIFS serve --listen "unix:"
# The HTTP plane names a host in its URLs: TCP only.
expect_error LISTEN_FAILED timeout 20 $AIFS serve --listen 127.0.0.1:0 --http "unix:$WORK/http.sock"
ok "bad socket paths and an HTTP plane on a socket fail with LISTEN_FAILED"

echo "PASS ($PASS checks)"
