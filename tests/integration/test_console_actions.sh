# Per-VM and bulk actions of the console (issue 16) with the real terraform
# (local module), real agents and the real allocator: upstream's reboot API
# and answers (POST /api/reboot-vm, GET /api/reboot-vm/<h>) through the
# provider (the local module restarts the agent process), a replacement
# that keeps an assigned student with a fresh delivery, a replacement under
# a new name that moves the student, bulk reboot and release, refusals
# that change nothing, and the AWS module's reboot script against stand-ins
# of terraform and the aws CLI.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
# the agents (started by terraform, children of the allocator) report fast
export LABLINK_INTERVAL_SCALE=0.1
start_with terraform 120
json=(-H 'Accept: application/json' -H 'Content-Type: application/json')
post() {  # PATH JSON -> $T/r.out, prints the status
    curl -s "${auth[@]}" "${json[@]}" -X POST ${2:+-d "$2"} -o "$T/r.out" -w '%{http_code}' "$url$1"
}
expect() {  # STATUS WHAT (after post): status and body
    [ "$code" = "$1" ] || fail "$2: status $code, body $(cat "$T/r.out")"
}
claim() {  # EMAIL CODE -> the JSON answer in $T/claim.out
    # each student's own browser: the claim cookie proves a returning one
    curl -s -b "$T/jar-$1" -c "$T/jar-$1" -H 'Accept: application/json' --data-urlencode "email=$1" \
        --data-urlencode "crd_command=--code=$2" -o "$T/claim.out" -w '%{http_code}' "$url/api/request_vm"
}
agent_pid() { cut -d' ' -f1 "$vms_dir/$1/agent.pid"; }
# the token a VM's agent runs with (its environment, as on a real VM)
agent_token_of() { tr '\0' '\n' <"/proc/$(agent_pid "$1")/environ" | sed -n 's/^API_TOKEN=//p'; }
heartbeat_as() {  # HOST TOKEN -> status of a heartbeat with that token
    http_status -X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        -d "{\"vm_id\": \"$1\"}" "$url/api/heartbeat"
}
wait_sql() {  # SQL WANT SECONDS WHAT
    local t0=$SECONDS
    until [ "$(psqlc "$1")" = "$2" ]; do
        [ $((SECONDS - t0)) -lt "$3" ] || fail "$4: $(psqlc "$1") (want $2)"
        sleep 0.3
    done
}
op_of() { sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/r.out"; }
finished_ok() {  # ID WHAT
    local body
    body=$(wait_op "$1" 90) || fail "$2: still running"
    grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "$2 failed"; }
    echo "$body"
}

code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch: $code $(cat "$T/launch.out")"
finished_ok "$(op_id)" "launch 2" >/dev/null
wait_sql "SELECT count(*) FROM vms WHERE status = 'running'" 2 30 "2 VMs running"
v1=lablink-vm-test-1 v2=lablink-vm-test-2

# --- upstream's reboot API: refusals change nothing -----------------------
code=$(post /api/reboot-vm '{}'); expect 400 "no hostname"
grep -q '"error":"Hostname is required."' "$T/r.out" || fail "no hostname: $(cat "$T/r.out")"
code=$(post /api/reboot-vm '{"hostname": ""}'); expect 400 "empty hostname"
code=$(post /api/reboot-vm '{"hostname": "../etc"}'); expect 400 "bad hostname"
code=$(post /api/reboot-vm 'not json'); expect 400 "not JSON"
code=$(post /api/reboot-vm '{"hostname": "lablink-vm-test-9"}'); expect 404 "unknown VM"
grep -q '"error":"VM not found."' "$T/r.out" || fail "unknown VM: $(cat "$T/r.out")"
[ "$(http_status -X POST -H 'Content-Type: application/json' -d "{\"hostname\":\"$v1\"}" "$url/api/reboot-vm")" = 401 ] \
    || fail "reboot without credentials not 401"
[ "$(psqlc "SELECT count(*) FROM operations WHERE kind = 'reboot-vm'")" = 0 ] || fail "a refused reboot made an operation"
[ "$(psqlc 'SELECT sum(reboot_count) FROM vms')" = 0 ] || fail "a refused reboot counted"
curl -s "${auth[@]}" "$url/api/reboot-vm/$v1" >"$T/info.out"
grep -q "{\"hostname\":\"$v1\",\"reboot_count\":0,\"last_reboot_time\":null}" "$T/info.out" || fail "reboot info: $(cat "$T/info.out")"
[ "$(http_status "${auth[@]}" "$url/api/reboot-vm/lablink-vm-test-9")" = 404 ] || fail "reboot info of an unknown VM not 404"
pass "reboot API refusals: 400 Hostname is required / invalid / not JSON, 404, 401; nothing changed"

# --- a student on VM 1, delivered; then a reboot keeps them ---------------
code=$(claim alice@example.com 4/alice-one)
[ "$code" = 200 ] || fail "claim: $code $(cat "$T/claim.out")"
host_a=$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' "$T/claim.out")
[ "$host_a" = "$v1" ] || fail "alice got $host_a"
wait_sql "SELECT start_host_ok::text || (delivered_at IS NOT NULL)::text FROM vms WHERE hostname = '$v1'" truetrue 20 \
    "start-host result of alice's VM"
wait_sql "SELECT coalesce(crd_active::text, '') FROM vms WHERE hostname = '$v1'" true 20 "CRD host daemon seen by the heartbeat"
[ "$(psqlc "SELECT coalesce(crd_active::text, 'null') FROM vms WHERE hostname = '$v2'")" != true ] \
    || fail "VM 2 sees VM 1's CRD daemon (local VMs share one process list)"
pid_before=$(agent_pid "$v1")
code=$(post /api/reboot-vm "{\"hostname\": \"$v1\"}"); expect 200 "reboot"
grep -q "\"message\":\"Reboot initiated for VM '$v1'.\"" "$T/r.out" || fail "reboot answer: $(cat "$T/r.out")"
body=$(finished_ok "$(op_of)" "reboot")
grep -q '"kind":"reboot-vm"' <<<"$body" && grep -q '"vms":{"done":1,"total":1}' <<<"$body" \
    && grep -q "$v1: reboot initiated" <<<"$body" || fail "reboot operation: $body"
[ "$(agent_pid "$v1")" != "$pid_before" ] || fail "the agent was not restarted"
kill -0 "$(agent_pid "$v1")" || fail "the restarted agent is not running"
[ "$(echo "$pid_before" | alive_count)" = 0 ] || fail "the old agent still runs"
curl -s "${auth[@]}" "$url/api/reboot-vm/$v1" >"$T/info.out"
grep -q '"reboot_count":1,"last_reboot_time":"20' "$T/info.out" || fail "reboot info after: $(cat "$T/info.out")"
[ "$(psqlc "SELECT user_email FROM vms WHERE hostname = '$v1'")" = alice@example.com ] || fail "reboot lost the student"
wait_sql "SELECT status FROM vms WHERE hostname = '$v1'" running 20 "the rebooted agent reports running"
wait_sql "SELECT coalesce(crd_active::text, '') FROM vms WHERE hostname = '$v1'" true 20 "the registered CRD host back after the reboot"
tok1=$(agent_token_of "$v1")
[ -n "$tok1" ] || fail "no token in the rebooted agent's environment"
for f in /proc/[0-9]*/cmdline; do
    tr '\0' ' ' <"$f" 2>/dev/null | grep -qF "$tok1" && fail "the token is on a command line: $f"
done
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE action = 'reboot-vm' AND target = '$v1' AND outcome = 'ok'")" = 1 ] \
    || fail "reboot not audited"
pass "POST /api/reboot-vm: 200 upstream's message, an operation; the local provider restarted the agent (same token, CRD host back); count, time, audit; student kept"

# --- a concurrent action -> 409 -------------------------------------------
code=$(post /api/vms/bulk "{\"action\": \"reboot\", \"hostnames\": [\"$v1\", \"$v2\"]}"); expect 202 "bulk reboot"
bulk=$(op_of)
code=$(post /api/reboot-vm "{\"hostname\": \"$v2\"}"); expect 409 "reboot while another runs"
grep -q "\"operation_id\":$bulk" "$T/r.out" || fail "409 does not name the running operation: $(cat "$T/r.out")"
body=$(finished_ok "$bulk" "bulk reboot")
grep -q '"vms":{"done":2,"total":2}' <<<"$body" || fail "bulk reboot counts: $body"
[ "$(psqlc "SELECT string_agg(reboot_count::text, ',' ORDER BY hostname) FROM vms")" = "2,1" ] || fail "bulk reboot counts in rows"
pass "bulk reboot of 2 VMs is one operation (2/2); a reboot meanwhile gets 409 with its id"

# --- bulk refusals ------------------------------------------------------------
code=$(post /api/vms/bulk '{"action": "explode", "hostnames": ["x"]}'); expect 400 "bulk bad action"
grep -q 'action must be one of: reboot, replace, destroy, release.' "$T/r.out" || fail "bad action: $(cat "$T/r.out")"
code=$(post /api/vms/bulk '{"action": "reboot", "hostnames": []}'); expect 400 "bulk empty"
code=$(post /api/vms/bulk '{"action": "reboot", "hostnames": ["a b"]}'); expect 400 "bulk bad name"
code=$(post /api/vms/bulk '{"action": "reboot", "hostnames": "lablink-vm-test-1"}'); expect 400 "bulk not a list"
many=$(printf '"vm-%d",' $(seq 1 101)); many="[${many%,}]"
code=$(post /api/vms/bulk "{\"action\": \"reboot\", \"hostnames\": $many}"); expect 400 "bulk of 101"
code=$(post /api/vms/bulk "{\"action\": \"destroy\", \"hostnames\": [\"$v1\", \"lablink-vm-test-7\"]}"); expect 404 "bulk with an unknown VM"
grep -q 'VM not found: lablink-vm-test-7.' "$T/r.out" || fail "bulk unknown: $(cat "$T/r.out")"
[ "$(psqlc "SELECT count(*) FROM fleet WHERE state = 'active'")" = 2 ] || fail "a refused bulk destroy touched the fleet"
[ "$(psqlc "SELECT count(*) FROM operations WHERE kind = 'destroy-vm'")" = 0 ] || fail "a refused bulk made an operation"
pass "bulk refusals: bad action, empty, bad name, not a list, more than 100 (400), unknown VM (404); nothing changed"

# --- replace (same name): alice stays, her spent code is dropped ----------
pid_before=$(agent_pid "$v1")
old_token=$(agent_token_of "$v1")
[ -n "$old_token" ] && [ "$(heartbeat_as "$v1" "$old_token")" = 200 ] || fail "VM 1's own token before the replace"
code=$(post "/api/vms/$v1/replace"); expect 202 "replace"
body=$(finished_ok "$(op_of)" "replace")
grep -q "their code was used already" <<<"$body" || fail "replace output: $body"
[ "$(agent_pid "$v1")" != "$pid_before" ] || fail "replace kept the old agent"
[ "$(psqlc "SELECT user_email || ' ' || (crd_command IS NULL)::text || ' ' || (delivered_at IS NULL)::text FROM vms WHERE hostname = '$v1'")" \
    = "alice@example.com true true" ] || fail "after replace: $(psqlc "SELECT user_email, crd_command, delivered_at FROM vms WHERE hostname = '$v1'")"
wait_sql "SELECT status FROM vms WHERE hostname = '$v1'" running 30 "replaced VM running"
[ "$(heartbeat_as "$v1" "$old_token")" = 401 ] || fail "the replaced machine's token still works"
[ "$(agent_token_of "$v1")" != "$old_token" ] || fail "the new machine runs with the old token"
# her new command reaches the new machine
code=$(claim alice@example.com 4/alice-two)
[ "$code" = 200 ] && grep -q "\"hostname\":\"$v1\"" "$T/claim.out" || fail "alice's renewal: $code $(cat "$T/claim.out")"
wait_sql "SELECT (delivered_at IS NOT NULL)::text FROM vms WHERE hostname = '$v1'" true 20 "alice's new code delivered"
grep -q 'arg: --code=4/alice-two' "$vms_dir/$v1/home/start-host.log" || fail "new machine did not get the new code"
grep -q 'alice-one' "$vms_dir/$v1/home/start-host.log" && fail "the spent code was delivered to the new machine"
pass "replace (same name): a new machine with a new token (the old one 401), alice stays assigned, her spent code dropped, her new one delivered to it"

# --- replace under a new name: bob (never delivered) moves with his code --
echo 1 >"$vms_dir/$v2/home/start-host.exit"   # bob's start-host fails on VM 2
wait_sql "SELECT status FROM vms WHERE hostname = '$v2'" running 30 "VM 2 running again after its reboot"
code=$(claim bob@example.com 4/bob-one)
[ "$code" = 200 ] && grep -q "\"hostname\":\"$v2\"" "$T/claim.out" || fail "bob's claim: $code $(cat "$T/claim.out")"
wait_sql "SELECT coalesce(start_host_ok::text, '') FROM vms WHERE hostname = '$v2'" false 20 "bob's failed start-host"
[ "$(psqlc "SELECT start_host_error FROM vms WHERE hostname = '$v2'")" = "start-host exited with status 1" ] \
    || fail "start-host reason: $(psqlc "SELECT start_host_error FROM vms WHERE hostname = '$v2'")"
old_token=$(agent_token_of "$v2")
code=$(post "/api/vms/$v2/replace?new_name=1"); expect 202 "replace under a new name"
body=$(finished_ok "$(op_of)" "move")
grep -q '"kind":"move-vm"' <<<"$body" && grep -q "the student of $v2 moved to lablink-vm-test-3; their code is delivered" <<<"$body" \
    || fail "move output: $body"
[ "$(psqlc "SELECT count(*) FROM vms WHERE hostname = '$v2'")" = 0 ] || fail "old VM row left"
[ ! -d "$vms_dir/$v2" ] || fail "old VM left running"
[ "$(heartbeat_as "$v2" "$old_token")" != 200 ] || fail "the moved-from VM's token still works"
[ "$(psqlc "SELECT user_email FROM vms WHERE hostname = 'lablink-vm-test-3'")" = bob@example.com ] || fail "bob not moved"
wait_sql "SELECT coalesce(start_host_ok::text, '') FROM vms WHERE hostname = 'lablink-vm-test-3'" true 30 "bob's code on the new VM"
grep -q 'arg: --code=4/bob-one' "$vms_dir/lablink-vm-test-3/home/start-host.log" || fail "bob's code not delivered to the new VM"
[ "$(psqlc "SELECT string_agg(hostname || ':' || state, ',' ORDER BY hostname) FROM fleet")" \
    = "lablink-vm-test-1:active,lablink-vm-test-3:active" ] || fail "fleet after move: $(psqlc 'SELECT * FROM fleet')"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE action = 'move-student' AND target = 'lablink-vm-test-3'")" = 1 ] || fail "move not audited"
pass "replace under a new name: one apply; bob moved with his unused code, delivered to the new VM; old VM gone; audited"

# --- bulk release ----------------------------------------------------------
code=$(post /api/vms/bulk '{"action": "release", "hostnames": ["lablink-vm-test-1", "lablink-vm-test-3", "nobody-1"]}')
expect 200 "bulk release"
grep -q '"released":\["lablink-vm-test-1","lablink-vm-test-3"\],"not_found":\["nobody-1"\]' "$T/r.out" || fail "bulk release: $(cat "$T/r.out")"
[ "$(psqlc 'SELECT count(*) FROM vms WHERE user_email IS NOT NULL')" = 0 ] || fail "still assigned after bulk release"
pass "bulk release: 200 with released and not found"

# --- the student's progress link: only the one the success page gave -------
curl -s --data-urlencode email=carol@example.com --data-urlencode 'crd_command=--code=4/carol-one' \
    -o "$T/success.html" "$url/api/request_vm"
link=$(sed -n 's/.*id="progress_link" href="\([^"]*\)".*/\1/p' "$T/success.html")
host_c=$(sed -n 's|^/vm/\([^?]*\)?t=[0-9a-f]\{32\}$|\1|p' <<<"$link")
[ -n "$host_c" ] || fail "no progress link on the success page: $(grep -o 'progress_link[^>]*' "$T/success.html")"
tok=${link##*t=}
other=$v1; [ "$host_c" = "$v1" ] && other=lablink-vm-test-3
curl -s -o "$T/p.out" "$url/api/vm-progress/$host_c?t=$tok"
grep -q "\"hostname\":\"$host_c\",\"pin\":\"[0-9]\{6\}\",\"email\":\"carol@example.com\"" "$T/p.out" \
    && grep -q '"steps":{"delivered":' "$T/p.out" || fail "progress: $(cat "$T/p.out")"
for bad in "$other?t=$tok" "$host_c?t=$(printf '0%.0s' $(seq 1 32))" "$host_c?t=${tok}0" "$host_c" "nobody-1?t=$tok"; do
    code=$(curl -s -o "$T/p.out" -w '%{http_code}' "$url/api/vm-progress/$bad")
    [ "$code" = 404 ] && grep -q '"error":"This link is not valid (any more)."' "$T/p.out" \
        && ! grep -q 'pin\|carol' "$T/p.out" || fail "progress with $bad: $code $(cat "$T/p.out")"
    [ "$(http_status "$url/vm/$bad")" = 404 ] || fail "page with $bad not 404"
done
code=$(post "/api/vms/$host_c/release"); expect 200 "release carol"
[ "$(http_status "$url/api/vm-progress/$host_c?t=$tok")" = 404 ] || fail "the link outlived the assignment"
pass "progress link: 200 with the success page's token; 404 and nothing learned for another VM, a wrong, longer or no token, an unknown VM, after the release"

# --- the student releases their VM from their page (the link's token) ------
curl -s --data-urlencode email=carol@example.com --data-urlencode 'crd_command=--code=4/carol-two' \
    -o "$T/success.html" "$url/api/request_vm"
link=$(sed -n 's/.*id="progress_link" href="\([^"]*\)".*/\1/p' "$T/success.html")
host_c=${link#/vm/}; host_c=${host_c%%\?*}; tok=${link##*t=}
[ -n "$host_c" ] && [ ${#tok} = 32 ] || fail "no progress link for carol's second claim: $link"
curl -s -o "$T/vm.html" "$url$link"
grep -q "action=\"/vm/$host_c/release\"" "$T/vm.html" && grep -q "name=\"t\" value=\"$tok\"" "$T/vm.html" \
    || fail "no release form on the VM page"
audited() {  # ACTION TARGET -> audit rows
    psqlc "SELECT count(*) FROM audit_log WHERE action = '$1' AND target = '$2'"
}
student_release() {  # HOST TOKEN -> $T/rel.out, prints the status
    curl -s -o "$T/rel.out" -w '%{http_code}' --data-urlencode "t=$2" "$url/vm/$1/release"
}
other=$v1; [ "$host_c" = "$v1" ] && other=lablink-vm-test-3
for bad in "$host_c $(printf '0%.0s' $(seq 1 32))" "$host_c ${tok}0" "$host_c -" "$other $tok" "nobody-1 $tok"; do
    set -- $bad
    code=$(student_release "$1" "${2#-}")
    [ "$code" = 404 ] && grep -q 'This link is not valid' "$T/rel.out" || fail "student release $bad: $code $(cat "$T/rel.out")"
done
[ "$(psqlc "SELECT user_email FROM vms WHERE hostname = '$host_c'")" = carol@example.com ] \
    || fail "a refused release changed the VM"
[ "$(audited student-release "$host_c")" = 0 ] || fail "a refused release was audited"
code=$(student_release "$host_c" "$tok")
[ "$code" = 200 ] && grep -q 'VM Released' "$T/rel.out" || fail "student release: $code $(cat "$T/rel.out")"
[ "$(psqlc "SELECT coalesce(user_email, '') FROM vms WHERE hostname = '$host_c'")" = "" ] || fail "still carol's"
[ "$(audited student-release "$host_c")" = 1 ] || fail "the student's release is not audited"
[ "$(psqlc "SELECT actor FROM audit_log WHERE action = 'student-release'")" = student:carol@example.com ] \
    || fail "audit actor: $(psqlc "SELECT actor FROM audit_log WHERE action = 'student-release'")"
[ "$(student_release "$host_c" "$tok")" = 404 ] || fail "released twice"
[ "$(http_status "$url/api/vm-progress/$host_c?t=$tok")" = 404 ] || fail "the link outlived the student's release"
pass "student release from the VM page: 404 for a wrong, longer or no token, another or unknown VM (nothing changed, not audited); 200 with the link's token, unassigned, audited as student:<email>; then 404"

# --- the AWS module's reboot: EC2 RebootInstances through the aws CLI ------
stub=$T/stubs; mkdir -p "$stub" "$T/awswork"
cat >"$stub/terraform" <<'SH'
#!/bin/sh
# stand-in: `terraform -chdir=W state show -no-color aws_instance.vm["NAME"]`
echo "$@" >>"$STUB_LOG"
echo '# aws_instance.vm["lablink-vm-prod-2"]:'
echo 'resource "aws_instance" "vm" {'
echo '    ami  = "ami-0123"'
echo '    id   = "i-0abc123def4567890"'
echo '}'
SH
cat >"$stub/aws" <<'SH'
#!/bin/sh
echo "aws $*" >>"$STUB_LOG"
SH
chmod +x "$stub/terraform" "$stub/aws"
printf 'region = "eu-central-1"\n' >"$T/awswork/terraform.runtime.tfvars"
export STUB_LOG=$T/stub.log
PATH=$stub:$PATH "$SRC/terraform/aws/vm-reboot.sh" lablink-vm-prod-2 "$T/awswork" "$stub/terraform" >"$T/aws.out" 2>&1 \
    || { cat "$T/aws.out" >&2; fail "aws vm-reboot.sh failed"; }
grep -q 'state show -no-color aws_instance.vm\["lablink-vm-prod-2"\]' "$STUB_LOG" || fail "instance not looked up: $(cat "$STUB_LOG")"
grep -qx 'aws ec2 reboot-instances --region eu-central-1 --instance-ids i-0abc123def4567890' "$STUB_LOG" \
    || fail "aws CLI call: $(cat "$STUB_LOG")"
PATH=$stub:$PATH "$SRC/terraform/aws/vm-reboot.sh" 'bad;name' "$T/awswork" "$stub/terraform" >/dev/null 2>&1 \
    && fail "a bad name was accepted"
pass "terraform/aws/vm-reboot.sh: instance id from the state, aws ec2 reboot-instances in the tfvars' region"

code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/d.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 202 ] || fail "destroy: $code"
finished_ok "$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/d.out")" "destroy" >/dev/null
stop_allocator_within 15
echo "9 passed, 0 failed"
