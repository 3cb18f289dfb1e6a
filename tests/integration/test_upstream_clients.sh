# Upstream's VM clients, unchanged, against this allocator. Each client's
# request sequence is replayed as upstream's code sends it (written from
# reference 5.2-5.6 and 6.4, not copied):
#   - the late CRD-era client (commit a1a5c0aa: Bearer API_TOKEN, heartbeat,
#     log shipper): every call 200; a claim reaches its parked subscribe at
#     once; its heartbeat with crd_active delivers the assignment; after a
#     release the VM is NOT offered again while its subscribe has exited
#     (only a client that waits is offered); once it polls again it is.
#   - the baseline client (no token at all): refused (401, nothing changed);
#     behind `lablink-agent relay` on its host it works unchanged, release
#     and re-claim included.
# Also: agent.long_poll_s defaults to 55 s, and a pg-transport agent's
# heartbeat ("waiting") keeps its VM offered.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
AGENT=$LABLINK_BUILD_DIR/lablink-agent
scale=${LABLINK_TIME_SCALE:-1}

# --- the default long poll (just under a load balancer's 60 s idle) ------
claim_config "$T/default.yaml" 5000
printf 'agent:\n  transport: http\n' >>"$T/default.yaml"
"$BIN" --check-config "$T/default.yaml" >/dev/null || fail "default config"
grep -q '^  long_poll_s' "$T/default.yaml" && fail "the default config sets long_poll_s"
port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "agent:" "  long_poll_s: 3" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
claim_stop a
sed -i '/long_poll_s/d' "$T/a.yaml"
"$BIN" --config "$T/a.yaml" >"$T/a.log" 2>&1 &
PID_a=$!
wait_healthy 20 "$url" || fail "allocator with the default long poll"
grep -q 'long_poll_s=55\|long_poll_s: 55\|"long_poll_s":55' "$T/a.log" \
    || fail "the allocator does not report agent.long_poll_s 55: $(grep -m1 'starting' "$T/a.log")"
claim_stop a
pass "agent.long_poll_s defaults to 55 s"

# Upstream's clients cannot reset a released desktop (claim.on_release
# reset would keep their VMs out of the pool): upstream's behaviour, reuse
claim_start a "$port" "agent:" "  long_poll_s: 3" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0" "  on_release: reuse"
auth=(-u admin:test-admin-password)
count() { curl -s "$url/api/unassigned_vms_count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p'; }
release() { expect "release $1" 200 "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -X POST "$url/api/vms/$1/release")"; }

# ===== the late CRD-era client (L) ==========================================
L=sleap-lablink-client-test-vm-1
LTOK=$(vm_token "$url" "$L")
# lpost PATH JSON: one call as L's requests.post sends it; prints the status
lpost() {
    curl -s -o "$T/l.body" -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $LTOK" \
        -H 'Content-Type: application/json' -d "$2" "$url$1"
}
l_status() { expect "L status $1" 200 "$(lpost /api/vm-status "{\"hostname\":\"$L\",\"status\":\"$1\"}")"; }
l_heartbeat() {  # CRD_ACTIVE
    expect "L heartbeat" 200 "$(lpost /api/heartbeat "{\"vm_id\":\"$L\",\"boot_id\":\"4f1c9a7e-upstream\",\"timestamp\":\"$(date -u +%Y-%m-%dT%H:%M:%S.%6N)\",\"crd_active\":$1,\"disk_free_pct\":71}")"
}
# subscribe: POST /vm_startup (read timeout 7 days); 200 + success: run
# CRD and exit; anything else: sleep 10-15 s (1 s here) and retry
l_subscribe() {
    local code
    while :; do
        code=$(curl -s -o "$T/l.sub" -w '%{http_code}' --max-time 604800 -H "Authorization: Bearer $LTOK" \
            -H 'Content-Type: application/json' -d "{\"hostname\":\"$L\"}" "$url/vm_startup") || code=000
        echo "$code $(date +%s.%N)" >>"$T/l.polls"
        if [ "$code" = 200 ] && grep -q '"status":"success"' "$T/l.sub"; then
            date +%s.%N >"$T/l.assigned"
            return 0   # start-host runs, then subscribe's loop ends for good
        fi
        sleep 1
    done
}
# user_data: initializing, the log shipper's first batch
l_status initializing
expect "L cloud-init logs" 200 "$(lpost /api/vm-logs "{\"log_group\":\"lablink-cloud-init-test\",\"log_stream\":\"$L\",\"messages\":[\"Cloud-init v. 24.1 running 'modules:final'\",\"Pulling client image\"]}")"
# start.sh: initializing, running, the services, container timings
l_status initializing
l_status running
rm -f "$T/l.polls" "$T/l.assigned"
l_subscribe & lsub=$!
expect "L gpu N/A" 200 "$(lpost /api/gpu_health "{\"hostname\":\"$L\",\"gpu_status\":\"N/A\"}")"
l_heartbeat false
t=$(date +%s)
expect "L container metrics" 200 "$(lpost /api/vm-metrics/$L "{\"container_start\":$((t - 30)),\"container_end\":$t,\"container_startup_duration_seconds\":30}")"
expect "L cloud-init metrics" 200 "$(lpost /api/vm-metrics/$L "{\"cloud_init_start\":$((t - 200)),\"cloud_init_end\":$((t - 40)),\"cloud_init_duration_seconds\":160}")"
expect "L docker logs" 200 "$(lpost /api/vm-logs "{\"log_group\":\"lablink-cloud-init-test-docker\",\"log_stream\":\"$L\",\"messages\":[\"subscribe[INFO]: waiting\"]}")"
expect "L in use" 200 "$(lpost /api/update_inuse_status "{\"hostname\":\"$L\",\"status\":true}")"
expect "L stored" "running|N/A|true|71" "$(sql "SELECT status||'|'||gpu_health||'|'||in_use||'|'||disk_free_pct FROM vms WHERE hostname='$L'")"
pass "late client: status, logs (both groups), GPU health, heartbeat, metrics, in-use all 200 and stored"

# its subscribe waits: the VM is offered; a claim reaches it at once
for _ in $(seq 1 100); do [ "$(count)" = 1 ] && break; sleep 0.1; done
expect "offered while subscribe waits" 1 "$(count)"
# survive at least one 204 of the allocator's long poll and a re-poll
for _ in $(seq 1 100); do [ -s "$T/l.polls" ] && break; sleep 0.1; done
grep -q '^204 ' "$T/l.polls" || fail "no 204 after long_poll_s: $(cat "$T/l.polls" 2>/dev/null)"
sleep 1.2
t0=$(date +%s.%N)
out=$(claim_json "$url" first@example.com '--code=4/upstreamL')
t1=$(date +%s.%N)
expect "claim" 200 "${out##* }"
expect "claimed VM" "$L" "$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' <<<"$out")"
wait "$lsub"
grep -q '"command":"--code=4/upstreamL"' "$T/l.sub" || fail "subscribe got: $(cat "$T/l.sub")"
# from the claim sent to subscribe holding the command, and the claim's own
# answer time for comparison (the assignment is committed before either)
delay=$(awk -v a="$(cat "$T/l.assigned")" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
claim_s=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
awk -v d="$delay" -v c="$claim_s" -v s="$scale" 'BEGIN { exit !(d < c + 0.5 * s) }' \
    || fail "the parked subscribe got the claim after $delay s (the claim took $claim_s s)"
pass "a claim reaches the parked subscribe ${delay} s after it was sent (claim answered in ${claim_s} s; through a 204 and a re-poll)"

# start-host ran; subscribe has exited; the heartbeat says CRD is active
expect "undelivered before CRD runs" t "$(sql "SELECT delivered_at IS NULL FROM vms WHERE hostname='$L'")"
l_heartbeat true
for _ in $(seq 1 50); do
    [ "$(sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname='$L'")" = t ] && break
    sleep 0.1
done
expect "delivered_at from crd_active" t "$(sql "SELECT delivered_at >= assigned_at FROM vms WHERE hostname='$L'")"
expect "counted as delivered by heartbeat" 1 "$(curl -s "$url/metrics" | awk '$1 == "lablink_delivery_duration_seconds_count{via=\"heartbeat\"}" { print $2 }')"
pass "a heartbeat with crd_active after the assignment sets delivered_at (via heartbeat in /metrics)"

# released, heartbeats go on, subscribe is gone: not offered
release "$L"
l_heartbeat true
sleep 0.6
expect "count after release (subscribe exited)" 0 "$(count)"
out=$(claim_json "$url" second@example.com '--code=4/nobody-listens')
expect "re-claim refused: nobody would receive it" 503 "${out##* }"
expect "the VM stays free" "" "$(sql "SELECT coalesce(user_email, '') FROM vms WHERE hostname='$L'")"
# the container restarts: subscribe polls again, the VM is offered again
rm -f "$T/l.polls" "$T/l.assigned"
l_subscribe & lsub=$!
for _ in $(seq 1 100); do [ "$(count)" = 1 ] && break; sleep 0.1; done
out=$(claim_json "$url" third@example.com '--code=4/again')
expect "re-claim once it waits again" 200 "${out##* }"
wait "$lsub"
grep -q '"command":"--code=4/again"' "$T/l.sub" || fail "second assignment: $(cat "$T/l.sub")"
release "$L"
pass "released: not offered while the client does not wait (503); offered and delivered once it polls again"

# ===== the baseline client (B): no token; the relay adds it =================
B=lablink-vm-test-2
BTOK=$(vm_token "$url" "$B")
# bpost BASE PATH JSON: B's requests.post (no Authorization header)
bpost() {
    curl -s -o "$T/b.body" -w '%{http_code}' --max-time 20 -H 'Content-Type: application/json' -d "$3" "$1$2"
}
# B's VM row as the allocator has it (its first status comes through the
# relay below; before that, unauthenticated calls must change nothing)
before=$(sql "SELECT count(*) || coalesce(status, '-') || coalesce(gpu_health, '-') FROM vms WHERE hostname='$B' GROUP BY status, gpu_health")
for call in "/api/vm-status {\"hostname\":\"$B\",\"status\":\"running\"}" \
            "/vm_startup {\"hostname\":\"$B\"}" \
            "/api/gpu_health {\"hostname\":\"$B\",\"gpu_status\":\"Healthy\"}" \
            "/api/update_inuse_status {\"hostname\":\"$B\",\"status\":true}" \
            "/api/vm-metrics/$B {\"container_startup_duration_seconds\":3}"; do
    expect "baseline without token: ${call%% *}" 401 "$(bpost "$url" ${call%% *} "${call#* }")"
done
expect "nothing created or changed" "$before" "$(sql "SELECT count(*) || coalesce(status, '-') || coalesce(gpu_health, '-') FROM vms WHERE hostname='$B' GROUP BY status, gpu_health")"
pass "the baseline client without a token: 401 on every VM route, nothing stored"

rport=$(ll_free_port)
relay=http://127.0.0.1:$rport
VM_NAME=$B API_TOKEN=$BTOK ALLOCATOR_URL=$url LABLINK_RELAY_HOLD_S=120 \
    "$AGENT" relay --listen "127.0.0.1:$rport" >"$T/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "$relay/" && break; sleep 0.1; done
kill -0 "$relay_pid" || { cat "$T/relay.log"; fail "relay did not start"; }
grep -q "$BTOK" "$T/relay.log" && fail "the relay logged the token"
# b_subscribe: B's subscribe (read timeout 7 days; non-200 -> 60 s sleep,
# which the relay spares it)
b_subscribe() {
    local code
    code=$(curl -s -o "$T/b.sub" -w '%{http_code}' --max-time 604800 -H 'Content-Type: application/json' \
        -d "{\"hostname\":\"$B\"}" "$relay/vm_startup") || code=000
    echo "$code" >"$T/b.code"
}
expect "B initializing" 200 "$(bpost "$relay" /api/vm-status "{\"hostname\":\"$B\",\"status\":\"initializing\"}")"
expect "B running" 200 "$(bpost "$relay" /api/vm-status "{\"hostname\":\"$B\",\"status\":\"running\"}")"
rm -f "$T/b.code"
b_subscribe & bsub=$!
expect "B gpu" 200 "$(bpost "$relay" /api/gpu_health "{\"hostname\":\"$B\",\"gpu_status\":\"Healthy\"}")"
expect "B in use" 200 "$(bpost "$relay" /api/update_inuse_status "{\"hostname\":\"$B\",\"status\":false}")"
# B's container keys (reference 3.6) and its cloud-init keys
t=$(date +%s)
expect "B container metrics" 200 "$(bpost "$relay" /api/vm-metrics/$B "{\"container_start_time\":$((t - 9)),\"container_end_time\":$t,\"container_startup_duration_seconds\":9}")"
expect "B cloud-init metrics" 200 "$(bpost "$relay" /api/vm-metrics/$B "{\"cloud_init_start\":$((t - 99)),\"cloud_init_end\":$((t - 10)),\"cloud_init_duration_seconds\":89}")"
expect "B stored" "running|Healthy|false|9" "$(sql "SELECT status||'|'||gpu_health||'|'||in_use||'|'||container_duration_seconds FROM vms WHERE hostname='$B'")"
# a token B might send is replaced by the VM's own
expect "B with its own (bad) header" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer bogus' -d "{\"hostname\":\"$B\",\"status\":\"running\"}" "$relay/api/vm-status")"
# the relay serves the VM routes only, and only as this VM
expect "relay: admin route" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$relay/api/vm-status")"
expect "relay: launch" 404 "$(curl -s -o /dev/null -w '%{http_code}' -d num_vms=5 "$relay/api/launch")"
expect "relay: export" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$relay/api/scp-client")"
expect "relay: traversal" 404 "$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$relay/api/vm-metrics/../../destroy")"
expect "relay: another VM" 403 "$(bpost "$relay" /api/vm-status "{\"hostname\":\"$L\",\"status\":\"error\"}")"
expect "the other VM unchanged" running "$(sql "SELECT status FROM vms WHERE hostname='$L'")"
pass "baseline client behind the relay: every call 200; the relay forwards the VM routes only, as this VM"

# B's one long wait outlives several of the allocator's long polls
sleep $((7 * scale))
[ -e "$T/b.code" ] && fail "B's subscribe ended early: $(cat "$T/b.code") $(cat "$T/b.sub")"
expect "B offered while its subscribe waits (relay re-polls)" 1 "$(count)"
out=$(claim_json "$url" bstudent@example.com '--code=4/baseline')
expect "claim B" 200 "${out##* }"
expect "B is the free VM" "$B" "$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' <<<"$out")"
wait "$bsub"
expect "B's subscribe answer" 200 "$(cat "$T/b.code")"
grep -q '"status":"success".*"command":"--code=4/baseline"' "$T/b.sub" || fail "B got: $(cat "$T/b.sub")"
# B sends neither a result nor a heartbeat: the assignment stays unacknowledged
release "$B"
sleep 0.6
expect "B not offered once its subscribe exited" 0 "$(count)"
expect "re-claim refused" 503 "$(claim_json "$url" again@example.com '--code=4/x' | awk '{print $NF}')"
rm -f "$T/b.code"
b_subscribe & bsub=$!
for _ in $(seq 1 100); do [ "$(count)" = 1 ] && break; sleep 0.1; done
expect "re-claim B" 200 "$(claim_json "$url" again@example.com '--code=4/b2' | awk '{print $NF}')"
wait "$bsub"
grep -q '"command":"--code=4/b2"' "$T/b.sub" || fail "B's second assignment: $(cat "$T/b.sub")"
t0=$SECONDS
kill -TERM "$relay_pid"
wait "$relay_pid" || fail "relay exit code $?"
[ $((SECONDS - t0)) -le 3 ] || fail "relay took $((SECONDS - t0)) s to stop"
pass "baseline client: claim, release, not offered while gone, re-claim once it waits again; relay stops on SIGTERM"

# ===== a pg-transport agent: its heartbeat says it waits ====================
P=pg-vm-3
PTOK=$(vm_token "$url" "$P")
ppost() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $PTOK" -d "$2" "$url$1"; }
expect "pg status" 200 "$(ppost /api/vm-status "{\"hostname\":\"$P\",\"status\":\"running\"}")"
expect "pg heartbeat without waiting" 200 "$(ppost /api/heartbeat "{\"vm_id\":\"$P\",\"crd_active\":false}")"
sleep 0.6
expect "not offered without a poll" 0 "$(count)"
expect "pg heartbeat waiting" 200 "$(ppost /api/heartbeat "{\"vm_id\":\"$P\",\"crd_active\":false,\"waiting\":true}")"
for _ in $(seq 1 20); do [ "$(count)" = 1 ] && break; sleep 0.1; done
expect "offered after a heartbeat saying it waits" 1 "$(count)"
expect "waiting must be boolean" 400 "$(ppost /api/heartbeat "{\"vm_id\":\"$P\",\"waiting\":\"yes\"}")"
pass "a heartbeat with \"waiting\": true (pg transport) makes the VM offered"
claim_stop a
echo "7 passed, 0 failed"
