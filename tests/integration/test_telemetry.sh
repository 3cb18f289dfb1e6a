# Telemetry routes from outside (reference 2.4, 2.6, 10.1): VM status,
# GPU health, in-use, heartbeat, startup metrics, the metrics export;
# success and error cases, token scoping, liveness (stale), coalesced
# writes under concurrency, a database failure answered 500.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
start_allocator "$port"
# A well-formed token for a VM the allocator never launched nor registered
TG="ghost.$(openssl rand -hex 32)"
ADMIN=(-u admin:test-admin-password)
n=0

# call EXPECTED_STATUS EXPECTED_BODY_SUBSTRING curl-args...
call() {
    local want=$1 text=$2
    shift 2
    local out
    out=$(curl -s --max-time 20 -w '\n%{http_code}' "$@")
    local code=${out##*$'\n'} body=${out%$'\n'*}
    [ "$code" = "$want" ] || fail "$* -> $code (wanted $want): $body"
    case "$body" in *"$text"*) ;; *) fail "$* -> body lacks '$text': $body" ;; esac
    n=$((n + 1))
    LAST_BODY=$body
}
# pc EXPECTED_STATUS EXPECTED_TEXT TOKEN PATH JSON: an agent's POST
pc() {
    call "$1" "$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        -X POST -d "$5" "$url$4"
}
q() { psql -Atqc "$1"; }

# --- GET /api/vm-status with no VMs: 404 ---
call 404 '"No VMs found."' "${ADMIN[@]}" "$url/api/vm-status"

# --- the VMs exist because the admin registered them (bring your own VM) ---
T1=$(vm_token "$url" vm-1)
T2=$(vm_token "$url" vm-2)
[ "$(q "SELECT count(*) FROM vms WHERE hostname IN ('vm-1', 'vm-2') AND status IS NULL")" = 2 ] \
    || fail "registration did not make the rows"
call 401 'Unauthorized' -X POST "$url/api/vms/byo-1/register"
call 400 '"Invalid hostname."' "${ADMIN[@]}" -X POST "$url/api/vms/_lambda/register"
call 201 '"hostname":"byo-1","token":"byo-1.' "${ADMIN[@]}" -X POST "$url/api/vms/byo-1/register"
call 200 '"token":"byo-1.' "${ADMIN[@]}" -X POST "$url/api/vms/byo-1/register"
[ "$(q "SELECT count(*) FROM audit_log WHERE action = 'POST /api/vms/{}/register' AND target = 'byo-1' AND outcome = 'success'")" = 2 ] \
    || fail "registration not audited"
q "INSERT INTO fleet (hostname, ordinal, state) VALUES ('lablink-vm-t-7', 7, 'active')" >/dev/null
call 409 'managed by terraform' "${ADMIN[@]}" -X POST "$url/api/vms/lablink-vm-t-7/register"
[ "$(q "SELECT count(*) FROM vms WHERE hostname = 'lablink-vm-t-7'")" = 0 ] || fail "a refused registration made a row"
q "DELETE FROM fleet; DELETE FROM vms WHERE hostname = 'byo-1'" >/dev/null
pass "POST /api/vms/<h>/register: admin only, 201 new / 200 again, audited, 409 for a fleet name (no row)"

# --- POST /api/vm-status ---
pc 200 '"message":"VM status updated successfully."' "$T1" /api/vm-status '{"hostname":"vm-1","status":"initializing"}'
[ "$(q "SELECT status FROM vms WHERE hostname='vm-1'")" = initializing ] || fail "status not stored"
pc 200 'successfully' "$T1" /api/vm-status '{"hostname":"vm-1","status":"running"}'
pc 200 'successfully' "$T2" /api/vm-status '{"hostname":"vm-2","status":"running"}'
pc 400 '"Hostname and status are required."' "$T1" /api/vm-status '{"status":"running"}'
pc 400 '"Hostname and status are required."' "$T1" /api/vm-status '{"hostname":"vm-1","status":null}'
pc 400 'Invalid status' "$T1" /api/vm-status '{"hostname":"vm-1","status":"dancing"}'
[ "$(q "SELECT status FROM vms WHERE hostname='vm-1'")" = running ] || fail "invalid status changed the row"
pc 400 'JSON object' "$T1" /api/vm-status 'not json'
call 401 '"Missing or invalid Authorization header."' -X POST -d '{"hostname":"vm-1","status":"running"}' "$url/api/vm-status"
call 401 '"Missing or invalid Authorization header."' -u admin:test-admin-password -X POST -d '{"hostname":"vm-1","status":"running"}' "$url/api/vm-status"
pc 401 '"Invalid API token."' "vm-1.0000" /api/vm-status '{"hostname":"vm-1","status":"running"}'
pc 403 'another VM' "$T2" /api/vm-status '{"hostname":"vm-1","status":"error"}'
[ "$(q "SELECT status FROM vms WHERE hostname='vm-1'")" = running ] || fail "another VM's token changed the row"
pass "POST /api/vm-status: 200, 400 missing/invalid, 401, 403 another VM's token"

# --- GET /api/vm-status, /api/vm-status/<h> ---
call 200 '"vm-1":"running"' "${ADMIN[@]}" "$url/api/vm-status"
grep -q '"vm-2":"running"' <<<"$LAST_BODY" || fail "map lacks vm-2"
call 401 'Unauthorized' "$url/api/vm-status"
call 200 '"hostname":"vm-1","status":"running","stale":false' -H "Authorization: Bearer $T1" "$url/api/vm-status/vm-1"
call 200 '"status":"running"' "${ADMIN[@]}" "$url/api/vm-status/vm-2"
call 403 'another VM' -H "Authorization: Bearer $T2" "$url/api/vm-status/vm-1"
call 404 '"VM not found."' -H "Authorization: Bearer $TG" "$url/api/vm-status/ghost"
call 401 'Missing' "$url/api/vm-status/vm-1"
pass "GET /api/vm-status (map, 404 empty) and /api/vm-status/<h> (200, 403, 404)"

# --- POST /api/gpu_health ---
pc 200 '"GPU health status updated successfully."' "$T1" /api/gpu_health '{"hostname":"vm-1","gpu_status":"Unhealthy"}'
[ "$(q "SELECT gpu_health FROM vms WHERE hostname='vm-1'")" = Unhealthy ] || fail "gpu not stored"
pc 400 '"GPU status and hostname are required."' "$T1" /api/gpu_health '{"hostname":"vm-1"}'
pc 400 '"GPU status and hostname are required."' "$T1" /api/gpu_health '{"gpu_status":"Healthy"}'
pc 400 'Invalid GPU status' "$T1" /api/gpu_health '{"hostname":"vm-1","gpu_status":"Great"}'
pc 404 '"VM not found."' "$TG" /api/gpu_health '{"hostname":"ghost","gpu_status":"Healthy"}'
pc 403 'another VM' "$T2" /api/gpu_health '{"hostname":"vm-1","gpu_status":"Healthy"}'
pass "POST /api/gpu_health: 200, 400, 404, 403"

# --- POST /api/update_inuse_status ---
pc 200 '"In-use status updated successfully."' "$T1" /api/update_inuse_status '{"hostname":"vm-1","status":true}'
[ "$(q "SELECT in_use FROM vms WHERE hostname='vm-1'")" = t ] || fail "in_use not stored"
pc 400 '"Hostname is required."' "$T1" /api/update_inuse_status '{"status":true}'
pc 400 'true or false' "$T1" /api/update_inuse_status '{"hostname":"vm-1","status":"yes"}'
pc 404 'VM not found' "$TG" /api/update_inuse_status '{"hostname":"ghost","status":false}'
pass "POST /api/update_inuse_status: 200, 400, 404"

# --- POST /api/heartbeat ---
q "UPDATE vms SET last_seen_at = NULL WHERE hostname = 'vm-1'"
pc 200 '"ok":true' "$T1" /api/heartbeat '{"vm_id":"vm-1","boot_id":"b-1","timestamp":"2026-01-01T00:00:00Z","crd_active":true,"disk_free_pct":42}'
[ "$(q "SELECT boot_id||' '||crd_active||' '||disk_free_pct||' '||(last_seen_at > now() - interval '1 minute') FROM vms WHERE hostname='vm-1'")" = "b-1 true 42 true" ] \
    || fail "heartbeat not stored: $(q "SELECT boot_id, crd_active, disk_free_pct, last_seen_at FROM vms WHERE hostname='vm-1'")"
pc 200 '"ok":true' "$T1" /api/heartbeat '{"vm_id":"vm-1","boot_id":null,"timestamp":null,"crd_active":null,"disk_free_pct":null}'
[ "$(q "SELECT coalesce(boot_id,'-')||coalesce(crd_active::text,'-') FROM vms WHERE hostname='vm-1'")" = "--" ] || fail "nullable heartbeat fields"
pc 400 '"vm_id is required."' "$T1" /api/heartbeat '{"boot_id":"x"}'
pc 404 '"VM not found."' "$TG" /api/heartbeat '{"vm_id":"ghost"}'
pc 400 'disk_free_pct' "$T1" /api/heartbeat '{"vm_id":"vm-1","disk_free_pct":101}'
pc 400 'crd_active' "$T1" /api/heartbeat '{"vm_id":"vm-1","crd_active":"yes"}'
call 401 'Missing' -X POST -d '{"vm_id":"vm-1"}' "$url/api/heartbeat"
pc 403 'another VM' "$T2" /api/heartbeat '{"vm_id":"vm-1"}'
pass "POST /api/heartbeat: 200 (nullable fields), 400, 404 unknown, 401, 403"

# --- POST /api/vm-metrics/<h> ---
pc 200 '"VM metrics posted successfully."' "$T1" /api/vm-metrics/vm-1 '{"cloud_init_start":1700000000,"cloud_init_end":1700000100,"cloud_init_duration_seconds":100}'
# the misspelled older container keys, and a duration computed from them
pc 200 'successfully' "$T1" /api/vm-metrics/vm-1 '{"container_start_time":1700000100,"container_end_time":"1700000130.5"}'
[ "$(q "SELECT cloud_init_duration_seconds||' '||container_duration_seconds||' '||coalesce(total_startup_seconds::text,'null') FROM vms WHERE hostname='vm-1'")" = "100 30.5 null" ] \
    || fail "metrics: $(q "SELECT cloud_init_duration_seconds, container_duration_seconds, total_startup_seconds FROM vms WHERE hostname='vm-1'")"
[ "$(q "SELECT extract(epoch FROM container_start_time)::bigint FROM vms WHERE hostname='vm-1'")" = 1700000100 ] || fail "container_start_time key"
q "UPDATE vms SET terraform_duration_seconds = 20 WHERE hostname = 'vm-1'"
[ "$(q "SELECT total_startup_seconds FROM vms WHERE hostname='vm-1'")" = 150.5 ] || fail "total is not the sum"
pc 200 'successfully' "$T1" /api/vm-metrics/vm-1 '{"container_start":1700000200,"container_end":1700000210,"container_startup_duration_seconds":10}'
[ "$(q "SELECT total_startup_seconds FROM vms WHERE hostname='vm-1'")" = 130 ] || fail "total not recomputed"
pc 404 '"VM not found."' "$TG" /api/vm-metrics/ghost '{"cloud_init_start":1700000000}'
pc 400 'cloud_init_start' "$T1" /api/vm-metrics/vm-1 '{"cloud_init_start":"soon"}'
pc 400 'cloud_init_duration_seconds' "$T1" /api/vm-metrics/vm-1 '{"cloud_init_duration_seconds":-5}'
pc 400 'before its start' "$T1" /api/vm-metrics/vm-1 '{"cloud_init_start":1700000100,"cloud_init_end":1700000000}'
pc 400 'No metrics provided.' "$T1" /api/vm-metrics/vm-1 '{"colour":"blue"}'
pc 403 'another VM' "$T2" /api/vm-metrics/vm-1 '{"cloud_init_start":1}'
pass "POST /api/vm-metrics: 200 (upstream and older keys), total generated, 404, 400, 403"

# --- GET /api/export-metrics ---
q "UPDATE vms SET crd_command = '--code=secret-code', pin = '123456', user_email = 'a@b.c' WHERE hostname = 'vm-2'"
call 200 '"count":2' "${ADMIN[@]}" "$url/api/export-metrics?format=json"
grep -q 'secret-code\|123456\|"pin"\|crd_command' <<<"$LAST_BODY" && fail "export leaks pin or crd_command"
grep -Eq '"cloud_init_start_time":"2023-11-14T22:13:20\+00:00"' <<<"$LAST_BODY" || fail "timestamps not ISO-8601: $LAST_BODY"
grep -q '"user_email":"a@b.c"' <<<"$LAST_BODY" || fail "export lacks columns"
# the default: upstream's keys (reference 2.6), so its scripts run unchanged
for fmt in "" "?format=upstream"; do
    call 200 '"count":2' "${ADMIN[@]}" "$url/api/export-metrics$fmt"
    grep -q 'secret-code\|123456\|"pin"\|crdcommand\|crd_command' <<<"$LAST_BODY" && fail "upstream export leaks pin or crd_command"
    keys=$(jq -c '.vms[0] | keys_unsorted' <<<"$LAST_BODY")
    [ "$keys" = '["hostname","useremail","inuse","healthy","status","terraformapplystarttime","terraformapplyendtime","terraformapplydurationseconds","cloudinitstarttime","cloudinitendtime","cloudinitdurationseconds","containerstarttime","containerendtime","containerstartupdurationseconds","totalstartupdurationseconds","createdat","last_seen_at","boot_id","crd_active","disk_free_pct","reboot_count","last_reboot_time"]' ] \
        || fail "upstream keys: $keys"
    [ "$(jq -r '.vms[] | select(.hostname == "vm-2") | .useremail' <<<"$LAST_BODY")" = a@b.c ] || fail "useremail: $LAST_BODY"
    jq -e 'any(.vms[]; .cloudinitstarttime == "2023-11-14T22:13:20+00:00")' <<<"$LAST_BODY" >/dev/null \
        || fail "cloudinitstarttime: $LAST_BODY"
done
call 400 'include_logs' "${ADMIN[@]}" "$url/api/export-metrics?include_logs=true"
call 200 '"count":2' "${ADMIN[@]}" "$url/api/export-metrics?include_logs=false"
call 200 'hostname,status,user_email' "${ADMIN[@]}" "$url/api/export-metrics?format=csv"
[ "$(printf '%s\n' "$LAST_BODY" | grep -c '^vm-')" = 2 ] || fail "csv rows: $LAST_BODY"
grep -q 'secret-code' <<<"$LAST_BODY" && fail "csv leaks the command"
call 400 'format' "${ADMIN[@]}" "$url/api/export-metrics?format=xml"
call 401 'Unauthorized' "$url/api/export-metrics"
call 401 'Unauthorized' -H "Authorization: Bearer $T1" "$url/api/export-metrics"
pass "GET /api/export-metrics: upstream's keys by default, ours with format=json, without pin/crd_command, ISO times, CSV, 401"

# --- liveness: silent longer than agent.stale_after_s = stale ---
q "UPDATE vms SET last_seen_at = now() - interval '1 hour' WHERE hostname = 'vm-2'"
call 200 '"stale":true' "${ADMIN[@]}" "$url/api/vm-status/vm-2"
call 200 '"stale":false' "${ADMIN[@]}" "$url/api/vm-status/vm-1"
call 200 '"stale":true' "${ADMIN[@]}" "$url/api/export-metrics?format=json"
# any authenticated agent call counts as a sign of life
call 200 '"stale":false' -H "Authorization: Bearer $T2" "$url/api/vm-status/vm-2"
call 200 '"stale":false' "${ADMIN[@]}" "$url/api/vm-status/vm-2"
pass "a silent VM is stale; its next authenticated call makes it live"

# --- coalesced writes: 16 VMs at once, every answer right ---
pids=()
for i in $(seq 10 25); do
    tok=$(vm_token "$url" "vm-$i")
    ( code=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -X POST \
          -d "{\"hostname\":\"vm-$i\",\"status\":\"running\"}" "$url/api/vm-status")
      code2=$(curl -s --max-time 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -X POST \
          -d "{\"vm_id\":\"vm-$i\",\"boot_id\":\"b$i\",\"disk_free_pct\":$i}" "$url/api/heartbeat")
      echo "$code $code2" >"$T/conc.$i" ) &
    pids+=($!)
done
wait "${pids[@]}"  #  not a bare wait: the allocator is a child too
[ "$(cat "$T"/conc.* | grep -c '^200 200$')" = 16 ] || fail "concurrent writes: $(cat "$T"/conc.* | sort | uniq -c)"
[ "$(q "SELECT count(*) FROM vms WHERE hostname LIKE 'vm-__' AND boot_id = 'b' || substr(hostname, 4) AND disk_free_pct::text = substr(hostname, 4)")" = 16 ] \
    || fail "concurrent heartbeats mixed up"
pass "16 concurrent agents: every write stored on its own row"

# --- a database failure is 500, never a false success ---
"$SRC/tests/harness/pg" stop
pc 500 '"Failed to update VM status."' "$T1" /api/vm-status '{"hostname":"vm-1","status":"running"}'
pc 500 '"Failed to update GPU health status."' "$T1" /api/gpu_health '{"hostname":"vm-1","gpu_status":"Healthy"}'
pc 500 '"Failed to update in-use status."' "$T1" /api/update_inuse_status '{"hostname":"vm-1","status":false}'
pc 500 '"Failed to record heartbeat."' "$T1" /api/heartbeat '{"vm_id":"vm-1"}'
pc 500 '"Failed to post VM metrics."' "$T1" /api/vm-metrics/vm-1 '{"cloud_init_start":1}'
call 500 '"Failed to get VM status."' "${ADMIN[@]}" "$url/api/vm-status"
call 500 '"Failed to get VM status."' "${ADMIN[@]}" "$url/api/vm-status/vm-1"
call 500 '"Failed to export metrics."' "${ADMIN[@]}" "$url/api/export-metrics"
"$SRC/tests/harness/pg" start
ok=0
for _ in $(seq 1 50); do
    [ "$(http_status -H "Authorization: Bearer $T1" -X POST -d '{"hostname":"vm-1","gpu_status":"Healthy"}' "$url/api/gpu_health")" = 200 ] && { ok=1; break; }
    sleep 0.2
done
[ $ok = 1 ] || fail "writes do not recover after PostgreSQL returns"
pass "database down: 500 with upstream's messages; writes recover by themselves"

# --- 10 MB body: 413 ---
head -c 10000000 /dev/zero | tr '\0' 'a' >"$T/big"
[ "$(http_status -H "Authorization: Bearer $T1" -X POST --data-binary @"$T/big" "$url/api/heartbeat")" = 413 ] || fail "10 MB body not 413"
pass "10 MB body: 413"

stop_allocator_within 15
echo "$n checks; 1 passed, 0 failed"
