# The log pipeline from outside (reference 2.4, 2.6, 7.3, 10.1): the three
# shapes of POST /api/vm-logs, stream kinds, agent batch dedup, cleaning,
# reads (newest N, ?after, 503 while initializing), the live tail (SSE),
# retention, gzip bomb / bad base64 / 10 MB body refused, and PostgreSQL
# killed and restarted during a log flood with no acknowledged line lost.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
# start_with RETAIN_LINES: the allocator with logs.line_max 200
start_with() {
    write_config "$port"
    printf 'logs:\n  retain_lines: %s\n  line_max: 200\n' "$1" >>"$T/config.yaml"
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$url/metrics" && return 0
        sleep 0.1
    done
    fail "allocator did not start"
}
start_with 100000
secret=$(server_secret "$url")
T1=$(vm_token "$url" vm-1)
T2=$(vm_token "$url" vm-2)
TL=$(agent_token "$secret" _lambda)
TG="ghost.$(openssl rand -hex 32)"  # a VM nobody launched
ADMIN=(-u admin:test-admin-password)
n=0
call() {
    local want=$1 text=$2
    shift 2
    local out
    out=$(curl -s --max-time 30 -w '\n%{http_code}' "$@")
    local code=${out##*$'\n'} body=${out%$'\n'*}
    [ "$code" = "$want" ] || fail "$* -> $code (wanted $want): ${body:0:300}"
    case "$body" in *"$text"*) ;; *) fail "$* -> body lacks '$text': ${body:0:300}" ;; esac
    n=$((n + 1))
    LAST_BODY=$body
}
# pc WANT TEXT TOKEN JSON: POST /api/vm-logs
pc() {
    call "$1" "$2" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
        -X POST --data-binary "$4" "$url/api/vm-logs"
}
q() { psql -Atqc "$1"; }
for h in 1 2; do
    eval "tok=\$T$h"
    curl -s -o /dev/null -H "Authorization: Bearer $tok" -X POST \
        -d "{\"hostname\":\"vm-$h\",\"status\":\"initializing\"}" "$url/api/vm-status"
done

# --- reads before any line: 503 while initializing, 404 unknown ---
call 503 '"VM is initializing."' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1"
call 404 '"VM not found."' -H "Authorization: Bearer $TG" "$url/api/vm-logs/ghost"
call 403 'another VM' -H "Authorization: Bearer $T2" "$url/api/vm-logs/vm-1"
call 401 'Missing' "$url/api/vm-logs/vm-1"
pass "GET /api/vm-logs: 503 initializing without logs, 404, 403, 401"

# --- the Lambda's shape ---
pc 200 '"VM logs posted successfully."' "$T1" '{"log_group":"lablink-cloud-init-prod","log_stream":"vm-1","messages":["one \u001b[1;32mgreen\u001b[0m","two\nthree","   ",""]}'
grep -q '"stored":3' <<<"$LAST_BODY" || fail "three lines: $LAST_BODY"
pc 200 'successfully' "$T1" '{"log_group":"lablink-cloud-init-prod-docker","log_stream":"vm-1","messages":["container says hi"]}'
pc 200 '"No log messages after filtering."' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["\u001b[0m","  "]}'
pc 400 '"Log group, stream, and messages are required."' "$T1" '{"log_stream":"vm-1","messages":["x"]}'
pc 400 '"Log group, stream, and messages are required."' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":[]}'
pc 400 '"Log group, stream, and messages are required."' "$T1" '{"log_group":"g","messages":["x"]}'
pc 400 'string' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":[1]}'
pc 404 '"VM not found."' "$TG" '{"log_group":"g","log_stream":"ghost","messages":["x"]}'
pc 403 'another VM' "$T2" '{"log_group":"g","log_stream":"vm-1","messages":["x"]}'
pc 401 'Invalid API token' "vm-1.00" '{"log_group":"g","log_stream":"vm-1","messages":["x"]}'
# The Lambda's token may post for any VM
pc 200 'successfully' "$TL" '{"log_group":"g","log_stream":"vm-2","messages":["from the lambda"]}'
call 200 '"cloud_init_logs":"one green\ntwo\nthree"' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1"
grep -q '"docker_logs":"container says hi"' <<<"$LAST_BODY" || fail "docker kind: $LAST_BODY"
grep -q '"logs":"one green\\ntwo\\nthree\\ncontainer says hi"' <<<"$LAST_BODY" || fail "logs: $LAST_BODY"
grep -q '"hostname":"vm-1"' <<<"$LAST_BODY" || fail "hostname"
call 200 '"cloud_init_logs":"from the lambda"' "${ADMIN[@]}" "$url/api/vm-logs/vm-2"
pass "Lambda shape: 200, kinds by -docker suffix, ANSI stripped, blank lines dropped, 400/404/403/401"

# --- bytes that COPY's text format would escape are stored as sent ---
curl -s -o /dev/null -H "Authorization: Bearer $(vm_token "$url" vm-esc)" -X POST \
    -d '{"hostname":"vm-esc","status":"running"}' "$url/api/vm-status"
pc 200 'successfully' "$TL" '{"log_group":"g","log_stream":"vm-esc","messages":["a\tb","back\\slash \\N","caf\u00e9 \u65e5\u672c"]}'
stored=$(q "SELECT line FROM vm_logs WHERE hostname = 'vm-esc' ORDER BY id")
want=$'a\tb\nback\\slash \\N\ncaf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac'
[ "$stored" = "$want" ] || fail "stored lines differ: $(od -c <<<"$stored" | head -5)"
pass "tabs, backslashes, \\N and UTF-8 stored byte for byte"

# --- agent batches: stream given, a retried batch stored once ---
batch='{"log_group":"g","log_stream":"vm-1","messages":["agent line"],"stream":"agent","source":"0123456789abcdef","seq":7}'
pc 200 '"duplicate":false' "$T1" "$batch"
pc 200 '"duplicate":true' "$T1" "$batch"
[ "$(q "SELECT count(*) FROM vm_logs WHERE line = 'agent line' AND stream = 'agent'")" = 1 ] || fail "retried batch stored twice"
pc 200 '"duplicate":false' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["agent line"],"stream":"agent","source":"0123456789abcdef","seq":8}'
pc 400 'stream must be' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["x"],"stream":"kernel"}'
pc 400 'source' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["x"],"source":"0123456789abcdef"}'
pc 400 'source' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["x"],"source":"XYZ","seq":1}'
pass "agent batches: (source, seq) stored once, bad stream/source 400"

# --- a long line is cut and marked (logs.line_max 200) ---
long=$(head -c 500 /dev/zero | tr '\0' 'x')
pc 200 'successfully' "$T1" "{\"log_group\":\"g\",\"log_stream\":\"vm-1\",\"messages\":[\"$long\"]}"
[ "$(q "SELECT line FROM vm_logs WHERE line LIKE 'xxx%'")" = "$(head -c 200 /dev/zero | tr '\0' 'x') [cut 300 bytes]" ] || fail "long line not cut and marked"
pass "long lines cut at line_max and marked"

# --- incremental reads ---
call 200 '"lines":[' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1?lines=2"
[ "$(grep -o '"id":' <<<"$LAST_BODY" | wc -l)" = 2 ] || fail "lines=2: $LAST_BODY"
last=$(grep -o '"last_id":[0-9]*' <<<"$LAST_BODY" | cut -d: -f2)
call 200 '"lines":[]' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1?after=$last"
grep -q "\"last_id\":$last" <<<"$LAST_BODY" || fail "after keeps last_id"
pc 200 'successfully' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["newer"]}'
call 200 '"line":"newer"' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1?after=$last"
[ "$(grep -o '"id":' <<<"$LAST_BODY" | wc -l)" = 1 ] || fail "after returns only the new line: $LAST_BODY"
call 400 'after' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1?after=abc"
call 400 'lines' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1?lines=0"
pass "reads: newest N, ?after=<id> incremental, 400 on bad parameters"

# --- the raw CloudWatch payload ---
event='{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"lablink-cloud-init-prod","logStream":"vm-2","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"cw one"},{"id":"2","timestamp":2,"message":"cw two"}]}'
data=$(printf '%s' "$event" | gzip -c | base64 -w0)
pc 200 '"stored":2' "$TL" "{\"awslogs\":{\"data\":\"$data\"}}"
call 200 'from the lambda\ncw one\ncw two' "${ADMIN[@]}" "$url/api/vm-logs/vm-2"
ctrl=$(printf '{"messageType":"CONTROL_MESSAGE","logEvents":[]}' | gzip -c | base64 -w0)
pc 200 'Control message' "$TL" "{\"awslogs\":{\"data\":\"$ctrl\"}}"
pc 400 'malformed base64' "$TL" '{"awslogs":{"data":"***not base64***"}}'
pc 400 'not gzip data' "$TL" '{"awslogs":{"data":"aGVsbG8gd29ybGQ="}}'
pc 400 'truncated gzip data' "$TL" "{\"awslogs\":{\"data\":\"$(printf '%s' "$event" | gzip -c | head -c 20 | base64 -w0)\"}}"
pc 400 'awslogs.data' "$TL" '{"awslogs":{}}'
# a gzip bomb: 500 MB of zeros in about 500 KB; refused at the 2 MiB cap
rss_before=$(awk '/VmHWM/ {print $2}' /proc/$ALLOC_PID/status)
head -c 500000000 /dev/zero | gzip -c | base64 -w0 | { printf '{"awslogs":{"data":"'; cat; printf '"}}'; } >"$T/bomb.json"
[ "$(stat -c %s "$T/bomb.json")" -lt 1000000 ] || fail "bomb larger than the body cap"
call 400 'decompressed payload too large' -H "Authorization: Bearer $TL" -X POST --data-binary @"$T/bomb.json" "$url/api/vm-logs"
rss_after=$(awk '/VmHWM/ {print $2}' /proc/$ALLOC_PID/status)
[ $((rss_after - rss_before)) -lt 51200 ] || fail "the bomb grew the allocator by $((rss_after - rss_before)) KiB"
head -c 10000000 /dev/zero | tr '\0' 'a' >"$T/big"
[ "$(http_status -H "Authorization: Bearer $T1" -X POST --data-binary @"$T/big" "$url/api/vm-logs")" = 413 ] || fail "10 MB body not 413"
# more lines than one post may carry (a flush numbers its lines in one id block)
python3 -c 'import json; print(json.dumps({"log_group": "g", "log_stream": "vm-1", "messages": ["a"] * 100001}))' >"$T/many.json"
call 413 'Too many log lines' -H "Authorization: Bearer $T1" -X POST --data-binary @"$T/many.json" "$url/api/vm-logs"
pass "CloudWatch payload: decoded; bomb, bad base64, non-gzip, truncated: 400 (peak RSS +$((rss_after - rss_before)) KiB); 10 MB: 413; 100,001 lines: 413"

# --- the live tail ---
curl -sN --max-time 6 -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1/events" >"$T/sse" &
sse=$!
sleep 1.5
pc 200 'successfully' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["live line"]}'
for _ in $(seq 1 40); do grep -q 'live line' "$T/sse" && break; sleep 0.1; done
grep -q '^event: lines' "$T/sse" && grep -q '"line":"live line"' "$T/sse" || fail "no live event: $(cat "$T/sse")"
grep -q '"line":"newer"' "$T/sse" && fail "the tail replayed old lines without being asked"
kill "$sse" 2>/dev/null || true
wait "$sse" 2>/dev/null || true
# resuming with Last-Event-ID replays what was missed
curl -sN --max-time 2 -H "Authorization: Bearer $T1" -H "Last-Event-ID: $last" "$url/api/vm-logs/vm-1/events" >"$T/sse2" || true
grep -q '"line":"newer"' "$T/sse2" && grep -q '"line":"live line"' "$T/sse2" || fail "no replay after Last-Event-ID: $(cat "$T/sse2")"
call 403 'another VM' -H "Authorization: Bearer $T2" "$url/api/vm-logs/vm-1/events"
pass "SSE tail: live lines, Last-Event-ID replay, 403"

# --- a database failure is 500 ---
"$SRC/tests/harness/pg" stop
pc 500 '"Failed to post VM logs."' "$T1" '{"log_group":"g","log_stream":"vm-1","messages":["x"]}'
call 500 '"Failed to get VM logs."' -H "Authorization: Bearer $T1" "$url/api/vm-logs/vm-1"
"$SRC/tests/harness/pg" start
pass "database down: 500"

# --- PostgreSQL killed during a flood: no acknowledged line lost ---
flood() { # flood SENDER: 30 batches of 20 lines, each acknowledged batch recorded
    local s=$1 b j lines code
    for b in $(seq 1 30); do
        lines=$(for j in $(seq 1 20); do printf '"flood %s %s %s",' "$s" "$b" "$j"; done)
        code=$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' -H "Authorization: Bearer $T1" \
            -X POST -d "{\"log_group\":\"g\",\"log_stream\":\"vm-1\",\"messages\":[${lines%,}]}" "$url/api/vm-logs")
        echo "$s $b $code" >>"$T/flood.$s"
    done
}
pids=()
for s in 1 2 3 4; do flood "$s" & pids+=($!); done
sleep 1
"$SRC/tests/harness/pg" kill
sleep 1
"$SRC/tests/harness/pg" start
wait "${pids[@]}"
acked=$(cat "$T"/flood.* | awk '$3 == 200' | wc -l)
refused=$(cat "$T"/flood.* | awk '$3 != 200' | wc -l)
[ "$refused" -gt 0 ] || fail "the restart did not hit the flood (nothing refused)"
[ "$acked" -gt 0 ] || fail "nothing acknowledged"
q "SELECT split_part(line, ' ', 2) || ' ' || split_part(line, ' ', 3), count(*) FROM vm_logs WHERE line LIKE 'flood %' GROUP BY 1" | tr '|' ' ' >"$T/stored"
lost=$(awk 'NR == FNR { n[$1 " " $2] = $3; next } $3 == 200 && n[$1 " " $2] < 20 { print }' "$T/stored" "$T"/flood.* | wc -l)
[ "$lost" = 0 ] || fail "$lost acknowledged batches lost"
pass "PostgreSQL killed mid-flood: $acked batches acknowledged, all stored; $refused refused (retryable)"

stop_allocator_within 15
start_with 100
# --- retention: logs.retain_lines 100 keeps the newest 100 ---
msgs=$(seq 1 1500 | sed 's/.*/"bulk &"/' | paste -sd, -)
pc 200 '"stored":1500' "$T2" "{\"log_group\":\"g\",\"log_stream\":\"vm-2\",\"messages\":[$msgs]}"
kept=$(q "SELECT count(*) FROM vm_logs WHERE hostname = 'vm-2'")
[ "$kept" = 100 ] || fail "retention kept $kept lines"
[ "$(q "SELECT line FROM vm_logs WHERE hostname = 'vm-2' ORDER BY id DESC LIMIT 1")" = "bulk 1500" ] || fail "newest not kept"
pass "retention: the newest 100 lines of a VM are kept"

stop_allocator_within 15
echo "$n checks; 1 passed, 0 failed"
