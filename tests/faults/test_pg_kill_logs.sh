# PostgreSQL killed (pg_ctl -m immediate) and started again during a log
# flood from four agents, each retrying a batch until it is answered 200,
# with its (source, seq) as lablink-agent sends them. What the user (the
# agent) sees: 200, or a 5xx while the database is away, then 200 again.
# Checked: every line is in vm_logs exactly once: nothing acknowledged is
# lost and no retried batch is stored twice. (tests/integration/test_logs.sh
# kills PostgreSQL under batches without (source, seq), sent once each.)
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start allocator "$port"
seed_vms lf 4
token "lf-1,lf-2,lf-3,lf-4" "$T/allocator.yaml" >"$T/lf.tokens"

# sender N: 25 batches of 10 lines for VM lf-N, each sent until 200; one
# line per attempt in $T/flood.N: "batch status"
sender() {
    local n=$1 tok source b j lines body code tries
    tok=$(sed -n "${n}p" "$T/lf.tokens")
    source=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
    for b in $(seq 1 25); do
        lines=$(for j in $(seq 1 10); do printf '"flood %s %s %s",' "$n" "$b" "$j"; done)
        body="{\"log_group\":\"g\",\"log_stream\":\"lf-$n\",\"messages\":[${lines%,}],\"stream\":\"agent\",\"source\":\"$source\",\"seq\":$b}"
        tries=0
        while :; do
            tries=$((tries + 1))
            [ $tries -le 60 ] || { echo "$b gave-up" >>"$T/flood.$n"; return 1; }
            code=$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' -H "Authorization: Bearer $tok" \
                -H 'Content-Type: application/json' --data-binary "$body" "$url/api/vm-logs") || code=000
            echo "$b $code" >>"$T/flood.$n"
            [ "$code" = 200 ] && break
            sleep 0.5
        done
    done
}
pids=()
for n in 1 2 3 4; do sender "$n" & pids+=($!); done
sleep 1
"$SRC/tests/harness/pg" kill
sleep 1
"$SRC/tests/harness/pg" start || fail "pg start"
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] || fail "a sender gave up after 60 tries: $(grep -h gave-up "$T"/flood.*)"
attempts=$(cat "$T"/flood.* | wc -l)
refused=$(cat "$T"/flood.* | awk '$2 != 200' | wc -l)
[ "$refused" -gt 0 ] || fail "the kill did not hit the flood (nothing refused)"
bad=$(cat "$T"/flood.* | awk '$2 != 200 && $2 != 500 && $2 != 503' | head -3)
[ -z "$bad" ] || fail "refusals other than 5xx: $bad"
pass "log flood across a PostgreSQL kill: $attempts attempts, $refused refused (5xx), every batch finally 200"

got=$(sql "SELECT count(*) || ' ' || count(DISTINCT line) FROM vm_logs WHERE line LIKE 'flood %'")
expect "lines stored (all, distinct)" "1000 1000" "$got"
pass "all 1000 lines stored exactly once (no acknowledged line lost, no retry stored twice)"

ALLOC_PID=$PID_allocator
stop_allocator_within 20
echo "2 passed, 0 failed"
