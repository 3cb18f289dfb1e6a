# PostgreSQL killed (pg_ctl -m immediate) and started again during a claim
# storm while 12 agents are parked on /vm_startup. What the user sees:
# students get 200 with a VM, or a quick 5xx JSON error while the database
# is away (never a hang); agents keep polling and, once PostgreSQL is back,
# each gets the claim made for its VM.
# Checked: every 200 names a VM that stores that e-mail and PIN, no VM is
# named by two 200s, every stored assignment of the parked agents' VMs is
# delivered (and acknowledged) exactly as stored.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
. "$LABLINK_SOURCE_DIR/tests/faults/faults_lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start allocator "$port" "agent:" "  long_poll_s: 4" "  max_parked: 40" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
seed_vms w 12   # with a parked agent each
seed_vms x 300  # without: enough free VMs for the whole storm
token "$(seq -s, -f 'w-%g' 1 12)" "$T/allocator.yaml" >"$T/w.tokens"
agents=()
for i in $(seq 1 12); do
    fault_agent "$url" "w-$i" "$(sed -n "${i}p" "$T/w.tokens")" &
    agents+=($!)
done

# claimer N: claims as c<N>-<k>@example.com until $T/stop exists; one line
# per claim in $T/storm.N: "email curl-rc status hostname pin error?"
claimer() {
    local n=$1 k=0 out rc host pin err
    while [ ! -e "$T/stop" ] && [ $k -lt 200 ]; do
        k=$((k + 1))
        rc=0
        out=$(curl -s -H 'Accept: application/json' -w ' %{http_code}' --max-time 30 \
            --data-urlencode "email=c$n-$k@example.com" --data-urlencode "crd_command=--code=4/c$n-$k" \
            "$url/api/request_vm") || rc=$?
        host=$(sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p' <<<"$out")
        pin=$(sed -n 's/.*"pin":"\([^"]*\)".*/\1/p' <<<"$out")
        err=-; grep -q '^{"error":"[^"]' <<<"$out" && err=error
        echo "c$n-$k@example.com $rc ${out##* } ${host:--} ${pin:--} $err" >>"$T/storm.$n"
        sleep 0.1
    done
}
sleep 1
storm=()
for n in 1 2 3 4 5 6; do claimer "$n" & storm+=($!); done
sleep 1.5
"$SRC/tests/harness/pg" kill
sleep 1
"$SRC/tests/harness/pg" start || fail "pg start"
wait_healthy 30 "$url" || fail "health not 200 within 30 s of PostgreSQL's return"
sleep 2
touch "$T/stop"
wait "${storm[@]}"
cat "$T"/storm.* >"$T/storm"
total=$(wc -l <"$T/storm")
hung=$(awk '$2 != 0' "$T/storm" | wc -l)
[ "$hung" = 0 ] || fail "$hung claims got no answer within 30 s: $(awk '$2 != 0' "$T/storm" | head -3)"
acked=$(awk '$3 == 200' "$T/storm" | wc -l)
refused=$(awk '$3 != 200' "$T/storm" | wc -l)
bad=$(awk '$3 != 200 && !(($3 == 500 || $3 == 503) && $6 == "error")' "$T/storm")
[ -z "$bad" ] || fail "refusals that are not a 5xx JSON error: $(head -3 <<<"$bad")"
[ "$refused" -gt 0 ] || fail "the kill did not hit the storm (nothing refused)"
[ "$acked" -gt 0 ] || fail "nothing acknowledged"
pass "claim storm across a PostgreSQL kill: $total claims, none hung, $refused refused with 5xx JSON, $acked answered 200"

# every 200 is that VM's stored assignment; no VM in two 200s
sql "SELECT hostname || ' ' || user_email || ' ' || pin FROM vms WHERE user_email IS NOT NULL" >"$T/stored"
lost=$(awk 'NR == FNR { s[$1] = $2 " " $3; next } $3 == 200 && s[$4] != $1 " " $5' "$T/stored" "$T/storm")
[ -z "$lost" ] || fail "200s not stored as answered: $(head -3 <<<"$lost")"
dup=$(awk '$3 == 200 { print $4 }' "$T/storm" | sort | uniq -d)
[ -z "$dup" ] || fail "VMs given to two students: $dup"
pass "all $acked acknowledged claims stored with their VM and PIN; no VM double-booked"

# the parked agents: claim the VMs still free, each agent gets its claim
sql "UPDATE vms SET status = 'error' WHERE hostname LIKE 'x-%' AND user_email IS NULL" >/dev/null
k=0
while [ "$(sql "SELECT count(*) FROM vms WHERE hostname LIKE 'w-%' AND user_email IS NULL")" != 0 ]; do
    k=$((k + 1))
    [ $k -le 25 ] || fail "w VMs still free after 25 claims"
    out=$(claim_json "$url" "late$k@example.com" "--code=4/late$k")
    expect "claim after the restart" 200 "${out##* }"
done
wait "${agents[@]}" || true
check_delivered w
pass "12 agents parked across the kill: each got its VM's assignment, as stored"

ALLOC_PID=$PID_allocator
stop_allocator_within 20
echo "3 passed, 0 failed"
