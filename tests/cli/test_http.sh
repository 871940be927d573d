# The HTTP plane end to end (docs/http.md), with clients nobody here wrote:
# curl (ranges, resume, --compressed, conditional requests), wget, Python's
# urllib, aria2c (several connections on one URL) and promtool for /metrics,
# over HTTP and HTTPS. Bytes are checked with b3sum; error bodies with
# Python's json module. Not run remotely: it starts its own servers.
source "$(dirname "$0")/lib.sh"
for tool in curl wget aria2c promtool b3sum python3 openssl; do
  command -v $tool > /dev/null || { echo "skip: $tool is not installed (scripts/install-deps.sh)"; exit 77; }
done
$AIFS -q init > /dev/null
head -c 5000000 /dev/urandom > "$WORK/f"
id=$($AIFS -q put "$WORK/f" --path data/f.bin)
start_server h --http 127.0.0.1:0
HTTP=$(sed -n 's/^aifs: serving HTTP on \([^ ]*\).*/http:\/\/\1/p' "$WORK/h.out")
[ -n "$HTTP" ] || fail "serve --http printed no HTTP address: $(cat "$WORK/h.out")"
export AIFS_SERVER=$ADDR_h AIFS_TOKEN=@$AIFS_DATA/admin.token
TOKEN=$(cat "$AIFS_DATA/admin.token")
want=$(b3 "$WORK/f")

# status URL [curl options...]: the HTTP status code only
status() { local u=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "$u"; }
# reason URL [curl options...]: the "reason" of a JSON error body
reason() {
  local u=$1; shift
  curl -s "$@" "$u" | python3 -c 'import json, sys; print(json.load(sys.stdin)["reason"])'
}

url=$($AIFS url data/f.bin --expires 1h)
[[ $url == "$HTTP/v1/assets/default/$id?"* ]] || fail "url names another asset: $url"
ok "aifs url prints a signed URL on the server's HTTP address"

# curl: the whole asset, headers, HEAD, ranges of every form, 416
curl -s -D "$WORK/h" -o "$WORK/got" "$url"
[ "$(b3 "$WORK/got")" = "$want" ] || fail "curl got other bytes"
grep -qi "^etag: \"$id\"" "$WORK/h" || fail "ETag is not the asset ID: $(cat "$WORK/h")"
grep -qi '^content-disposition: attachment; filename="f.bin"' "$WORK/h" || fail "no file name: $(cat "$WORK/h")"
grep -qi '^accept-ranges: bytes' "$WORK/h" || fail "no Accept-Ranges"
grep -qi '^content-length: 5000000' "$WORK/h" || fail "wrong Content-Length"
ok "curl downloads the asset byte-exact with ETag, file name and length"
curl -s -I "$url" > "$WORK/head"
grep -q "^HTTP/1.1 200" "$WORK/head" && grep -qi '^content-length: 5000000' "$WORK/head" || fail "HEAD: $(cat "$WORK/head")"
ok "HEAD answers the length"
check_range() {  # RANGE FIRST COUNT
  curl -s -D "$WORK/rh" -o "$WORK/r" -r "$1" "$url"
  grep -q "^HTTP/1.1 206" "$WORK/rh" || fail "range $1: $(head -1 "$WORK/rh")"
  dd if="$WORK/f" of="$WORK/slice" bs=1 skip="$2" count="$3" status=none iflag=skip_bytes,count_bytes 2>/dev/null ||
    python3 -c "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d[int(sys.argv[3]):int(sys.argv[3])+int(sys.argv[4])])" "$WORK/f" "$WORK/slice" "$2" "$3"
  cmp -s "$WORK/r" "$WORK/slice" || fail "range $1: other bytes"
  grep -qi "^content-range: bytes $2-$(($2 + $3 - 1))/5000000" "$WORK/rh" || fail "range $1: $(grep -i content-range "$WORK/rh")"
}
check_range 100-199 100 100
check_range 4999000- 4999000 1000
check_range -777 $((5000000 - 777)) 777
check_range 0-0 0 1
check_range 4999999-99999999 4999999 1
ok "Range a-b, a-, -n and past-the-end ranges answer 206 with the right bytes"
[ "$(status "$url" -r 5000000-)" = 416 ] || fail "a range past the end is not 416"
[ "$(status "$url" -H 'Range: bytes=oops')" = 200 ] || fail "bad Range syntax is not ignored"
[ "$(status "$url" -H 'Range: bytes=0-1,5-9')" = 200 ] || fail "multiple ranges are not answered whole"
ok "unsatisfiable ranges are 416; bad or multiple ranges get the whole asset"
[ "$(status "$url" -H "If-None-Match: \"$id\"")" = 304 ] || fail "If-None-Match did not give 304"
[ "$(status "$url" -H 'If-Range: "other"' -r 0-9)" = 200 ] || fail "If-Range mismatch did not give 200"
[ "$(status "$url" -H "If-Range: \"$id\"" -r 0-9)" = 206 ] || fail "If-Range match did not give 206"
ok "If-None-Match (304) and If-Range"

# resume, compression negotiation, other clients
head -c 1234567 "$WORK/f" > "$WORK/part"
curl -s -C - -o "$WORK/part" "$url"
[ "$(b3 "$WORK/part")" = "$want" ] || fail "curl -C - resumed into other bytes"
curl -s --compressed -o "$WORK/z" "$url"
[ "$(b3 "$WORK/z")" = "$want" ] || fail "curl --compressed got other bytes"
wget -q -O "$WORK/w" "$url"
[ "$(b3 "$WORK/w")" = "$want" ] || fail "wget got other bytes"
python3 - "$url" "$WORK/f" <<'PY' || fail "urllib"
import sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
assert urllib.request.urlopen(url).read() == data
req = urllib.request.Request(url, headers={"Range": "bytes=1000-1999"})
with urllib.request.urlopen(req) as r:
    assert r.status == 206 and r.read() == data[1000:2000]
PY
aria2c -q -x 4 -s 4 -k 1M --allow-overwrite=true -d "$WORK" -o a2 "$url"
[ "$(b3 "$WORK/a2")" = "$want" ] || fail "aria2c got other bytes"
ok "curl -C - resume, curl --compressed, wget, urllib and aria2c (4 connections) get the same bytes"

# an uploaded page is saved, never rendered on the plane's origin
echo '<script>alert(1)</script>' > "$WORK/x.html"
hid=$($AIFS -q put "$WORK/x.html" --meta content_type=text/html)
curl -s -D "$WORK/hh" -o /dev/null "$($AIFS url "$hid")"
grep -qi '^content-type: text/html' "$WORK/hh" || fail "declared type not served"
grep -qi '^content-disposition: attachment' "$WORK/hh" || fail "an HTML asset is not an attachment"
grep -qi '^x-content-type-options: nosniff' "$WORK/hh" || fail "no nosniff"
grep -qi "^content-security-policy: default-src 'none'; sandbox" "$WORK/hh" || fail "no CSP sandbox"
ok "an HTML asset comes as an attachment with nosniff and a sandbox CSP"

# what a URL does not grant
bad=${url/sig=/sig=0}; bad=${bad:0:${#url}}
[ "$(reason "$bad")" = BAD_SIGNATURE ] || fail "a tampered signature: $(reason "$bad")"
[ "$(status "$bad")" = 403 ] || fail "a tampered signature is not 403"
other=${url/\/default\//\/other\/}
[ "$(reason "$other")" = BAD_SIGNATURE ] || fail "another namespace: $(reason "$other")"
second=$($AIFS -q put "$WORK/h")
swapped=${url/$id/$second}
[ "$(reason "$swapped")" = BAD_SIGNATURE ] || fail "another asset: $(reason "$swapped")"
short=$($AIFS url "$id" --expires 1s)
sleep 2.2
[ "$(reason "$short")" = URL_EXPIRED ] || fail "an expired URL: $(reason "$short")"
ok "tampered, re-targeted and expired URLs are 403 with a stable reason"
$AIFS -q url-key rotate
$AIFS -q url-key revoke u1
[ "$(reason "$url")" = KEY_REVOKED ] || fail "a URL of a revoked key: $(reason "$url")"
fresh=$($AIFS url "$id")
[[ $fresh == *"kid=u2"* ]] || fail "new URLs are not signed with u2: $fresh"
[ "$(status "$fresh")" = 200 ] || fail "a URL of the new key does not work"
ok "revoking a URL key voids its URLs; the rotated key signs new ones"

# bearer tokens, paths, errors
auth=(-H "Authorization: Bearer $TOKEN")
[ "$(status "$HTTP/v1/assets/default/$id")" = 401 ] || fail "no token is not 401"
[ "$(reason "$HTTP/v1/assets/default/$id")" = TOKEN_MISSING ] || fail "no token: not TOKEN_MISSING"
curl -s "${auth[@]}" -o "$WORK/p" "$HTTP/v1/paths/default/data/f.bin"
[ "$(b3 "$WORK/p")" = "$want" ] || fail "a path read with a token got other bytes"
missing=$(printf '%064d' 0)
[ "$(reason "$HTTP/v1/assets/default/$missing" "${auth[@]}")" = ASSET_NOT_FOUND ] || fail "missing asset"
get_only=$($AIFS token mint --ops list --ns default)
[ "$(reason "$HTTP/v1/assets/default/$id" -H "Authorization: Bearer $get_only")" = OPERATION_NOT_ALLOWED ] ||
  fail "a token without get reads"
[ "$(status "$url" -X POST)" = 405 ] || fail "POST is not 405"
[ "$(status "$url" -X DELETE)" = 405 ] || fail "DELETE is not 405"
ok "bearer-token reads by ID and path; 401/403/404/405 with stable reasons"

# metrics, health
curl -s "${auth[@]}" "$HTTP/metrics" > "$WORK/metrics"
promtool check metrics < "$WORK/metrics" || fail "promtool rejects /metrics"
grep -q '^aifs_http_requests_total' "$WORK/metrics" || fail "no HTTP request counter in /metrics"
[ "$(status "$HTTP/metrics")" = 401 ] || fail "/metrics without a token is not 401"
[ "$(status "$HTTP/healthz")" = 200 ] && [ "$(status "$HTTP/readyz")" = 200 ] || fail "health endpoints"
ok "/metrics passes promtool; /healthz and /readyz answer"
stop_server h

# HTTPS with the gRPC certificate.
unset AIFS_SERVER
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout server.key -out server.crt 2>/dev/null || fail "openssl"
cd - >/dev/null
start_server s --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" --http 127.0.0.1:0
https=$(sed -n 's/^aifs: serving HTTP on \([^ ]*\) (TLS).*/\1/p' "$WORK/s.out")
[ -n "$https" ] || fail "serve printed no HTTPS address: $(cat "$WORK/s.out")"
url=$($AIFS --server "$ADDR_s" --tls-ca "$WORK/server.crt" url data/f.bin)
[[ $url == "https://$https/"* ]] || fail "https url: $url"
curl -sf --cacert "$WORK/server.crt" -o "$WORK/tls.bin" "$url" || fail "curl https"
[ "$(b3 "$WORK/tls.bin")" = "$want" ] || fail "https bytes differ"
! curl -sf -o /dev/null "${url/https:/http:}" 2>/dev/null || fail "plaintext on the HTTPS port"
ok "HTTPS with the server's certificate"
stop_server s
echo "PASS ($PASS checks)"
