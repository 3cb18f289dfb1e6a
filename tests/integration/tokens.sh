# Agent tokens for integration scripts (sourced after lib.sh). A VM's token
# is ll_token_derive (settings.server_secret, hostname) (runtime/token.h):
#   <scope>.hex(HMAC-SHA256(secret, "lablink-agent-v1:" scope))
# server_secret URL: makes the allocator create the secret (one request
#   with a bogus token) and prints it
# agent_token SECRET SCOPE: prints the token of SCOPE (a hostname or _lambda)

server_secret() {
    local url=$1 secret=""
    curl -s -o /dev/null -H 'Authorization: Bearer nobody.00' "$url/api/vm-status/nobody" || true
    for _ in $(seq 1 50); do
        secret=$(psql -Atqc "SELECT value FROM settings WHERE key = 'server_secret'" 2>/dev/null || true)
        [ -n "$secret" ] && break
        sleep 0.1
    done
    [ -n "$secret" ] || { echo "FAIL: no server secret" >&2; return 1; }
    echo "$secret"
}

agent_token() {
    local secret=$1 scope=$2 mac
    mac=$(printf 'lablink-agent-v1:%s' "$scope" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
    printf '%s.%s' "$scope" "$mac"
}
