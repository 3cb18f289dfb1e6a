# 200 barrier-synchronised claims against 50 free VMs: exactly 50 winners,
# 150 "No available VMs", no VM twice (in the answers and in the database).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
seed_vms race 50
# a stale VM and a busy one are never offered
psql -q -c "INSERT INTO vms (hostname, status, last_seen_at) VALUES ('stale-1', 'running', now() - interval '1 hour')"
psql -q -c "INSERT INTO vms (hostname, status, last_seen_at) VALUES ('init-1', 'initializing', now())"
expect "count before" '{"count":50}' "$(curl -s "$url/api/unassigned_vms_count")"

"$BENCH" burst --url "$url" --clients 200 >"$T/burst.out"
wins=$(grep -c '^OK ' "$T/burst.out" || true)
none=$(grep -c '^NONE$' "$T/burst.out" || true)
expect "winners" 50 "$wins"
expect "No available VMs" 150 "$none"
expect "distinct hostnames" 50 "$(grep '^OK ' "$T/burst.out" | sort -u | wc -l)"
pass "200 claims, 50 VMs: 50 winners, 150 refused, no VM twice in the answers"

expect "assigned rows" 50 "$(sql "SELECT count(*) FROM vms WHERE user_email IS NOT NULL")"
expect "distinct students" 50 "$(sql "SELECT count(DISTINCT user_email) FROM vms WHERE user_email IS NOT NULL")"
expect "stale/initializing untouched" 0 "$(sql "SELECT count(*) FROM vms WHERE hostname IN ('stale-1','init-1') AND user_email IS NOT NULL")"
expect "pins are 6 digits" 50 "$(sql "SELECT count(*) FROM vms WHERE pin ~ '^[0-9]{6}\$' AND crd_command ~ '^--code=4/bench[0-9]+\$'")"
[ "$(sql "SELECT count(DISTINCT pin) FROM vms WHERE pin IS NOT NULL")" -gt 40 ] || fail "PINs are not random"
expect "audit rows" 200 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'claim'")"
expect "count after" '{"count":0}' "$(curl -s "$url/api/unassigned_vms_count")"
pass "database: 50 assignments, one per student, random PINs, code only, audited"

# The refusal is upstream's message, in the page
body=$(curl -s -w ' %{http_code}' --data-urlencode email=late@example.com \
    --data-urlencode 'crd_command=--code=4/late' "$url/api/request_vm")
grep -q 'No available VMs. Please try again later. Please ask your instructor for help' <<<"$body" \
    || fail "no-VM message: $body"
[ "${body##* }" = 503 ] || fail "no-VM status: ${body##* }"
pass "a claim with no VM left: the message in the index page, 503"

claim_stop a
echo "1 passed, 0 failed"
