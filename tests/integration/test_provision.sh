# Provision and teardown with the real terraform, the local module and the
# real allocator: launch 3 -> 3 rows with Terraform timings; launch 2 more
# -> 5, the first 3 untouched; a concurrent launch -> 409; terraform that
# fails or hangs -> operation failed with its output, allocator healthy, no
# row changed; destroy -> 0 rows and no agent or sshd left; num_vms
# validation with upstream's messages, nothing launched.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
command -v terraform >/dev/null || fail "terraform is not installed (TESTING.md)"
export CHECKPOINT_DISABLE=1
[ -f "${TF_CLI_CONFIG_FILE:-/nonexistent}" ] || unset TF_CLI_CONFIG_FILE

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)
work=$T/work
mkdir -p "$work"
vms_dir=$work/vms
psqlc() { psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# VMs on 127.<a>.<b>.N with a port of their own: parallel runs never meet
ssh_port=$(ll_free_port)
prefix="127.$((10 + RANDOM % 240)).$((10 + RANDOM % 240))"
BIN_DIR=$(dirname "$BIN")
pidB=
# Whatever happens, leave no VM, allocator or stand-in behind
cleanup() {
    local f p started now
    for f in "$vms_dir"/*/agent.pid "$vms_dir"/*/sshd.pid; do
        [ -f "$f" ] || continue
        read -r p started <"$f" || continue
        now=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20) || continue
        # only the very process vm-up.sh recorded, never a recycled pid
        [ -n "$now" ] && [ "$now" = "$started" ] && { kill -KILL -- "-$p" 2>/dev/null || true; }
    done
    for f in "$T"/hang*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        grep -q "$T" "/proc/$p/cmdline" 2>/dev/null && { kill -KILL "$p" 2>/dev/null || true; }
    done
    for p in ${ALLOC_PID:-} $pidB; do
        grep -q "$T" "/proc/$p/cmdline" 2>/dev/null && { kill -KILL "$p" 2>/dev/null || true; }
    done
    return 0
}
trap cleanup EXIT
agent_bin=$BIN_DIR/lablink-agent
[ -x "$agent_bin" ] || agent_bin=$SRC/tests/integration/standins/agent
cat >"$work/test.auto.tfvars" <<TFVARS
address_prefix = "$prefix"
ssh_port       = $ssh_port
agent_bin      = "$agent_bin"
TFVARS

# start_with TERRAFORM_BIN TIMEOUT_S: (re)start the allocator
start_with() {
    write_config "$port"
    cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  terraform_bin: $1
  operation_timeout_s: $2
YAML
    printf 'environment: test\n' >>"$T/config.yaml"
    sed -i 's/^  admin_password: .*/&\n  max_vms: 8/' "$T/config.yaml"
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_status 200 10 "$url/api/health" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}

# wait_op ID SECONDS: until the operation is no longer running; prints it
wait_op() {
    local id=$1 t0=$SECONDS body
    while [ $((SECONDS - t0)) -lt "$2" ]; do
        body=$(curl -s "${auth[@]}" "$url/api/operations/$id")
        if ! echo "$body" | grep -q '"status":"running"'; then
            echo "$body"
            return 0
        fi
        sleep 0.2
    done
    echo "$body"
    return 1
}

launch_json() {
    curl -s "${auth[@]}" -H 'Accept: application/json' -d "num_vms=$1" -o "$T/launch.out" \
        -w '%{http_code}' "$url/api/launch"
}

op_id() { sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/launch.out"; }

vm_pids() {  # the sshd and agent pids of the VMs, sorted
    { cat "$vms_dir"/*/sshd.pid "$vms_dir"/*/agent.pid 2>/dev/null || true; } | cut -d' ' -f1 | sort -n
}

alive_count() {  # processes still running from a pid list on stdin
    local n=0 pid
    while read -r pid; do
        [ -n "$pid" ] || continue
        # a zombie waiting for init to reap it is not running
        state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || true
        [ -n "$state" ] && [ "$state" != Z ] && n=$((n + 1))
    done
    echo $n
}

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
echo "$body" | grep -q '"status":"succeeded"' || { echo "$body" >&2; cat "$T/allocator.log" >&2; fail "launch 3 failed"; }
echo "$body" | grep -q '"vms":{"done":3,"total":3}' || fail "launch 3 counts: $body"
echo "$body" | grep -q 'Creation complete' || fail "launch 3 output lacks terraform's lines"
[ "$(psqlc 'SELECT count(*) FROM vms')" = 3 ] || fail "not 3 rows after launch 3"
[ "$(psqlc "SELECT count(*) FROM vms WHERE terraform_start_time IS NOT NULL AND terraform_end_time >= terraform_start_time AND terraform_duration_seconds >= 0 AND public_ip LIKE '$prefix.%' AND ssh_port = $ssh_port")" = 3 ] \
    || { psqlc 'SELECT * FROM vms' >&2; fail "rows lack Terraform timings / addresses"; }
[ "$(psqlc "SELECT string_agg(hostname, ',' ORDER BY hostname) FROM vms")" = "lablink-vm-test-1,lablink-vm-test-2,lablink-vm-test-3" ] \
    || fail "names: $(psqlc 'SELECT hostname FROM vms')"
[ "$(psqlc "SELECT count(*) FROM fleet WHERE state = 'active'")" = 3 ] || fail "fleet not 3 active"
first=$(vm_pids)
[ "$(echo "$first" | alive_count)" = 6 ] || fail "not 3 sshd + 3 agents running: $first"
for n in 1 2 3; do
    [ -d "$vms_dir/lablink-vm-test-$n/home/Desktop" ] || fail "VM $n has no Desktop"
    grep -q 'sshd listening' "$vms_dir/lablink-vm-test-$n/home/cloud-init-output.log" || fail "VM $n log"
    (exec 3<>/dev/tcp/$prefix.$n/$ssh_port) 2>/dev/null || fail "VM $n sshd not reachable on $prefix.$n:$ssh_port"
done
tfvars=$work/terraform.runtime.tfvars
[ "$(stat -c %a "$tfvars")" = 600 ] || fail "tfvars is not 0600"
grep -q '^allocator_url = "http://127.0.0.1:'"$port"'"' "$tfvars" || fail "tfvars allocator_url"
grep -q '^resource_suffix = "test"' "$tfvars" && grep -q '^gpu_support = "true"' "$tfvars" \
    && grep -q '^machine_type = "g4dn.xlarge"' "$tfvars" || fail "tfvars upstream variables"
grep -q '"lablink-vm-test-2" = "lablink-vm-test-2\.[0-9a-f]\{64\}"' "$tfvars" || fail "tfvars agent tokens"
# "running" needs the real agent and the telemetry routes it reports to
if [ "$agent_bin" = "$BIN_DIR/lablink-agent" ] \
    && [ "$(http_status -X POST -d '{}' "$url/api/vm-status")" != 404 ]; then
    t0=$SECONDS
    until [ "$(psqlc "SELECT count(*) FROM vms WHERE status = 'running'")" = 3 ]; do
        [ $((SECONDS - t0)) -lt 30 ] || fail "3 VMs not running within 30 s: $(psqlc 'SELECT hostname, status FROM vms')"
        sleep 0.5
    done
    pass "launch 3 -> 3 rows running with Terraform timings (real lablink-agent)"
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
[ "$(http_status "${auth[@]}" "$url/api/operations/abc")" = 404 ] || fail "bad operation id not 404"
pass "GET /api/operations/<id> and its event stream (resumable by Last-Event-ID)"

# --- launch 2 more, a concurrent launch gets 409 ----------------------------
code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch 2: $code"
op2=$(op_id)
code=$(launch_json 1)
[ "$code" = 409 ] || fail "concurrent launch: $code (expected 409)"
grep -q "\"operation_id\":$op2" "$T/launch.out" || fail "409 does not name the running operation: $(cat "$T/launch.out")"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/d.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 409 ] || fail "concurrent destroy: $code"
pass "a second operation while one runs -> 409 with the running operation's id"
body=$(wait_op "$op2" 90) || fail "launch 2 still running"
echo "$body" | grep -q '"status":"succeeded"' || { echo "$body" >&2; fail "launch 2 failed"; }
[ "$(psqlc 'SELECT count(*) FROM vms')" = 5 ] || fail "not 5 rows"
[ "$(psqlc "SELECT count(*) FROM vms WHERE terraform_duration_seconds IS NOT NULL")" = 5 ] || fail "timings of 5"
[ "$(echo "$first" | alive_count)" = 6 ] || fail "the first 3 VMs' processes did not survive launch 2"
[ "$(vm_pids | alive_count)" = 10 ] || fail "not 10 VM processes"
grep -q 'terraform_data.vm\["lablink-vm-test-1"\]' <<<"$(echo "$body")" && fail "launch 2 touched VM 1"
pass "launch 2 more -> 5 rows, the first 3 untouched (same processes)"

before=$(psqlc "SELECT string_agg(hostname || terraform_start_time || terraform_duration_seconds, ',' ORDER BY hostname) FROM vms")
fleet_before=$(psqlc "SELECT string_agg(hostname || state, ',' ORDER BY hostname) FROM fleet")

# --- terraform fails ---------------------------------------------------------
stop_allocator
start_with "$SRC/tests/integration/standins/terraform-fail" 120
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch with failing terraform: $code"
op3=$(op_id)
body=$(wait_op "$op3" 60) || fail "failing operation still running"
echo "$body" | grep -q '"status":"failed"' || fail "not failed: $body"
echo "$body" | grep -q 'Error: simulated failure' || fail "failed operation lacks terraform's output: $body"
printf '%s' "$body" | grep -q $'\033' && fail "ANSI escapes reached the output"
echo "$body" | grep -q '"error":"terraform apply exited with status 1"' || fail "error: $body"
[ "$(http_status "$url/api/health")" = 200 ] || fail "allocator unhealthy after a failing terraform"
[ "$(psqlc "SELECT string_agg(hostname || terraform_start_time || terraform_duration_seconds, ',' ORDER BY hostname) FROM vms")" = "$before" ] \
    || fail "rows changed by a failed launch"
[ "$(psqlc "SELECT string_agg(hostname || state, ',' ORDER BY hostname) FROM fleet")" = "$fleet_before" ] \
    || fail "fleet changed by a failed launch: $(psqlc 'SELECT hostname, state FROM fleet')"
pass "terraform failing -> operation failed with its output, allocator healthy, rows intact"

# --- terraform hangs ---------------------------------------------------------
stop_allocator
export LABLINK_HANG_PIDFILE=$T/hang.pid
start_with "$SRC/tests/integration/standins/terraform-hang" 3
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch with hanging terraform: $code"
op4=$(op_id)
[ "$(http_status "$url/api/health")" = 200 ] || fail "health while terraform hangs"
body=$(wait_op "$op4" 30) || fail "hanging operation not ended within 30 s"
echo "$body" | grep -q '"status":"failed"' || fail "hang not failed: $body"
echo "$body" | grep -q '"error":"terraform timed out after 3 s"' || fail "hang error: $body"
echo "$body" | grep -q 'stand-in terraform: hanging' || fail "hang output missing: $body"
hang_pid=$(cat "$T/hang.pid")
kill -0 "$hang_pid" 2>/dev/null && fail "the hanging terraform ($hang_pid) is still alive"
[ "$(psqlc "SELECT string_agg(hostname || terraform_start_time || terraform_duration_seconds, ',' ORDER BY hostname) FROM vms")" = "$before" ] \
    || fail "rows changed by a hung launch"
[ "$(psqlc "SELECT string_agg(hostname || state, ',' ORDER BY hostname) FROM fleet")" = "$fleet_before" ] \
    || fail "fleet changed by a hung launch"
[ "$(vm_pids | alive_count)" = 10 ] || fail "VMs hurt by the killed terraform"
unset LABLINK_HANG_PIDFILE
pass "terraform hanging -> killed after the timeout, operation failed, rows intact"

# --- one VM destroyed, one replaced: the others untouched -------------------
stop_allocator
start_with terraform 120
pids_of() { cat "$vms_dir/$1/sshd.pid" "$vms_dir/$1/agent.pid" 2>/dev/null | cut -d' ' -f1; }
vm4=$(pids_of lablink-vm-test-4)
vm5=$(pids_of lablink-vm-test-5)
others=$(for n in 1 2 3; do pids_of lablink-vm-test-$n; done)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-4/destroy")
[ "$code" = 202 ] || fail "destroy one VM: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "destroy one VM still running"
echo "$body" | grep -q '"status":"succeeded"' || { echo "$body" >&2; fail "destroy one VM failed"; }
[ "$(echo "$vm4" | alive_count)" = 0 ] || fail "VM 4 still running"
[ "$(psqlc "SELECT count(*) FROM vms WHERE hostname = 'lablink-vm-test-4'")" = 0 ] || fail "VM 4 row left"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 4 ] || fail "fleet not 4"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-5/replace")
[ "$code" = 202 ] || fail "replace one VM: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "replace still running"
echo "$body" | grep -q '"status":"succeeded"' || { echo "$body" >&2; fail "replace failed"; }
[ "$(echo "$vm5" | alive_count)" = 0 ] || fail "the old VM 5 still runs"
[ "$(pids_of lablink-vm-test-5 | alive_count)" = 2 ] || fail "the new VM 5 does not run"
[ "$(echo "$others" | alive_count)" = 6 ] || fail "VMs 1-3 touched by destroying 4 and replacing 5"
[ "$(psqlc 'SELECT count(*) FROM vms WHERE terraform_duration_seconds IS NOT NULL')" = 4 ] || fail "rows after replace"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o /dev/null -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-42/destroy")
[ "$code" = 404 ] || fail "unknown VM: $code"
pass "one VM destroyed and one replaced (for_each by name), the others untouched"

# --- two allocators, one database: the advisory lock; a crashed one -------
stop_allocator
export LABLINK_HANG_PIDFILE=$T/hang2.pid
start_with "$SRC/tests/integration/standins/terraform-hang" 120
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch on allocator A: $code"
opA=$(op_id)
t0=$SECONDS
until [ -s "$T/hang2.pid" ]; do [ $((SECONDS - t0)) -lt 20 ] || fail "no hanging terraform"; sleep 0.2; done
unset LABLINK_HANG_PIDFILE
portB=$(ll_free_port)
sed "s/listen: 127.0.0.1:$port/listen: 127.0.0.1:$portB/; s|terraform_bin: .*|terraform_bin: terraform|" \
    "$T/config.yaml" >"$T/configB.yaml"
"$BIN" --config "$T/configB.yaml" >"$T/allocatorB.log" 2>&1 &
pidB=$!
wait_status 200 10 "http://127.0.0.1:$portB/api/health" || fail "allocator B not healthy"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -d num_vms=1 -o "$T/b.out" -w '%{http_code}' \
    "http://127.0.0.1:$portB/api/launch")
[ "$code" = 409 ] && grep -q "\"operation_id\":$opA" "$T/b.out" \
    || fail "allocator B while A runs terraform: $code $(cat "$T/b.out")"
pass "a second allocator on the same database gets 409 with the first one's operation"
kill -KILL "$ALLOC_PID"; wait "$ALLOC_PID" 2>/dev/null || true
kill -KILL "$(cat "$T/hang2.pid")" 2>/dev/null || true
curl -s "${auth[@]}" "http://127.0.0.1:$portB/api/operations/$opA" | grep -q '"status":"running"' \
    || fail "the crashed allocator's operation is not left running"
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$portB/api/vms/lablink-vm-test-42/destroy")
[ "$code" = 404 ] || fail "allocator B after A crashed: $code"
body=$(curl -s "${auth[@]}" "http://127.0.0.1:$portB/api/operations/$opA")
echo "$body" | grep -q '"status":"failed"' && echo "$body" | grep -q 'interrupted: the allocator running it stopped' \
    || fail "the crashed allocator's operation: $body"
kill -TERM "$pidB"; wait "$pidB" || fail "allocator B did not stop cleanly"
pass "an allocator killed mid-operation: the next one to take the lock marks it failed"
start_with terraform 120

# --- destroy -----------------------------------------------------------------
all=$(vm_pids)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 202 ] || fail "destroy: $code"
op5=$(op_id)
body=$(wait_op "$op5" 90) || fail "destroy still running"
echo "$body" | grep -q '"status":"succeeded"' || { echo "$body" >&2; fail "destroy failed"; }
# 4 VMs and the crashed launch's name (kept: it may exist), which never did
echo "$body" | grep -q '"vms":{"done":4,"total":5}' || fail "destroy counts: $body"
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
echo "10 passed, 0 failed"
