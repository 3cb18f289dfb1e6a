# Agent tokens for integration scripts (sourced after lib.sh).
#
# vm_token URL HOSTNAME: registers HOSTNAME as a "bring your own VM" with
#   the admin's POST /api/vms/<hostname>/register (docs/api.md) and prints
#   the token its agent uses on the agent routes. The VM's row exists
#   because of this call (or of a real launch), never because a status
#   post made it. Each call hands out a fresh token and revokes the one
#   before: call it once per VM and keep the token. The admin credential is
#   $VM_TOKEN_ADMIN (default admin:test-admin-password, lib.sh's config).
#
# server_secret URL / agent_token SECRET SCOPE: the token of a service
#   scope (_lambda) derived from the server secret (runtime/token.h).
#   Hostnames get their tokens from vm_token only.
server_secret() {
    local url=$1 secret=""
    # a service token (forged) makes the allocator read or create it
    curl -s -o /dev/null -H "Authorization: Bearer _lambda.$(printf '0%.0s' $(seq 1 64))" \
        "$url/api/vm-status/nobody" || true
    for _ in $(seq 1 50); do
        secret=$(psql -Atqc "SELECT value FROM settings WHERE key = 'server_secret'" 2>/dev/null || true)
        [ -n "$secret" ] && break
        sleep 0.1
    done
    [ -n "$secret" ] || { echo "FAIL: no server secret" >&2; return 1; }
    echo "$secret"
}

agent_token() {
    local secret=$1 scope=$2 mac
    mac=$(printf 'lablink-agent-v1:%s' "$scope" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
    printf '%s.%s' "$scope" "$mac"
}

vm_token() {
    local url=$1 host=$2 body token
    body=$(curl -s --max-time 15 -u "${VM_TOKEN_ADMIN:-admin:test-admin-password}" \
        -X POST "$url/api/vms/$host/register") || true
    token=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' <<<"$body")
    [ -n "$token" ] || { echo "FAIL: cannot register $host: $body" >&2; return 1; }
    printf '%s' "$token"
}

# stop_allocator_within SECONDS: like lib.sh's stop_allocator (exit 0, no
# sanitizer report) with a longer bound. The 5 s shutdown promise is
# tested by test_allocator_lifecycle; these heavier tests run beside
# others on loaded machines, where the sanitizers' exit-time leak scan
# alone can take seconds.
stop_allocator_within() {
    local limit=$1
    kill -TERM "$ALLOC_PID"
    local t0=$SECONDS
    while kill -0 "$ALLOC_PID" 2>/dev/null; do
        [ $((SECONDS - t0)) -ge "$limit" ] && fail "allocator still running $limit s after SIGTERM"
        sleep 0.1
    done
    local rc=0
    wait "$ALLOC_PID" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$T/allocator.log" >&2; fail "allocator exited $rc after SIGTERM"; }
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer\|runtime error:' "$T/allocator.log"; then
        cat "$T/allocator.log" >&2
        fail "sanitizer report in the allocator's log"
    fi
    # The allocator's own part of the shutdown still fits in 5 s
    local ms
    ms=$(grep -o 'stopped in [0-9]* ms' "$T/allocator.log" | tail -n 1 | cut -d' ' -f3)
    [ -n "$ms" ] && [ "$ms" -lt 5000 ] || fail "actors stopped in ${ms:-?} ms"
}
