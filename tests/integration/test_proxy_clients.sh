# Issue 15 section 4: behind a proxy the client is the client. With the
# real Caddy in front (the shipped snippet), several students on their own
# addresses: one student's claims exhaust only their own budget, one
# address's wrong passwords lock out only that address, the audit names the
# real address, and a forged X-Forwarded-For or Forwarded changes nothing.
# Then a trusted CIDR of proxies forwarding several clients (chains of
# hops), and an untrusted peer whose forwarding headers are ignored.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

command -v caddy >/dev/null 2>&1 \
    || fail "caddy not found: install it with LABLINK_DEPS=tls scripts/install-deps (make test does)"
port=$(ll_free_port)
claim_start a "$port" "app:" "  trusted_proxies: [127.0.0.1/32]" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 2"
seed_vms px 20
rows() { sql "SELECT count(*) FROM vms WHERE user_email IS NOT NULL"; }

# Caddy on 127.0.0.1 (its upstream connection comes from 127.0.0.1, the one
# trusted proxy); students connect to it from 127.0.0.2, .3, ...
cport=$(ll_free_port)
C=$T/caddy
mkdir -p "$C/home" "$C/data" "$C/config"
cat >"$C/Caddyfile" <<CADDY
{
	admin off
	auto_https off
	skip_install_trust
	storage file_system $C/data/caddy
}

import $SRC/packaging/caddy/lablink.caddy

http://127.0.0.1:$cport {
	import lablink_proxy
}
CADDY
HOME=$C/home XDG_DATA_HOME=$C/data XDG_CONFIG_HOME=$C/config LABLINK_UPSTREAM=127.0.0.1:$port \
    caddy run --config "$C/Caddyfile" --adapter caddyfile </dev/null >"$T/caddy.log" 2>&1 &
CADDY_PID=$!
trap 'kill $CADDY_PID 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT
url=http://127.0.0.1:$cport
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/health")" = 200 ] && break
    kill -0 "$CADDY_PID" 2>/dev/null || { cat "$T/caddy.log" >&2; fail "caddy exited"; }
    sleep 0.1
done
# from ADDRESS curl-args...: a request from that loopback address
from() { local a=$1; shift; curl -s --interface "$a" --max-time 15 "$@"; }
claim_from() {  # ADDRESS EMAIL [curl args] -> status
    local a=$1 e=$2
    shift 2
    from "$a" -o /dev/null -w '%{http_code}' -H 'Accept: application/json' \
        --data-urlencode "email=$e" --data-urlencode 'crd_command=--code=4/px' "$@" "$url/api/request_vm"
}

# --- claims: the budget is per student address, not per proxy ---
expect "student 2, claim 1" 200 "$(claim_from 127.0.0.2 s2a@example.com)"
expect "student 2, claim 2" 200 "$(claim_from 127.0.0.2 s2b@example.com)"
expect "student 2, claim 3: over its budget" 429 "$(claim_from 127.0.0.2 s2c@example.com)"
expect "student 3 unaffected" 200 "$(claim_from 127.0.0.3 s3a@example.com)"
expect "student 4 unaffected" 200 "$(claim_from 127.0.0.4 s4a@example.com)"
before=$(rows)
expect "student 2 forging X-Forwarded-For" 429 "$(claim_from 127.0.0.2 s2d@example.com -H 'X-Forwarded-For: 198.51.100.77')"
expect "student 2 forging two X-Forwarded-For lines" 429 "$(claim_from 127.0.0.2 s2e@example.com -H 'X-Forwarded-For: 198.51.100.78' -H 'X-Forwarded-For: 198.51.100.79')"
expect "student 2 forging Forwarded" 429 "$(claim_from 127.0.0.2 s2f@example.com -H 'Forwarded: for=198.51.100.80')"
expect "student 2 forging X-Real-IP" 429 "$(claim_from 127.0.0.2 s2g@example.com -H 'X-Real-IP: 198.51.100.81')"
expect "nothing stored by the forged claims" "$before" "$(rows)"
pass "through Caddy: claim rate limits per student address; forged forwarding headers do not buy a new budget"

# --- admin login throttling: per address ---
for i in 1 2 3 4 5; do
    expect "wrong password $i" 401 "$(from 127.0.0.5 -o /dev/null -w '%{http_code}' -u admin:wrong-password-$i "$url/api/vm-status")"
done
expect "the guesser is throttled" 429 "$(from 127.0.0.5 -o /dev/null -w '%{http_code}' -u admin:wrong-password-6 "$url/api/vm-status")"
expect "the guesser forging its address is still throttled" 429 \
    "$(from 127.0.0.5 -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 198.51.100.90' -u admin:test-admin-password "$url/api/vm-status")"
expect "the instructor elsewhere is not locked out" 200 \
    "$(from 127.0.0.6 -o /dev/null -w '%{http_code}' -u admin:test-admin-password "$url/api/vm-status")"
expect "failures recorded for the guesser's address" 5 "$(sql "SELECT count(*) FROM admin_login_failures WHERE address = '127.0.0.5'")"
expect "none for the proxy's" 0 "$(sql "SELECT count(*) FROM admin_login_failures WHERE address = '127.0.0.1'")"
pass "through Caddy: five wrong passwords lock out that address only; the admin elsewhere logs in"

# --- audit: the real address ---
expect "release through Caddy" 200 "$(from 127.0.0.6 -o /dev/null -w '%{http_code}' -u admin:test-admin-password -H 'Accept: application/json' -X POST "$url/api/vms/px-1/release")"
detail=$(sql "SELECT detail FROM audit_log WHERE action = 'POST /api/vms/{}/release' ORDER BY id DESC LIMIT 1")
grep -q 'from 127.0.0.6$' <<<"$detail" || fail "audit detail does not name the admin's address: $detail"
detail=$(sql "SELECT detail FROM audit_log WHERE action = 'login (basic)' ORDER BY id DESC LIMIT 1")
expect "failed login audited with the guesser's address" 127.0.0.5 "$detail"
pass "through Caddy: the audit log names the client's address, not the proxy's"
kill "$CADDY_PID"; wait "$CADDY_PID" 2>/dev/null || true
claim_stop a

# --- a trusted CIDR of proxies forwarding several clients ---
portb=$(ll_free_port)
claim_start b "$portb" "app:" "  trusted_proxies: 127.0.0.8/29, 192.0.2.0/24" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 1"
url=http://127.0.0.1:$portb
via() {  # PROXY-ADDRESS EMAIL FORWARDING-HEADER -> status
    from "$1" -o /dev/null -w '%{http_code}' -H 'Accept: application/json' -H "$3" \
        --data-urlencode "email=$2" --data-urlencode 'crd_command=--code=4/px' "$url/api/request_vm"
}
for c in 1 2 3; do
    expect "client $c via proxy .9" 200 "$(via 127.0.0.9 c$c@example.com "X-Forwarded-For: 198.51.100.$c")"
done
expect "client 1 again, via another proxy of the CIDR" 429 "$(via 127.0.0.10 c1b@example.com "X-Forwarded-For: 198.51.100.1")"
expect "client 4 through two hops (CDN then proxy)" 200 "$(via 127.0.0.9 c4@example.com "X-Forwarded-For: 6.6.6.6, 198.51.100.4, 192.0.2.50")"
expect "client 4 again, forging a leftmost entry" 429 "$(via 127.0.0.9 c4b@example.com "X-Forwarded-For: 203.0.113.99, 198.51.100.4, 192.0.2.50")"
expect "client 5 in RFC 7239 form" 200 "$(via 127.0.0.11 c5@example.com 'Forwarded: for="198.51.100.5:4711";proto=https')"
expect "an untrusted peer's X-Forwarded-For is ignored" 200 "$(via 127.0.0.2 u1@example.com "X-Forwarded-For: 198.51.100.6")"
expect "...its budget is its own address's" 429 "$(via 127.0.0.2 u2@example.com "X-Forwarded-For: 198.51.100.7")"
expect "client 7 via a trusted proxy: a fresh budget" 200 "$(via 127.0.0.9 c7@example.com "X-Forwarded-For: 198.51.100.7")"
for i in 1 2 3 4 5; do
    from 127.0.0.9 -o /dev/null -H 'X-Forwarded-For: 198.51.100.66' -u "admin:bad-$i" "$url/api/vm-status"
done
expect "guesser behind the proxy throttled" 429 "$(from 127.0.0.9 -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 198.51.100.66' -u admin:test-admin-password "$url/api/vm-status")"
expect "another client of the same proxy is not" 200 "$(from 127.0.0.9 -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 198.51.100.67' -u admin:test-admin-password "$url/api/vm-status")"
pass "trusted CIDR: several clients each with their own budget, chains of trusted hops, RFC 7239; an untrusted peer's headers ignored"
claim_stop b

# A bad network in the config stops the start with the key named
claim_config "$T/c.yaml" "$(ll_free_port)" "app:" "  trusted_proxies: [10.0.0.1/8]"
rc=0; out=$("$BIN" --config "$T/c.yaml" 2>&1) || rc=$?
[ "$rc" -ne 0 ] && grep -q "app.trusted_proxies: '10.0.0.1/8'" <<<"$out" || fail "started with a bad CIDR (rc $rc): $out"
pass "a bad app.trusted_proxies entry stops the start, naming it"
echo "5 passed, 0 failed"
