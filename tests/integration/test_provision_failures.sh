# Provision failures with the real allocator and the local module: terraform
# failing (its output, ANSI-stripped, in the failed operation; allocator
# healthy; no row or fleet name changed); terraform hanging (killed after
# provider.operation_timeout_s, even ignoring SIGTERM); two allocators on one
# database (the advisory lock: 409 naming the other's operation); an
# allocator killed mid-operation (the next one marks it failed); destroy.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
start_with terraform 120

# --- two VMs to protect ------------------------------------------------------
code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch 2: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "launch 2 still running after 90 s"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "launch 2 failed"; }
[ "$(vm_pids | alive_count)" = 4 ] || fail "not 2 sshd + 2 agents"
before=$(psqlc "SELECT string_agg(hostname || terraform_start_time || terraform_duration_seconds, ',' ORDER BY hostname) FROM vms")
fleet_before=$(psqlc "SELECT string_agg(hostname || state, ',' ORDER BY hostname) FROM fleet")
pass "launch 2 (the VMs the failures must not touch)"

# --- terraform fails ---------------------------------------------------------
stop_allocator
start_with "$SRC/tests/integration/standins/terraform-fail" 120
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch with failing terraform: $code"
op3=$(op_id)
body=$(wait_op "$op3" 60) || fail "failing operation still running"
grep -q '"status":"failed"' <<<"$body" || fail "not failed: $body"
grep -q 'Error: simulated failure' <<<"$body" || fail "failed operation lacks terraform's output: $body"
grep -q 'simulated failure\\nthe stand-in always fails\\n' <<<"$body" || fail "the diagnostic's detail is not shown: $body"
grep -q '\\n{\|u001b\|\[31m' <<<"$body" && fail "raw events or escapes reached the output: $body"
printf '%s' "$body" | grep -q $'\033' && fail "ANSI escapes reached the output"
grep -q '"error":"terraform apply exited with status 1"' <<<"$body" || fail "error: $body"
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
grep -q '"status":"failed"' <<<"$body" || fail "hang not failed: $body"
grep -q '"error":"terraform timed out after 3 s"' <<<"$body" || fail "hang error: $body"
grep -q 'stand-in terraform: hanging' <<<"$body" || fail "hang output missing: $body"
hang_pid=$(cat "$T/hang.pid")
kill -0 "$hang_pid" 2>/dev/null && fail "the hanging terraform ($hang_pid) is still alive"
[ "$(psqlc "SELECT string_agg(hostname || terraform_start_time || terraform_duration_seconds, ',' ORDER BY hostname) FROM vms")" = "$before" ] \
    || fail "rows changed by a hung launch"
[ "$(psqlc "SELECT string_agg(hostname || state, ',' ORDER BY hostname) FROM fleet")" = "$fleet_before" ] \
    || fail "fleet changed by a hung launch"
[ "$(vm_pids | alive_count)" = 4 ] || fail "VMs hurt by the killed terraform"
unset LABLINK_HANG_PIDFILE
pass "terraform hanging -> killed after the timeout, operation failed, rows intact"

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
wait_healthy 30 "http://127.0.0.1:$portB" || fail "allocator B not healthy"
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
grep -q '"status":"failed"' <<<"$body" && echo "$body" | grep -q 'interrupted: the allocator running it stopped' \
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
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "destroy failed"; }
# 4 VMs and the crashed launch's name (kept: it may exist), which never did
grep -q '"vms":{"done":2,"total":3}' <<<"$body" || fail "destroy counts: $body"
[ "$(psqlc 'SELECT count(*) FROM vms')" = 0 ] || fail "rows left after destroy"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] || fail "fleet left after destroy"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE action = 'vm-removed' AND (detail::jsonb->>'terraform_duration_seconds') IS NOT NULL")" = 2 ] \
    || fail "removed rows not in the audit log: $(psqlc "SELECT action, target, left(detail, 80) FROM audit_log")"
[ "$(echo "$all" | alive_count)" = 0 ] || fail "VM processes left after destroy: $(for p in $all; do ps -o pid,stat,args -p $p | tail -n +2; done)"
pgrep -f "$vms_dir" >/dev/null && fail "processes of $vms_dir left: $(pgrep -af "$vms_dir")"
[ -z "$(ls -A "$vms_dir" 2>/dev/null)" ] || fail "VM folders left: $(ls "$vms_dir")"
pass "destroy -> 0 rows (kept in audit_log), no agent or sshd left"

stop_allocator
pass "SIGTERM: exit 0, no sanitizer report"
echo "6 passed, 0 failed"
