# Delivery to the VM: an assignment made before the VM asks is delivered
# at once; a parked VM is woken by the claim; unacknowledged assignments
# are delivered again; another VM's token gets 403 and never the command;
# the parked-waiter cap and a vanished client's slot; the long-poll
# timeout; PostgreSQL restarted while 20 VMs wait; a claim through one
# allocator delivered to a VM parked on another; release by the admin.
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
token vm-1,vm-2,vm-3,ghost-9 >"$T/tokens"
t1=$(sed -n 1p "$T/tokens"); t2=$(sed -n 2p "$T/tokens"); t3=$(sed -n 3p "$T/tokens")
tghost=$(sed -n 4p "$T/tokens")

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
[ "$ms" -lt 2500 ] || fail "pre-assigned delivery waited $ms ms"
pass "an assignment made before the VM waits is delivered when it asks ($ms ms)"

# --- another VM's token: 403, never the command; no/garbage token 401 ---
out=$(poll vm-1 "$t2")
expect "other VM's token" 403 "${out##* }"
echo "$out" | grep -q 'first' && fail "403 answer leaks the command"
expect "no token" 401 "$(curl -s -o /dev/null -w '%{http_code}' -d '{"hostname":"vm-1"}' "$url/vm_startup")"
expect "garbage token" 401 "$(poll vm-1 'vm-1.0000' | awk '{print $NF}')"
expect "unknown VM" 404 "$(poll ghost-9 "$tghost" | awk '{print $NF}')"
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
for _ in 1 2; do poll vm-3 "$t3" --max-time 1 >/dev/null 2>&1 & pids="$pids $!"; done
sleep 0.5
headers=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $t3" -d '{"hostname":"vm-3"}' --max-time 5 "$url/vm_startup")
echo "$headers" | grep -q '^HTTP/1.1 204' || fail "past the cap: $headers"
echo "$headers" | grep -qi '^Retry-After: [0-9]' || fail "past the cap, no Retry-After"
wait $pids || true
sleep 0.5
rc=0; poll vm-3 "$t3" --max-time 2 >/dev/null || rc=$?
expect "slot freed by the vanished clients (curl timeout = parked)" 28 "$rc"
pass "past agent.max_parked: 204 + Retry-After; a vanished client frees its slot"

# --- PostgreSQL restarted while 20 VMs wait ---
claim_stop a
claim_start a "$port" "agent:" "  long_poll_s: 4" "  max_parked: 40" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
seed_vms pgr 20
agent_loop() {  # like the agent: re-poll after 204 or errors, until 200
    local host=$1 tok=$2 out
    for _ in $(seq 1 200); do
        out=$(poll "$host" "$tok" --max-time 10 2>/dev/null) || { sleep 0.2; continue; }
        if [ "${out##* }" = 200 ]; then echo "$out" >"$T/got-$host"; return 0; fi
        [ "${out##* }" = 204 ] || sleep 0.2
    done
}
pids=""
token "$(seq -s, -f 'pgr-%g' 1 20)" >"$T/pgr.tokens"
for i in $(seq 1 20); do
    tok=$(sed -n "${i}p" "$T/pgr.tokens")
    agent_loop "pgr-$i" "$tok" &
    pids="$pids $!"
done
sleep 1.5
"$SRC/tests/harness/pg" stop || fail "pg stop failed"
sleep 1
"$SRC/tests/harness/pg" start || fail "pg start failed"
wait_status 200 15 "$url/api/health" || fail "health after restart"
for _ in $(seq 1 50); do
    [ "$(grep -c 'listening on channel' "$T/a.log")" -ge 2 ] && break
    sleep 0.2
done
for i in $(seq 1 20); do
    out=$(claim_json "$url" "pgr$i@example.com" "--code=4/pgr$i")
    expect "claim after restart" 200 "${out##* }"
done
for _ in $(seq 1 100); do
    [ "$(ls "$T"/got-pgr-* 2>/dev/null | wc -l)" -ge 20 ] && break
    sleep 0.2
done
expect "VMs that got their assignment" 20 "$(ls "$T"/got-pgr-* 2>/dev/null | wc -l)"
for i in $(seq 1 20); do
    want=$(sql "SELECT crd_command FROM vms WHERE hostname='pgr-$i'")
    grep -q "\"command\":\"$want\"" "$T/got-pgr-$i" || fail "pgr-$i got the wrong command"
done
wait $pids || true
pass "PostgreSQL restarted while 20 VMs wait: claims made after it returns reach all 20"

# --- two allocators: a claim through A reaches a VM parked on B ---
portb=$(ll_free_port)
claim_start b "$portb" "agent:" "  long_poll_s: 10"
seed_vms two 1
tb=$(token two-1)
curl -s -w ' %{http_code}' -H "Authorization: Bearer $tb" -d '{"hostname":"two-1"}' \
    --max-time 12 "http://127.0.0.1:$portb/vm_startup" >"$T/two.out" &
w=$!
sleep 1
out=$(claim_json "$url" twoproc@example.com '--code=4/viaA')
expect "claim through A" 200 "${out##* }"
wait $w || true
grep -q '"command":"--code=4/viaA"} 200' "$T/two.out" || fail "VM parked on B not woken: $(cat "$T/two.out")"
pass "a claim made through allocator A is delivered to a VM parked on allocator B"

# --- release by the admin ---
expect "release without auth" 401 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/api/vms/two-1/release")"
out=$(curl -s -w ' %{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/two-1/release")
expect "release" '{"message":"VM released.","hostname":"two-1"} 200' "$out"
expect "released row" "||" "$(sql "SELECT concat_ws('|', user_email, crd_command, pin) || '||' FROM vms WHERE hostname='two-1'" | sed 's/^||$/||/')"
expect "release unknown" 404 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/nope-1/release")"
expect "release bad name" 400 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/_lambda/release")"
pass "release: admin only, the VM is free again, 404 unknown"

claim_stop b
claim_stop a
echo "1 passed, 0 failed"
