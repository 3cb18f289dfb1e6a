# TLS at the edge, here: Debian's caddy with `tls internal` (its own local CA)
# in front of lablink-allocator, using the shipped snippet
# packaging/caddy/lablink.caddy. An HTTPS request verified against caddy's
# root certificate reaches /api/health; plain HTTP redirects to HTTPS; the
# snippet's headers are present; and the login route, when it exists, sets
# cookies marked Secure (Caddy sends X-Forwarded-Proto: https).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"

command -v caddy >/dev/null 2>&1 \
    || fail "caddy not found: install it with LABLINK_DEPS=tls scripts/install-deps (make test does)"
passed=0
ok() { pass "$1"; passed=$((passed + 1)); }

port=$(ll_free_port)
https_port=$(ll_free_port)
http_port=$(ll_free_port)
start_allocator "$port"

# Caddy keeps its CA, certificates and config under the test directory.
C=$T/caddy
mkdir -p "$C/home" "$C/data" "$C/config"
cat >"$C/Caddyfile" <<CADDY
{
	admin off
	skip_install_trust
	http_port $http_port
	https_port $https_port
	storage file_system $C/data/caddy
}

import $SRC/packaging/caddy/lablink.caddy

https://127.0.0.1:$https_port, http://127.0.0.1:$http_port {
	tls internal
	import lablink_proxy
}
CADDY
# Only the redirect from http_port: the site above answers https.
sed -i "s|, http://127.0.0.1:$http_port {| {|" "$C/Caddyfile"

HOME=$C/home XDG_DATA_HOME=$C/data XDG_CONFIG_HOME=$C/config LABLINK_UPSTREAM=127.0.0.1:$port \
    caddy run --config "$C/Caddyfile" --adapter caddyfile </dev/null >"$T/caddy.log" 2>&1 &
CADDY_PID=$!
cleanup_caddy() { kill "$CADDY_PID" 2>/dev/null || true; wait "$CADDY_PID" 2>/dev/null || true; }
trap cleanup_caddy EXIT

root=$C/data/caddy/pki/authorities/local/root.crt
url=https://127.0.0.1:$https_port
code=000
for _ in $(seq 1 150); do
    kill -0 "$CADDY_PID" 2>/dev/null || { cat "$T/caddy.log" >&2; fail "caddy exited"; }
    if [ -s "$root" ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$root" "$url/api/health" || true)
        [ "$code" = 200 ] && break
    fi
    sleep 0.2
done
[ "$code" = 200 ] || { cat "$T/caddy.log" >&2; fail "no 200 from $url/api/health through caddy (last $code)"; }
body=$(curl -s --cacert "$root" "$url/api/health")
grep -q '"status":"healthy"' <<<"$body" || fail "health body through caddy: $body"
ok "HTTPS through caddy (certificate verified against its local CA) reaches /api/health"

# The certificate really is caddy's: without its CA, verification fails.
rc=0; curl -s -o /dev/null --max-time 5 "$url/api/health" || rc=$?
[ "$rc" -eq 60 ] || fail "curl without caddy's root certificate: expected a verification failure (60), got $rc"
issuer=$(curl -s -v --cacert "$root" -o /dev/null "$url/api/health" 2>&1 | grep -i 'issuer:' || true)
grep -qi 'Caddy Local Authority' <<<"$issuer" || fail "certificate not issued by caddy's local CA: $issuer"
ok "the certificate is issued by caddy's local CA and refused without it"

headers=$(curl -s -D - -o /dev/null --cacert "$root" "$url/api/health")
grep -qi '^Strict-Transport-Security: max-age=' <<<"$headers" || fail "no HSTS header through caddy"
grep -qi '^Content-Security-Policy:' <<<"$headers" || fail "the allocator's headers are lost through caddy"
if grep -qi '^Server:' <<<"$headers" ; then fail "Server header not removed"; fi
ok "HSTS added, the allocator's security headers kept, Server removed"

loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 "http://127.0.0.1:$http_port/api/health")
case "$loc" in
    30[178]\ https://127.0.0.1*) ok "plain HTTP redirects to HTTPS ($loc)" ;;
    *) cat "$T/caddy.log" >&2; fail "plain HTTP not redirected to HTTPS: $loc" ;;
esac

# The Prometheus endpoint stays private: 404 through the proxy (also under
# another spelling), 200 on the allocator's own listener (issue 15 section 5).
for path in /metrics /metrics/ /metrics/x; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$root" "$url$path")
    [ "$code" = 404 ] || fail "$path through caddy: $code (must stay private)"
done
body=$(curl -s --max-time 10 --cacert "$root" "$url/metrics")
grep -q lablink_ <<<"$body" && fail "metrics text leaked through caddy"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/metrics")
[ "$code" = 200 ] || fail "/metrics on app.listen: $code"
ok "/metrics is 404 through caddy and served on app.listen only"

# Cookies behind TLS. The login route belongs to the admin console (admin
# area); until it exists this part is skipped, detected here at run time.
login=${LABLINK_LOGIN_PATH:-/admin/login}
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$root" "$url$login")
if [ "$code" = 404 ]; then
    echo "SKIP: $login answers 404 (no login route yet): Secure cookie check not run"
else
    jar=$T/cookies
    page=$(curl -s -c "$jar" -D "$T/login-get.h" --cacert "$root" "$url$login")
    csrf=$(grep -o 'name="[a-z_]*csrf[a-z_]*" value="[^"]*"' <<<"$page" | head -1 || true)
    form=(--data-urlencode username=admin --data-urlencode password=test-admin-password)
    if [ -n "$csrf" ]; then
        cname=$(echo "$csrf" | sed 's/name="\([^"]*\)".*/\1/')
        cvalue=$(echo "$csrf" | sed 's/.*value="\([^"]*\)"/\1/')
        form+=(--data-urlencode "$cname=$cvalue")
    fi
    curl -s -o /dev/null -b "$jar" -c "$jar" -D "$T/login-post.h" --cacert "$root" "${form[@]}" "$url$login"
    cookies=$(cat "$T/login-get.h" "$T/login-post.h" | tr -d '\r' | grep -i '^Set-Cookie:' || true)
    [ -n "$cookies" ] || fail "login through TLS set no cookie (GET and POST $login)"
    insecure=$(grep -vi '; *Secure' <<<"$cookies" || true)
    [ -z "$insecure" ] || fail "cookie without Secure behind TLS: $insecure"
    grep -qi 'HttpOnly' <<<"$cookies" || fail "session cookie without HttpOnly: $cookies"
    ok "cookies set behind TLS are Secure and HttpOnly"
    # Control: the same login straight to the allocator over plain HTTP (no
    # proxy, no X-Forwarded-Proto) with app.secure_cookies unset: no Secure,
    # so the flag above came from the TLS proxy.
    curl -s -o /dev/null -D "$T/login-plain.h" "${form[@]}" "http://127.0.0.1:$port$login"
    plain=$(tr -d '\r' <"$T/login-plain.h" | grep -i '^Set-Cookie:' || true)
    [ -n "$plain" ] || fail "plain-HTTP login set no cookie"
    if grep -qi '; *Secure' <<<"$plain" ; then
        fail "cookie Secure without TLS: the Secure check above proves nothing ($plain)"
    fi
    ok "control: the same login over plain HTTP, without the proxy, gets no Secure flag"
fi

cleanup_caddy
trap - EXIT
stop_allocator
ok "allocator stopped cleanly"
echo "$passed passed, 0 failed"
