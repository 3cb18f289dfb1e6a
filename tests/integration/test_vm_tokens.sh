# Issue 15 section 2, as an attacker tries it against the real allocator
# (real PostgreSQL, real terraform with the local module, real
# lablink-agent): a VM's credential is minted per launch, stored hashed,
# handed to the VM without touching a log, a command line or a readable
# file, and dies with the launch. Each attack asserts the refusal AND that
# nothing changed.
#   - launch: random tokens (not derivable), only hashes stored
#   - replace / destroy-vm / destroy + relaunch of the same hostname: the
#     old token gets 401 {"error":"token revoked"}, writes nothing
#   - a hostname the allocator did not launch: 404 on HTTP and on the
#     ZeroMQ HELLO, no row made
#   - a second allocator (NOTIFY): a parked HTTP long-poll and a parked
#     ZeroMQ agent of the old token are dropped at once; the claim's PIN
#     and code go only to the current token; the old token's RESULT counts
#     for nothing
#   - the token is checked before the body is read
#   - the Lambda's token posts only for VMs that exist
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
AGENT=$BIN_DIR/lablink-agent
[ -x "$AGENT" ] || fail "lablink-agent is not built"
zagents=()
trap 'for p in "${zagents[@]}"; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT

# expect WHAT WANT GOT
expect() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; }
# agent_call TOKEN PATH JSON [URL]: an agent's POST, prints "body status"
agent_call() {
    curl -s --max-time 20 -w ' %{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$3" "${4:-$url}$2"
}
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
tf=$work/terraform.runtime.tfvars.json
tok_of() { sed -n "s/^    \"$1\": \"\\([^\"]*\\)\",\\?\$/\\1/p" "$tf"; }
# op_run METHOD PATH [curl args]: an operation, waited for; must succeed
op_run() {
    local out code id body
    out=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -w ' %{http_code}' "${@:2}" "$url$1")
    code=${out##* }
    [ "$code" = 202 ] || fail "$1: $out"
    id=$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' <<<"$out")
    body=$(wait_op "$id" 120) || fail "$1: still running after 120 s"
    grep -q '"status":"succeeded"' <<<"$body" || { cat "$T/allocator.log" >&2; fail "$1 failed: ${body:0:500}"; }
}
gen() { psqlc "SELECT token_generation FROM vms WHERE hostname='$1'"; }
h1=lablink-vm-test-1
h2=lablink-vm-test-2
start_with terraform 120

# --- launch: one random token per VM, stored hashed ---------------------------
op_run /api/launch -d num_vms=2
a1=$(tok_of $h1)
a2=$(tok_of $h2)
[[ "$a1" =~ ^$h1\.[0-9a-f]{64}$ ]] && [[ "$a2" =~ ^$h2\.[0-9a-f]{64}$ ]] || fail "tokens in the tfvars: '$a1' '$a2'"
secret=$(server_secret "$url")
[ "$a1" != "$(agent_token "$secret" $h1)" ] || fail "the token is still derived from the server secret"
expect "stored hash" "$(sha "$a1")" "$(psqlc "SELECT token_hash FROM vms WHERE hostname='$h1'")"
pg_dump -a >"$T/dump.sql"
grep -qF "${a1#*.}" "$T/dump.sql" && fail "the token itself is in the database"
t0=$SECONDS
until [ "$(psqlc "SELECT count(*) FROM vms WHERE status = 'running'")" = 2 ]; do
    [ $((SECONDS - t0)) -lt 40 ] || fail "the real agents did not authenticate: $(psqlc 'SELECT hostname, status FROM vms')"
    sleep 0.5
done
pass "launch: each VM gets a random 256-bit token (not derivable), only its SHA-256 is stored; the real agents use it"

# --- the token reached the VM without a log, command line or readable file ---
for tok in "$a1" "$a2"; do
    hex=${tok#*.}
    grep -qF "$hex" "$T/allocator.log" && fail "a token in the allocator's log"
    [ "$(psqlc "SELECT count(*) FROM operations WHERE output LIKE '%$hex%'")" = 0 ] || fail "a token in an operation's output"
    files=$(grep -rlF "$hex" "$work" || true)
    expect "files holding a token" "$tf" "$files"
    grep -lF "$hex" /proc/[0-9]*/cmdline 2>/dev/null && fail "a token on a command line"
done
expect "tfvars mode" 600 "$(stat -c %a "$tf")"
read -r apid _ <"$vms_dir/$h1/agent.pid"
tr '\0' '\n' <"/proc/$apid/environ" | grep -qxF "API_TOKEN=$a1" || fail "the agent of $h1 does not hold its token"
pass "the token reaches the agent by its environment: not in the allocator's log, the operation output, a command line or any file but the 0600 tfvars"

# --- replace: the old token is revoked, the VM has a new one ------------------
g1=$(gen $h1)
op_run /api/vms/$h1/replace
b1=$(tok_of $h1)
[ -n "$b1" ] && [ "$b1" != "$a1" ] || fail "replace did not mint a new token"
[ "$(gen $h1)" -gt "$g1" ] || fail "generation did not grow: $g1 -> $(gen $h1)"
expect "tfvars keeps the other VM's token" "$a2" "$(tok_of $h2)"
expect "old token, gpu_health" '{"error":"token revoked"} 401' \
    "$(agent_call "$a1" /api/gpu_health "{\"hostname\":\"$h1\",\"gpu_status\":\"Unhealthy\"}")"
expect "old token, vm_startup" '{"error":"token revoked"} 401' "$(agent_call "$a1" /vm_startup "{\"hostname\":\"$h1\"}")"
expect "old token, status read" 401 "$(http_status -H "Authorization: Bearer $a1" "$url/api/vm-status/$h1")"
[ "$(psqlc "SELECT coalesce(gpu_health, '') FROM vms WHERE hostname='$h1'")" != Unhealthy ] || fail "the revoked token wrote"
expect "new token" 200 "$(http_status -H "Authorization: Bearer $b1" "$url/api/vm-status/$h1")"
expect "the other VM keeps its token" 200 "$(http_status -H "Authorization: Bearer $a2" "$url/api/vm-status/$h2")"
expect "another VM's token" 403 "$(agent_call "$a2" /api/gpu_health "{\"hostname\":\"$h1\",\"gpu_status\":\"Unhealthy\"}" | awk '{print $NF}')"
pass "replace: the old token gets 401 token revoked and writes nothing; the new VM's token works; another VM's token is 403"

# --- destroy one VM: its token dies; it makes no row again --------------------
op_run /api/vms/$h2/destroy
expect "destroyed VM's token" '{"error":"token revoked"} 401' \
    "$(agent_call "$a2" /api/vm-status "{\"hostname\":\"$h2\",\"status\":\"running\"}")"
expect "destroyed VM's heartbeat" 401 "$(agent_call "$a2" /api/heartbeat "{\"vm_id\":\"$h2\"}" | awk '{print $NF}')"
expect "no row for the destroyed VM" 0 "$(psqlc "SELECT count(*) FROM vms WHERE hostname='$h2'")"
pass "destroy: the VM's token gets 401 token revoked, no row comes back"

# --- the same hostname next week: last week's token does not work -----------
op_run /destroy
expect "no VM left" 0 "$(psqlc 'SELECT count(*) FROM vms')"
op_run /api/launch -d num_vms=1
c1=$(tok_of $h1)
[ -n "$c1" ] && [ "$c1" != "$b1" ] && [ "$c1" != "$a1" ] || fail "relaunch did not mint a new token"
before=$(psqlc "SELECT md5(concat_ws('|', status, gpu_health, in_use, boot_id)) FROM vms WHERE hostname='$h1'")
for old in "$a1" "$b1"; do
    expect "an earlier launch's token" '{"error":"token revoked"} 401' \
        "$(agent_call "$old" /api/heartbeat "{\"vm_id\":\"$h1\",\"boot_id\":\"attacker\",\"disk_free_pct\":1}")"
done
expect "nothing written by old tokens" "$before" \
    "$(psqlc "SELECT md5(concat_ws('|', status, gpu_health, in_use, boot_id)) FROM vms WHERE hostname='$h1'")"
expect "this launch's token" 200 "$(http_status -H "Authorization: Bearer $c1" "$url/api/vm-status/$h1")"
op_run /destroy
pass "a relaunched hostname: the tokens of earlier launches get 401 token revoked and write nothing"

# --- a hostname the allocator never launched: 404, nothing made ---------------
ghost="ghost-1.$(openssl rand -hex 32)"
for call in "/api/vm-status|{\"hostname\":\"ghost-1\",\"status\":\"running\"}" \
    "/vm_startup|{\"hostname\":\"ghost-1\"}" "/api/heartbeat|{\"vm_id\":\"ghost-1\"}" \
    "/api/vm-logs|{\"log_group\":\"g\",\"log_stream\":\"ghost-1\",\"messages\":[\"x\"]}"; do
    expect "unknown VM ${call%%|*}" '{"error":"VM not found."} 404' "$(agent_call "$ghost" "${call%%|*}" "${call#*|}")"
done
TL=$(agent_token "$secret" _lambda)
expect "the Lambda for an unknown VM" 404 \
    "$(agent_call "$TL" /api/vm-logs '{"log_group":"g","log_stream":"ghost-1","messages":["x"]}' | awk '{print $NF}')"
expect "rows or lines for ghost-1" 0 "$(psqlc "SELECT (SELECT count(*) FROM vms WHERE hostname = 'ghost-1') + (SELECT count(*) FROM vm_logs WHERE hostname = 'ghost-1')")"
pass "a hostname the allocator never launched: 404 on every agent route (the Lambda's token too), no row, no line"

# --- a second allocator with the ZeroMQ gateway and long polls ---------------
portb=$(ll_free_port)
zport=$(ll_free_port)
urlb=http://127.0.0.1:$portb
key=$("$BIN" --zmq-keygen "$T/gateway.cert")
sed -e "s/127.0.0.1:$port/127.0.0.1:$portb/" -e 's/^  long_poll_s: 1$/  long_poll_s: 30/' "$T/config.yaml" >"$T/b.yaml"
cat >>"$T/b.yaml" <<YAML
  zmq_endpoint: tcp://127.0.0.1:$zport
  zmq_secret_key_file: $T/gateway.cert_secret
claim:
  email_per_minute: 0
  address_per_minute: 0
YAML
"$BIN" --config "$T/b.yaml" >"$T/b.log" 2>&1 &
pidB=$!
wait_healthy 10 "$urlb" || { cat "$T/b.log" >&2; fail "allocator B not healthy"; }
# zagent NAME TOKEN LOG: a real lablink-agent over ZeroMQ to B
zagent() {
    env VM_NAME="$1" API_TOKEN="$2" ALLOCATOR_URL="$urlb/" HOME="$T" \
        LABLINK_TRANSPORT=zmq LABLINK_ZMQ_ENDPOINT="tcp://127.0.0.1:$zport" \
        LABLINK_ZMQ_SERVER_KEY="$key" LABLINK_INTERVAL_SCALE=0.05 \
        LABLINK_REQUEST_TIMEOUT_S=5 LABLINK_POLL_TIMEOUT_S=10 \
        LABLINK_CRD_START_HOST="$SRC/agent/standins/start-host" \
        LABLINK_STANDIN_LOG="$T/$3.start-host" LABLINK_NVIDIA_SMI= \
        SUBJECT_SOFTWARE=tokens-$$ LABLINK_LOG_FILES= LABLINK_STARTUP_SCRIPT="$T/none.sh" \
        "$AGENT" run >"$T/$3.log" 2>&1 &
    zagents+=($!)
}
wait_log() {  # FILE TEXT SECONDS
    local t0=$SECONDS
    until grep -qF "$2" "$1" 2>/dev/null; do
        [ $((SECONDS - t0)) -lt "$3" ] || { cat "$1" >&2; fail "no '$2' in $1 after $3 s"; }
        sleep 0.2
    done
}

zagent ghost-1 "$ghost" ghostz
wait_log "$T/ghostz.log" "gateway said ERROR VM not found." 20
expect "no row made by a HELLO" 0 "$(psqlc "SELECT count(*) FROM vms WHERE hostname = 'ghost-1'")"
pass "ZeroMQ HELLO for a VM nobody launched: ERROR VM not found., no row"

# --- parked waiters of an older token are dropped; the PIN goes only to the current one
k1=$(vm_token "$url" byo-1)
expect "status by the first token" 200 "$(agent_call "$k1" /api/vm-status '{"hostname":"byo-1","status":"running"}' "$urlb" | awk '{print $NF}')"
agent_call "$k1" /vm_startup '{"hostname":"byo-1"}' "$urlb" >"$T/parked.out" &
parked=$!
zagent byo-1 "$k1" oldz
wait_log "$T/oldz.log" "connected to the gateway" 20
sleep 1
kill -0 $parked 2>/dev/null || fail "the long poll did not park: $(cat "$T/parked.out")"
t0=$(date +%s%N)
k2=$(vm_token "$url" byo-1)  # through allocator A: B hears of it by NOTIFY
wait $parked || true
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "parked long poll of the old token" '{"error":"token revoked"} 401' "$(cat "$T/parked.out")"
[ "$ms" -lt $((5000 * ${LABLINK_TIME_SCALE:-1})) ] || fail "the parked long poll was dropped after $ms ms"
wait_log "$T/oldz.log" "gateway said ERROR token revoked" 10
out=$(curl -s -H 'Accept: application/json' -w ' %{http_code}' --max-time 15 \
    --data-urlencode email=student@example.com --data-urlencode 'crd_command=--code=4/tokens-test' "$url/api/request_vm")
expect "claim" 200 "${out##* }"
grep -q '"hostname":"byo-1"' <<<"$out" || fail "claimed another VM: $out"
pin=$(sed -n 's/.*"pin":"\([0-9]*\)".*/\1/p' <<<"$out")
sleep 2
[ -s "$T/oldz.start-host" ] && fail "the old token's ZeroMQ agent ran start-host: $(cat "$T/oldz.start-host")"
out=$(agent_call "$k1" /vm_startup '{"hostname":"byo-1"}' "$urlb")
expect "old token polls" '{"error":"token revoked"} 401' "$out"
expect "old token's RESULT" '{"error":"token revoked"} 401' \
    "$(agent_call "$k1" /api/vm-startup-result '{"hostname":"byo-1","success":true}' "$urlb")"
expect "delivered_at after the old token's RESULT" t "$(psqlc "SELECT delivered_at IS NULL FROM vms WHERE hostname='byo-1'")"
out=$(agent_call "$k2" /vm_startup '{"hostname":"byo-1"}' "$urlb")
expect "current token polls" "{\"status\":\"success\",\"pin\":\"$pin\",\"command\":\"--code=4/tokens-test\"} 200" "$out"
expect "current token's RESULT" 200 "$(agent_call "$k2" /api/vm-startup-result '{"hostname":"byo-1","success":true}' "$urlb" | awk '{print $NF}')"
expect "delivered_at" f "$(psqlc "SELECT delivered_at IS NULL FROM vms WHERE hostname='byo-1'")"
pass "a new token drops the old one's parked HTTP long poll ($ms ms, on another allocator) and ZeroMQ agent; the PIN goes only to the current token; the old RESULT counts for nothing"

# --- authenticated before the body is read -----------------------------------
# Headers only, a body of 1,000,000 bytes announced and never sent: the
# answer comes at once (reading the body first would wait for it)
raw() {  # TOKEN: first line of the answer within 3 s
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'POST /api/vm-status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n' "$1" >&3
    local line=""
    read -r -t 3 line <&3 || true
    exec 3<&-
    printf '%s' "${line%$'\r'}"
}
expect "revoked token, no body sent" "HTTP/1.1 401 Unauthorized" "$(raw "$k1")"
expect "unknown VM, no body sent" "HTTP/1.1 404 Not Found" "$(raw "$ghost")"
expect "revoked token, body not JSON" '{"error":"token revoked"} 401' "$(agent_call "$k1" /api/vm-status 'not json')"
pass "the token is checked before the body is read or parsed"

kill -TERM $pidB
wait $pidB || true
pidB=
stop_allocator_within 15
