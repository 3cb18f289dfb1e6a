# Ending a class on time and on budget (issue 16) against the real
# allocator, PostgreSQL and terraform (local module): upstream's scheduled
# destruction API with its answers, a teardown seconds away destroying the
# fleet, a recurrence moving on, a schedule surviving a restart, one
# teardown for two allocators, schedule.destroy_at, the class's end for
# students, the dashboard (JSON, Server-Sent Events, /metrics gauges), the
# budget refusing a launch, and idle release.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
export LABLINK_INTERVAL_SCALE=0.1
json=(-H 'Accept: application/json' -H 'Content-Type: application/json')
iso_in() { date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ; }
start_class() {  # EXTRA-YAML [URL-PORT]: the allocator with these settings
    local p=${2:-$port}
    write_config "$p"
    cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  operation_timeout_s: 120
YAML
    printf 'environment: test\nagent:\n  long_poll_s: 1\n%s\n' "$1" >>"$T/config.yaml"
    local log=$T/allocator.log
    [ "$p" = "$port" ] || log=$T/allocatorB.log
    "$BIN" --config "$T/config.yaml" >>"$log" 2>&1 &
    if [ "$p" = "$port" ]; then ALLOC_PID=$!; else pidB=$!; fi
    wait_healthy 15 "http://127.0.0.1:$p" || { cat "$log" >&2; fail "allocator on $p not healthy"; }
}
sched() {  # JSON -> $T/s.out, prints the status
    curl -s "${auth[@]}" "${json[@]}" -d "$1" -o "$T/s.out" -w '%{http_code}' "$url/api/schedule-destruction"
}
refused() {  # STATUS MESSAGE JSON
    local code
    code=$(sched "$3")
    [ "$code" = "$1" ] && grep -qF "\"success\":false,\"message\":\"$2" "$T/s.out" \
        || fail "schedule $3: $code $(cat "$T/s.out")"
}
wait_sql() {  # SQL WANT SECONDS WHAT
    psqlc "$1" >/dev/null || echo "psql failed: $1" >&2
    local t0=$SECONDS
    until [ "$(psqlc "$1")" = "$2" ]; do
        [ $((SECONDS - t0)) -lt "$3" ] || fail "$4: $(psqlc "$1") (want $2)"
        sleep 0.3
    done
}
launch_ok() {  # N
    local code
    code=$(launch_json "$1")
    [ "$code" = 202 ] || fail "launch $1: $code $(cat "$T/launch.out")"
    wait_op "$(op_id)" 90 | grep -q '"status":"succeeded"' || fail "launch $1 failed"
}

start_class ""

# --- upstream's answers -------------------------------------------------------
refused 400 "schedule_name is required" '{"destruction_time": "'"$(iso_in 3600)"'"}'
refused 400 "schedule_name is required" '{"schedule_name": "  ", "destruction_time": "'"$(iso_in 3600)"'"}'
refused 400 "destruction_time is required" '{"schedule_name": "a"}'
refused 400 "Invalid destruction_time format: friday" '{"schedule_name": "a", "destruction_time": "friday"}'
refused 400 "destruction_time must be in the future" '{"schedule_name": "a", "destruction_time": "2020-01-01T00:00:00Z"}'
refused 400 "Invalid recurrence_rule: only FREQ=DAILY or FREQ=WEEKLY" \
    '{"schedule_name": "a", "destruction_time": "'"$(iso_in 3600)"'", "recurrence_rule": "FREQ=HOURLY"}'
refused 400 "Request body must be a JSON object." '[1]'
code=$(sched '{"schedule_name": "friday class", "destruction_time": "'"$(iso_in 7200)"'", "recurrence_rule": "FREQ=WEEKLY;BYDAY=FR", "notification_enabled": true}')
[ "$code" = 200 ] && grep -q '"success":true,"schedule_id":[0-9]*,"message":"Scheduled destruction created successfully"' "$T/s.out" \
    || fail "create: $code $(cat "$T/s.out")"
sid=$(sed -n 's/.*"schedule_id":\([0-9]*\).*/\1/p' "$T/s.out")
refused 409 "A schedule named 'friday class' already exists" '{"schedule_name": "friday class", "destruction_time": "'"$(iso_in 9000)"'"}'
[ "$(http_status -X POST -H 'Content-Type: application/json' -d '{}' "$url/api/schedule-destruction")" = 401 ] || fail "unauthenticated create"
list=$(curl -s "${auth[@]}" "$url/api/schedule-destruction")
grep -q '"success":true,"count":1,"schedules":\[{"id":'"$sid"',"schedule_name":"friday class"' <<<"$list" \
    && grep -q '"recurrence_rule":"FREQ=WEEKLY;BYDAY=FR"' <<<"$list" && grep -q '"status":"scheduled"' <<<"$list" \
    && grep -q '"notification_enabled":true' <<<"$list" || fail "list: $list"
curl -s "${auth[@]}" "$url/api/schedule-destruction?status=completed" | grep -q '"count":0' || fail "status filter"
[ "$(http_status "${auth[@]}" "$url/api/schedule-destruction?status=led")" = 400 ] || fail "bad status filter not 400"
curl -s "${auth[@]}" "$url/api/schedule-destruction?status=bogus" | grep -q 'Invalid status filter: bogus' || fail "filter message"
curl -s "${auth[@]}" "$url/api/schedule-destruction/$sid" | grep -q '"success":true,"schedule":{"id":'"$sid" || fail "get"
curl -s "${auth[@]}" "$url/api/schedule-destruction/999999" | grep -q '"success":false,"message":"Schedule not found"' || fail "get unknown"
[ "$(http_status "${auth[@]}" "$url/api/schedule-destruction/abc")" = 404 ] || fail "get abc"
end=$(curl -s "$url/api/class-end")
grep -q '"destroy_at":"20[0-9-]*T[0-9:]*Z","seconds_left":7[0-9][0-9][0-9]' <<<"$end" || fail "class end: $end"
curl -s -X DELETE "${auth[@]}" "$url/api/schedule-destruction/$sid" \
    | grep -q '"success":true,"message":"Scheduled destruction '"$sid"' cancelled successfully"' || fail "cancel"
code=$(curl -s -X DELETE "${auth[@]}" -o "$T/c.out" -w '%{http_code}' "$url/api/schedule-destruction/$sid")
[ "$code" = 400 ] && grep -q "Cannot cancel schedule with status 'cancelled'" "$T/c.out" || fail "cancel twice: $code $(cat "$T/c.out")"
[ "$(http_status -X DELETE "${auth[@]}" "$url/api/schedule-destruction/999999")" = 404 ] || fail "cancel unknown"
curl -s "$url/api/class-end" | grep -q '"destroy_at":null,"seconds_left":null' || fail "class end after cancel"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE action = 'DELETE /api/schedule-destruction/{}'")" -ge 2 ] || fail "cancel not audited"
pass "upstream's schedule API: 400 messages, 409 duplicate, 200 create/list/get/cancel, 404, status filter; audited"

# --- a teardown seconds away destroys the fleet ------------------------------------
launch_ok 2
code=$(sched '{"schedule_name": "end of lab", "destruction_time": "'"$(iso_in 3)"'"}')
[ "$code" = 200 ] || fail "schedule in 3 s: $code"
sid=$(sed -n 's/.*"schedule_id":\([0-9]*\).*/\1/p' "$T/s.out")
wait_sql "SELECT status FROM scheduled_destructions WHERE id = $sid" completed 60 "teardown seconds away"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] && [ "$(psqlc 'SELECT count(*) FROM vms')" = 0 ] || fail "fleet left after the teardown"
[ ! -d "$vms_dir/lablink-vm-test-1" ] || fail "local VM left running"
[ "$(psqlc "SELECT created_by FROM operations WHERE kind = 'destroy' ORDER BY id DESC LIMIT 1")" = "schedule:end of lab" ] \
    || fail "operation not made by the schedule"
psqlc "SELECT execution_count, last_execution_result FROM scheduled_destructions WHERE id = $sid" | grep -q '^1|operation [0-9]* succeeded$' \
    || fail "result: $(psqlc "SELECT * FROM scheduled_destructions WHERE id = $sid")"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE actor = 'auto' AND action = 'schedule-destroy' AND target = 'end of lab'")" = 2 ] \
    || fail "teardown not audited (started + ended)"
pass "a schedule 3 s away: the fleet is destroyed by one operation, the schedule completed with its result, audited"

# --- a recurrence moves on; a schedule survives a restart ---------------------------
launch_ok 1
code=$(sched '{"schedule_name": "daily", "destruction_time": "'"$(iso_in 4)"'", "recurrence_rule": "FREQ=DAILY"}')
[ "$code" = 200 ] || fail "daily: $code"
daily=$(sed -n 's/.*"schedule_id":\([0-9]*\).*/\1/p' "$T/s.out")
first=$(psqlc "SELECT extract(epoch FROM destruction_time)::bigint FROM scheduled_destructions WHERE id = $daily")
stop_allocator_within 15
sleep 6   # due while no allocator runs
[ "$(psqlc "SELECT status FROM scheduled_destructions WHERE id = $daily")" = scheduled ] || fail "ran without an allocator?"
start_class ""
wait_sql "SELECT status || execution_count FROM scheduled_destructions WHERE id = $daily" scheduled1 60 "daily after a restart"
[ "$(psqlc "SELECT extract(epoch FROM destruction_time)::bigint - $first FROM scheduled_destructions WHERE id = $daily")" = 86400 ] \
    || fail "the next daily run is not one day later"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] || fail "the missed teardown did not run after the restart"
curl -s -X DELETE "${auth[@]}" -o /dev/null "$url/api/schedule-destruction/$daily"
pass "a teardown due while the allocator was down runs at its start; a daily one moves one day on"

# --- two allocators, one teardown -----------------------------------------------------
launch_ok 1
portB=$(ll_free_port)
cp "$T/config.yaml" "$T/configA.yaml"
start_class "" "$portB"
cp "$T/configA.yaml" "$T/config.yaml"
code=$(sched '{"schedule_name": "shared", "destruction_time": "'"$(iso_in 3)"'"}')
sid=$(sed -n 's/.*"schedule_id":\([0-9]*\).*/\1/p' "$T/s.out")
wait_sql "SELECT status FROM scheduled_destructions WHERE id = $sid" completed 60 "shared teardown"
[ "$(psqlc "SELECT count(*) FROM operations WHERE created_by = 'schedule:shared'")" = 1 ] || fail "two allocators ran it twice"
grep -q 'this allocator runs the schedules' "$T/allocatorB.log" && fail "allocator B leads too"
kill -TERM "$pidB"; wait "$pidB" || fail "allocator B did not stop cleanly"
pidB=
pass "two allocators on one database: one leads, the teardown runs once"

# --- schedule.destroy_at from the config; dashboard and gauges --------------------
stop_allocator_within 15
at=$(iso_in 5400)
start_class "schedule:
  destroy_at: $at"
wait_sql "SELECT count(*) FROM scheduled_destructions WHERE schedule_name = 'config: schedule.destroy_at' AND status = 'scheduled' AND destruction_time = '$at'" \
    1 10 "schedule.destroy_at not scheduled"
dash=$(curl -s "${auth[@]}" "$url/api/dashboard")
grep -q '"counts":{"starting":0,"free":0' <<<"$dash" && grep -q '"schedule":{"id":[0-9]*,"name":"config: schedule.destroy_at","at":"'"$at"'","seconds_left":5[0-9][0-9][0-9]' <<<"$dash" \
    && grep -q '"budget":{.*"state":"off"' <<<"$dash" || fail "dashboard: $dash"
curl -s -N --max-time 3 "${auth[@]}" "$url/api/dashboard/events" >"$T/dash.sse" || true
grep -q '^event: dashboard' "$T/dash.sse" && grep -q '^data: {"counts"' "$T/dash.sse" || fail "dashboard events: $(head -c 300 "$T/dash.sse")"
metrics=$(curl -s "$url/metrics")
grep -q '^lablink_fleet_vms{state="free"} 0$' <<<"$metrics" && grep -q '^lablink_schedule_seconds_left 5[0-9][0-9][0-9]$' <<<"$metrics" \
    && grep -q '^lablink_fleet_cost_usd ' <<<"$metrics" || fail "gauges: $(grep lablink_fleet <<<"$metrics")"
pass "schedule.destroy_at in the config is scheduled; /api/dashboard, its event stream and /metrics show the same figures"

# --- the budget refuses a launch; idle release ------------------------------------------
stop_allocator_within 15
start_class "machine:
  hourly_usd: 0.5
budget:
  max_vm_hours: 1.5
idle:
  release_after_s: 2"
launch_ok 1
code=$(launch_json 1)
[ "$code" = 409 ] && grep -q 'The launch would exceed the budget: about 2.0 VM-hours by an hour from now, over the limit of 1.5 (budget.max_vm_hours)' "$T/launch.out" \
    || fail "budget: $code $(cat "$T/launch.out")"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 1 ] || fail "a refused launch touched the fleet"
dash=$(curl -s "${auth[@]}" "$url/api/dashboard")
grep -q '"cost":{"estimate":true,"hourly_usd":0.5' <<<"$dash" && grep -q '"per_hour_usd":0.5' <<<"$dash" || fail "cost: $dash"
wait_sql "SELECT status FROM vms" running 30 "VM running"
code=$(curl -s -H 'Accept: application/json' --data-urlencode email=idle@example.com \
    --data-urlencode 'crd_command=--code=4/idle' -o "$T/claim.out" -w '%{http_code}' "$url/api/request_vm")
[ "$code" = 200 ] || fail "claim: $code $(cat "$T/claim.out")"
wait_sql "SELECT count(*) FROM vms WHERE user_email IS NOT NULL" 0 40 "idle release"
[ "$(psqlc "SELECT count(*) FROM audit_log WHERE actor = 'auto' AND action = 'idle-release'")" = 1 ] || fail "idle release not audited"
curl -s "${auth[@]}" "$url/api/dashboard" | grep -q '"action":"idle-release"' || fail "idle release not on the dashboard"
pass "budget: a launch past max_vm_hours is refused (409, fleet untouched); idle.release_after_s releases an unused VM, audited and shown"

code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/d.out" -w '%{http_code}' "$url/destroy")
wait_op "$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/d.out")" 60 >/dev/null
stop_allocator_within 15
echo "7 passed, 0 failed"
