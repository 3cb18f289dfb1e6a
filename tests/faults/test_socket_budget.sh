# The socket and descriptor budget (issue 18). Before it, every HTTP worker
# opened a DEALER per actor it called, and past libzmq's socket limit
# czmq's constructor asserted: SIGABRT, the whole allocator gone.
#   1. A configuration that cannot fit this process's RLIMIT_NOFILE is
#      refused by --check-config and at start, naming the settings.
#   2. bench/run.sh's configuration (320 workers) with libzmq's limit made
#      small (ZSYS_MAX_SOCKETS=200, which the old allocator obeyed and died
#      of: 200 parked long-polls alone took 200 sockets) serves 200
#      long-polls + 100 ZeroMQ agents (from 2 processes) + claims + log
#      posts: all connected before the first claim, every claim delivered,
#      at most 10 PostgreSQL connections, the process alive, at most one
#      DEALER per worker (the small version of issue 18's scale run).
#   3. Descriptors exhausted while serving (connections to the gateway past
#      what agent.max_zmq_agents sized): requests that need a socket get
#      503 JSON, counted in /metrics; the process lives and serves again
#      once the descriptors are back.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

# app_set FILE KEY VALUE: set app.KEY in a claim_config file
app_set() { sed -i "s/^  listen: .*/&\n  $2: $3/" "$1"; }

# --- 1. refused when it cannot fit ---
port=$(ll_free_port)
claim_config "$T/big.yaml" "$port" "agent:" \
    "  zmq_endpoint: tcp://127.0.0.1:$(ll_free_port)" "  max_zmq_agents: 50000"
app_set "$T/big.yaml" http_threads 16000
rc=0
out=$(prlimit --nofile=4096:4096 -- "$BIN" --check-config "$T/big.yaml" 2>&1) || rc=$?
[ $rc = 1 ] || fail "--check-config accepted a config that cannot fit: rc $rc: $out"
grep -q '^\[FAIL\] .*needs [0-9]* file descriptors.*app.http_threads.*agent.max_zmq_agents.*at most 4096' <<<"$out" \
    || fail "--check-config does not name the settings and the limit: $out"
rc=0
prlimit --nofile=4096:4096 -- "$BIN" --config "$T/big.yaml" >"$T/big.log" 2>&1 || rc=$?
[ $rc = 1 ] || fail "the allocator started with a config that cannot fit (rc $rc)"
grep -q 'refusing to start: .*app.http_threads.*at most 4096' "$T/big.log" \
    || fail "no clear refusal: $(cat "$T/big.log")"
pass "a configuration that cannot fit RLIMIT_NOFILE is refused by --check-config and at start, naming app.http_threads and agent.max_zmq_agents"

# --- 2. the configuration that killed it ---
zport=$(ll_free_port)
key=$("$BIN" --zmq-keygen "$T/gateway.cert")
claim_config "$T/a.yaml" "$port" "agent:" "  zmq_endpoint: tcp://127.0.0.1:$zport" \
    "  zmq_secret_key_file: $T/gateway.cert_secret" "  max_parked: 260" "  long_poll_s: 20" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
app_set "$T/a.yaml" http_threads 320
ZSYS_MAX_SOCKETS=200 "$BIN" --config "$T/a.yaml" >"$T/a.log" 2>&1 &
PID_a=$!
wait_healthy 30 "http://127.0.0.1:$port" || { cat "$T/a.log" >&2; fail "a not healthy"; }
url=http://127.0.0.1:$port
"$BENCH" logs --url "$url" --config "$T/a.yaml" --pid "$PID_a" --senders 16 --batch 100 \
    --seconds 3 >"$T/logs.out" 2>&1 || true
# the log senders' VMs are not for the claims below
sql "UPDATE vms SET status = 'error' WHERE hostname LIKE 'bench-log-%'" >/dev/null
rc=0
"$BENCH" deliver --url "$url" --zmq-endpoint "tcp://127.0.0.1:$zport" --server-key "$key" \
    --config "$T/a.yaml" --zmq-agents 100 --http-agents 200 --procs 2 --pid "$PID_a" \
    --ready-timeout 120 --prefix sb >"$T/deliver.out" 2>&1 || rc=$?
kill -0 "$PID_a" 2>/dev/null || { tail -5 "$T/a.log" >&2; fail "the allocator died under the load"; }
[ $rc = 0 ] && grep -q 'verdict: every claim delivered' "$T/deliver.out" \
    || { cat "$T/deliver.out" >&2; fail "not every claim delivered"; }
grep -q 'stored == acknowledged' "$T/logs.out" || { cat "$T/logs.out" >&2; fail "log posts lost"; }
grep -q 'before the first claim (.*): 100 of 100 zmq agents connected, 200 of 200 http agents parked' \
    "$T/deliver.out" || { cat "$T/deliver.out" >&2; fail "not every agent connected before the claims"; }
pg=$(sed -n 's/.*postgresql connections, most seen: \([0-9]*\)/\1/p' "$T/deliver.out")
[ -n "$pg" ] && [ "$pg" -le 10 ] || fail "PostgreSQL connections: ${pg:-?} (more than 10)"
metrics=$(curl -s "$url/metrics")
open=$(sed -n 's/^lablink_http_actor_sockets \([0-9]*\)$/\1/p' <<<"$metrics")
[ -n "$open" ] && [ "$open" -le 320 ] || fail "pooled sockets: '$open' (more than one per worker)"
expect "socket failures" 0 "$(sed -n 's/^lablink_http_socket_failures_total \([0-9]*\)$/\1/p' <<<"$metrics")"
grep -q 'budget: [0-9]* libzmq sockets' "$T/a.log" || fail "the budget is not logged"
pass "320 workers with ZSYS_MAX_SOCKETS=200: 200 long-polls + 100 zmq agents + claims + log posts, all connected first, every claim delivered, $pg PostgreSQL connections, $open pooled sockets"
claim_stop a

# --- 3. descriptors exhausted while serving ---
port=$(ll_free_port)
zport=$(ll_free_port)
claim_config "$T/b.yaml" "$port" "agent:" \
    "  zmq_endpoint: tcp://127.0.0.1:$zport" "  zmq_secret_key_file: $T/gateway.cert_secret" \
    "  max_zmq_agents: 8" "  long_poll_s: 2"
app_set "$T/b.yaml" http_threads 24
limit=$("$BIN" --check-config "$T/b.yaml" | sed -n 's/.*libzmq sockets.*), \([0-9]*\) file descriptors.*/\1/p')
[ -n "$limit" ] || fail "no budget from --check-config"
prlimit --nofile="$limit:$limit" -- "$BIN" --config "$T/b.yaml" >"$T/allocator.log" 2>&1 &
PID_b=$!
wait_healthy 30 "http://127.0.0.1:$port" || { cat "$T/allocator.log" >&2; fail "b not healthy"; }
for i in $(seq 1 12); do echo "fx-$i $(vm_token "http://127.0.0.1:$port" "fx-$i")"; done >"$T/fx.tokens"
perl "$SRC/tests/faults/fd_exhaust.pl" "$port" "$zport" "$PID_b" "$T/fx.tokens" "$T/fx.out" \
    || fail "fd_exhaust.pl failed"
kill -0 "$PID_b" 2>/dev/null || { tail -5 "$T/allocator.log" >&2; fail "the allocator died when descriptors ran out"; }
grep -q '^flood [0-9]* connections' "$T/fx.out" || fail "no flood: $(cat "$T/fx.out")"
busy=$(grep -c '^phase1 fx-[0-9]* 503 {"error":"Server busy: try again."}$' "$T/fx.out" || true)
[ "$busy" -ge 1 ] || fail "no request got 503 while descriptors were exhausted: $(cat "$T/fx.out")"
bad=$(grep '^phase1' "$T/fx.out" | grep -v ' 503 {"error"' | grep -v ' 204 $' || true)
[ -z "$bad" ] || fail "answers while exhausted that are neither 503 JSON nor 204: $bad"
failures=$(sed -n 's/^metrics 200 \([0-9]*\)$/\1/p' "$T/fx.out")
[ -n "$failures" ] && [ "$failures" -ge "$busy" ] || fail "/metrics does not count the failures: $(grep metrics "$T/fx.out")"
grep -q 'http: no socket to inproc://[a-z-]*: Too many open files' "$T/allocator.log" || fail "the failure is not logged"
again=$(grep -c '^phase2 fx-[0-9]* 204 $' "$T/fx.out" || true)
expect "long-polls answered after the descriptors came back" 12 "$again"
pass "descriptors exhausted: $busy of 12 long-polls got 503 JSON (counted: $failures), the allocator lived and served all 12 again after"
ALLOC_PID=$PID_b
stop_allocator_within 20
echo "3 passed, 0 failed"
