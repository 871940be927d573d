# The HTTP data plane end to end (docs/http.md): `aifs serve --http-listen`,
# pre-signed URLs from `aifs url` downloaded by independent clients (curl,
# wget, aria2c with parallel ranges) and checked with b3sum; a bearer-token
# read of a path; HTTPS with a certificate made here; a revoked URL key.
# Exit 77 (skipped) without curl.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "curl is not installed: skipped"; exit 77; }
for tool in openssl b3sum python3; do
  command -v $tool >/dev/null || fail "$tool is required"
done

$AIFS init >/dev/null
export AIFS_TOKEN=@$AIFS_DATA/admin.token
python3 -c 'import os,sys; sys.stdout.buffer.write(os.urandom(5 << 20))' > "$WORK/data.bin"
$AIFS put "$WORK/data.bin" --path models/data.bin >/dev/null
want=$(b3 "$WORK/data.bin")

start_server h --http-listen 127.0.0.1:0
http=$(sed -n 's/^aifs: serving HTTP on \([^ ]*\).*/\1/p' "$WORK/h.out")
[ -n "$http" ] || fail "serve printed no HTTP address: $(cat "$WORK/h.out")"
curl -sf "http://$http/healthz" | grep -qx ok || fail "/healthz"
ok "serve --http-listen: $http"

# `aifs url` through the server: the base is the server's own HTTP address.
url=$($AIFS --server "$ADDR_h" url models/data.bin --expires 10m)
[[ $url == "http://$http/v1/assets/default/"*"name=data.bin"*"sig="* ]] || fail "url: $url"
curl -sf -o "$WORK/curl.bin" "$url" || fail "curl $url"
[ "$(b3 "$WORK/curl.bin")" = "$want" ] || fail "curl bytes differ"
curl -sf -D "$WORK/headers" -o /dev/null "$url"
grep -qi '^content-disposition: attachment; filename="data.bin"' "$WORK/headers" ||
  fail "Content-Disposition: $(cat "$WORK/headers")"
ok "curl downloads a pre-signed URL"
if command -v wget >/dev/null; then
  wget -q -O "$WORK/wget.bin" "$url" || fail "wget $url"
  [ "$(b3 "$WORK/wget.bin")" = "$want" ] || fail "wget bytes differ"
  ok "wget downloads a pre-signed URL"
else
  echo "wget is not installed: not tried"
fi
if command -v aria2c >/dev/null; then
  aria2c -q -x4 -s4 --min-split-size=1M -d "$WORK" -o aria.bin "$url" || fail "aria2c $url"
  [ "$(b3 "$WORK/aria.bin")" = "$want" ] || fail "aria2c bytes differ"
  ok "aria2c downloads a pre-signed URL in 4 ranges"
else
  echo "aria2c is not installed: not tried"
fi
# A range, with curl's own parsing of the answer.
curl -sf -r 1000-1999 -o "$WORK/part.bin" "$url"
[ "$(b3 "$WORK/part.bin")" = "$(tail -c +1001 "$WORK/data.bin" | head -c 1000 | b3sum --no-names)" ] ||
  fail "range 1000-1999"
ok "curl -r reads a range"

# Bearer token, by path; no token: 401 with the stable reason.
token=$(cat "$AIFS_DATA/admin.token")
curl -sf -H "Authorization: Bearer $token" -o "$WORK/path.bin" \
  "http://$http/v1/paths/default/models/data.bin" || fail "bearer read of a path"
[ "$(b3 "$WORK/path.bin")" = "$want" ] || fail "path bytes differ"
code=$(curl -s -o "$WORK/err.json" -w '%{http_code}' "http://$http/v1/paths/default/models/data.bin")
[ "$code" = 401 ] && grep -q '"reason":"TOKEN_MISSING"' "$WORK/err.json" ||
  fail "no token: $code $(cat "$WORK/err.json")"
ok "bearer-token read of a path; 401 TOKEN_MISSING without"

# Revoking the URL key voids the URL (403 KEY_REVOKED).
kid=$(sed -n 's/.*[?&]kid=\([^&]*\).*/\1/p' <<<"$url")
$AIFS --server "$ADDR_h" url-key rotate >/dev/null
$AIFS --server "$ADDR_h" url-key revoke "$kid" >/dev/null
code=$(curl -s -o "$WORK/err.json" -w '%{http_code}' "$url")
[ "$code" = 403 ] && grep -q '"reason":"KEY_REVOKED"' "$WORK/err.json" ||
  fail "revoked key: $code $(cat "$WORK/err.json")"
fresh=$($AIFS --server "$ADDR_h" url models/data.bin)
curl -sf -o /dev/null "$fresh" || fail "a URL of the new key"
ok "a revoked URL key voids its URLs"
stop_server h

# HTTPS with the gRPC certificate.
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout server.key -out server.crt 2>/dev/null || fail "openssl"
cd - >/dev/null
start_server s --tls-cert "$WORK/server.crt" --tls-key "$WORK/server.key" --http-listen 127.0.0.1:0
https=$(sed -n 's/^aifs: serving HTTP on \([^ ]*\) (TLS).*/\1/p' "$WORK/s.out")
[ -n "$https" ] || fail "serve printed no HTTPS address: $(cat "$WORK/s.out")"
url=$($AIFS --server "$ADDR_s" --tls-ca "$WORK/server.crt" url models/data.bin)
[[ $url == "https://$https/"* ]] || fail "https url: $url"
curl -sf --cacert "$WORK/server.crt" -o "$WORK/tls.bin" "$url" || fail "curl https"
[ "$(b3 "$WORK/tls.bin")" = "$want" ] || fail "https bytes differ"
! curl -sf -o /dev/null "${url/https:/http:}" 2>/dev/null || fail "plaintext on the HTTPS port"
ok "HTTPS with the server's certificate"
stop_server s
echo "PASS: $PASS checks"
