# Provision and teardown with the real terraform, the local module and the
# real allocator: num_vms validation with upstream's messages (nothing
# launched); launch 3 -> 3 rows with Terraform timings; the operation's
# state and event stream; launch 2 more -> 5, the first 3 untouched; a
# concurrent operation -> 409; one VM destroyed and one replaced; destroy ->
# 0 rows (kept in audit_log) and no agent or sshd left.
# Failures (terraform failing, hanging, two allocators, a crash) are in
# test_provision_failures.sh.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
start_with terraform 120

# --- admin only --------------------------------------------------------------
[ "$(http_status -d num_vms=1 "$url/api/launch")" = 401 ] || fail "launch without auth not 401"
[ "$(http_status -X POST "$url/destroy")" = 401 ] || fail "destroy without auth not 401"
[ "$(http_status "$url/api/operations/1")" = 401 ] || fail "operations without auth not 401"
pass "launch, destroy and operations are admin-only"

# --- num_vms validation: upstream's messages, nothing launched ---------------
check_invalid() {  # FORM-DATA MESSAGE
    local code
    code=$(curl -s "${auth[@]}" -H 'Accept: application/json' ${1:+-d "$1"} -X POST \
        -o "$T/v.out" -w '%{http_code}' "$url/api/launch")
    [ "$code" = 400 ] || fail "num_vms '$1': status $code"
    grep -qF "\"error\":\"$2\"" "$T/v.out" || fail "num_vms '$1': $(cat "$T/v.out")"
}
check_invalid "" "Number of VMs is required."
check_invalid "num_vms=" "Number of VMs is required."
check_invalid "num_vms=abc" "Invalid number of VMs. Please enter a valid integer."
check_invalid "num_vms=2.5" "Invalid number of VMs. Please enter a valid integer."
check_invalid "num_vms=0" "Number of VMs must be greater than 0."
check_invalid "num_vms=-3" "Number of VMs must be greater than 0."
check_invalid "num_vms=9" "Number of VMs must be at most 8."
check_invalid "num_vms=99999999999999999999999" "Number of VMs must be at most 8."
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -H 'Content-Type: application/json' \
    -d '{"num_vms": "abc"}' -o "$T/v.out" -w '%{http_code}' "$url/api/launch")
[ "$code" = 400 ] && grep -q 'Please enter a valid integer' "$T/v.out" || fail "JSON body: $code $(cat "$T/v.out")"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -H 'Content-Type: application/json' \
    -d '{"num_vms": -1}' -o "$T/v.out" -w '%{http_code}' "$url/api/launch")
[ "$code" = 400 ] && grep -q 'greater than 0' "$T/v.out" || fail "JSON body: $code $(cat "$T/v.out")"
code=$(curl -s "${auth[@]}" -d num_vms=abc -o "$T/v.html" -w '%{http_code}' "$url/api/launch")
[ "$code" = 400 ] && grep -q 'Invalid number of VMs. Please enter a valid integer.' "$T/v.html" \
    && grep -q '<html' "$T/v.html" || fail "page client: $code"
[ "$(psqlc 'SELECT count(*) FROM operations')" = 0 ] || fail "an invalid launch made an operation"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] || fail "an invalid launch touched the fleet"
pass "num_vms validation: upstream's messages (JSON 400 and page), nothing launched"

# --- launch 3 ----------------------------------------------------------------
code=$(launch_json 3)
[ "$code" = 202 ] || fail "launch 3: $code $(cat "$T/launch.out")"
op1=$(op_id)
[ -n "$op1" ] || fail "no operation id: $(cat "$T/launch.out")"
body=$(wait_op "$op1" 90) || fail "launch 3 still running after 90 s"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; cat "$T/allocator.log" >&2; fail "launch 3 failed"; }
grep -q '"vms":{"done":3,"total":3}' <<<"$body" || fail "launch 3 counts: $body"
grep -q 'Creation complete' <<<"$body" || fail "launch 3 output lacks terraform's lines"
[ "$(psqlc 'SELECT count(*) FROM vms')" = 3 ] || fail "not 3 rows after launch 3"
[ "$(psqlc "SELECT count(*) FROM vms WHERE terraform_start_time IS NOT NULL AND terraform_end_time >= terraform_start_time AND terraform_duration_seconds >= 0 AND public_ip LIKE '$prefix.%' AND ssh_port = $ssh_port")" = 3 ] \
    || { psqlc 'SELECT * FROM vms' >&2; fail "rows lack Terraform timings / addresses"; }
[ "$(psqlc "SELECT string_agg(hostname, ',' ORDER BY hostname) FROM vms")" = "lablink-vm-test-1,lablink-vm-test-2,lablink-vm-test-3" ] \
    || fail "names: $(psqlc 'SELECT hostname FROM vms')"
[ "$(psqlc "SELECT count(*) FROM fleet WHERE state = 'active'")" = 3 ] || fail "fleet not 3 active"
# each VM's terraform phase (apply) in /metrics, the launch counted
scrape=$(curl -s "${auth[@]}" "$url/metrics")
grep -qx 'lablink_vm_startup_phase_duration_seconds_count{phase="terraform"} 3' <<<"$scrape" \
    || fail "terraform phase: $(grep 'phase="terraform"' <<<"$scrape")"
grep -qx 'lablink_operations_total{kind="launch",outcome="succeeded"} 1' <<<"$scrape" \
    || fail "launch operations: $(grep 'lablink_operations_total' <<<"$scrape")"
first=$(vm_pids)
[ "$(echo "$first" | alive_count)" = 6 ] || fail "not 3 sshd + 3 agents running: $first"
for n in 1 2 3; do
    [ -d "$vms_dir/lablink-vm-test-$n/home/Desktop" ] || fail "VM $n has no Desktop"
    grep -q 'sshd listening' "$vms_dir/lablink-vm-test-$n/home/cloud-init-output.log" || fail "VM $n log"
    (exec 3<>/dev/tcp/$prefix.$n/$ssh_port) 2>/dev/null || fail "VM $n sshd not reachable on $prefix.$n:$ssh_port"
done
tfvars=$work/terraform.runtime.tfvars.json
[ "$(stat -c %a "$tfvars")" = 600 ] || fail "tfvars is not 0600"
[ ! -e "$work/terraform.runtime.tfvars" ] || fail "an HCL tfvars without S3 (only upstream's S3 layout wants one)"
grep -q '^  "allocator_url": "http://127.0.0.1:'"$port"'",$' "$tfvars" || fail "tfvars allocator_url"
grep -q '^  "resource_suffix": "test",$' "$tfvars" && grep -q '^  "gpu_support": "true",$' "$tfvars" \
    && grep -q '^  "machine_type": "g4dn.xlarge",$' "$tfvars" || fail "tfvars upstream variables"
grep -q '"lablink-vm-test-2": "lablink-vm-test-2\.[0-9a-f]\{64\}"' "$tfvars" || fail "tfvars agent tokens"
# "running" needs the real agent and the telemetry routes it reports to
if [ "$agent_bin" = "$BIN_DIR/lablink-agent" ] \
    && [ "$(http_status -X POST -d '{}' "$url/api/vm-status")" != 404 ]; then
    t0=$SECONDS
    until [ "$(psqlc "SELECT count(*) FROM vms WHERE status = 'running'")" = 3 ]; do
        [ $((SECONDS - t0)) -lt 30 ] || fail "3 VMs not running within 30 s: $(psqlc 'SELECT hostname, status FROM vms')"
        sleep 0.5
    done
    pass "launch 3 -> 3 rows running with Terraform timings (real lablink-agent)"
elif [ "$agent_bin" = "$BIN_DIR/lablink-agent" ]; then
    grep -q 'lablink-agent running' "$vms_dir/lablink-vm-test-1/home/cloud-init-output.log" \
        || fail "the real agent did not start"
    pass "launch 3 -> 3 rows with Terraform timings, 3 sshd + 3 real agents (no telemetry routes yet)"
else
    grep -q 'status initializing' "$vms_dir/lablink-vm-test-1/home/agent-calls.log" \
        && grep -q 'metrics cloud-init --start [0-9]* --end [0-9]*' "$vms_dir/lablink-vm-test-1/home/agent-calls.log" \
        && grep -q ' run VM_NAME=lablink-vm-test-1 token=set' "$vms_dir/lablink-vm-test-1/home/agent-calls.log" \
        || fail "the agent was not called as the contract says"
    pass "launch 3 -> 3 rows with Terraform timings, 3 sshd + 3 agents (stand-in agent)"
fi

# --- progress stream of a finished operation --------------------------------
curl -s -N --max-time 10 "${auth[@]}" "$url/api/operations/$op1/events" >"$T/sse.out" || true
grep -q '^event: line' "$T/sse.out" && grep -q '^id: 0' "$T/sse.out" \
    && grep -q '^data: {"status":"succeeded","error":null}' "$T/sse.out" \
    || fail "event stream: $(head -c 600 "$T/sse.out")"
curl -s -N --max-time 10 "${auth[@]}" -H 'Last-Event-ID: 2' "$url/api/operations/$op1/events" >"$T/sse2.out" || true
grep -q '^id: 2$' "$T/sse2.out" && fail "resumed stream repeats line 2"
grep -q '^id: 3$' "$T/sse2.out" || fail "resumed stream lacks line 3"
[ "$(http_status "${auth[@]}" "$url/api/operations/999999")" = 404 ] || fail "unknown operation not 404"
list=$(curl -s "${auth[@]}" "$url/api/operations?limit=5")
grep -q "\"operations\":\[{\"id\":$op1,\"kind\":\"launch\",\"status\":\"succeeded\"" <<<"$list" \
    && grep -q '"active":null' <<<"$list" || fail "GET /api/operations: $list"
[ "$(http_status "${auth[@]}" "$url/api/operations/abc")" = 404 ] || fail "bad operation id not 404"
pass "GET /api/operations/<id> and its event stream (resumable by Last-Event-ID)"

# --- launch 2 more, a concurrent launch gets 409 ----------------------------
code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch 2: $code"
op2=$(op_id)
# follow it live while it runs
curl -s -N --max-time 120 "${auth[@]}" "$url/api/operations/$op2/events" >"$T/sse-live.out" &
sse_pid=$!
code=$(launch_json 1)
[ "$code" = 409 ] || fail "concurrent launch: $code (expected 409)"
grep -q "\"operation_id\":$op2" "$T/launch.out" || fail "409 does not name the running operation: $(cat "$T/launch.out")"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/d.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 409 ] || fail "concurrent destroy: $code"
curl -s "${auth[@]}" "$url/api/operations" | grep -q "\"active\":$op2" || fail "GET /api/operations lacks the running one"
pass "a second operation while one runs -> 409 with the running operation's id"
body=$(wait_op "$op2" 90) || fail "launch 2 still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "launch 2 failed"; }
wait "$sse_pid" || fail "the live event stream did not end with the operation"
grep -q '^data: {"done":2,"total":2}' "$T/sse-live.out" && grep -q 'Creation complete' "$T/sse-live.out" \
    && grep -q '^data: {"status":"succeeded","error":null}' "$T/sse-live.out" \
    || fail "live event stream: $(head -c 800 "$T/sse-live.out")"
[ "$(grep -c '^id: ' "$T/sse-live.out")" = "$(grep -c '^id: ' <(curl -s -N --max-time 10 "${auth[@]}" "$url/api/operations/$op2/events"))" ] \
    || fail "the live stream and a replay differ in lines"
[ "$(psqlc 'SELECT count(*) FROM vms')" = 5 ] || fail "not 5 rows"
[ "$(psqlc "SELECT count(*) FROM vms WHERE terraform_duration_seconds IS NOT NULL")" = 5 ] || fail "timings of 5"
[ "$(echo "$first" | alive_count)" = 6 ] || fail "the first 3 VMs' processes did not survive launch 2"
[ "$(vm_pids | alive_count)" = 10 ] || fail "not 10 VM processes"
grep -q 'terraform_data.vm\["lablink-vm-test-1"\]' <<<"$(echo "$body")" && fail "launch 2 touched VM 1"
pass "launch 2 more -> 5 rows, the first 3 untouched (same processes); followed live by SSE"
ops=$(psqlc 'SELECT count(*) FROM operations')
code=$(launch_json 4)
[ "$code" = 400 ] && grep -q '"error":"The fleet would exceed the maximum of 8 VMs."' "$T/launch.out" \
    || fail "launch past app.max_vms: $code $(cat "$T/launch.out")"
[ "$(psqlc 'SELECT count(*) FROM operations')" = "$ops" ] || fail "a refused launch made an operation"
pass "a launch that would pass app.max_vms in total is refused, nothing launched"

# --- one VM destroyed, one replaced: the others untouched -------------------
pids_of() { cat "$vms_dir/$1/sshd.pid" "$vms_dir/$1/agent.pid" 2>/dev/null | cut -d' ' -f1; }
vm4=$(pids_of lablink-vm-test-4)
vm5=$(pids_of lablink-vm-test-5)
others=$(for n in 1 2 3; do pids_of lablink-vm-test-$n; done)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-4/destroy")
[ "$code" = 202 ] || fail "destroy one VM: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "destroy one VM still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "destroy one VM failed"; }
[ "$(echo "$vm4" | alive_count)" = 0 ] || fail "VM 4 still running"
[ "$(psqlc "SELECT count(*) FROM vms WHERE hostname = 'lablink-vm-test-4'")" = 0 ] || fail "VM 4 row left"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 4 ] || fail "fleet not 4"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-5/replace")
[ "$code" = 202 ] || fail "replace one VM: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "replace still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "replace failed"; }
[ "$(echo "$vm5" | alive_count)" = 0 ] || fail "the old VM 5 still runs"
[ "$(pids_of lablink-vm-test-5 | alive_count)" = 2 ] || fail "the new VM 5 does not run"
[ "$(echo "$others" | alive_count)" = 6 ] || fail "VMs 1-3 touched by destroying 4 and replacing 5"
[ "$(psqlc 'SELECT count(*) FROM vms WHERE terraform_duration_seconds IS NOT NULL')" = 4 ] || fail "rows after replace"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o /dev/null -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-42/destroy")
[ "$code" = 404 ] || fail "unknown VM: $code"
pass "one VM destroyed and one replaced (for_each by name), the others untouched"

# --- destroy -----------------------------------------------------------------
all=$(vm_pids)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 202 ] || fail "destroy: $code"
op5=$(op_id)
body=$(wait_op "$op5" 90) || fail "destroy still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "destroy failed"; }
grep -q '"vms":{"done":4,"total":4}' <<<"$body" || fail "destroy counts: $body"
[ "$(psqlc 'SELECT count(*) FROM vms')" = 0 ] || fail "rows left after destroy"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] || fail "fleet left after destroy"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE action = 'vm-removed' AND (detail::jsonb->>'terraform_duration_seconds') IS NOT NULL")" = 5 ] \
    || fail "removed rows not in the audit log: $(psqlc "SELECT action, target, left(detail, 80) FROM audit_log")"
[ "$(echo "$all" | alive_count)" = 0 ] || fail "VM processes left after destroy: $(for p in $all; do ps -o pid,stat,args -p $p | tail -n +2; done)"
pgrep -f "$vms_dir" >/dev/null && fail "processes of $vms_dir left: $(pgrep -af "$vms_dir")"
[ -z "$(ls -A "$vms_dir" 2>/dev/null)" ] || fail "VM folders left: $(ls "$vms_dir")"
pass "destroy -> 0 rows (kept in audit_log), no agent or sshd left"

stop_allocator
pass "SIGTERM: exit 0, no sanitizer report"
echo "9 passed, 0 failed"
