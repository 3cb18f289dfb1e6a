# PostgreSQL restarted while 20 VMs wait: claims made after it returns
# are delivered to all of them; a claim through allocator A is delivered to
# a VM parked on allocator B; release by the admin.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port

# poll HOST TOKEN [curl args]: POST /vm_startup, prints "body status"
poll() {
    local host=$1 tok=$2
    shift 2
    curl -s -w ' %{http_code}' -H "Authorization: Bearer $tok" \
        -H 'Content-Type: application/json' -d "{\"hostname\":\"$host\"}" "$@" "$url/vm_startup"
}

# --- PostgreSQL restarted while 20 VMs wait ---
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
wait_healthy 15 "$url" || fail "health after restart"
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
expect "release" '{"message":"VM released: it returns to the pool once its agent has reset the desktop.","hostname":"two-1","on_release":"reset"} 200' "$out"
expect "withheld until its agent resets it" reset "$(sql "SELECT release_pending FROM vms WHERE hostname='two-1'")"
expect "released row" "||" "$(sql "SELECT concat_ws('|', user_email, crd_command, pin) || '||' FROM vms WHERE hostname='two-1'" | sed 's/^||$/||/')"
expect "release unknown" 404 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/nope-1/release")"
expect "release bad name" 400 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/_lambda/release")"
pass "release: admin only, the VM is free again, 404 unknown"

claim_stop b
claim_stop a
echo "1 passed, 0 failed"
