# Helpers of the fault-injection tests (sourced after lib.sh and
# claim_lib.sh; run under tests/harness/run-test).

# fault_agent URL HOST TOKEN: what lablink-agent's HTTP loop does: POST
# /vm_startup again after 204 and after errors (allocator or database gone),
# acknowledge each assignment with /api/vm-startup-result; every command it
# receives is appended to $T/got-HOST. Returns once an acknowledgement was
# answered 200, or after 120 s.
fault_agent() {
    local url=$1 host=$2 tok=$3 out t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 120 ]; do
        out=$(curl -s -w ' %{http_code}' --max-time 15 -H "Authorization: Bearer $tok" \
            -d "{\"hostname\":\"$host\"}" "$url/vm_startup" 2>/dev/null) || { sleep 1; continue; }
        case "${out##* }" in
            200) ;;
            204) continue ;;
            *) sleep 1; continue ;;
        esac
        sed -n 's/.*"command":"\([^"]*\)".*/\1/p' <<<"$out" >>"$T/got-$host"
        out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H "Authorization: Bearer $tok" \
            -d "{\"hostname\":\"$host\",\"success\":true}" "$url/api/vm-startup-result" 2>/dev/null) || true
        [ "$out" = 200 ] && return 0
    done
}

# check_delivered PREFIX: every VM PREFIX-* holding an assignment got it,
# only it, and acknowledged it (delivered_at set)
check_delivered() {
    local host want
    while read -r host want; do
        [ -s "$T/got-$host" ] || fail "$host never got its assignment"
        [ "$(sort -u "$T/got-$host")" = "$want" ] \
            || fail "$host got $(sort -u "$T/got-$host" | paste -sd' '), stored $want"
    done < <(sql "SELECT hostname || ' ' || crd_command FROM vms WHERE hostname LIKE '$1-%' AND crd_command IS NOT NULL")
    expect "stored assignments not acknowledged" 0 \
        "$(sql "SELECT count(*) FROM vms WHERE hostname LIKE '$1-%' AND crd_command IS NOT NULL AND delivered_at IS NULL")"
    expect "e-mails holding two VMs" 0 \
        "$(sql "SELECT count(*) FROM (SELECT user_email FROM vms WHERE user_email IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d")"
}
