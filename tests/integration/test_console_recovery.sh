# Automatic recovery, idle fleets and the budget (issue 16) against the real
# allocator, PostgreSQL, terraform (local module) and agents: a VM whose
# GPU is Unhealthy is never offered; a returning student whose VM died gets
# a fresh one (recovery.reassign_dead), the dead VM flagged; VMs silent or
# Unhealthy are replaced (recovery.replace_after_s); a VM whose CRD host
# never connects is rebooted, at most recovery.max_reboots times
# (recovery.reboot_unconnected_after_s); budget.max_usd warns at 80 %,
# refuses launches and destroys the fleet at 100 % (budget.destroy_at_limit);
# idle.stop_fleet_after_s ends a fleet nobody used. Every automatic action
# is audited (actor auto) and listed on the dashboard.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
export LABLINK_INTERVAL_SCALE=0.1   # the agents report GPU and heartbeats fast
# nvidia-smi on the VMs' PATH: a GPU that fails while its VM's home has
# gpu.fail (the agent's probe turns a failing nvidia-smi into Unhealthy)
mkdir -p "$T/bin"
cat >"$T/bin/nvidia-smi" <<'SMI'
#!/bin/sh
if [ -f "${HOME:-/nonexistent}/gpu.fail" ]; then
    echo "Unable to determine the device handle for GPU0000:00:1E.0: Unknown Error" >&2
    exit 255
fi
echo "NVIDIA-SMI stand-in: 1 GPU, healthy"
SMI
chmod +x "$T/bin/nvidia-smi"
export PATH="$T/bin:$PATH"

start_rules() {  # EXTRA-YAML: (re)start the allocator with these rules
    provision_config terraform 120
    printf '  stale_after_s: 5\n%s\n' "$1" >>"$T/config.yaml"
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 15 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}
wait_sql() {  # SQL WANT SECONDS WHAT
    local t0=$SECONDS
    until [ "$(psqlc "$1")" = "$2" ]; do
        [ $((SECONDS - t0)) -lt "$3" ] || fail "$4: $(psqlc "$1") (want $2)"
        sleep 0.3
    done
}
claim() {  # EMAIL CODE -> status; the JSON answer in $T/claim.out
    # each student's own browser: the claim cookie proves a returning one
    curl -s -b "$T/jar-$1" -c "$T/jar-$1" -H 'Accept: application/json' --data-urlencode "email=$1" \
        --data-urlencode "crd_command=--code=$2" -o "$T/claim.out" -w '%{http_code}' "$url/api/request_vm"
}
claimed_host() { sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' "$T/claim.out"; }
launch_ok() {  # N
    local code
    code=$(launch_json "$1")
    [ "$code" = 202 ] || fail "launch $1: $code $(cat "$T/launch.out")"
    wait_op "$(op_id)" 120 | grep -q '"status":"succeeded"' || fail "launch $1 failed"
}
kill_agent() {  # HOST: the VM dies (its agent is gone; nothing reports)
    local pid started now
    read -r pid started <"$vms_dir/$1/agent.pid"
    now=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20)
    [ "$now" = "$started" ] || fail "$1's agent is not the recorded process"
    kill -KILL -- "-$pid"
}
audited() {  # ACTION TARGET -> rows of actor auto
    psqlc "SELECT count(*) FROM audit_log WHERE actor = 'auto' AND action = '$1' AND target = '$2'"
}
dash() { curl -s "${auth[@]}" "$url/api/dashboard"; }
v1=lablink-vm-test-1 v2=lablink-vm-test-2 v3=lablink-vm-test-3

# --- an Unhealthy GPU is never offered; a dead VM's student gets a fresh one --
start_rules "recovery:
  reassign_dead: true"
launch_ok 3
wait_sql "SELECT count(*) FROM vms WHERE status = 'running' AND gpu_health = 'Healthy'" 3 40 "3 VMs running, GPUs healthy"
touch "$vms_dir/$v1/home/gpu.fail"
wait_sql "SELECT gpu_health FROM vms WHERE hostname = '$v1'" Unhealthy 30 "VM 1's GPU reported Unhealthy"
curl -s "$url/api/unassigned_vms_count" | grep -q '"count":2' || fail "an Unhealthy VM is counted as free: $(curl -s "$url/api/unassigned_vms_count")"
[ "$(claim alice@example.com 4/alice-one)" = 200 ] || fail "alice's claim: $(cat "$T/claim.out")"
[ "$(claimed_host)" = "$v2" ] || fail "alice got $(claimed_host), not $v2 (the first healthy VM)"
dash | grep -q '"unhealthy":1' || fail "dashboard does not count the Unhealthy VM: $(dash)"
dash | grep -q "{\"hostname\":\"$v1\",\"state\":\"unhealthy\",\"reason\":\"its GPU is Unhealthy\"}" || fail "attention: $(dash)"
wait_sql "SELECT (delivered_at IS NOT NULL)::text FROM vms WHERE hostname = '$v2'" true 20 "alice's code delivered"
kill_agent "$v2"
wait_sql "SELECT ll_vm_state(vms, 5) FROM vms WHERE hostname = '$v2'" stale 20 "alice's VM stale"
[ "$(claim alice@example.com 4/alice-two)" = 200 ] || fail "alice's return: $(cat "$T/claim.out")"
[ "$(claimed_host)" = "$v3" ] || fail "alice was given $(claimed_host), not the fresh $v3"
[ "$(psqlc "SELECT coalesce(user_email, '') || '|' || (attention IS NOT NULL)::text FROM vms WHERE hostname = '$v2'")" = "|true" ] \
    || fail "the dead VM is not released and flagged: $(psqlc "SELECT user_email, attention FROM vms WHERE hostname = '$v2'")"
[ "$(audited recover-student "$v2")" = 1 ] || fail "the move off the dead VM is not audited"
dash | grep -q '"action":"recover-student","target":"'"$v2"'"' || fail "dashboard automatic actions: $(dash)"
wait_sql "SELECT (delivered_at IS NOT NULL)::text FROM vms WHERE hostname = '$v3'" true 20 "alice's new code on the fresh VM"
grep -q 'arg: --code=4/alice-two' "$vms_dir/$v3/home/start-host.log" || fail "alice's new code did not reach $v3"
pass "an Unhealthy GPU is not offered (count 2, claim skips it, dashboard says why); a returning student on a dead VM gets a fresh one, the dead VM released, flagged, audited"

# --- silent or Unhealthy that long: replaced ------------------------------------
stop_allocator_within 15
start_rules "recovery:
  replace_after_s: 3"
wait_sql "SELECT count(*) FROM operations WHERE kind = 'replace-vm' AND created_by = 'auto' AND status = 'succeeded'" 1 90 \
    "the automatic replacement"
[ "$(psqlc "SELECT target FROM operations WHERE kind = 'replace-vm' AND created_by = 'auto'")" = "$v1 $v2" ] \
    || fail "replaced: $(psqlc "SELECT target FROM operations WHERE kind = 'replace-vm'")"
[ "$(audited auto-replace "$v1")" = 1 ] && [ "$(audited auto-replace "$v2")" = 1 ] || fail "automatic replacements not audited"
wait_sql "SELECT count(*) FROM vms WHERE hostname IN ('$v1', '$v2') AND status = 'running' AND gpu_health = 'Healthy'" 2 40 \
    "the new machines report, GPUs healthy"
[ "$(psqlc "SELECT user_email FROM vms WHERE hostname = '$v3'")" = alice@example.com ] || fail "a healthy VM was touched"
sleep 6
[ "$(psqlc "SELECT count(*) FROM operations WHERE kind = 'replace-vm'")" = 1 ] || fail "healthy VMs replaced again"
dash | grep -q '"action":"auto-replace"' || fail "dashboard automatic actions: $(dash)"
pass "recovery.replace_after_s: the silent and the Unhealthy VM replaced by one operation (auto, audited, on the dashboard); the new machines healthy; nothing else touched"

# --- a CRD host that never connects: rebooted, at most max_reboots times --------
stop_allocator_within 15
start_rules "recovery:
  reboot_unconnected_after_s: 3
  max_reboots: 2"
touch "$vms_dir/$v1/home/crd-host.fail" "$vms_dir/$v2/home/crd-host.fail"
# (the free VMs are fresh again once their agents reached the new allocator)
wait_sql "SELECT count(*) FROM vms WHERE ll_vm_state(vms, 5) = 'free'" 2 30 "the two free VMs reporting"
[ "$(claim bob@example.com 4/bob-one)" = 200 ] || fail "bob's claim: $(cat "$T/claim.out")"
vb=$(claimed_host)
[ "$vb" = "$v1" ] || [ "$vb" = "$v2" ] || fail "bob got $vb"
wait_sql "SELECT (delivered_at IS NOT NULL)::text || coalesce(crd_active::text, 'null') FROM vms WHERE hostname = '$vb'" truefalse 20 \
    "bob's code delivered, his CRD host not up"
wait_sql "SELECT reboot_count FROM vms WHERE hostname = '$vb'" 2 90 "two automatic reboots"
sleep 9   # three times the rule's delay: no third reboot
[ "$(psqlc "SELECT reboot_count FROM vms WHERE hostname = '$vb'")" = 2 ] || fail "rebooted past recovery.max_reboots"
[ "$(audited auto-reboot "$vb")" = 2 ] || fail "automatic reboots not audited"
[ "$(psqlc "SELECT count(*) FROM operations WHERE kind = 'reboot-vm' AND created_by = 'auto' AND target = '$vb'")" = 2 ] \
    || fail "reboots not operations"
[ "$(psqlc "SELECT sum(reboot_count) FROM vms WHERE hostname <> '$vb'")" = 0 ] || fail "a VM without a student, or alice's connected one, was rebooted"
[ "$(psqlc "SELECT user_email FROM vms WHERE hostname = '$vb'")" = bob@example.com ] || fail "a reboot lost bob's VM"
pass "recovery.reboot_unconnected_after_s: a delivered VM whose CRD host never came up rebooted twice (max_reboots), audited; a connected VM left alone"

# --- the budget: a warning at 80 %, no launch, the fleet destroyed at 100 % -------
stop_allocator_within 15
# At $36,000 an hour a VM costs $10 a second. The limit puts the fleet's
# 80 % about 15 s after now; 100 % comes a quarter of the VMs' average age
# later (about a minute)
cost=$(psqlc "SELECT round(sum(extract(epoch FROM now() - added_at)) * 10) FROM fleet")
rate=$(( $(psqlc 'SELECT count(*) FROM fleet') * 10 ))
max=$(( (cost + 15 * rate) * 5 / 4 ))
start_rules "machine:
  hourly_usd: 36000
budget:
  max_usd: $max
  destroy_at_limit: true"
code=$(launch_json 1)
[ "$code" = 409 ] && grep -q 'budget.max_usd' "$T/launch.out" || fail "a launch past the budget: $code $(cat "$T/launch.out")"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 3 ] || fail "a refused launch touched the fleet"
t0=$SECONDS
until dash | grep -q '"state":"warning"'; do
    [ $((SECONDS - t0)) -lt 60 ] || fail "no budget warning: $(dash)"
    dash | grep -q '"state":"exceeded"' && fail "the warning was skipped: $(dash)"
    sleep 0.3
done
wait_sql "SELECT count(*) FROM fleet" 0 180 "the fleet destroyed at the budget's limit"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE actor = 'auto' AND action = 'budget-destroy'")" = 1 ] || fail "budget destroy not audited"
[ ! -d "$vms_dir/$v1" ] || fail "a local VM left running"
pass "budget.max_usd: 409 for a launch past it, a warning at 80 %, the fleet destroyed at 100 % (destroy_at_limit), audited"

# --- a fleet nobody used is ended ------------------------------------------------
stop_allocator_within 15
start_rules "idle:
  stop_fleet_after_s: 4"
launch_ok 1
wait_sql "SELECT count(*) FROM fleet" 0 60 "the unused fleet ended"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE actor = 'auto' AND action = 'idle-stop-fleet'")" = 1 ] || fail "idle stop not audited"
dash | grep -q '"action":"idle-stop-fleet"' || fail "dashboard automatic actions: $(dash)"
pass "idle.stop_fleet_after_s: a fleet nobody used is destroyed, audited, shown"

stop_allocator_within 15
echo "5 passed, 0 failed"
