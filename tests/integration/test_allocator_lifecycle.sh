# The allocator binary from outside: health follows PostgreSQL, metrics,
# security headers, JSON errors, body cap, SIGTERM within 5 s with no
# sanitizer report, refusal to start without an admin password.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port

# --- PostgreSQL down at start: starts anyway, 503 naming the database ---
"$SRC/tests/harness/pg" stop
start_allocator "$port"
body=$(curl -s -u admin:test-admin-password "$url/api/health")
[ "$(http_status "$url/api/health")" = 503 ] || fail "health not 503 with PostgreSQL down"
grep -q '"database":"unavailable' <<<"$body" || fail "503 body does not name the database (admin): $body"
pass "503 naming the database (to the admin) while PostgreSQL is down"

"$SRC/tests/harness/pg" start
wait_healthy 10 "$url" || fail "health not 200 within 10 s of PostgreSQL starting"
pass "200 once PostgreSQL comes up, without a restart"

# --- PostgreSQL stopped while running: 503 within 3 s, 200 within 10 s ---
"$SRC/tests/harness/pg" stop
wait_status 503 3 "$url/api/health" || fail "health not 503 within 3 s of PostgreSQL stopping"
pass "503 within 3 s of PostgreSQL stopping"
"$SRC/tests/harness/pg" start
wait_healthy 10 "$url" || fail "health not 200 within 10 s of PostgreSQL's return"
pass "200 within 10 s of PostgreSQL's return"

# --- responses ---
headers=$(curl -s -D - -o /dev/null "$url/api/health")
for h in 'Content-Security-Policy:.*frame-ancestors .none.' 'X-Content-Type-Options: nosniff' \
         'Referrer-Policy:' 'Content-Type: application/json'; do
    grep -qi "$h" <<<"$headers" || fail "missing header $h"
done
pass "security headers"
curl -s "$url/api/health" | grep -q '"status":"healthy"' || fail "health body"
[ "$(http_status "$url/nowhere")" = 404 ] || fail "unknown path not 404"
curl -s "$url/nowhere" | grep -q '"error"' || fail "404 is not a JSON error"
[ "$(http_status -X POST "$url/api/health")" = 405 ] || fail "wrong method not 405"
[ "$(http_status "$url/")" = 200 ] || fail "index page"
curl -s "$url/" | grep -q 'Welcome to LabLink!' || fail "index text"
[ "$(http_status "$url/static/app.css")" = 200 ] || fail "static asset"
[ "$(http_status "$url/static/..%2Fsecret")" = 404 ] || fail "static traversal"
head -c 2000000 /dev/zero >"$T/big"
[ "$(http_status -X POST --data-binary @"$T/big" "$url/api/health")" = 413 ] || fail "big body not 413"
pass "errors are JSON with the right status"

metrics=$(curl -s "$url/metrics")
grep -q 'lablink_http_requests_total{method="GET",route="/api/health",status="200"}' <<<"$metrics" \
    || fail "metrics lack request counts"
grep -q 'lablink_http_requests_total{method="GET",route="/api/health",status="503"}' <<<"$metrics" \
    || fail "metrics lack the 503s"
grep -Eq '^lablink_pg_reconnects_total [1-9]' <<<"$metrics" || fail "metrics lack pg reconnects"
grep -q '^lablink_actor_queue_depth{actor="registry"} 0' <<<"$metrics" \
    || fail "metrics lack the registry's queue depth"
grep -Eq '^lablink_actor_calls_total\{actor="registry",outcome="failed"\} [1-9]' <<<"$metrics" \
    || fail "metrics lack the failed registry calls"
pass "metrics"

# an idle allocator sleeps: a wait loop with a deadline in the past (the
# gateway without an endpoint did this) burns a whole core
cpu_ticks() { awk '{print $14 + $15}' "/proc/$ALLOC_PID/stat"; }
before=$(cpu_ticks)
sleep 5
idle=$(($(cpu_ticks) - before))
[ "$idle" -lt 50 ] || fail "idle allocator used $idle CPU ticks in 5 s"
pass "idle: $idle CPU ticks in 5 s"

stop_allocator
pass "SIGTERM: exit 0 within 5 s, no sanitizer report"

# --- refusals and --check-config ---
write_config "$port"
sed -i 's/admin_password: .*/admin_password: PLACEHOLDER_ADMIN_PASSWORD/' "$T/config.yaml"
rc=0; out=$("$BIN" --config "$T/config.yaml" 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "started with a placeholder password (rc $rc)"
grep -q PLACEHOLDER_ <<<"$out" || fail "no clear message: $out"
sed -i '/admin_password/d' "$T/config.yaml"
rc=0; out=$("$BIN" --config "$T/config.yaml" 2>&1) || rc=$?
[ $rc -eq 1 ] && grep -q 'admin_password is not set' <<<"$out" || fail "started without a password"
pass "refuses to start without a real admin password"

out=$("$BIN" --check-config "$SRC/examples/upstream-config.yaml") || fail "upstream example rejected"
grep -q '^\[PASS\]' <<<"$out" || fail "no [PASS]"
printf 'db:\n  port: 5432\n  colour: blue\n' >"$T/bad.yaml"
rc=0; out=$("$BIN" --check-config "$T/bad.yaml") || rc=$?
[ $rc -eq 1 ] && grep -q '^\[FAIL\] db.colour: unknown key' <<<"$out" || fail "unknown key: $out"
printf 'app:\n  max_vms: lots\n' >"$T/bad.yaml"
rc=0; out=$("$BIN" --check-config "$T/bad.yaml") || rc=$?
[ $rc -eq 1 ] && grep -q '^\[FAIL\] app.max_vms: expected an integer' <<<"$out" || fail "wrong type: $out"
rc=0; out=$("$BIN" --check-config "$T/missing.yaml") || rc=$?
[ $rc -eq 1 ] && grep -q '^\[FAIL\] config file not found' <<<"$out" || fail "missing file: $out"
pass "--check-config"
echo "1 passed, 0 failed"
