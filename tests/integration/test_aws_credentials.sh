# AWS credentials the way AWS's tools find them, against the IMDSv2
# stand-in (tests/aws/imds.mjs) and s3rver behind the SigV4-checking proxy:
#   - the stand-in refuses what IMDSv2 refuses (no token, no TTL, a
#     forwarded request), so the allocator's success proves it speaks v2
#   - lablink-allocator --aws-credentials: the instance role (masked key,
#     expiry, no secret printed); the environment and a profile come first
#     and leave the metadata service alone; AWS_EC2_METADATA_DISABLED
#   - the real allocator (state in S3, tfvars backup): keys within 15 min
#     of their Expiration are fetched again before every use (several
#     session tokens in one operation), keys further from it are cached
#     (one fetch for a whole operation, none for the next); a session
#     token the service forgot is replaced; the backup is signed with the
#     session token
#   - a failed backup fails the operation with its reason (the API and the
#     console's event stream), the VMs stay in the fleet
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/aws/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
command -v jq >/dev/null || fail "jq missing (scripts/install-deps)"

aws_clean_env
aws_imds
stat_of() { imds_stat "$1"; }

# --- the stand-in is IMDSv2 --------------------------------------------------
creds_path=/latest/meta-data/iam/security-credentials/
[ "$(http_status -X PUT "$IMDS_URL/latest/api/token")" = 400 ] || fail "stand-in: token without a TTL"
[ "$(http_status "$IMDS_URL$creds_path")" = 401 ] || fail "stand-in: GET without a token"
[ "$(http_status -H 'X-aws-ec2-metadata-token: forged' "$IMDS_URL$creds_path")" = 401 ] || fail "stand-in: forged token"
[ "$(http_status -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' -H 'X-Forwarded-For: 10.0.0.1' \
    "$IMDS_URL/latest/api/token")" = 403 ] || fail "stand-in: forwarded token request"
token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS_URL/latest/api/token")
[ "$(curl -fsS -H "X-aws-ec2-metadata-token: $token" "$IMDS_URL$creds_path")" = lablink-test-role ] \
    || fail "stand-in: the role with a token"
refused0=$(stat_of refused)
puts0=$(stat_of token_puts)
pass "the IMDSv2 stand-in refuses GETs without a session token, PUTs without a TTL, forwarded PUTs"

# --- lablink-allocator --aws-credentials ------------------------------------
out=$("$BIN" --aws-credentials 2>&1) || fail "--aws-credentials with the instance role: $out"
grep -qx 'source: instance role lablink-test-role' <<<"$out" && grep -qx 'session token: yes' <<<"$out" \
    && grep -qx 'access key id: \*\{16\}RVER' <<<"$out" && grep -q '^expires: 20[0-9-]*T[0-9:]*Z$' <<<"$out" \
    || fail "--aws-credentials: $out"
grep -q 'standin-session-token' <<<"$out" && fail "--aws-credentials printed the session token"
[ "$(stat_of token_puts)" = $((puts0 + 1)) ] && [ "$(stat_of refused)" = "$refused0" ] \
    || fail "the allocator did not take one session token and use it: $(curl -s "$IMDS_URL/_standin/stats")"
gets=$(stat_of creds_gets)
out=$(AWS_ACCESS_KEY_ID=AKIAENVIRONMENT AWS_SECRET_ACCESS_KEY=env-secret "$BIN" --aws-credentials 2>&1) \
    && grep -qx 'source: environment' <<<"$out" && grep -qx 'expires: never' <<<"$out" || fail "environment first: $out"
printf '[default]\nregion = us-west-2\n[profile ops]\naws_access_key_id = AKIAPROFILEOPS\naws_secret_access_key = ops\n' \
    >"$AWS_CONFIG_FILE"
out=$(AWS_PROFILE=ops "$BIN" --aws-credentials 2>&1) && grep -qx 'source: profile ops' <<<"$out" \
    && grep -qx 'access key id: \*\{16\}EOPS' <<<"$out" || fail "AWS_PROFILE: $out"
[ "$(stat_of creds_gets)" = "$gets" ] || fail "the metadata service was asked although keys were found first"
out=$(AWS_PROFILE=missing "$BIN" --aws-credentials 2>&1) && fail "a missing AWS_PROFILE was accepted: $out"
grep -q "'missing' is in neither" <<<"$out" || fail "missing profile: $out"
rm -f "$AWS_CONFIG_FILE"
out=$(AWS_EC2_METADATA_DISABLED=true "$BIN" --aws-credentials 2>&1) && fail "credentials with the metadata service off: $out"
grep -q AWS_EC2_METADATA_DISABLED <<<"$out" || fail "disabled: $out"
pass "--aws-credentials: instance role (IMDSv2, masked key, no secret), environment and profile first, the switch-off honoured"

# --- the allocator: refresh, caching, token loss, signed backup ---------------
aws_s3 lablink-state
aws_dynamodb lock-table
export AWS_ENDPOINT_URL_S3=$S3_URL
start_allocator_s3() { aws_s3_fleet 60 "$T/allocator.log"; }
# run_op KIND: launch 1 (or destroy), waits; the operation's JSON in $body
run_op() {
    if [ "$1" = destroy ]; then
        code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/launch.out" -w '%{http_code}' "$url/destroy")
    else
        code=$(launch_json 1)
    fi
    [ "$code" = 202 ] || fail "$1: $code $(cat "$T/launch.out")"
    op=$(op_id)
    body=$(wait_op "$op" 120) || fail "$1 still running"
}
tokens_of_op() {  # distinct session tokens on the product's requests since line N of the log
    tail -n +"$1" "$SIGV4_LOG" | jq -r 'select(.key == "S3RVER") | .session_token' | sort -u | grep -c .
}
backup_key=lablink/test/client/terraform.runtime.tfvars

start_allocator_s3
# Keys expiring in 10 minutes: inside the 15-minute margin, fetched again
# before every use
curl -fsS -X POST "$IMDS_URL/_standin/set?expires_in=600" >/dev/null
gets=$(stat_of creds_gets)
line=$(($(wc -l <"$SIGV4_LOG") + 1))
run_op launch
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; cat "$T/allocator.log" >&2; fail "launch with short-lived keys failed"; }
grep -q "backed up terraform.runtime.tfvars to s3://lablink-state/$backup_key (instance role lablink-test-role)" <<<"$body" \
    || fail "no backup line: $body"
cmp -s "$S3_DIR/lablink-state/$backup_key._S3rver_object" "$work/terraform.runtime.tfvars" || fail "the S3 copy differs"
jq -e -s --arg k "/lablink-state/$backup_key" '[.[] | select(.method == "PUT" and .path == $k and .verdict == "ok"
        and (.signed_headers | split(";") | index("x-amz-security-token"))
        and (.session_token | startswith("standin-session-token-")))] | length == 1' "$SIGV4_LOG" >/dev/null \
    || fail "the backup PUT was not signed with the session token: $(grep "$backup_key" "$SIGV4_LOG")"
fetched=$(( $(stat_of creds_gets) - gets ))
[ "$fetched" -ge 3 ] || fail "keys within 15 min of Expiration fetched only $fetched times in one operation"
[ "$(tokens_of_op "$line")" -ge 2 ] || fail "one session token for the whole operation although the keys were near their end"
pass "keys near their Expiration: fetched again before each use ($fetched times in one launch), the backup signed with the session token"

# The service forgets its session tokens: one refusal, a new token, success
curl -fsS -X POST "$IMDS_URL/_standin/forget-tokens" >/dev/null
refused=$(stat_of refused)
puts=$(stat_of token_puts)
run_op launch
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "launch after the service forgot its tokens failed"; }
[ "$(stat_of refused)" = $((refused + 1)) ] && [ "$(stat_of token_puts)" = $((puts + 1)) ] \
    || fail "a forgotten session token was not replaced once: $(curl -s "$IMDS_URL/_standin/stats")"
pass "a session token the service forgot: refused once, replaced, the operation goes on"

# Keys valid for 2 hours: one fetch (the cached ones are stale), then cached
curl -fsS -X POST "$IMDS_URL/_standin/set?expires_in=7200" >/dev/null
gets=$(stat_of creds_gets)
line=$(($(wc -l <"$SIGV4_LOG") + 1))
run_op launch
grep -q '"status":"succeeded"' <<<"$body" || fail "launch with long-lived keys failed"
[ "$(stat_of creds_gets)" = $((gets + 1)) ] || fail "long-lived keys fetched $(( $(stat_of creds_gets) - gets )) times in one launch"
[ "$(tokens_of_op "$line")" = 1 ] || fail "long-lived keys: more than one session token in one launch"
run_op launch
grep -q '"status":"succeeded"' <<<"$body" || fail "second launch with long-lived keys failed"
[ "$(stat_of creds_gets)" = $((gets + 1)) ] || fail "cached keys fetched again"
pass "keys far from their Expiration: one fetch for a launch, none for the next (cached)"
jq -e -s 'all(.verdict == "ok")' "$SIGV4_LOG" >/dev/null || fail "a request failed the signature check"

# --- a failed backup is an error of the operation -----------------------------
stop_allocator_within 15
dead=$(ll_free_port)
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$dead start_allocator_s3
rows=$(psqlc 'SELECT count(*) FROM fleet')
run_op launch
grep -q '"status":"failed"' <<<"$body" \
    && grep -q '"error":"the S3 backup of terraform.runtime.tfvars failed: [^"]' <<<"$body" \
    || fail "a failed backup did not fail the operation: $body"
grep -q 'Creation complete' <<<"$body" || fail "terraform itself should have succeeded: $body"
[ "$(psqlc "SELECT count(*) FROM fleet WHERE state = 'active'")" = $((rows + 1)) ] \
    || fail "the VM terraform made is not in the fleet"
curl -s -N --max-time 10 "${auth[@]}" "$url/api/operations/$op/events" >"$T/sse.out" || true
grep -q '^data: {"status":"failed","error":"the S3 backup of terraform.runtime.tfvars failed: ' "$T/sse.out" \
    || fail "the console's event stream lacks the backup error: $(tail -n 3 "$T/sse.out")"
pass "a failed S3 backup: the operation fails with the reason (API and the console's stream), the new VM stays in the fleet"

stop_allocator_within 15
start_allocator_s3
all=$(vm_pids)
run_op destroy
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "destroy failed"; }
[ "$(echo "$all" | alive_count)" = 0 ] || fail "VM processes left"
stop_allocator_within 15
echo "6 passed, 0 failed"
