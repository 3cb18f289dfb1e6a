# The student side from outside: pages, upstream's messages, returning
# students (reference 2.6), rate limits, and bad input of every kind on
# every claim route: the right status, a JSON error (or the index page
# with the message), nothing stored, nothing crashes.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "agent:" "  long_poll_s: 2" \
    "claim:" "  email_per_minute: 4" "  address_per_minute: 1000"
seed_vms in 4
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
stored() { sql "SELECT count(*) FROM vms WHERE user_email IS NOT NULL"; }

# --- the page ---
page=$(curl -s "$url/")
for id in vms_available unassigned_vms_count 'name="email"' 'name="crd_command"' 'action="/api/request_vm"'; do
    grep -q "$id" <<<"$page" || fail "index page lacks $id"
done
grep -q '<script>' <<<"$page" && fail "inline script in the index page"
grep -q 'class="alert" role="alert" hidden' <<<"$page" || fail "empty error shown"
curl -s -D - -o /dev/null "$url/" | grep -qi "Content-Security-Policy: default-src 'self'" || fail "no CSP"
pass "index page: upstream ids, no inline script, CSP"

# --- bad input to /api/request_vm: 400, message in the page, nothing stored ---
bad_claim() {  # WHAT STATUS MESSAGE curl-args...
    local what=$1 want=$2 msg=$3
    shift 3
    local out
    out=$(curl -s -w ' %{http_code}' --max-time 10 "$@" "$url/api/request_vm")
    [ "${out##* }" = "$want" ] || fail "$what: status ${out##* }, want $want"
    grep -qF "$msg" <<<"$out" || fail "$what: message missing: $out"
}
req='Email and CRD command are required.'
crd='Invalid CRD command received. Please ask your instructor for help.'
bad_claim "no fields" 400 "$req" -X POST
bad_claim "no email" 400 "$req" --data-urlencode 'crd_command=--code=4/x'
bad_claim "no command" 400 "$req" --data-urlencode 'email=a@example.com'
bad_claim "empty email" 400 "$req" -d 'email=&crd_command=--code%3D4'
bad_claim "blank email" 400 "$req" -d 'email=%20%20&crd_command=--code%3D4'
bad_claim "bad email" 400 "Invalid email address" --data-urlencode 'email=not-an-email' --data-urlencode 'crd_command=--code=4/x'
bad_claim "email injection" 400 "Invalid email address" --data-urlencode "email=a'); DROP TABLE vms;--@x.org" --data-urlencode 'crd_command=--code=4/x'
bad_claim "email html" 400 "Invalid email address" --data-urlencode 'email=<script>@x.org' --data-urlencode 'crd_command=--code=4/x'
bad_claim "long email" 400 "Invalid email address" --data-urlencode "email=$(head -c 400 /dev/zero | tr '\0' a)@x.org" --data-urlencode 'crd_command=--code=4/x'
for c in '--code=x;id' '--code=x|sh' '--code=$(id)' '--code=`whoami`' '--code=x${IFS}y' \
         '--code=x&&id' '--code=x=y' "--code='x;id'" '--code="$(id)"' "--code='abc" \
         "--code=a'b" '--code=' "--code=''" 'no code here' '--code=a --code=b' \
         "$(head -c 5000 /dev/zero | tr '\0' a)"; do
    bad_claim "crd $c" 400 "$crd" --data-urlencode 'email=ok@example.com' --data-urlencode "crd_command=$c"
done
out=$(curl -s -H 'Accept: application/json' -w ' %{http_code}' -d 'email=x' "$url/api/request_vm")
expect "JSON error" "{\"error\":\"$req\"} 400" "$out"
expect "non-form body" 400 "$(code -H 'Content-Type: application/json' -d '{"email":"a@b.c","crd_command":"--code=4/x"}' "$url/api/request_vm")"
head -c 2000000 /dev/zero | tr '\0' a >"$T/big"
expect "oversized body" 413 "$(code --data-binary @"$T/big" "$url/api/request_vm")"
expect "GET request_vm" 405 "$(code "$url/api/request_vm")"
expect "nothing stored" 0 "$(stored)"
out=$(curl -s --data-urlencode 'email=<b>x</b>@x.org' -d 'crd_command=--code%3D4' "$url/api/request_vm")
grep -q '<b>x</b>' <<<"$out" && fail "email echoed unescaped"
pass "bad claims: 400 with upstream's messages (JSON on request), 413, 405, nothing stored, nothing echoed raw"

# --- accepted CRD forms: only the code is stored ---
clients_wait
full='DISPLAY= /opt/google/chrome-remote-desktop/start-host --code="4/0AciGood_code-1" --redirect-url="https://remotedesktop.google.com/_/oauthredirect" --name=$(hostname)'
out=$(claim_json "$url" Student@Example.com "$full")
expect "full google command" 200 "${out##* }"
proof=(--data-urlencode "recovery_code=$(recovery_of "$out")")
host=$(echo "$out" | sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p')
expect "stored command" '--code=4/0AciGood_code-1|student@example.com' \
    "$(sql "SELECT crd_command || '|' || user_email FROM vms WHERE hostname = '$host'")"
page=$(curl -s --data-urlencode email=page@example.com --data-urlencode "crd_command=--code 4/abc" "$url/api/request_vm")
grep -q 'VM Assigned Successfully!' <<<"$page" || fail "success page"
grep -Eq 'PIN:</span> <strong [^>]*id="pin">[0-9]{6}</strong>' <<<"$page" || fail "PIN on the success page"
grep -q 'https://remotedesktop.google.com/access/' <<<"$page" || fail "CRD link"
pass "valid commands: only --code=<code> stored, email lower-cased, success page with hostname and PIN"

# --- returning student (reference 2.6), who shows the claim's secret ---
pin1=$(sql "SELECT pin FROM vms WHERE hostname = '$host'")
acked=$(sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = '$host'")
out=$(claim_json "$url" student@example.com '--code=4/again' "${proof[@]}")
expect "running: same VM" "$host" "$(echo "$out" | sed -n 's/.*"hostname":"\([^"]*\)".*/\1/p')"
expect "new code stored" '--code=4/again' "$(sql "SELECT crd_command FROM vms WHERE hostname = '$host'")"
# an unacknowledged code's PIN stays (start-host may be running with it)
if [ "$acked" = f ]; then
    expect "PIN kept" "$pin1" "$(sql "SELECT pin FROM vms WHERE hostname = '$host'")"
elif [ "$(sql "SELECT pin FROM vms WHERE hostname = '$host'")" = "$pin1" ]; then
    echo "note: same PIN by chance"
fi
psql -q -c "UPDATE vms SET status = 'rebooting' WHERE hostname = '$host'"
page=$(curl -s -w ' %{http_code}' --data-urlencode email=student@example.com --data-urlencode 'crd_command=--code=4/reboot' "${proof[@]}" "$url/api/request_vm")
grep -q 'Your VM Is Recovering' <<<"$page" || fail "recovery page: $page"
grep -q "$host" <<<"$page" || fail "recovery page lacks the hostname"
expect "queued code" '--code=4/reboot' "$(sql "SELECT crd_command FROM vms WHERE hostname = '$host'")"
psql -q -c "UPDATE vms SET status = 'error' WHERE hostname = '$host'"
out=$(claim_json "$url" student@example.com '--code=4/err' "${proof[@]}")
expect "error status" 409 "${out##* }"
grep -q 'could not be recovered' <<<"$out" || fail "unrecoverable message: $out"
pass "returning student: same VM with the new code, recovery page while rebooting, refused while in error"

# --- rate limit per email: 429 + Retry-After ---
clients_wait
for i in 1 2 3 4; do claim_json "$url" limited@example.com "--code=4/l$i" >/dev/null; done
headers=$(curl -s -D - -o /dev/null --data-urlencode email=limited@example.com --data-urlencode 'crd_command=--code=4/l5' "$url/api/request_vm")
grep -q '^HTTP/1.1 429' <<<"$headers" || fail "5th claim in a minute not 429: $headers"
grep -Eqi '^Retry-After: [1-9][0-9]*' <<<"$headers" || fail "429 without Retry-After"
expect "other student not limited" 200 "$(claim_json "$url" free@example.com '--code=4/f' | awk '{print $NF}')"
pass "rate limit per email: 429 with Retry-After; other students unaffected"

# --- /vm_startup and /api/vm-startup-result bad input ---
token in-1,in-2 >"$T/tokens"
t1=$(sed -n 1p "$T/tokens"); t2=$(sed -n 2p "$T/tokens")
agent() {  # PATH TOKEN BODY -> status
    code -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary "$3" "$url$1"
}
before=$(sql "SELECT md5(string_agg(concat_ws('|', hostname, user_email, crd_command, pin, delivered_at), ',' ORDER BY hostname)) FROM vms")
for p in /vm_startup /api/vm-startup-result; do
    expect "$p no token" 401 "$(code -d '{"hostname":"in-1"}' "$url$p")"
    expect "$p basic auth" 401 "$(code -u admin:test-admin-password -d '{"hostname":"in-1"}' "$url$p")"
    expect "$p garbage token" 401 "$(agent $p 'garbage' '{"hostname":"in-1","success":true}')"
    expect "$p forged token" 401 "$(agent $p "in-1.$(printf '%064d' 0)" '{"hostname":"in-1","success":true}')"
    expect "$p other VM's token" 403 "$(agent $p "$t2" '{"hostname":"in-1","success":true}')"
    expect "$p not JSON" 400 "$(agent $p "$t1" 'hostname=in-1')"
    expect "$p JSON array" 400 "$(agent $p "$t1" '["in-1"]')"
    expect "$p no hostname" 400 "$(agent $p "$t1" '{"success":true}')"
    expect "$p hostname number" 400 "$(agent $p "$t1" '{"hostname":7,"success":true}')"
    expect "$p hostname injection" 400 "$(agent $p "$t1" "{\"hostname\":\"in-1'; DROP TABLE vms;--\",\"success\":true}")"
    expect "$p hostname NUL" 400 "$(agent $p "$t1" '{"hostname":"in-1\u0000x","success":true}')"
    expect "$p duplicate keys" 400 "$(agent $p "$t1" '{"hostname":"in-1","hostname":"in-2","success":true}')"
    expect "$p oversized" 413 "$(code -H "Authorization: Bearer $t1" --data-binary @"$T/big" "$url$p")"
    expect "$p GET" 405 "$(code -H "Authorization: Bearer $t1" "$url$p")"
done
expect "result success string" 400 "$(agent /api/vm-startup-result "$t1" '{"hostname":"in-1","success":"yes"}')"
expect "result error number" 400 "$(agent /api/vm-startup-result "$t1" '{"hostname":"in-1","success":false,"error":5}')"
expect "result unknown VM" 404 "$(agent /api/vm-startup-result "ghost-1.$(openssl rand -hex 32)" '{"hostname":"ghost-1","success":true}')"
after=$(sql "SELECT md5(string_agg(concat_ws('|', hostname, user_email, crd_command, pin, delivered_at), ',' ORDER BY hostname)) FROM vms")
expect "nothing changed by bad agent calls" "$before" "$after"
pass "agent routes: 401/403/400/413/405/404 as due, nothing stored"

# --- count: the claim's predicate ---
clients_wait
free=$(sql "SELECT count(*) FROM vms WHERE status='running' AND user_email IS NULL AND last_seen_at >= now() - interval '180 seconds' AND last_polled_at >= now() - interval '22 seconds'")
expect "count" "{\"count\":$free}" "$(curl -s "$url/api/unassigned_vms_count")"
psql -q -c "UPDATE vms SET last_seen_at = now() - interval '1 hour' WHERE user_email IS NULL"
sleep 0.6
expect "stale VMs not counted" '{"count":0}' "$(curl -s "$url/api/unassigned_vms_count")"
out=$(claim_json "$url" late@example.com '--code=4/late')
expect "stale VMs not offered" 503 "${out##* }"
pass "available count uses the claim's predicate (stale VMs neither counted nor offered)"

claim_stop a
echo "1 passed, 0 failed"
