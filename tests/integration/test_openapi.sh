# docs/openapi.yaml against the real allocator: the spec is OpenAPI 3.1 with
# valid JSON Schemas; every route of the route table (lablink-allocator
# --routes) is an operation with the security its auth class implies, and
# nothing else is; the allocator answers one request on every route, and
# every answer the integration tests received (recorded by their
# allocators in $LABLINK_API_CAPTURE_DIR; ctest runs this test after them)
# is a documented status with a documented media type and a JSON body that
# validates against the spec (tests/integration/openapi_check.py, Debian's
# python3-jsonschema). With 100 answers or fewer recorded (run alone, or
# with a few tests), it first runs two of those tests itself.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import jsonschema, yaml' 2>/dev/null || fail "python3-jsonschema/python3-yaml missing (scripts/install-deps: LABLINK_DEPS=ops)"
SPEC=$SRC/docs/openapi.yaml
answers=${LABLINK_API_CAPTURE_DIR:-$T/answers}
mkdir -p "$answers"
export LABLINK_API_CAPTURE_DIR=$answers

"$BIN" --routes >"$T/routes"
[ "$(wc -l <"$T/routes")" -ge 30 ] || fail "--routes: $(cat "$T/routes")"

# Run alone, or with a few other tests: record the answers of two existing
# integration tests first
recorded() { cat "$answers"/answers-*.jsonl 2>/dev/null | wc -l; }
if [ "$(recorded)" -le 100 ]; then
    for t in test_claim_delivery test_telemetry; do
        "$SRC/tests/harness/run-test" bash "$SRC/tests/integration/$t.sh" >"$T/$t.log" 2>&1 \
            || { tail -20 "$T/$t.log" >&2; fail "$t (run to record its answers)"; }
    done
fi
others=$(recorded)
[ "$others" -gt 100 ] || fail "only $others answers recorded by the integration tests"

# The real allocator: one request on every route of its table (no
# credentials, empty bodies: what a client gets wrong first)
port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_start a "$port"
own=$(mktemp -d)
n=0
while read -r method pattern auth; do
    path=$(sed 's/{}/openapi-probe-1/g' <<<"$pattern")
    [ "$pattern" = "/api/operations/{}" ] || [ "$pattern" = "/api/operations/{}/events" ] \
        || [ "$pattern" = "/admin/operations/{}" ] && path=$(sed 's/{}/1/g' <<<"$pattern")
    if [ "$method" = GET ]; then
        curl -s -o /dev/null --max-time 5 -H 'Accept: application/json' "$url$path" || true
    else
        curl -s -o /dev/null --max-time 5 -H 'Accept: application/json' -H 'Content-Type: application/json' \
            -d '{}' "$url$path" || true
    fi
    n=$((n + 1))
done <"$T/routes"
curl -s -o /dev/null "$url/no/such/path"
curl -s -o /dev/null -X DELETE "$url/api/health"
claim_stop a
pass "the allocator answered a request on each of its $n routes"

out=$("$PY" "$SRC/tests/integration/openapi_check.py" "$SPEC" "$T/routes" "$answers"/answers-*.jsonl 2>&1) \
    || { echo "$out" >&2; fail "docs/openapi.yaml does not match the allocator"; }
echo "$out" | sed 's/^/    /'
pass "OpenAPI 3.1: every route in the spec with its auth; $(grep -o '^answers: [0-9]*' <<<"$out" | cut -d' ' -f2) recorded answers validate"
echo "2 passed, 0 failed"
