# Delivery to the VM: an assignment made before the VM asks is delivered
# at once; a parked VM is woken by the claim; unacknowledged assignments
# are delivered again; another VM's token gets 403 and never the command;
# the parked-waiter cap and a vanished client's slot; the long-poll
# timeout. (PostgreSQL restarts, two allocators, release:
# test_claim_restart.sh.)
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "agent:" "  long_poll_s: 3" "  max_parked: 24" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
seed_vms vm 3

# poll HOST TOKEN [curl args]: POST /vm_startup, prints "body status"
poll() {
    local host=$1 tok=$2
    shift 2
    curl -s -w ' %{http_code}' -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' -d "{\"hostname\":\"$host\"}" "$@" "$url/vm_startup"
}
result() {
    curl -s -w ' %{http_code}' -H "Authorization: Bearer $2" \
        -d "{\"hostname\":\"$1\",\"success\":$3}" "$url/api/vm-startup-result"
}
token vm-1,vm-2,vm-3 >"$T/tokens"
t1=$(sed -n 1p "$T/tokens"); t2=$(sed -n 2p "$T/tokens"); t3=$(sed -n 3p "$T/tokens")
tghost="ghost-9.$(openssl rand -hex 32)"  # a VM nobody launched nor registered

# --- assignment before the VM asks: delivered at once ---
out=$(claim_json "$url" first@example.com '--code=4/first')
expect "claim status" 200 "${out##* }"
host=$(echo "$out" | sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p')
pin=$(echo "$out" | sed -n 's/.*"pin":"\([0-9]*\)".*/\1/p')
expect "first free VM in hostname order" vm-1 "$host"
t0=$(date +%s%N)
out=$(poll vm-1 "$t1")
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "pre-assigned delivery" "{\"status\":\"success\",\"pin\":\"$pin\",\"command\":\"--code=4/first\"} 200" "$out"
# LABLINK_TIME_SCALE: slower builds (scripts/test-tsan sets 4) scale the bound
[ "$ms" -lt $((2500 * ${LABLINK_TIME_SCALE:-1})) ] || fail "pre-assigned delivery waited $ms ms"
pass "an assignment made before the VM waits is delivered when it asks ($ms ms)"

# --- another VM's token: 403, never the command; no/garbage token 401 ---
out=$(poll vm-1 "$t2")
expect "other VM's token" 403 "${out##* }"
grep -q 'first' <<<"$out" && fail "403 answer leaks the command"
expect "no token" 401 "$(curl -s -o /dev/null -w '%{http_code}' -d '{"hostname":"vm-1"}' "$url/vm_startup")"
expect "garbage token" 401 "$(poll vm-1 'vm-1.0000' | awk '{print $NF}')"
expect "unknown VM" 404 "$(poll ghost-9 "$tghost" | awk '{print $NF}')"
expect "no row for the unknown VM" 0 "$(sql "SELECT count(*) FROM vms WHERE hostname='ghost-9'")"
pass "another VM's token: 403 without the command; 401 without a valid token; 404 unknown VM"

# --- not acknowledged: delivered again; acknowledged: not again ---
expect "redelivery" 200 "$(poll vm-1 "$t1" | awk '{print $NF}')"
expect "result" '{"message":"Result recorded."} 200' "$(result vm-1 "$t1" true)"
expect "delivered_at" t "$(sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname='vm-1'")"
t0=$(date +%s)
out=$(poll vm-1 "$t1")
expect "after acknowledgement: 204 after long_poll_s" 204 "${out##* }"
[ $(( $(date +%s) - t0 )) -ge 2 ] || fail "204 came before the long-poll time"
expect "result for another VM" 403 "$(result vm-2 "$t1" true | awk '{print $NF}')"
pass "unacknowledged assignments are delivered again; acknowledged ones are not"

# --- a parked VM is woken by the claim ---
poll vm-2 "$t2" --max-time 10 >"$T/vm2.out" &
w=$!
sleep 1
out=$(claim_json "$url" second@example.com '--code=4/second')
host=$(echo "$out" | sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p')
expect "second claim" vm-2 "$host"
wait $w || true
grep -q '"command":"--code=4/second"} 200' "$T/vm2.out" || fail "parked VM not woken: $(cat "$T/vm2.out")"
pass "a parked VM gets its assignment when the claim commits"

# --- a client that goes away frees its slot; past the cap: 204 + Retry-After ---
claim_stop a
claim_start a "$port" "agent:" "  long_poll_s: 20" "  max_parked: 2"
pids=""
for _ in 1 2; do poll vm-3 "$t3" --max-time 4 >/dev/null 2>&1 & pids="$pids $!"; done
# both parked (their calls wait on the waiters actor), not a fixed sleep: a
# slow build (ThreadSanitizer) takes longer to get them there
for _ in $(seq 1 40); do
    parked=$(curl -s --max-time 2 "$url/metrics" \
        | sed -n 's/^lablink_actor_queue_depth{actor="waiters"} //p') || true
    [ "${parked:-0}" -ge 2 ] && break
    sleep 0.05
done
headers=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $t3" -d '{"hostname":"vm-3"}' --max-time 5 "$url/vm_startup") || true
grep -q '^HTTP/1.1 204' <<<"$headers" || fail "past the cap: $headers"
grep -qi '^Retry-After: [0-9]' <<<"$headers" || fail "past the cap, no Retry-After"
wait $pids || true
sleep 0.5
rc=0; poll vm-3 "$t3" --max-time 2 >/dev/null || rc=$?
expect "slot freed by the vanished clients (curl timeout = parked)" 28 "$rc"
pass "past agent.max_parked: 204 + Retry-After; a vanished client frees its slot"

claim_stop a
echo "1 passed, 0 failed"
