# Helpers for the claim-and-connect tests (sourced after lib.sh).
BENCH=${LABLINK_BUILD_DIR:?}/lablink-bench

# claim_config FILE PORT [extra yaml lines...]: a config for this test's
# PostgreSQL listening on PORT.
claim_config() {
    local file=$1 port=$2
    shift 2
    {
        cat <<YAML
db:
  host: 127.0.0.1
  port: ${LABLINK_DB_PORT:-5432}
  table_name: vms
app:
  admin_user: admin
  admin_password: test-admin-password
  listen: 127.0.0.1:$port
provider:
  kind: local
YAML
        for line in "$@"; do echo "$line"; done
    } >"$file"
}

# claim_start NAME PORT [extra yaml...]: start an allocator; its pid in
# PID_<NAME>, log in $T/NAME.log, config in $T/NAME.yaml.
claim_start() {
    local name=$1 port=$2
    shift 2
    claim_config "$T/$name.yaml" "$port" "$@"
    "$BIN" --config "$T/$name.yaml" >"$T/$name.log" 2>&1 &
    local pid=$!
    eval "PID_$name=$pid"
    for _ in $(seq 1 150); do
        grep -q 'allocator: ready' "$T/$name.log" \
            && { wait_started "http://127.0.0.1:$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { cat "$T/$name.log" >&2; fail "allocator $name died"; }
        sleep 0.1
    done
    cat "$T/$name.log" >&2
    fail "allocator $name not ready"
}

# claim_stop NAME: SIGTERM, exit 0 within 5 s, no sanitizer report.
claim_stop() {
    local name=$1 pid
    eval "pid=\$PID_$name"
    kill -TERM "$pid"
    local rc=0
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "allocator $name still running 5 s after SIGTERM"
    wait "$pid" || rc=$?
    [ $rc -eq 0 ] || { cat "$T/$name.log" >&2; fail "allocator $name exited $rc"; }
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer\|runtime error:' "$T/$name.log"; then
        cat "$T/$name.log" >&2
        fail "sanitizer report in $name's log"
    fi
}

# seed_vms PREFIX COUNT: running, fresh, free VMs PREFIX-1..COUNT whose
# clients wait for an assignment (as if each had just polled /vm_startup)
seed_vms() {
    psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, status, last_seen_at, last_polled_at)
        SELECT '$1-' || g, 'running', now(), now() FROM generate_series(1, $2) g"
}

# clients_wait: every free VM's client waits for an assignment again (as
# if each had polled /vm_startup just now): for tests that seed VMs and
# claim longer than the poll window (agent.long_poll_s + 20 s) later
clients_wait() {
    psql -q -v ON_ERROR_STOP=1 -c "UPDATE vms SET last_polled_at = now() WHERE user_email IS NULL"
}

# token HOST [CONFIG]: the agent token of HOST (never printed by tests)
token() { "$BIN" --agent-token "$1" --config "${2:-$T/a.yaml}"; }

# sql QUERY: one value
sql() { psql -qtA -v ON_ERROR_STOP=1 -c "$1"; }

# expect WHAT WANT GOT
expect() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; }

# claim_json URL EMAIL CODE [curl args...]: prints "body status" (JSON mode)
claim_json() {
    local url=$1 email=$2 crd=$3
    shift 3
    curl -s -H 'Accept: application/json' -w ' %{http_code}' --max-time 15 \
        --data-urlencode "email=$email" --data-urlencode "crd_command=$crd" "$@" "$url/api/request_vm"
}

# recovery_of "BODY STATUS": the recovery code of a JSON claim answer
recovery_of() { sed -n 's/.*"recovery_code":"\([^"]*\)".*/\1/p' <<<"$1"; }

# Background jobs (agents, allocators) never outlive the test.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

# pass with the seconds since the test began (slow steps show up)
pass() { echo "ok - $* (at ${SECONDS}s)"; }
