# Shared helpers for integration scripts (sourced; run under tests/harness/run-test).
set -euo pipefail
BIN=${LABLINK_BUILD_DIR:?}/lablink-allocator
SRC=${LABLINK_SOURCE_DIR:?}
T=${LABLINK_TEST_DIR:?}
. "$SRC/tests/harness/pg.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# Write a config for the test's PostgreSQL into $T/config.yaml.
write_config() {
    local port=$1
    cat >"$T/config.yaml" <<YAML
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
}

# start_allocator PORT: starts it in the background, sets ALLOC_PID.
start_allocator() {
    local port=$1
    write_config "$port"
    "$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/metrics" \
            && { wait_started "http://127.0.0.1:$port"; return 0; }
        kill -0 "$ALLOC_PID" 2>/dev/null || { cat "$T/allocator.log" >&2; fail "allocator died"; }
        sleep 0.1
    done
    cat "$T/allocator.log" >&2
    fail "allocator did not listen on $port"
}

# http_status URL: prints the status code
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }

# wait_status CODE SECONDS URL: waits until URL answers CODE
wait_status() {
    local want=$1 seconds=$2 url=$3 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$seconds" ]; do
        [ "$(http_status "$url")" = "$want" ] && return 0
        sleep 0.2
    done
    return 1
}

# wait_healthy SECONDS URL: waits until URL/api/health says "healthy". An
# allocator answers 200 "starting" as soon as it listens, before main's
# migrations and the actors' first connections have ended (docs/api.md)
wait_healthy() {
    local seconds=$1 url=$2 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$seconds" ]; do
        curl -s --max-time 10 "$url/api/health" | grep -q '"status": *"healthy"' && return 0
        sleep 0.2
    done
    return 1
}

# wait_started URL: waits (at most 30 s) until URL/api/health no longer says
# "starting": the migrations are done, every actor has tried to connect.
# Not a failure when it still does: a test may start with the database away
wait_started() {
    local url=$1 t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
        curl -s --max-time 10 "$url/api/health" | grep -q '"status": *"starting"' || return 0
        sleep 0.1
    done
    return 0
}

# stop_allocator: SIGTERM, must exit 0 within 5 s
stop_allocator() {
    kill -TERM "$ALLOC_PID"
    local t0=$SECONDS
    while kill -0 "$ALLOC_PID" 2>/dev/null; do
        [ $((SECONDS - t0)) -ge 5 ] && fail "allocator still running 5 s after SIGTERM"
        sleep 0.1
    done
    local rc=0
    wait "$ALLOC_PID" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$T/allocator.log" >&2; fail "allocator exited $rc after SIGTERM"; }
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer\|runtime error:' "$T/allocator.log"; then
        cat "$T/allocator.log" >&2
        fail "sanitizer report in the allocator's log"
    fi
}
