# The ZeroMQ gateway end to end: agents over CURVE say HELLO with their
# token, WAIT, get their assignment pushed, acknowledge with RESULT or with
# POST replayed on the HTTP route; HTTP agents alongside; a wrong token is
# refused. Driven by lablink-bench deliver (small numbers).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"

port=$(ll_free_port)
zport=$(ll_free_port)
url=http://127.0.0.1:$port
key=$("$BIN" --zmq-keygen "$T/gateway.cert")
[ ${#key} -eq 40 ] || fail "keygen printed '$key'"
[ -s "$T/gateway.cert_secret" ] || fail "no secret certificate file"
claim_start a "$port" "agent:" "  zmq_endpoint: tcp://127.0.0.1:$zport" \
    "  zmq_secret_key_file: $T/gateway.cert_secret" "  long_poll_s: 5" \
    "claim:" "  email_per_minute: 0" "  address_per_minute: 0"
grep -qF "gateway: server public key $key" "$T/a.log" || fail "public key not logged"
grep -q "gateway: listening on tcp://127.0.0.1:$zport" "$T/a.log" || fail "gateway not listening"

"$BENCH" deliver --url "$url" --zmq-endpoint "tcp://127.0.0.1:$zport" --server-key "$key" \
    --zmq-agents 6 --http-agents 3 --prefix gw --post-acks --config "$T/a.yaml" >"$T/deliver.out" 2>&1 \
    || { cat "$T/deliver.out"; fail "deliver failed"; }
cat "$T/deliver.out"
grep -q 'deliver: 9 claims in .* 9 delivered' "$T/deliver.out" || fail "not every claim delivered"
grep -q 'zmq acknowledgements answered OK: 6' "$T/deliver.out" || fail "acknowledgements"
expect "delivered_at of every VM" 9 "$(sql "SELECT count(*) FROM vms WHERE hostname LIKE 'gw-%' AND delivered_at IS NOT NULL")"
conns=$(sed -n 's/.*postgresql connections, most seen: \([0-9]*\)/\1/p' "$T/deliver.out")
[ "$conns" -le 10 ] || fail "allocator held $conns PostgreSQL connections"
pass "9 agents (6 ZeroMQ, 3 HTTP): every claim pushed and acknowledged; $conns PostgreSQL connections"

claim_stop a
echo "1 passed, 0 failed"
