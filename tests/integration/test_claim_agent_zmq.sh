# The real lablink-agent over ZeroMQ against the real gateway: HELLO with
# its token, WAIT, the claim pushed as ASSIGN, start-host run with the code
# and the PIN, RESULT stored as delivered_at; a second claim after a
# release reaches the same agent without a restart.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
AGENT=$LABLINK_BUILD_DIR/lablink-agent
[ -x "$AGENT" ] || { echo "skipped: no lablink-agent on this branch"; echo "0 passed, 0 failed"; exit 0; }

# wait_sql SECONDS WANT QUERY
wait_sql() {
    local t0=$SECONDS got=""
    while [ $((SECONDS - t0)) -lt "$1" ]; do
        got=$(sql "$3" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.2
    done
    cat "$T/agent.log" >&2
    fail "waited $1 s for '$3' = '$2', last '$got'"
}

port=$(ll_free_port)
zport=$(ll_free_port)
url=http://127.0.0.1:$port
key=$("$BIN" --zmq-keygen "$T/gateway.cert")
claim_start a "$port" "agent:" "  zmq_endpoint: tcp://127.0.0.1:$zport" \
    "  zmq_secret_key_file: $T/gateway.cert_secret" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
host=lablink-vm-zmq-1
psql -q -c "INSERT INTO vms (hostname, status, last_seen_at) VALUES ('$host', 'running', now())"
tok=$(token "$host")
# Its own session and home, as on a VM: a release resets them (issue 15)
mkdir -p "$T/home"
echo "first student's work" >"$T/home/notes.slp"
setsid env VM_NAME=$host API_TOKEN="$tok" ALLOCATOR_URL="$url/" HOME="$T/home" \
    LABLINK_TRANSPORT=zmq LABLINK_ZMQ_ENDPOINT="tcp://127.0.0.1:$zport" \
    LABLINK_ZMQ_SERVER_KEY="$key" \
    LABLINK_INTERVAL_SCALE=0.05 LABLINK_REQUEST_TIMEOUT_S=5 LABLINK_POLL_TIMEOUT_S=10 \
    LABLINK_CRD_START_HOST="$SRC/agent/standins/start-host" \
    LABLINK_STANDIN_LOG="$T/start-host.log" LABLINK_NVIDIA_SMI= \
    SUBJECT_SOFTWARE=zmq-e2e-$$ LABLINK_LOG_FILES= LABLINK_STARTUP_SCRIPT="$T/none.sh" \
    "$AGENT" run >"$T/agent.log" 2>&1 &
agent=$!
sleep 2
kill -0 $agent 2>/dev/null || { cat "$T/agent.log" >&2; fail "agent died"; }

out=$(claim_json "$url" zmq1@example.com '--code=4/zmq-first')
expect "claim" 200 "${out##* }"
wait_sql 30 t "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname='$host'"
grep -q -- '^arg: --code=4/zmq-first$' "$T/start-host.log" || fail "start-host not run: $(cat "$T/start-host.log")"
pin=$(sql "SELECT pin FROM vms WHERE hostname='$host'")
expect "PIN twice on stdin" 2 "$(grep -c "^stdin: $pin\$" "$T/start-host.log")"
pass "a claim is pushed over ZeroMQ, start-host runs with the code and the PIN, RESULT stores delivered_at"

expect "release" 200 "$(curl -s -o /dev/null -w '%{http_code}' -u admin:test-admin-password -X POST "$url/api/vms/$host/release")"
# The reset reaches the agent over ZeroMQ (RESET) and its outcome comes
# back through the gateway's POST; only then is the VM offered again
wait_sql 30 t "SELECT release_pending IS NULL FROM vms WHERE hostname='$host'"
[ -e "$T/home/notes.slp" ] && fail "the first student's file survived the reset"
expect "reset audited" ok "$(sql "SELECT outcome FROM audit_log WHERE action = 'reset' AND target = '$host'")"
psql -q -c "UPDATE vms SET last_seen_at = now() WHERE hostname='$host'"
out=$(claim_json "$url" zmq2@example.com '--code=4/zmq-second')
expect "second claim" 200 "${out##* }"
wait_sql 30 t "SELECT delivered_at IS NOT NULL AND user_email='zmq2@example.com' FROM vms WHERE hostname='$host'"
grep -q -- '^arg: --code=4/zmq-second$' "$T/start-host.log" || fail "second assignment not run"
pass "a release resets the desktop over ZeroMQ; a second claim then reaches the same agent"

kill -TERM $agent
wait $agent || true
grep -q 'zmq-first\|zmq-second' "$T/agent.log" && fail "a CRD code in the agent's log"
claim_stop a
grep -q 'zmq-first\|zmq-second' "$T/a.log" && fail "a CRD code in the allocator's log"
echo "1 passed, 0 failed"
