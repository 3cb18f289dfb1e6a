# Admin authentication from outside (curl against the real allocator and
# PostgreSQL): upstream's Basic 401, the login page and session cookie
# (flags, hashed at rest, idle expiry, logout), CSRF (403 without the token
# or from another origin), the per-address login limit, the audit log, the
# admin pages' upstream texts, and two allocators sharing one database
# agreeing on sessions.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
set +o pipefail  # "curl | grep -q" : grep may close the pipe before curl ends

port=$(ll_free_port)
url=http://127.0.0.1:$port
jar=$T/cookies
passed=0
ok() { pass "$1"; passed=$((passed + 1)); }
# the status of a request that may be slow on a loaded machine (a wrong
# password costs a pwhash): a timeout shows as 000, never ends the script
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$@" || true; }

write_config "$port"
"$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 30 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }

# --- HTTP Basic, as upstream's tests expect --------------------------------
body=$(curl -s "$url/admin")
[ "$body" = "Unauthorized Access" ] || fail "no auth: body '$body'"
[ "$(http_status "$url/admin")" = 401 ] || fail "no auth: not 401"
curl -s -D - -o /dev/null "$url/admin" | grep -qi '^WWW-Authenticate: Basic realm="Authentication Required"' \
    || fail "no Basic challenge"
[ "$(curl -s -u admin:wrong "$url/admin")" = "Unauthorized Access" ] || fail "wrong password body"
[ "$(http_status -u admin:wrong "$url/admin")" = 401 ] || fail "wrong password not 401"
[ "$(http_status -u admin:test-admin-password "$url/admin")" = 200 ] || fail "Basic refused"
curl -s -u admin:test-admin-password "$url/admin" | grep -q 'LabLink Admin Panel' || fail "admin page text"
for i in 1 2 3; do
    [ "$(http_status -u admin:test-admin-password "$url/admin/create")" = 200 ] || fail "cached Basic $i"
done
ok "Basic: 401 'Unauthorized Access' without or with a wrong password, 200 with the right one"

# --- every admin route of the table refuses an anonymous caller -------------
routes=$(grep -oE '\{"(GET|POST|PUT|DELETE)", "[^"]+", LL_AUTH_ADMIN\b' "$SRC/http/routes.c" \
    | sed -E 's/\{"([A-Z]+)", "([^"]+)".*/\1 \2/')
[ "$(echo "$routes" | wc -l)" -ge 5 ] || fail "admin routes not found in http/routes.c"
n=0
while read -r method pattern; do
    n=$((n + 1))
    path=${pattern//\{\}/x}
    code=$(status_of -X "$method" "$url$path")
    [ "$code" = 401 ] || fail "$method $path answers $code without credentials"
    # a wrong password takes the same path on every route (and costs a
    # pwhash): checked on the first few only
    [ $n -le 3 ] || continue
    code=$(status_of -X "$method" -u admin:wrong -H "X-Forwarded-For: 10.77.0.$n" "$url$path")
    [ "$code" = 401 ] || fail "$method $path answers $code with a wrong password"
done <<<"$routes"
ok "every LL_AUTH_ADMIN route of http/routes.c answers 401 without credentials (and with a wrong password)"

# --- browsers: login page, cookie, CSRF, logout -----------------------------
loc=$(curl -s -o /dev/null -w '%{redirect_url}' -H 'Accept: text/html' "$url/admin/instances")
grep -qi '/admin/login?next=%2Fadmin%2Finstances$' <<<"$loc" || fail "no redirect to login: '$loc'"
page=$(curl -s "$url/admin/login?next=/admin/instances")
grep -q 'name="password"' <<<"$page" || fail "login form"
grep -q 'value="/admin/instances"' <<<"$page" || fail "next not kept"
[ "$(http_status --data 'username=admin&password=nope' "$url/admin/login")" = 401 ] || fail "bad login not 401"
curl -s --data 'username=admin&password=nope' "$url/admin/login" | grep -q 'Invalid user name or password.' \
    || fail "bad login message"
headers=$(curl -s -D - -o /dev/null -c "$jar" \
    --data 'username=admin&password=test-admin-password&next=/admin/instances' "$url/admin/login")
grep -q '^HTTP/1.1 303' <<<"$headers" || fail "login not 303: $headers"
grep -qi '^Location: /admin/instances' <<<"$headers" || fail "login does not go to next"
cookie=$(grep -i '^Set-Cookie: lablink_session=' <<<"$headers" | tr -d '\r')
[ -n "$cookie" ] || fail "no session cookie"
grep -q 'HttpOnly' <<<"$cookie" || fail "cookie not HttpOnly"
grep -q 'SameSite=Strict' <<<"$cookie" || fail "cookie not SameSite=Strict"
grep -q 'Secure' <<<"$cookie" && fail "Secure over plain HTTP"
curl -s -D - -o /dev/null -H 'X-Forwarded-Proto: https' \
    --data 'username=admin&password=test-admin-password' "$url/admin/login" \
    | grep -i '^Set-Cookie:' | grep -q 'Secure' || fail "no Secure behind TLS"
[ "$(curl -s -o /dev/null -w '%{redirect_url}' --data 'username=admin&password=test-admin-password&next=//evil.example' \
    "$url/admin/login")" = "$url/admin" ] || fail "open redirect"
ok "login page, 303 to next, cookie HttpOnly SameSite=Strict (Secure behind TLS), no open redirect"

sid=$(echo "$cookie" | sed 's/.*lablink_session=\([0-9a-f]*\).*/\1/')
[ ${#sid} -eq 64 ] || fail "session id '$sid'"
stored=$(psql -Atc "SELECT id_hash FROM admin_sessions" | tr '\n' ' ')
grep -q "$sid" <<<"$stored" && fail "session id stored in clear"
want=$(printf '%s' "$sid" | sha256sum | cut -d' ' -f1)
grep -q "$want" <<<"$stored" || fail "session hash not stored ($stored)"
ok "only the SHA-256 of the session id is stored"

page=$(curl -s -b "$jar" "$url/admin/instances")
grep -q 'Existing VM Instances' <<<"$page" || fail "cookie does not open the instances page"
csrf=$(echo "$page" | sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p')
[ ${#csrf} -eq 64 ] || fail "no CSRF token in the page"
[ "$(http_status -b "$jar" -X POST "$url/admin/logout")" = 403 ] || fail "logout without token not 403"
curl -s -b "$jar" -X POST "$url/admin/logout" | grep -q 'CSRF token missing or invalid.' || fail "CSRF message"
case $csrf in *0) wrong=${csrf%?}1 ;; *) wrong=${csrf%?}0 ;; esac
[ "$(http_status -b "$jar" -X POST -H "X-CSRF-Token: $wrong" "$url/admin/logout")" = 403 ] \
    || fail "wrong token not 403"
[ "$(http_status -b "$jar" -X POST -H "X-CSRF-Token: $csrf" -H 'Origin: http://evil.example' \
    "$url/admin/logout")" = 403 ] || fail "foreign Origin not 403"
[ "$(http_status -b "$jar" -X POST -H "X-CSRF-Token: $csrf" -H 'Sec-Fetch-Site: cross-site' \
    "$url/admin/logout")" = 403 ] || fail "cross-site fetch not 403"
[ "$(http_status -u admin:test-admin-password -X POST -H 'Origin: http://evil.example' \
    "$url/admin/logout")" = 403 ] || fail "cross-origin Basic POST not 403"
[ "$(http_status -b "$jar" "$url/admin")" = 200 ] || fail "refused requests ended the session"
ok "CSRF: 403 without the token, with a wrong one, from another origin"

# --- two allocators on one database agree on sessions -----------------------
port2=$(ll_free_port)
# the second one expires idle sessions after 8 s (the idle test below)
sed "s/127.0.0.1:$port/127.0.0.1:$port2/; s/^app:$/app:\n  session_idle_s: 8/" "$T/config.yaml" >"$T/config2.yaml"
"$BIN" --config "$T/config2.yaml" >"$T/allocator2.log" 2>&1 &
pid2=$!
wait_healthy 30 "http://127.0.0.1:$port2" || fail "second allocator not healthy"
# a fresh session made on the first: the second expires sessions idle for
# 8 s, and on a loaded machine its start alone can take longer than that
curl -s -o /dev/null -c "$jar" --data 'username=admin&password=test-admin-password' "$url/admin/login"
page=$(curl -s -b "$jar" "http://127.0.0.1:$port2/admin/instances")
grep -q 'Existing VM Instances' <<<"$page" || fail "session unknown to the second allocator"
csrf=$(sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p' <<<"$page")
[ ${#csrf} -eq 64 ] || fail "no CSRF token in the second allocator's page"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" -X POST --data "csrf_token=$csrf" \
    "http://127.0.0.1:$port2/admin/logout")
[ "$code" = 303 ] || fail "form logout with token: $code"
[ "$(http_status -b "$jar" "$url/admin")" = 401 ] || fail "logout on one allocator did not end the session on the other"
curl -s -b "$jar" "$url/admin" | grep -q 'Session expired' || fail "expired session message"
ok "a session made on one allocator works on another; logout on one ends it on both"

# --- idle expiry (on the second allocator: app.session_idle_s 8) -------------
url2=http://127.0.0.1:$port2
curl -s -o /dev/null -c "$jar" --data 'username=admin&password=test-admin-password' "$url2/admin/login"
[ "$(http_status -b "$jar" "$url2/admin")" = 200 ] || fail "new session"
sleep 5
[ "$(http_status -b "$jar" "$url2/admin")" = 200 ] || fail "session expired while in use (5 s)"
sleep 5
[ "$(http_status -b "$jar" "$url2/admin")" = 200 ] || fail "session expired while in use (10 s after login)"
sleep 10
[ "$(http_status -b "$jar" "$url2/admin")" = 401 ] || fail "idle session still valid"
kill -TERM "$pid2"; wait "$pid2" || fail "second allocator exit"
ok "sessions expire after app.session_idle_s without use, not while used"

# --- failed logins are limited per address ------------------------------------
for i in 1 2 3 4 5; do
    [ "$(http_status -H 'X-Forwarded-For: 10.9.9.9' --data 'username=admin&password=guess' "$url/admin/login")" = 401 ] \
        || fail "failure $i not 401"
done
h=$(curl -s -D - -o /dev/null -H 'X-Forwarded-For: 10.9.9.9' \
    --data 'username=admin&password=test-admin-password' "$url/admin/login")
grep -q '^HTTP/1.1 429' <<<"$h" || fail "6th login from the address not 429"
grep -qi '^Retry-After: [1-9]' <<<"$h" || fail "no Retry-After"
[ "$(http_status -H 'X-Forwarded-For: 10.9.9.9' -u admin:test-admin-password-x "$url/admin")" = 429 ] \
    || fail "Basic guesses not limited"
[ "$(http_status -H 'X-Forwarded-For: 10.9.9.10' --data 'username=admin&password=test-admin-password' \
    "$url/admin/login")" = 303 ] || fail "another address was limited"
ok "5 failed logins per address per 5 min, then 429 with Retry-After; other addresses unaffected"

# --- audit log -----------------------------------------------------------------
audit=$(curl -s -u admin:test-admin-password -H 'Accept: application/json' "$url/admin/audit")
for want in '"action":"login","target":null,"outcome":"success"' '"outcome":"failure"' \
            '"action":"POST /admin/logout"' '"outcome":"throttled"' '"action":"login (basic)"'; do
    grep -q "$want" <<<"$audit" || fail "audit lacks $want: $audit"
done
grep -q '"detail":"HTTP 403 via session' <<<"$audit" || fail "CSRF refusal not audited"
grep -q '"at":"20[0-9-]*T' <<<"$audit" || fail "audit time"
curl -s -u admin:test-admin-password "$url/admin/audit" | grep -q 'Audit Log' || fail "audit page"
ok "audit log: logins, logouts, refusals with time, actor and outcome; /admin/audit"

# --- pages keep upstream's texts and read the database ---------------------------
psql -qc "INSERT INTO vms (hostname, status) VALUES ('lablink-vm-test-1', 'running'), ('lablink-vm-test-2', 'initializing')"
[ "$(http_status "$url/admin/instances")" = 401 ] || fail "instances without auth"
curl -s -u admin:test-admin-password "$url/admin/instances" | grep -q 'lablink-vm-test-2' || fail "instances lack hostnames"
curl -s -u admin:test-admin-password -H 'Accept: application/json' "$url/admin/instances" \
    | grep -q '"count":2' || fail "instances JSON"
curl -s -u admin:test-admin-password -H 'Accept: application/json' "$url/admin/instances" \
    | grep -q 'crd_command\|"pin"' && fail "instances JSON shows secrets"
del=$(curl -s -u admin:test-admin-password "$url/admin/instances/delete")
grep -q 'Run terraform destroy' <<<"$del" || fail "delete page: destroy button"
grep -q 'Extract and Download Files' <<<"$del" || fail "delete page: export button"
[ "$(http_status "$url/admin/logs/lablink-vm-test-1")" = 401 ] || fail "logs page without auth"
curl -s -u admin:test-admin-password "$url/admin/logs/lablink-vm-test-1" | grep -q 'VM Logs - lablink-vm-test-1' \
    || fail "logs page title"
[ "$(http_status -u admin:test-admin-password "$url/admin/logs/nope")" = 404 ] || fail "unknown VM not 404"
curl -s -u admin:test-admin-password "$url/admin/logs/nope" | grep -q '"error":"VM not found."' || fail "404 text"
curl -s -u admin:test-admin-password "$url/admin/create" | grep -q 'VM Allocator Dashboard' || fail "create page"
h=$(curl -s -D - -o /dev/null -u admin:test-admin-password "$url/admin/create")
grep -qi "Content-Security-Policy: default-src 'self'; script-src 'self'" <<<"$h" || fail "CSP on pages"
grep -qi 'X-Frame-Options: DENY' <<<"$h" || fail "frame header"
ok "pages: upstream headings and texts, hostnames from the database, 404 'VM not found.', CSP"

stop_allocator
ok "SIGTERM: clean exit, no sanitizer report"
echo "$passed passed, 0 failed"
