# /metrics as Prometheus expects it: a live scrape after real traffic
# (claims, a parked poll woken by a claim and acknowledged, startup timings,
# a destroy operation) passes `promtool check metrics`; the families the
# operations guide promises are there with their labels (HTTP duration
# histograms by route, claim and delivery latency, startup phases,
# operations, fleet gauges by status, build info, process_*, {actor});
# the alert rules and the Grafana dashboard of packaging/ check out against
# it. Also the JSON log format and the access log of each request.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
command -v promtool >/dev/null || fail "promtool missing (scripts/install-deps: LABLINK_DEPS=ops)"
command -v terraform >/dev/null || fail "terraform is not installed (TESTING.md)"
export CHECKPOINT_DISABLE=1

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)
mkdir -p "$T/work"
# run_allocator NAME [app keys...]: an allocator with this config in
# $T/NAME.yaml (log in $T/NAME.log), stopped by claim_stop NAME
run_allocator() {
    local name=$1 line
    shift
    claim_config "$T/$name.yaml" "$port" \
        "  terraform_dir: $SRC/terraform/local" "  work_dir: $T/work" \
        "agent:" "  long_poll_s: 20" \
        "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
    for line in "$@"; do sed -i "/^app:/a\\$line" "$T/$name.yaml"; done
    "$BIN" --config "$T/$name.yaml" >"$T/$name.log" 2>&1 &
    eval "PID_$name=$!"
    wait_healthy 20 "$url" || { cat "$T/$name.log" >&2; fail "allocator $name not healthy"; }
}
run_allocator a "  log_format: json"

# --- traffic -------------------------------------------------------------
# an operation first (destroy removes every VM row): the empty fleet
op=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST "$url/destroy")
id=$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' <<<"$op")
[ -n "$id" ] || fail "destroy: $op"
for _ in $(seq 1 300); do
    st=$(curl -s "${auth[@]}" "$url/api/operations/$id" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
    [ "$st" = succeeded ] || [ "$st" = failed ] && break
    sleep 0.2
done
expect "destroy operation" succeeded "$st"
tok=$(vm_token "$url" mvm-1)
post() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -d "$2" "$url$1"; }
expect "status running" 200 "$(post /api/vm-status '{"hostname":"mvm-1","status":"running"}')"
now=$(date +%s)
expect "vm metrics" 200 "$(post /api/vm-metrics/mvm-1 "{\"cloud_init_start\":$((now - 90)),\"cloud_init_end\":$((now - 30)),\"container_start\":$((now - 20)),\"container_end\":$((now - 5))}")"
# a parked poll, woken by a claim, acknowledged: one delivery
curl -s -o "$T/poll.out" -H "Authorization: Bearer $tok" -d '{"hostname":"mvm-1"}' --max-time 25 "$url/vm_startup" &
poller=$!
for _ in $(seq 1 50); do
    [ "$(sql "SELECT count(*) FROM vms WHERE hostname='mvm-1' AND last_seen_at > now() - interval '1 minute'")" = 1 ] && break
    sleep 0.1
done
sleep 0.5
out=$(claim_json "$url" student@example.com '--code=4/metrics')
expect "claim" 200 "${out##* }"
wait "$poller" || fail "the parked poll did not end with the assignment"
grep -q '"status":"success"' "$T/poll.out" || fail "poll: $(cat "$T/poll.out")"
expect "result" 200 "$(post /api/vm-startup-result '{"hostname":"mvm-1","success":true}')"
out=$(claim_json "$url" second@example.com '--code=4/none')
expect "no free VM" 503 "${out##* }"
expect "bad claim" 400 "$(curl -s -o /dev/null -w '%{http_code}' -d 'email=x' "$url/api/request_vm")"
# the fleet's scheduled end, as the scheduled destruction records it
sql "INSERT INTO settings (key, value) VALUES ('fleet_scheduled_end', '1900000000')
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value" >/dev/null
curl -s -o /dev/null "$url/api/health"
pass "traffic: a claim delivered and acknowledged, a refused claim, startup timings, a destroy"

# --- the scrape ------------------------------------------------------------
curl -s -D "$T/headers" -o "$T/metrics" "$url/metrics"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/headers" || fail "content type: $(cat "$T/headers")"
lint=$(promtool check metrics <"$T/metrics" 2>&1) || fail "promtool check metrics: $lint"
[ -z "$lint" ] || fail "promtool check metrics: $lint"
pass "promtool check metrics accepts a live scrape ($(grep -vc '^#' "$T/metrics") series)"

# value NAME{LABELS}: the sample's value ('' when absent)
value() { awk -v s="$1" '$1 == s { print $2 }' "$T/metrics"; }
has() { [ -n "$(value "$1")" ] || fail "no series $1"; }
atleast() { awk -v v="$(value "$1")" -v m="$2" 'BEGIN { exit !(v != "" && v + 0 >= m) }' || fail "$1 = '$(value "$1")', want >= $2"; }
commit=$("$LABLINK_BUILD_DIR/lablink-allocator" --version | sed 's/.*(commit \(.*\))/\1/')
has "lablink_build_info{version=\"$("$LABLINK_BUILD_DIR/lablink-allocator" --version | cut -d' ' -f2)\",commit=\"$commit\"}"
for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
         process_open_fds process_max_fds process_start_time_seconds; do
    has "$m"
done
start=$(value process_start_time_seconds)
awk -v s="$start" -v n="$(date +%s)" 'BEGIN { exit !(s > n - 600 && s <= n + 1) }' || fail "process_start_time_seconds $start"
atleast 'lablink_http_request_duration_seconds_count{method="GET",route="/api/health"}' 1
has 'lablink_http_request_duration_seconds_bucket{method="POST",route="/vm_startup",le="+Inf"}'
atleast 'lablink_http_requests_total{method="POST",route="/api/request_vm",status="200"}' 1
atleast 'lablink_claims_total{outcome="assigned"}' 1
atleast 'lablink_claims_total{outcome="no_vm"}' 1
atleast 'lablink_claims_total{outcome="rejected"}' 1
atleast 'lablink_claim_duration_seconds_count' 3
expect "deliveries acknowledged by the agent" 1 "$(value 'lablink_delivery_duration_seconds_count{via="agent"}')"
expect "cloud-init phase" 1 "$(value 'lablink_vm_startup_phase_duration_seconds_count{phase="cloud_init"}')"
expect "container phase" 1 "$(value 'lablink_vm_startup_phase_duration_seconds_count{phase="container"}')"
awk -v s="$(value 'lablink_vm_startup_phase_duration_seconds_sum{phase="cloud_init"}')" 'BEGIN { exit !(s == 60) }' \
    || fail "cloud-init phase sum: $(value 'lablink_vm_startup_phase_duration_seconds_sum{phase="cloud_init"}')"
expect "destroy operations" 1 "$(value 'lablink_operations_total{kind="destroy",outcome="succeeded"}')"
expect "destroy durations" 1 "$(value 'lablink_operation_duration_seconds_count{kind="destroy"}')"
expect "running VMs" 1 "$(value 'lablink_vms{status="running"}')"
expect "assigned VMs" 1 "$(value lablink_vms_assigned)"
expect "free VMs" 0 "$(value lablink_vms_free)"
expect "database up" 1 "$(value lablink_database_up)"
expect "scheduled end" 1900000000 "$(value lablink_fleet_scheduled_end_timestamp_seconds)"
has 'lablink_actor_queue_depth{actor="registry"}'
atleast 'lablink_actor_calls_total{actor="assigner",outcome="ok"}' 1
grep -q 'endpoint=' "$T/metrics" && fail "an endpoint label is left: $(grep -m1 'endpoint=' "$T/metrics")"
pass "families and labels: build info, process_*, HTTP/claim/delivery/phase/operation histograms, fleet gauges, {actor}"

# --- packaging/: alert rules and dashboard ---------------------------------
P=$SRC/packaging
out=$(promtool check rules "$P/prometheus/lablink-alerts.yml" 2>&1) || fail "promtool check rules: $out"
out=$(cd "$P/prometheus" && promtool test rules lablink-alerts.test.yml 2>&1) || fail "promtool test rules: $out"
names=$(grep -o '^[a-z_]*' "$T/metrics" | sort -u)
family_known() {
    local f=$1
    grep -qx "$f" <<<"$names" && return 0
    grep -qx "${f}_bucket" <<<"$names" && return 0   # a histogram's family
    return 1
}
for m in $(grep -o 'lablink_[a-z_]*\|process_[a-z_]*' "$P/prometheus/lablink-alerts.yml" | sort -u); do
    family_known "$m" || fail "the alert rules use $m, which /metrics does not export"
done
jq -e '.panels | length > 10' "$P/grafana/lablink-dashboard.json" >/dev/null || fail "dashboard JSON"
# Each panel query parses as PromQL (as a recording rule) and names only
# series this allocator exports
{
    echo "groups:"; echo "  - name: dashboard"; echo "    rules:"
    jq -r '.panels[].targets[].expr' "$P/grafana/lablink-dashboard.json" | sed 's/\$[a-z]*/.*/g' \
        | awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "      - record: dashboard:q%d\n        expr: \"%s\"\n", NR, $0 }'
} >"$T/dashboard-rules.yml"
out=$(promtool check rules "$T/dashboard-rules.yml" 2>&1) || fail "dashboard queries do not parse: $out"
for m in $(jq -r '.panels[].targets[].expr' "$P/grafana/lablink-dashboard.json" \
        | grep -o 'lablink_[a-z_]*\|process_[a-z_]*' | sed 's/_bucket$\|_sum$\|_count$//' | sort -u); do
    family_known "$m" || fail "the dashboard uses $m, which /metrics does not export"
done
pass "alert rules pass promtool check/test rules; every rule and panel names an exported series"

# --- logs: JSON lines, an access line per request --------------------------
grep -v '^{' "$T/a.log" | grep -v '^\s*$' | head -3 | grep -q . && fail "non-JSON lines with log_format json: $(grep -v '^{' "$T/a.log" | head -3)"
jq -e -s 'length > 10 and all(.[]; has("time") and has("level") and has("actor") and has("message") and has("fields"))' "$T/a.log" >/dev/null \
    || fail "log lines lack time/level/actor/message/fields"
line=$(jq -c 'select(.message == "access" and .fields.route == "/api/request_vm" and .fields.status == 503)' "$T/a.log" | head -1)
[ -n "$line" ] || fail "no access line for the refused claim"
jq -e '.actor == "http" and .level == "info" and .fields.method == "POST" and .fields.client == "127.0.0.1"
       and (.fields.duration_ms | type == "number") and (.fields.request_id | test("^[0-9a-f]{16}$"))' <<<"$line" >/dev/null \
    || fail "access line: $line"
jq -e -s 'any(.[]; .message == "access" and .fields.route == "/api/vm-startup-result" and .fields.hostname == "mvm-1")' "$T/a.log" >/dev/null \
    || fail "the access line of an agent route does not name its VM"
curl -s -o /dev/null -H 'X-Request-Id: trace-42.a' "$url/api/unassigned_vms_count"
sleep 0.2
jq -e -s 'any(.[]; .fields.request_id == "trace-42.a" and .fields.route == "/api/unassigned_vms_count")' "$T/a.log" >/dev/null \
    || fail "the proxy's X-Request-Id is not the request id"
grep -q 'test-admin-password\|4/metrics' "$T/a.log" && fail "a secret in the log"
jq -e -s 'any(.[]; .actor == "terraform" and (.fields.operation_id | test("^[0-9]+$")))' "$T/a.log" >/dev/null \
    || fail "the terraform actor's lines do not name their operation"
pass "JSON log lines (time, level, actor, message, fields: request_id, hostname, operation_id), one access line per request"
claim_stop a

# access_log off, text format: no access lines
run_allocator b "  access_log: false"
curl -s -o /dev/null "$url/api/health"
sleep 0.2
grep -q 'http: access' "$T/b.log" && fail "access lines with app.access_log: false"
grep -q '^[0-9T:.-]*Z info  allocator: ready' "$T/b.log" || fail "text format: $(head -3 "$T/b.log")"
claim_stop b
pass "app.access_log: false turns the access lines off"
echo "6 passed, 0 failed"
