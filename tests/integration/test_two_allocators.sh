# Two allocators on one PostgreSQL behind the shipped Caddy snippet
# (packaging/caddy/lablink.caddy, LABLINK_UPSTREAM with both addresses):
#   1. a claim storm through Caddy, 400 claims on 100 VMs: exactly 100
#      winners, no VM twice, and both allocators served claims;
#   2. an agent parked on allocator A gets the claim made on allocator B;
#   3. allocator A killed (SIGKILL) while students claim and a VM posts its
#      logs through Caddy: every claim answered 200 is stored as answered,
#      every log post answered 200 is stored whole, and Caddy sends the
#      requests that follow to B.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

command -v caddy >/dev/null 2>&1 \
    || fail "caddy not found: install it with LABLINK_DEPS=tls scripts/install-deps (make test does)"
pa=$(ll_free_port)
pb=$(ll_free_port)
limits=("claim:" "  email_per_minute: 0" "  address_per_minute: 0")
claim_start a "$pa" "agent:" "  long_poll_s: 20" "${limits[@]}"
claim_start b "$pb" "agent:" "  long_poll_s: 20" "${limits[@]}"

# Caddy in front of both, with the shipped snippet (plain HTTP site)
cport=$(ll_free_port)
C=$T/caddy
mkdir -p "$C/data" "$C/config"
cat >"$C/Caddyfile" <<CADDY
{
	admin off
	storage file_system $C/data/caddy
}

import $SRC/packaging/caddy/lablink.caddy

http://127.0.0.1:$cport {
	import lablink_proxy
}
CADDY
HOME=$C XDG_DATA_HOME=$C/data XDG_CONFIG_HOME=$C/config \
    LABLINK_UPSTREAM="127.0.0.1:$pa 127.0.0.1:$pb" \
    caddy run --config "$C/Caddyfile" --adapter caddyfile </dev/null >"$T/caddy.log" 2>&1 &
CADDY_PID=$!
trap 'kill $CADDY_PID 2>/dev/null || true' EXIT
url=http://127.0.0.1:$cport
wait_healthy 30 "$url" || { cat "$T/caddy.log" >&2; fail "no 200 through caddy"; }

# --- 1. the claim storm ---
seed_vms storm 100
"$BENCH" burst --url "$url" --clients 400 >"$T/burst.out"
expect "winners" 100 "$(grep -c '^OK ' "$T/burst.out" || true)"
expect "refused (No available VMs)" 300 "$(grep -c '^NONE$' "$T/burst.out" || true)"
expect "distinct VMs in the answers" 100 "$(grep '^OK ' "$T/burst.out" | sort -u | wc -l)"
expect "assigned rows" 100 "$(sql "SELECT count(*) FROM vms WHERE hostname LIKE 'storm-%' AND user_email IS NOT NULL")"
expect "students holding two VMs" 0 \
    "$(sql "SELECT count(*) FROM (SELECT user_email FROM vms WHERE user_email IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d")"
served() {  # NAME: claims that allocator answered
    local port
    eval "port=\$p$1"
    curl -s "http://127.0.0.1:$port/metrics" \
        | awk -F' ' '/^lablink_http_requests_total\{method="POST",route="\/api\/request_vm"/ {n += $2} END {print n + 0}'
}
na=$(served a)
nb=$(served b)
[ "$((na + nb))" = 400 ] && [ "$na" -gt 0 ] && [ "$nb" -gt 0 ] \
    || fail "claims served: a $na, b $nb (both should, 400 in all)"
pass "400 claims on 100 VMs through caddy and two allocators: 100 winners, no VM twice ($na on a, $nb on b)"

# --- 2. parked on A, claimed on B ---
tok=$(vm_token "$url" park-1)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -d '{"hostname":"park-1","status":"running"}' \
    "http://127.0.0.1:$pb/api/vm-status")
expect "park-1 running" 200 "$code"
curl -s -w ' %{http_code}' --max-time 30 -H "Authorization: Bearer $tok" \
    -d '{"hostname":"park-1"}' "http://127.0.0.1:$pa/vm_startup" >"$T/park.out" &
poll=$!
t0=$SECONDS
until curl -s "http://127.0.0.1:$pa/metrics" | grep -q '^lablink_actor_queue_depth{actor="waiters"} 1$'; do
    [ $((SECONDS - t0)) -lt 15 ] || fail "the agent never parked on a"
    sleep 0.2
done
out=$(claim_json "http://127.0.0.1:$pb" parked@example.com '--code=4/parked-on-a')
expect "claim on b" 200 "${out##* }"
grep -q '"hostname":"park-1"' <<<"$out" || fail "the claim on b took another VM: $out"
wait "$poll" || true
grep -q '"command":"--code=4/parked-on-a"' "$T/park.out" && grep -q ' 200$' "$T/park.out" \
    || fail "the agent parked on a did not get the claim made on b: $(cat "$T/park.out")"
pass "an agent parked on allocator a receives the claim made on allocator b"

# --- 3. allocator a killed mid-run ---
seed_vms kill 300
ltok=$(vm_token "$url" logs-1)
# claimer N: claims through caddy until $T/stop; one line per claim:
# "email status hostname pin"
claimer() {
    local n=$1 k=0 out host pin
    while [ ! -e "$T/stop" ] && [ $k -lt 150 ]; do
        k=$((k + 1))
        out=$(curl -s -H 'Accept: application/json' -w ' %{http_code}' --max-time 20 \
            --data-urlencode "email=k$n-$k@example.com" \
            --data-urlencode "crd_command=--code=4/k$n-$k" "$url/api/request_vm") || out="- 000"
        host=$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' <<<"$out")
        pin=$(sed -n 's/.*"pin":"\([^"]*\)".*/\1/p' <<<"$out")
        echo "k$n-$k@example.com ${out##* } ${host:--} ${pin:--}" >>"$T/claims.$n"
    done
}
# poster: log posts of 20 lines through caddy until $T/stop; one line per
# post: "k status"
poster() {
    local k=0 body code
    while [ ! -e "$T/stop" ] && [ $k -lt 400 ]; do
        k=$((k + 1))
        body="{\"log_group\":\"g\",\"log_stream\":\"logs-1\",\"messages\":[$(seq -f "\"tk-$k-%g\"" -s, 1 20)]}"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H "Authorization: Bearer $ltok" \
            -H 'Content-Type: application/json' -d "$body" "$url/api/vm-logs") || code=000
        echo "$k $code" >>"$T/posts"
    done
}
workers=()
for n in 1 2 3 4; do claimer "$n" & workers+=($!); done
poster & workers+=($!)
sleep 3
kill -KILL "$PID_a"
wait "$PID_a" 2>/dev/null || true
sleep 4
touch "$T/stop"
wait "${workers[@]}"
cat "$T"/claims.* >"$T/claims"
acked=$(awk '$2 == 200' "$T/claims" | wc -l)
[ "$acked" -gt 0 ] || fail "no claim answered 200"
sql "SELECT hostname || ' ' || user_email || ' ' || pin FROM vms WHERE user_email IS NOT NULL" >"$T/stored"
lost=$(awk 'NR == FNR { s[$1] = $2 " " $3; next } $2 == 200 && s[$3] != $1 " " $4' "$T/stored" "$T/claims")
[ -z "$lost" ] || fail "claims answered 200 but not stored as answered: $(head -3 <<<"$lost")"
dup=$(awk '$2 == 200 {print $3}' "$T/claims" | sort | uniq -d)
[ -z "$dup" ] || fail "VMs given twice: $dup"
bad=$(awk '$2 != 200 && $2 != 502 && $2 != 503 && $2 != 000' "$T/claims")
[ -z "$bad" ] || fail "claims answered neither 200 nor a 5xx/connection error: $(head -3 <<<"$bad")"
posted=$(awk '$2 == 200' "$T/posts" | wc -l)
[ "$posted" -gt 0 ] || fail "no log post answered 200"
missing=0
for k in $(awk '$2 == 200 {print $1}' "$T/posts"); do
    n=$(sql "SELECT count(*) FROM vm_logs WHERE hostname = 'logs-1' AND line LIKE 'tk-$k-%'")
    [ "$n" = 20 ] || missing=$((missing + 1))
done
expect "acknowledged log posts not stored whole" 0 "$missing"
# after the kill, the requests went to b
late=$(tail -n 5 "$T/claims.1" | awk '$2 == 200' | wc -l)
[ "$late" -gt 0 ] || fail "no claim answered after the kill: $(tail -n 5 "$T/claims.1")"
statuses=$(awk '{print $2}' "$T/claims" | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
pass "allocator a killed mid-run: $acked claims answered 200 and stored as answered ($statuses), $posted log posts answered 200 and stored whole, caddy sent the rest to b"

kill "$CADDY_PID" 2>/dev/null || true
wait "$CADDY_PID" 2>/dev/null || true
trap - EXIT
claim_stop b
echo "3 passed, 0 failed"
