# Slowloris: many sockets hold the allocator's workers by trickling request
# headers a byte a second, or by sending nothing. What the user sees: the
# allocator still answers /api/health and students' claims within a bounded
# time, because each such connection is dropped after app.request_timeout_s.
# Checked: every slow socket is closed by the server, every claim answered
# 200 is a stored assignment, the allocator stops cleanly.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
# 8 workers and 24 slow sockets: without the request timeout the pool is
# held for good (civetweb waits for headers for as long as it is told to)
claim_config "$T/allocator.yaml" "$port" "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
sed -i 's/^  admin_password: .*/&\n  http_threads: 8\n  request_timeout_s: 3/' "$T/allocator.yaml"
"$BIN" --config "$T/allocator.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 20 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
seed_vms slow 3

perl "$SRC/tests/faults/slowloris.pl" 127.0.0.1 "$port" 24 45 "$T/slow.out" &
slow=$!
sleep 1
# bounded: 24 sockets / 8 workers x 3 s is about 9 s; 40 s leaves room for load
out=$(curl -s -w ' %{http_code} %{time_total}' --max-time 40 "$url/api/health") || fail "health: no answer within 40 s"
expect "health while slow sockets are open" 200 "$(cut -d' ' -f2 <<<"${out##*\}}")"
pass "health answered while 24 slow sockets hold 8 workers (${out##* } s)"
for i in 1 2 3; do
    out=$(curl -s -H 'Accept: application/json' -w ' %{http_code}' --max-time 40 \
        --data-urlencode "email=slow$i@example.com" --data-urlencode "crd_command=--code=4/slow$i" \
        "$url/api/request_vm") || fail "claim $i: no answer within 40 s"
    expect "claim $i during the attack" 200 "${out##* }"
done
expect "stored assignments" 3 "$(sql "SELECT count(*) FROM vms WHERE user_email LIKE 'slow%'")"
pass "3 claims answered 200 during the attack, all 3 stored"

wait $slow || fail "slowloris client failed"
[ "$(grep -c '^closed' "$T/slow.out")" = 24 ] || fail "slow sockets not dropped: $(sort "$T/slow.out" | uniq -c)"
pass "all 24 slow sockets dropped by the server (latest after $(sort -k2 -n "$T/slow.out" | tail -n 1 | cut -d' ' -f2) s)"
[ "$(http_status "$url/api/health")" = 200 ] || fail "health after the attack"
stop_allocator_within 20
echo "3 passed, 0 failed"
