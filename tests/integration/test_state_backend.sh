# The client fleet's terraform state in S3 (provider.state_backend s3), with
# terraform's own s3 backend against s3rver and its DynamoDB lock against
# dynalite (npm), the local module and the real allocator. No AWS_* in the
# environment: the allocator takes the instance role's keys from the IMDSv2
# stand-in and hands them to terraform; a proxy checks every S3 and
# DynamoDB request's signature (terraform's and the tfvars backup's).
#   1. allocator A launches 2: the state is in S3 under the deployment's
#      key (nothing local), the lock's digest in DynamoDB, the tfvars copy
#      beside it
#   2. a lock held by another terraform (a person) -> A's launch fails with
#      terraform's lock error, nothing changes; a second allocator B (other
#      work dir, same database) is refused while A runs terraform
#   3. A killed (SIGKILL), its work dir deleted; B, whose work dir is empty,
#      lists the fleet, destroys one of A's VMs (nothing in the state may
#      point into A's work dir), launches one more (A's other VM untouched),
#      then destroys everything: no process of the fleet left, an empty state
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/aws/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
command -v jq >/dev/null || fail "jq missing (scripts/install-deps)"

aws_clean_env
aws_s3 lablink-state
aws_dynamodb lock-table
aws_imds
export AWS_ENDPOINT_URL_S3=$S3_URL  # the allocator's tfvars backup
STATE_KEY=lablink/test/client/terraform.tfstate
LOCK_ID=lablink-state/$STATE_KEY

# The "machines" live outside every allocator's work dir
vms_dir=$T/vms
mkdir -p "$vms_dir"
portA=$port
portB=$(ll_free_port)
workA=$T/hostA/work
workB=$T/hostB/work
prepare_work() {  # DIR: the operator's extra settings for the local module
    mkdir -p "$1"
    sed "/^vms_dir/d" "$work/test.auto.tfvars" >"$1/test.auto.tfvars"
    echo "vms_dir = \"$vms_dir\"" >>"$1/test.auto.tfvars"
}
prepare_work "$workA"
prepare_work "$workB"

# start_on WORK PORT LOG: an allocator of this fleet (the same config but
# for its work dir and port); sets ALLOC_PID
start_on() {
    work=$1 port=$2 url=http://127.0.0.1:$2
    aws_s3_fleet 40 "$3"
}
use() { port=$1 url=http://127.0.0.1:$1; }  # talk to the allocator on PORT

s3_object() { cat "$S3_DIR/lablink-state/$1._S3rver_object" 2>/dev/null; }
state_resources() { s3_object "$STATE_KEY" | jq '[.resources[] | select(.type == "terraform_data" and .name == "vm") | .instances[]] | length'; }

# --- 1. A launches 2; the state lives in S3 ----------------------------------
start_on "$workA" "$portA" "$T/allocatorA.log"
pidA=$ALLOC_PID
code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch 2 on A: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 120) || fail "launch on A still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; cat "$T/allocatorA.log" >&2; fail "launch on A failed"; }
grep -q 'AWS credentials: instance role lablink-test-role' <<<"$body" || fail "terraform not given the instance role's keys: $body"
grep -q 'Successfully configured the backend \\"s3\\"' <<<"$body" || fail "init did not configure the s3 backend: $body"
[ "$(state_resources)" = 2 ] || fail "the state in S3 ($STATE_KEY) does not hold 2 VMs: $(s3_object "$STATE_KEY" | head -c 400)"
[ ! -s "$workA/terraform.tfstate" ] || fail "a local state file in A's work dir"
grep -q 'dynamodb_table = "lock-table"' "$workA/lablink.s3.tfbackend" && grep -q "key = \"$STATE_KEY\"" "$workA/lablink.s3.tfbackend" \
    || fail "backend settings: $(cat "$workA/lablink.s3.tfbackend")"
ddb GetItem "{\"TableName\":\"lock-table\",\"Key\":{\"LockID\":{\"S\":\"$LOCK_ID-md5\"}}}" | grep -q '"Digest"' \
    || fail "no state digest in the DynamoDB lock table"
[ -z "$(ddb GetItem "{\"TableName\":\"lock-table\",\"Key\":{\"LockID\":{\"S\":\"$LOCK_ID\"}}}" | jq -r '.Item // empty')" ] \
    || fail "the lock is still held after the operation"
cmp -s <(s3_object lablink/test/client/terraform.runtime.tfvars) "$workA/terraform.runtime.tfvars" \
    || fail "the S3 copy of the tfvars differs from A's"
first=$(vm_pids)
[ "$(echo "$first" | alive_count)" = 4 ] || fail "not 2 sshd + 2 agents running"
pass "A launched 2: state in S3 ($STATE_KEY), digest in DynamoDB, tfvars copy beside it, nothing local"

# Every request reached S3/DynamoDB signed with the instance role's session
product() { jq -c 'select(.key != "TESTER")' "$SIGV4_LOG"; }  # not the test's own calls
product | jq -e -s 'length > 5 and all(.verdict == "ok" and .key == "S3RVER"
        and (.session_token // "" | startswith("standin-session-token-")))' >/dev/null \
    || fail "unsigned or wrongly signed requests: $(product | jq -c 'select(.verdict != "ok" or .session_token == null)' | head -5)"
product | jq -e -s '[.[] | select(.service == "dynamodb")] | length > 0' >/dev/null \
    || fail "terraform never used the DynamoDB lock"
pass "every S3 and DynamoDB request signed (SigV4, checked) with the instance role's keys and session token"

# --- 2. someone else holds the lock; a second allocator is refused -----------
rows=$(psqlc 'SELECT count(*) FROM vms')
ops=$(psqlc 'SELECT count(*) FROM operations')
ddb PutItem "{\"TableName\":\"lock-table\",\"Item\":{\"LockID\":{\"S\":\"$LOCK_ID\"},\"Info\":{\"S\":\"{\\\"ID\\\":\\\"0f0f0f0f-0000-4000-8000-000000000000\\\",\\\"Operation\\\":\\\"OperationTypeApply\\\",\\\"Who\\\":\\\"someone@laptop\\\",\\\"Version\\\":\\\"1.11.4\\\",\\\"Path\\\":\\\"$LOCK_ID\\\"}\"}}}" >/dev/null \
    || fail "cannot put a foreign lock"
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch while locked: $code"
opL=$(op_id)
# B starts meanwhile, on its own empty work dir, and is refused while A works
start_on "$workB" "$portB" "$T/allocator.log"
pidB=$ALLOC_PID
use "$portB"
code=$(launch_json 1)
[ "$code" = 409 ] && grep -q "\"operation_id\":$opL" "$T/launch.out" \
    || fail "B was not refused while A runs terraform: $code $(cat "$T/launch.out")"
[ -z "$(ls -A "$workB" | grep -v test.auto.tfvars)" ] || fail "refused B touched its work dir: $(ls -A "$workB")"
use "$portA"
body=$(wait_op "$opL" 90) || fail "launch against a held lock still running"
grep -q '"status":"failed"' <<<"$body" && grep -q 'Error acquiring the state lock' <<<"$body" \
    && grep -q 'someone@laptop' <<<"$body" || fail "a held lock did not fail the launch with terraform's lock error: $body"
[ "$(state_resources)" = 2 ] || fail "the state changed under a foreign lock"
[ "$(psqlc 'SELECT count(*) FROM vms')" = "$rows" ] && [ "$(psqlc 'SELECT count(*) FROM fleet')" = 2 ] \
    || fail "the fleet changed under a foreign lock"
[ "$(vm_pids | alive_count)" = 4 ] || fail "VM processes changed under a foreign lock"
[ "$(psqlc 'SELECT count(*) FROM operations')" = $((ops + 1)) ] || fail "B's refused launch made an operation"
ddb DeleteItem "{\"TableName\":\"lock-table\",\"Key\":{\"LockID\":{\"S\":\"$LOCK_ID\"}}}" >/dev/null
pass "a lock held elsewhere fails A's launch (terraform's lock error, nothing changed); B is refused (409) while A runs"

# --- 3. A dies with its disk; B adopts the fleet -----------------------------
kill -KILL "$pidA"
wait "$pidA" 2>/dev/null || true
rm -rf "$T/hostA"
use "$portB"
ALLOC_PID=$pidB
list=$(curl -s "${auth[@]}" "$url/api/vm-status")
for n in 1 2; do grep -q "lablink-vm-test-$n" <<<"$list" || fail "B does not list VM $n: $list"; done
# First a VM A made, destroyed by B before B changed anything in the state
vm1=$(cat "$vms_dir/lablink-vm-test-1/sshd.pid" "$vms_dir/lablink-vm-test-1/agent.pid" | cut -d' ' -f1)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' \
    "$url/api/vms/lablink-vm-test-1/destroy")
[ "$code" = 202 ] || fail "destroy VM 1 on B: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 120) || fail "destroy of VM 1 on B still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "B cannot destroy a VM A made"; }
[ "$(echo "$vm1" | alive_count)" = 0 ] || fail "VM 1's processes survived B's destroy"
[ "$(state_resources)" = 1 ] || fail "the state in S3 does not hold 1 VM after B destroyed one"
first=$(cat "$vms_dir/lablink-vm-test-2/sshd.pid" "$vms_dir/lablink-vm-test-2/agent.pid" | cut -d' ' -f1)
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch 1 on B: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 120) || fail "launch on B still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; cat "$T/allocator.log" >&2; fail "launch on B failed"; }
grep -q 'terraform_data.vm\["lablink-vm-test-2"\]: \(Creating\|Destroying\)' <<<"$body" && fail "B re-created A's VM: $body"
[ "$(state_resources)" = 2 ] || fail "the state in S3 does not hold 2 VMs"
[ "$(echo "$first" | alive_count)" = 2 ] || fail "A's VM was touched by B's launch"
[ "$(vm_pids | alive_count)" = 4 ] || fail "not 2 VMs running"
[ ! -s "$workB/terraform.tfstate" ] || fail "a local state file in B's work dir"
pass "A killed, its work dir deleted: B (empty work dir) lists the fleet, destroys one of A's VMs, launches one more, A's other VM untouched"

all=$(vm_pids)
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' "$url/destroy")
[ "$code" = 202 ] || fail "destroy on B: $code"
body=$(wait_op "$(op_id)" 120) || fail "destroy on B still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "destroy on B failed"; }
[ "$(echo "$all" | alive_count)" = 0 ] || fail "fleet processes left after B's destroy: $(for p in $all; do ps -o pid,args -p "$p" | tail -n +2; done)"
pgrep -f "$vms_dir" >/dev/null && fail "processes of $vms_dir left: $(pgrep -af "$vms_dir")"
[ -z "$(ls -A "$vms_dir")" ] || fail "VM folders left: $(ls "$vms_dir")"
[ "$(state_resources)" = 0 ] || fail "the state in S3 still holds VMs"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] && [ "$(psqlc 'SELECT count(*) FROM vms')" = 0 ] || fail "rows left"
pass "B destroys the whole fleet, A's VMs included: no fleet process left, the state in S3 empty"

jq -e -s 'all(.verdict == "ok")' "$SIGV4_LOG" >/dev/null \
    || fail "a request failed the signature check: $(jq -c 'select(.verdict != "ok")' "$SIGV4_LOG" | head -3)"
stop_allocator_within 15
pass "B stops cleanly"
echo "6 passed, 0 failed"
