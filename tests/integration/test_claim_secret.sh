# Issue 15 section 1, as an attacker in the class tries it against the real
# allocator and PostgreSQL: knowing a classmate's email is not enough to
# take their desktop. A claim hands out a secret (HttpOnly SameSite=Strict
# cookie + recovery code; only its hash stored); a re-claim of an email
# that holds a VM without it, with a wrong one or with another student's is
# 403 with no VM name and no PIN, and changes nothing (row, PIN, delivery).
# The admin's claim reset (audited), the student's own claim look-up, and
# the optional roster (access code, email list or file, domains).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port" "agent:" "  long_poll_s: 2" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
# VMs whose token vm_token made, running and fresh
trust_vms() {  # PREFIX COUNT
    for i in $(seq 1 "$2"); do
        vm_token "$url" "$1-$i" >"$T/token-$1-$i"
        psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, status, last_seen_at, last_polled_at)
            VALUES ('$1-$i', 'running', now(), now()) ON CONFLICT (hostname)
            DO UPDATE SET status = 'running', last_seen_at = now(), last_polled_at = now()"
    done
}
trust_vms sec 3
snapshot() {
    sql "SELECT md5(string_agg(concat_ws('|', hostname, user_email, crd_command, pin,
         assigned_at, delivered_at, claim_secret_hash), ',' ORDER BY hostname)) FROM vms"
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
# claim_as EMAIL CODE [curl args]: JSON claim, headers in $T/h, prints "body status"
claim_as() {
    local email=$1 crd=$2
    shift 2
    curl -s -D "$T/h" -H 'Accept: application/json' -w ' %{http_code}' --max-time 15 \
        --data-urlencode "email=$email" --data-urlencode "crd_command=$crd" "$@" "$url/api/request_vm"
}
denied='This email already has a VM. Use the recovery code from your first claim, or ask your instructor.'

# --- a first claim hands out the secret: cookie and recovery code ---
out=$(claim_as alice@example.com '--code=4/alice1' -c "$T/alice.jar")
expect "alice's claim" 200 "${out##* }"
host=$(echo "$out" | field hostname)
pin=$(echo "$out" | field pin)
rcode=$(echo "$out" | field recovery_code)
[[ "$rcode" =~ ^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$ ]] || fail "recovery code shape: '$rcode'"
cookie=$(tr -d '\r' <"$T/h" | grep -i '^Set-Cookie: lablink_claim=') || fail "no claim cookie"
for attr in HttpOnly SameSite=Strict 'Path=/' 'Max-Age='; do
    grep -qi "; *$attr" <<<"$cookie" || fail "claim cookie lacks $attr: $cookie"
done
grep -qi '; *Secure' <<<"$cookie" && fail "Secure over plain HTTP without a TLS proxy"
canon=$(tr -d '-' <<<"$rcode")
grep -q "lablink_claim=$canon;" <<<"$cookie" || fail "cookie and recovery code differ"
want=$(printf 'lablink-claim-v1:%s' "$canon" | sha256sum | cut -d' ' -f1)
expect "only the hash is stored" "$want" "$(sql "SELECT claim_secret_hash FROM vms WHERE hostname = '$host'")"
pg_dump -a >"$T/dump.sql"
grep -q "$canon" "$T/dump.sql" && fail "the claim secret itself is in the database"
page=$(curl -s --data-urlencode email=page@example.com --data-urlencode 'crd_command=--code=4/page' "$url/api/request_vm")
grep -Eq 'id="recovery_code">[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}<' <<<"$page" \
    || fail "no recovery code on the success page"
pass "a claim hands out its secret: HttpOnly SameSite=Strict cookie, the recovery code on the page, only the hash stored"

# --- the attack: alice's email without her secret ---
# alice's VM acknowledged its assignment and waits for the next one
tok=$(cat "$T/token-$host" 2>/dev/null || vm_token "$url" "$host")
expect "ack" 200 "$(code -H "Authorization: Bearer $tok" -d "{\"hostname\":\"$host\",\"success\":true}" "$url/api/vm-startup-result")"
curl -s -w ' %{http_code}' -H "Authorization: Bearer $tok" -d "{\"hostname\":\"$host\"}" \
    --max-time 10 "$url/vm_startup" >"$T/parked.out" &
parked=$!
sleep 0.5
before=$(snapshot)
other=$(claim_as bob@example.com '--code=4/bob1' -c "$T/bob.jar")
bob_code=$(echo "$other" | field recovery_code)
before=$(snapshot)
audits=$(sql "SELECT count(*) FROM audit_log WHERE outcome = 'DENIED'")
attack() {  # WHAT curl-args...
    local what=$1
    shift
    local out
    out=$(claim_as alice@example.com '--code=4/attacker' "$@")
    expect "$what: status" 403 "${out##* }"
    grep -qF "\"error\":\"$denied\"" <<<"$out" || fail "$what: message: $out"
    grep -q "$host" <<<"$out" && fail "$what: the VM's name leaked: $out"
    grep -q '"pin"' <<<"$out" && fail "$what: a PIN leaked: $out"
    grep -qi '^Set-Cookie: lablink_claim' "$T/h" && fail "$what: a claim cookie was handed out"
    expect "$what: nothing changed" "$before" "$(snapshot)"
}
attack "no secret"
attack "another student's cookie" -b "$T/bob.jar"
attack "another student's recovery code" --data-urlencode "recovery_code=$bob_code"
attack "a made-up code" --data-urlencode "recovery_code=ABCD-EFGH-JKMN-PQRS"
attack "a malformed code" --data-urlencode "recovery_code=x' OR '1'='1"
attack "a forged cookie" -b "lablink_claim=AAAAAAAAAAAAAAAA"
out=$(curl -s -w ' %{http_code}' --data-urlencode email=ALICE@example.com \
    --data-urlencode 'crd_command=--code=4/attacker' "$url/api/request_vm")
expect "browser page" 403 "${out##* }"
grep -qF "$denied" <<<"$out" || fail "the page does not say why"
grep -q "$host\|$pin" <<<"$out" && fail "the page leaks the VM or the PIN"
expect "nothing changed after every attack" "$before" "$(snapshot)"
wait $parked || true
expect "no delivery to alice's VM" 204 "$(awk '{print $NF}' "$T/parked.out")"
expect "refusals audited" 7 "$(($(sql "SELECT count(*) FROM audit_log WHERE outcome = 'DENIED'") - audits))"
pass "re-claim without the secret, with a wrong or another student's: 403 with the message, no VM name, no PIN, no delivery, nothing changed"

# --- alice herself: her cookie, or her recovery code in another browser ---
out=$(claim_as alice@example.com '--code=4/alice2' -b "$T/alice.jar")
expect "alice's cookie" 200 "${out##* }"
expect "same VM" "$host" "$(echo "$out" | field hostname)"
expect "same code" "$rcode" "$(echo "$out" | field recovery_code)"
expect "new command" '--code=4/alice2' "$(sql "SELECT crd_command FROM vms WHERE hostname = '$host'")"
out=$(claim_as alice@example.com '--code=4/alice3' --data-urlencode "recovery_code=$(tr 'A-Z' 'a-z' <<<"$rcode" | tr -- '-' ' ')")
expect "alice's code, typed loosely, another browser" 200 "${out##* }"
expect "same VM again" "$host" "$(echo "$out" | field hostname)"
grep -qi "^Set-Cookie: lablink_claim=$canon;" "$T/h" || fail "the other browser now holds the cookie"
pass "the owner re-claims with the cookie or the recovery code (another browser), same VM, same code"

# --- the student's own claim: GET with the cookie, POST with the code ---
out=$(curl -s -w ' %{http_code}' -b "$T/alice.jar" "$url/api/claim")
own_page=$(echo "$out" | field page)
[[ $own_page =~ ^/vm/$host\?t=[0-9a-f]{32}$ ]] || fail "no own page in the claim: $out"
expect "own claim" "{\"email\":\"alice@example.com\",\"vms\":[{\"hostname\":\"$host\",\"status\":\"running\",\"page\":\"$own_page\"}]} 200" "$out"
expect "no cookie" 401 "$(code "$url/api/claim")"
expect "forged cookie" 403 "$(code -b 'lablink_claim=AAAAAAAAAAAAAAAA' "$url/api/claim")"
expect "code" 200 "$(code -d "recovery_code=$rcode" "$url/api/claim")"
expect "code as JSON" 200 "$(code -H 'Content-Type: application/json' -d "{\"recovery_code\":\"$rcode\"}" "$url/api/claim")"
expect "wrong code" 403 "$(code -d 'recovery_code=ABCD-EFGH-JKMN-PQRS' "$url/api/claim")"
expect "no code" 400 "$(code -X POST "$url/api/claim")"
expect "code not a string" 400 "$(code -H 'Content-Type: application/json' -d '{"recovery_code":7}' "$url/api/claim")"
pass "GET /api/claim (cookie) and POST /api/claim (recovery code): 200 with the student's VMs; 401/403/400 otherwise"

# --- the student's own page, reached with the recovery code (issue 16) ---
# a browser's form on the home page: 303 to the VM's page, the cookie set
loc=$(curl -s -o /dev/null -D "$T/own.h" -w '%{http_code} %{redirect_url}' -H 'Accept: text/html,*/*' \
    -d "recovery_code=$rcode" "$url/api/claim")
expect "own page redirect" "303 $url$own_page" "$loc"
grep -qi "^Set-Cookie: lablink_claim=$canon;" "$T/own.h" || fail "the own-page redirect set no cookie"
page=$(curl -s "$url$own_page")
grep -q "action=\"/vm/$host/release\"" <<<"$page" || fail "the own page has no release form"
grep -q 'id="new_command"' <<<"$page" || fail "the own page has no new-command form"
expect "own page, wrong code" "403 " "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' \
    -H 'Accept: text/html' -d 'recovery_code=ABCD-EFGH-JKMN-PQRS' "$url/api/claim")"
home=$(curl -s "$url/")
grep -q 'id="own_page_form" method="post" action="/api/claim"' <<<"$home" || fail "no own-page form on the home page"
pass "the recovery code opens the student's own VM page (303 from the home page's form; 403 for a wrong code)"

# --- the admin resets a claim: a new code, the old one dead; audited ---
before=$(snapshot)
expect "reset without auth" 401 "$(code -d email=alice@example.com "$url/api/claims/reset")"
expect "reset with a student's cookie" 401 "$(code -b "$T/alice.jar" -d email=alice@example.com "$url/api/claims/reset")"
expect "nothing changed" "$before" "$(snapshot)"
admin=(-u admin:test-admin-password -H 'Accept: application/json')
expect "reset unknown" 404 "$(code "${admin[@]}" -d email=nobody@example.com "$url/api/claims/reset")"
expect "reset bad email" 400 "$(code "${admin[@]}" -d "email=x'--" "$url/api/claims/reset")"
out=$(curl -s -w ' %{http_code}' "${admin[@]}" -H 'Content-Type: application/json' \
    -d '{"email":"Alice@Example.com"}' "$url/api/claims/reset")
expect "reset" 200 "${out##* }"
grep -q "\"hostnames\":\[\"$host\"\]" <<<"$out" || fail "reset names the VM: $out"
new=$(echo "$out" | field recovery_code)
[ -n "$new" ] && [ "$new" != "$rcode" ] || fail "no new code: $out"
expect "audited" 1 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'claim-reset' AND target = 'alice@example.com' AND actor = 'admin:admin'")"
expect "row unchanged but the hash" "--code=4/alice3|alice@example.com" "$(sql "SELECT crd_command || '|' || user_email FROM vms WHERE hostname = '$host'")"
before=$(snapshot)
attack "the old cookie after a reset" -b "$T/alice.jar"
attack "the old code after a reset" --data-urlencode "recovery_code=$rcode"
out=$(claim_as alice@example.com '--code=4/alice4' --data-urlencode "recovery_code=$new")
expect "the new code" 200 "${out##* }"
expect "same VM after reset" "$host" "$(echo "$out" | field hostname)"
pass "admin claim reset: admin only, 404/400, a new code, the old cookie and code refused, audited"

claim_stop a

# --- the roster: access code, email file (reloaded), domains ---
printf '# class\nroster@example.com\n' >"$T/class.txt"
portb=$(ll_free_port)
url=http://127.0.0.1:$portb
claim_start b "$portb" "claim:" "  email_per_minute: 0" "  address_per_minute: 0" \
    "  access_code: Purple Banana" "  allowed_emails: $T/class.txt" \
    "  allowed_domains: [school.edu]"
trust_vms ros 3
page=$(curl -s "$url/")
grep -q 'id="access" class="stack" >' <<<"$page" || fail "the access code field is not shown"
before=$(snapshot)
refused() {  # WHAT EMAIL ACCESS MESSAGE
    local out
    out=$(claim_as "$2" '--code=4/r' --data-urlencode "access_code=$3")
    expect "$1: status" 403 "${out##* }"
    grep -qF "$4" <<<"$out" || fail "$1: message: $out"
    grep -qi 'roster@example.com\|school.edu' <<<"$out" && fail "$1: the roster leaked: $out"
    expect "$1: nothing stored" "$before" "$(snapshot)"
}
code_msg='The class access code is missing or wrong.'
refused "no access code" roster@example.com "" "$code_msg"
refused "wrong access code" roster@example.com "purple" "$code_msg"
refused "outsider without the code" eve@evil.org "" "$code_msg"
refused "not on the roster" eve@evil.org "purple banana" "This email is not on the class roster."
refused "a subdomain" eve@cs.school.edu "purple banana" "This email is not on the class roster."
expect "listed" 200 "$(claim_as roster@example.com '--code=4/r' --data-urlencode 'access_code= PURPLE banana' | awk '{print $NF}')"
expect "allowed domain" 200 "$(claim_as zoe@school.edu '--code=4/r' --data-urlencode 'access_code=purple banana' | awk '{print $NF}')"
sleep 1.1
echo late@example.com >>"$T/class.txt"
expect "added to the file, no restart" 200 "$(claim_as late@example.com '--code=4/r' --data-urlencode 'access_code=purple banana' | awk '{print $NF}')"
pass "roster: the access code first, then the list (a file, reloaded) or a domain; refusals name the rule, never the roster; nothing stored"
claim_stop b

portc=$(ll_free_port)
url=http://127.0.0.1:$portc
claim_start c "$portc" "claim:" "  allowed_domains: school.edu"
grep -q 'id="access" class="stack" hidden' <<<"$(curl -s "$url/")" || fail "access field shown without a code"
out=$(claim_as a@gmail.com '--code=4/d')
expect "domain only" 403 "${out##* }"
grep -qF 'Addresses of this email domain may not claim a VM' <<<"$out" || fail "domain message: $out"
claim_stop c
# The email file must exist when the allocator starts
claim_config "$T/d.yaml" "$(ll_free_port)" "claim:" "  allowed_emails: $T/missing.txt"
rc=0; out=$(timeout 20 "$BIN" --config "$T/d.yaml" 2>&1) || rc=$?
[ "$rc" -ne 0 ] && grep -q 'claim.allowed_emails: cannot read' <<<"$out" || fail "started without its roster file (rc $rc): $out"
pass "domains alone: the domain rule named; no access field without a code; a missing roster file stops the start"
echo "6 passed, 0 failed"
