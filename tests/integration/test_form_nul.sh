# Issue 15 section 6: a form field or query variable holding a NUL byte
# (%00) is 400, never silently cut short at the NUL, against the real
# allocator and PostgreSQL: the student's claim form (with a free VM and
# its agent waiting), the admin login, a launch, a query string; with and
# without a form Content-Type; and nothing changed (no assignment, no PIN
# delivered, no session, no operation, no audit row of a claim).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "agent:" "  long_poll_s: 20" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
tok=$(vm_token "$url" nul-1)
expect "status" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
    -d '{"hostname":"nul-1","status":"running"}' "$url/api/vm-status")"
# the VM's agent waits for an assignment the whole time
curl -s -w ' %{http_code}' --max-time 25 -H "Authorization: Bearer $tok" \
    -d '{"hostname":"nul-1"}' "$url/vm_startup" >"$T/poll.out" &
poll=$!
sleep 0.5
state() { sql "SELECT concat_ws('|', (SELECT count(*) FROM vms WHERE user_email IS NOT NULL OR pin IS NOT NULL),
    (SELECT count(*) FROM audit_log WHERE action = 'claim' OR action LIKE 'login%'),
    (SELECT count(*) FROM admin_sessions), (SELECT count(*) FROM operations))"; }
before=$(state)
expect "nothing yet" "0|0|0|0" "$before"

# code WANT [curl args]: the status and the error message
code() { curl -s --max-time 10 -o "$T/out" -w '%{http_code}' "$@"; }
nul_refused() {  # WHAT [curl args]
    local what=$1
    shift
    expect "$what" 400 "$(code "$@")"
    grep -qF '"error":"A form field holds a NUL byte (%00)."' "$T/out" || fail "$what: $(cat "$T/out")"
}
# The claim form: a NUL in either field, form-encoded, JSON client or browser
nul_refused "email %00" -H 'Accept: application/json' \
    --data-binary 'email=student%00@example.com&crd_command=--code=4/x' "$url/api/request_vm"
nul_refused "email %00 (browser)" --data-binary 'email=student@example.com%00x&crd_command=--code=4/x' "$url/api/request_vm"
nul_refused "crd_command %00" -H 'Accept: application/json' \
    --data-binary 'email=student@example.com&crd_command=--code=4/x%00--code=4/y' "$url/api/request_vm"
printf 'email=student@example.com\0x&crd_command=--code=4/x' >"$T/raw-nul"
nul_refused "raw NUL byte" -H 'Accept: application/json' --data-binary @"$T/raw-nul" "$url/api/request_vm"
# No Content-Type: still read as a form, still refused
nul_refused "no Content-Type" -H 'Content-Type:' -H 'Accept: application/json' \
    --data-binary 'email=student%00@example.com&crd_command=--code=4/x' "$url/api/request_vm"
# The admin login: the right password after a NUL in the user name
nul_refused "login user %00" -H 'Accept: application/json' \
    --data-binary 'username=admin%00x&password=test-admin-password' "$url/admin/login"
grep -qi 'set-cookie' <<<"$(curl -s -D - -o /dev/null --data-binary 'username=admin%00&password=test-admin-password' "$url/admin/login")" \
    && fail "a login with a NUL got a session cookie"
# A launch: num_vms=1%00 is not 1
nul_refused "num_vms %00" -u admin:test-admin-password -H 'Accept: application/json' \
    --data-binary 'num_vms=1%00' "$url/api/launch"
# Query strings
nul_refused "query %00" -u admin:test-admin-password "$url/api/operations?limit=5%00"
nul_refused "query %00 on a page" "$url/admin/login?next=/admin%00/x"
after=$(state)
expect "nothing changed (assignment or PIN, claim or login audit, session, operation)" "$before" "$after"
sleep 1
kill -0 $poll 2>/dev/null || fail "the waiting agent got an answer: $(cat "$T/poll.out")"
pass "a NUL byte (%00 or raw) in a form field or query is 400 on every route, with or without Content-Type; nothing claimed, delivered, logged in or launched"

# Control: the same requests without the NUL do what they should
out=$(claim_json "$url" student@example.com '--code=4/x')
expect "claim without the NUL" 200 "${out##* }"
wait $poll || true
grep -q '"command":"--code=4/x"} 200' "$T/poll.out" || fail "the agent did not get the claim: $(cat "$T/poll.out")"
expect "a JSON body may carry the text %00" 200 "$(curl -s -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
    -d '{"log_group":"g","log_stream":"nul-1","messages":["100%00 done"]}' "$url/api/vm-logs")"
expect "the line stored whole" "100%00 done" "$(sql "SELECT line FROM vm_logs WHERE hostname = 'nul-1'")"
pass "without the NUL the claim is delivered; a JSON log line saying %00 is text, stored whole"
claim_stop a
