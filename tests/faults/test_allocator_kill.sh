# The allocator killed with SIGKILL and started again while 8 agents wait
# on /vm_startup, claims are being made and a launch runs (terraform
# hanging). What the user sees: the agents reconnect by themselves and each
# gets its assignment; claims answered 200 before the crash are delivered
# after it; the crashed launch shows "failed" (interrupted) as soon as the
# new allocator runs, and a new launch is accepted (202, not 409).
# Checked: every acknowledged claim is stored on exactly one VM, every
# stored assignment reaches its VM (delivered_at set, the same command),
# no VM gets two different assignments, no e-mail holds two VMs.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
. "$LABLINK_SOURCE_DIR/tests/faults/faults_lib.sh"

# start_alloc TERRAFORM_BIN: provision_lib's allocator, with long polls of
# 4 s and no claim rate limits
start_alloc() {
    write_config "$port"
    cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  terraform_bin: $1
  operation_timeout_s: 600
environment: test
agent:
  long_poll_s: 4
claim:
  email_per_minute: 0
  address_per_minute: 0
YAML
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 30 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}

export LABLINK_HANG_PIDFILE=$T/hang.pid
start_alloc "$SRC/tests/integration/standins/terraform-hang"
seed_vms k 8
token "$(seq -s, -f 'k-%g' 1 8)" "$T/config.yaml" >"$T/k.tokens"
agents=()
for i in $(seq 1 8); do
    fault_agent "$url" "k-$i" "$(sed -n "${i}p" "$T/k.tokens")" &
    agents+=($!)
done
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch: $code $(cat "$T/launch.out")"
op=$(op_id)
t0=$SECONDS
until [ -s "$T/hang.pid" ]; do [ $((SECONDS - t0)) -lt 30 ] || fail "terraform never started"; sleep 0.2; done
unset LABLINK_HANG_PIDFILE
pass "8 agents waiting, launch $op running (terraform hangs)"

# --- claims answered, then claims in flight when the allocator is killed ---
for i in 1 2 3; do
    out=$(claim_json "$url" "k$i@example.com" "--code=4/k$i")
    expect "claim $i" 200 "${out##* }"
    echo "k$i@example.com 200" >"$T/claim.$i"
done
claims=()
for i in 4 5 6; do
    (out=$(claim_json "$url" "k$i@example.com" "--code=4/k$i" 2>/dev/null) || out="no-answer 000"
     echo "k$i@example.com ${out##* }" >"$T/claim.$i") &
    claims+=($!)
done
sleep 0.2
kill -KILL "$ALLOC_PID"
wait "$ALLOC_PID" 2>/dev/null || true
wait "${claims[@]}" || true
acked=$(cat "$T"/claim.* | awk '$2 == 200' | wc -l)
pass "allocator killed with 3 claims in flight ($acked claims answered 200 before it died)"

# terraform is told to stop (SIGTERM, on which the real one writes its state
# and exits) when the allocator that ran it dies; this stand-in only notes it
t0=$SECONDS
until grep -q TERM "$T/hang.pid.signals" 2>/dev/null; do
    [ $((SECONDS - t0)) -lt 10 ] || fail "terraform got no SIGTERM when the allocator died"
    sleep 0.2
done
pass "the dead allocator's terraform got SIGTERM"

start_alloc "$SRC/tests/integration/standins/terraform-fail"
# the crashed launch: failed as soon as the new allocator runs, no 409
t0=$SECONDS
until body=$(curl -s "${auth[@]}" "$url/api/operations/$op") && grep -q '"status":"failed"' <<<"$body"; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "crashed launch still not failed 20 s after the restart: $body"
    sleep 0.3
done
grep -q 'interrupted: the allocator running it stopped' <<<"$body" || fail "crashed launch: $body"
kill -KILL "$(cat "$T/hang.pid")" 2>/dev/null || true
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch after the crash: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 60) || fail "new launch still running"
grep -q '"status":"failed"' <<<"$body" || fail "new launch (terraform-fail): $body"
pass "the crashed launch is marked failed at restart; a new launch is accepted (202)"

# --- claims after the restart: every VM still free ---
free=$(sql "SELECT count(*) FROM vms WHERE hostname LIKE 'k-%' AND user_email IS NULL")
for i in $(seq 7 $((6 + free))); do
    out=$(claim_json "$url" "k$i@example.com" "--code=4/k$i")
    expect "claim $i after the restart" 200 "${out##* }"
    echo "k$i@example.com 200" >"$T/claim.$i"
done
pass "claims after the restart: $free, each answered 200"

# --- nothing acknowledged lost, nothing doubled ---
wait "${agents[@]}" || true
sql "SELECT user_email FROM vms WHERE user_email IS NOT NULL" >"$T/stored"
lost=$(awk 'NR == FNR { s[$1] = 1; next } $2 == 200 && !s[$1]' "$T/stored" "$T"/claim.*)
[ -z "$lost" ] || fail "acknowledged claims not stored: $lost"
assigned=$(sql "SELECT count(*) FROM vms WHERE crd_command IS NOT NULL")
expect "stored assignments" 8 "$assigned"
check_delivered k
pass "$assigned assignments stored, each delivered to its VM once acknowledged; none lost or doubled"

stop_allocator_within 20
echo "6 passed, 0 failed"
