# lablink-bench's telemetry, logs and startup scenarios, small, against the real
# allocator and PostgreSQL: the tools behind docs/performance.md must keep
# working. Their timing goals are not checked here (lablink-bench's own
# verdict does that on a release build); what they count is.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
BENCH=$LABLINK_BUILD_DIR/lablink-bench
port=$(ll_free_port)
url=http://127.0.0.1:$port
start_allocator "$port"
q() { psql -Atqc "$1"; }

# --- telemetry: 200 agents at 5 Hz, 1 s warm-up + 2 s measured ---
out=$("$BENCH" telemetry --url "$url" --config "$T/config.yaml" --pid "$ALLOC_PID" \
    --agents 200 --hz 5 --seconds 2 --warmup 1 --conns 8 2>&1) || true
grep -q 'warm-up, 1 s (not measured): 1000 heartbeats' <<<"$out" || fail "warm-up: $out"
grep -q ': 2000 heartbeats, .*, 0 failures' <<<"$out" || fail "measured phase: $out"
grep -Eq 'pool of 8 connections \(at most [1-8] busy\)' <<<"$out" || fail "pool: $out"
grep -Eq 'the allocator used [0-9]+% of one core, [0-9]+ us of CPU per heartbeat' <<<"$out" \
    || fail "allocator CPU: $out"
[ "$(q "SELECT count(*) FROM vms WHERE hostname LIKE 'bench-agent-%' AND boot_id = 'bench'
        AND disk_free_pct = 50 AND last_seen_at > now() - interval '1 minute'")" = 200 ] \
    || fail "heartbeats not recorded for all 200 VMs"
pass "telemetry scenario: 3,000 heartbeats answered, every VM's heartbeat recorded"

# --- logs: 2 senders of 100-line batches for 2 s ---
out=$("$BENCH" logs --url "$url" --config "$T/config.yaml" --pid "$ALLOC_PID" \
    --senders 2 --batch 100 --seconds 2 2>&1) || fail "logs scenario failed: $out"
grep -q ' 0 posts refused' <<<"$out" || fail "refused posts: $out"
grep -q 'stored == acknowledged' <<<"$out" || fail "stored != acknowledged: $out"
acked=$(sed -n 's/.*acknowledged \([0-9]*\) lines.*/\1/p' <<<"$out")
[ "${acked:-0}" -gt 0 ] || fail "no line acknowledged: $out"
[ "$(q "SELECT count(*) FROM vm_logs WHERE hostname LIKE 'bench-log-%'")" = "$acked" ] \
    || fail "vm_logs does not hold the $acked lines acknowledged"
pass "logs scenario: $acked lines acknowledged and stored"

# --- startup: 2 runs of exec to the first 200 on /api/health ---
sed "s/^  listen: .*/  listen: 127.0.0.1:$(ll_free_port)/" "$T/config.yaml" >"$T/startup.yaml"
out=$("$BENCH" startup --allocator "$BIN" --config "$T/startup.yaml" --runs 2 \
    --log "$T/startup.log" 2>&1) || fail "startup scenario failed: $out"
[ "$(grep -c 'exec to the first 200 on /api/health [0-9.]* ms, to "healthy" [0-9.]* ms' <<<"$out")" = 2 ] \
    || fail "startup runs: $out"
grep -q 'last run.s log: ready in [0-9]* ms after main (config [0-9]* ms, actors [0-9]* ms, then gateway and http [0-9]* ms; ' <<<"$out" \
    || fail "the allocator's account of its start: $out"
grep -q 'last run.s log: .*allocator: migrations checked [0-9]* ms after start' <<<"$out" \
    || fail "the allocator's account of its migrations: $out"
grep -q 'last run.s log: .*every actor.s first connection to postgresql ended [0-9]* ms after start: [0-9]* of [0-9]* connected' <<<"$out" \
    || fail "the allocator's account of its connections: $out"
pass "startup scenario: 2 runs answered 200 ($(sed -n 's/^startup: median \([0-9.]*\) ms.*/\1/p' <<<"$out") ms median, ASan build)"

stop_allocator
echo "3 passed, 0 failed"
