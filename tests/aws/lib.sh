# AWS's endpoints on loopback, for the tests that need them (sourced after
# tests/integration/lib.sh, under tests/harness/run-test):
#   aws_s3 BUCKET...      s3rver (npm) behind the SigV4-checking proxy:
#                         S3_URL (the proxy), S3RVER_URL (s3rver itself, for
#                         anonymous downloads), S3_DIR (s3rver's files)
#   aws_dynamodb TABLE    dynalite (npm) behind its own checking proxy, with
#                         terraform's lock table TABLE (key LockID): DDB_URL
#   aws_imds              the IMDSv2 stand-in (imds.mjs): IMDS_URL, and
#                         AWS_EC2_METADATA_SERVICE_ENDPOINT exported
#   SIGV4_LOG             the proxies' request log (JSON lines)
#   aws_s3_fleet TIMEOUT LOG  (after provision_lib.sh, aws_s3 lablink-state
#                         and aws_dynamodb lock-table) an allocator of the
#                         local module in $work on $port whose fleet state is
#                         in s3rver (bucket lablink-state, deployment lablink,
#                         terraform's lock in dynalite); sets ALLOC_PID
# Keys the proxies accept: S3RVER/S3RVER (s3rver's account, what the IMDS
# stand-in hands out by default) and TESTER/TESTER (the test's own calls;
# s3rver knows only S3RVER, so TESTER reaches DynamoDB only). Everything listens on 127.0.0.1 and stops
# with the test's process group.
AWS_DIR=$SRC/tests/aws
AWS_BIN=$AWS_DIR/node_modules/.bin
AWS_REGION_TEST=us-west-2
command -v node >/dev/null || fail "node missing: LABLINK_DEPS=aws scripts/install-deps installs it"
for _tool in s3rver dynalite; do
    [ -x "$AWS_BIN/$_tool" ] || fail "$_tool missing in tests/aws: LABLINK_DEPS=aws scripts/install-deps installs it (npm ci)"
done
SIGV4_LOG=$T/sigv4.log
: >"$SIGV4_LOG"

# _aws_wait_port FILE: the port a stand-in wrote into FILE
_aws_wait_port() {
    for _ in $(seq 1 100); do
        [ -s "$1" ] && { cat "$1"; return 0; }
        sleep 0.1
    done
    fail "no port in $1"
}

# _aws_wait_listen PORT LOG: until something accepts on PORT
_aws_wait_listen() {
    for _ in $(seq 1 150); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$2" >&2
    fail "nothing listens on $1"
}

# _aws_proxy NAME UPSTREAM_PORT: a checking proxy, prints its port
_aws_proxy() {
    rm -f "$T/$1.port"
    node "$AWS_DIR/sigv4-proxy.mjs" "$T/$1.port" "$2" "$SIGV4_LOG" S3RVER=S3RVER TESTER=TESTER \
        >"$T/$1.log" 2>&1 &
    _aws_wait_port "$T/$1.port"
}

aws_s3() {
    local port bucket buckets=()
    S3_DIR=$T/s3rver
    mkdir -p "$S3_DIR"
    port=$(ll_free_port)
    for bucket in "$@"; do buckets+=(--configure-bucket "$bucket"); done
    "$AWS_BIN/s3rver" -d "$S3_DIR" -a 127.0.0.1 -p "$port" --silent \
        "${buckets[@]}" >"$T/s3rver.log" 2>&1 &
    _aws_wait_listen "$port" "$T/s3rver.log"
    S3RVER_URL=http://127.0.0.1:$port
    S3_URL=http://127.0.0.1:$(_aws_proxy s3-proxy "$port")
}

aws_dynamodb() {
    local port
    port=$(ll_free_port)
    "$AWS_BIN/dynalite" --host 127.0.0.1 --port "$port" --createTableMs 0 >"$T/dynalite.log" 2>&1 &
    _aws_wait_listen "$port" "$T/dynalite.log"
    DDB_URL=http://127.0.0.1:$(_aws_proxy ddb-proxy "$port")
    ddb CreateTable "{\"TableName\":\"$1\",\"AttributeDefinitions\":[{\"AttributeName\":\"LockID\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"LockID\",\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}" >/dev/null \
        || fail "cannot create the lock table $1"
}

# ddb ACTION JSON: one DynamoDB call of the test itself (signed with the
# key TESTER, so that the log tells it from the product's), prints the answer
ddb() {
    curl -fsS --max-time 10 --aws-sigv4 "aws:amz:$AWS_REGION_TEST:dynamodb" --user TESTER:TESTER \
        -H "X-Amz-Target: DynamoDB_20120810.$1" -H 'Content-Type: application/x-amz-json-1.0' \
        -d "$2" "$DDB_URL/"
}

aws_imds() {
    rm -f "$T/imds.port"
    node "$AWS_DIR/imds.mjs" "$T/imds.port" >"$T/imds.log" 2>&1 &
    IMDS_URL=http://127.0.0.1:$(_aws_wait_port "$T/imds.port")
    export AWS_EC2_METADATA_SERVICE_ENDPOINT=$IMDS_URL
}

# imds_stat NAME: one counter of the IMDS stand-in
imds_stat() { curl -fsS "$IMDS_URL/_standin/stats" | jq -r ".$1"; }

# The allocator must find no credentials of the machine running the tests
aws_clean_env() {
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
        AWS_DEFAULT_PROFILE AWS_EC2_METADATA_DISABLED AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 \
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI
    export AWS_SHARED_CREDENTIALS_FILE=$T/no-aws-credentials AWS_CONFIG_FILE=$T/no-aws-config
}

# aws_s3_fleet TIMEOUT_S LOG: see above. The backend settings a real
# deployment would not need (the stand-ins' endpoints) are in
# $T/backend.hcl, named by provider.state_backend_config.
aws_s3_fleet() {
    cat >"$T/backend.hcl" <<HCL
endpoints = {
  s3       = "$S3_URL"
  dynamodb = "$DDB_URL"
}
use_path_style              = true
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_region_validation      = true
skip_s3_checksum            = true
HCL
    provision_config terraform "$1"
    sed -i "s|^  operation_timeout_s: .*|&\\n  state_backend: s3\\n  state_backend_config: $T/backend.hcl|" "$T/config.yaml"
    printf 'bucket_name: lablink-state\ndeployment_name: lablink\n' >>"$T/config.yaml"
    "$BIN" --config "$T/config.yaml" >>"$2" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 10 "$url" || { cat "$2" >&2; fail "allocator on $port not healthy"; }
}
