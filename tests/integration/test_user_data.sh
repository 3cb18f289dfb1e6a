# terraform/aws's user_data, rendered by terraform itself (terraform console
# on the module, the way the allocator's tfvars feed it), run as cloud-init
# runs it in a sandbox (tests/aws/sandbox.sh: own mount, network and pid
# namespaces, a chroot) where only AWS and the OS installer are stand-ins
# (apt-get, dpkg, docker, systemctl, nvidia-smi, the CloudWatch agent's
# package and control script; the package is downloaded from S3's stand-in,
# s3rver). docker's stand-in runs the client image's start script
# (packaging/docker/client/lablink-client-start) with the real lablink-agent,
# so the whole VM runs against the real allocator on the sandbox's loopback:
#   VM 1 (GPU, no log group): the allocator sees initializing then running,
#     cloud-init and container timings; the token file is 0600 and the
#     agent's user's; no secret on the console log or a command line; the
#     container has its own network (no --network host); the container's,
#     the agent's and cloud-init's logs reach /api/vm-logs; a student's claim
#     reaches start-host and the watcher starts the CRD daemon (claim to
#     connect)
#   VM 2 (log group): the CloudWatch agent installed from its package and
#     configured for cloud-init's log (group, stream = hostname); the agent
#     ships the container's and its own logs, not cloud-init's twice
#   VM 3: a failing step (docker pull) reports error, the console names the
#     line
# shellcheck passes on the rendered scripts.
. "$LABLINK_SOURCE_DIR/tests/aws/sandbox.sh"
sandbox_enter "$0"
. "$LABLINK_SOURCE_DIR/tests/harness/pg.sh"
# The harness's PostgreSQL is in the other network namespace: one here
LABLINK_DB_PORT=$(ll_free_port)
ll_pg_init "$LABLINK_TEST_DIR/pg-sandbox" "$LABLINK_DB_PORT" || { echo "FAIL: no PostgreSQL" >&2; exit 1; }
export LABLINK_DB_PORT PGHOST=127.0.0.1 PGPORT=$LABLINK_DB_PORT PGUSER=lablink PGDATABASE=lablink_db
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/aws/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
. "$LABLINK_SOURCE_DIR/tests/aws/terraform.sh"
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
command -v terraform >/dev/null || fail "terraform missing (TESTING.md)"
command -v jq >/dev/null || fail "jq missing (scripts/install-deps)"
command -v shellcheck >/dev/null || fail "shellcheck missing: LABLINK_DEPS=aws scripts/install-deps"
MIRROR=${LABLINK_TF_PLUGINS:-/opt/tf-plugins}
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] || fail "no aws provider mirror under $MIRROR"
psqlc() { psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# --- AWS's S3 with the CloudWatch agent's package ----------------------------
aws_s3 amazoncloudwatch-agent
deb_key=amazoncloudwatch-agent/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb
printf 'stand-in of the CloudWatch agent package %s\n' "$RANDOM" >"$T/cw.deb"
curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
    -H "x-amz-content-sha256: $(sha256sum "$T/cw.deb" | cut -d' ' -f1)" -T "$T/cw.deb" \
    "$S3RVER_URL/$deb_key" >/dev/null || fail "cannot put the package into s3rver"

# --- the allocator ------------------------------------------------------------
port=$(ll_free_port)
url=http://127.0.0.1:$port
write_config "$port"
printf 'agent:\n  long_poll_s: 2\n' >>"$T/config.yaml"
"$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 10 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
declare -A token
for n in 1 2 3; do token[$n]=$(vm_token "$url" "lablink-vm-test-$n"); done

# --- user_data, rendered by terraform -----------------------------------------
M=$T/tf-aws
mkdir -p "$M"
cp "$SRC"/terraform/aws/*.tf "$SRC"/terraform/aws/*.tftpl "$M/"
tf_offline "$M"
IMAGE=registry.example.org/lablink-client:test
# render GROUP GPU: the tfvars the allocator writes, for the three VMs
render_vars() {
    cat >"$M/test.tfvars" <<TFVARS
vm_names         = ["lablink-vm-test-1", "lablink-vm-test-2", "lablink-vm-test-3"]
agent_tokens     = { "lablink-vm-test-1" = "${token[1]}", "lablink-vm-test-2" = "${token[2]}", "lablink-vm-test-3" = "${token[3]}" }
allocator_url    = "$url"
allocator_ip     = "127.0.0.1"
image_name       = "$IMAGE"
repository       = ""
subject_software = "sleap"
gpu_support      = "$2"
region           = "us-west-2"
resource_suffix  = "test"
startup_on_error = "continue"
cloud_init_output_log_group = "$1"
cloudwatch_agent_url = "$S3RVER_URL/$deb_key"
custom_startup_script = "#!/bin/bash\necho custom startup ran as \$(id -un)\n"
TFVARS
}
(cd "$M" && terraform init -plugin-dir="$MIRROR" -input=false -no-color >"$T/tf-init.log" 2>&1) \
    || { cat "$T/tf-init.log" >&2; fail "terraform init"; }
# user_data_of N...: the scripts terraform renders for VMs N into
# $T/ud<N>.sh (one console, one load of the provider)
user_data_of() {
    local n names=() i=0
    for n in "$@"; do names+=("\"lablink-vm-test-$n\""); done
    local IFS=,
    (cd "$M" && echo "join(\" \", [for n in [${names[*]}] : nonsensitive(local.user_data[n])])" \
        | terraform console -var-file=test.tfvars -no-color >"$T/console.out" 2>"$T/console.err") \
        || { cat "$T/console.err" >&2; fail "terraform console"; }
    unset IFS
    for b64 in $(tr -d '"' <"$T/console.out"); do
        n=${*:$((i + 1)):1}
        i=$((i + 1))
        base64 -d <<<"$b64" | gunzip >"$T/ud$n.sh" || fail "user_data of VM $n is not base64(gzip)"
    done
    [ "$i" = $# ] || fail "terraform console rendered $i of $# scripts: $(cat "$T/console.out")"
}
render_vars "" true
user_data_of 1 3
render_vars lablink-test-cloud-init false
user_data_of 2
for n in 1 2 3; do
    grep -q "^VM_NAME='lablink-vm-test-$n'\$" "$T/ud$n.sh" || fail "user_data $n: $(head -c 300 "$T/ud$n.sh")"
    shellcheck -s bash "$T/ud$n.sh" >"$T/shellcheck$n.log" 2>&1 || { cat "$T/shellcheck$n.log" >&2; fail "shellcheck: user_data $n"; }
done
pass "user_data of 3 VMs rendered by terraform (console) and shellcheck-clean"

# watch_status HOST OUT: every change of the VM's status, in order
watch_status() {
    local last="" now
    while :; do
        now=$(psqlc "SELECT coalesce(status, '') FROM vms WHERE hostname = '$1'" 2>/dev/null || true)
        if [ -n "$now" ] && [ "$now" != "$last" ]; then echo "$now" >>"$2"; last=$now; fi
        sleep 0.05
    done
}
wait_sql() {  # SECONDS EXPECTED SQL
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$1" ]; do
        [ "$(psqlc "$3" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}
stop_watch() {  # N FINAL: the watcher has seen FINAL (it polls), then stops
    local t0=$SECONDS
    until [ "$(tail -n 1 "$T/status$1")" = "$2" ] || [ $((SECONDS - t0)) -ge 10 ]; do sleep 0.1; done
    kill "$watcher"
}
boot() {  # N: a sandbox VM runs its user_data; its root in R, exit status in rc
    R=$T/vm$1
    sandbox_make "$R"
    sandbox_conf "$R" "STANDIN_CLIENT_IMAGE=$IMAGE" \
        "STANDIN_CONTAINER_ENV='LABLINK_INTERVAL_SCALE=0.05'" \
        "STANDIN_NVIDIA_FIXTURE=/usr/local/share/healthy-plain.txt" "${@:2}"
    : >"$T/status$1"
    watch_status "lablink-vm-test-$1" "$T/status$1" &
    watcher=$!
    rc=0
    sandbox_run "$R" "$T/ud$1.sh" /var/log/cloud-init-output.log || rc=$?
    CONSOLE=$R/var/log/cloud-init-output.log
}
no_secret() {  # N WHERE FILE...: no token, code or PIN in the files
    local f
    for f in "${@:3}"; do
        [ -f "$f" ] || continue
        grep -qF "${token[$1]}" "$f" && fail "VM $1: the agent token in $2 ($f)"
        grep -q '4/sandbox-code' "$f" && fail "VM $1: the CRD code in $2 ($f)"
        [ -n "${pin:-}" ] && grep -qw "$pin" "$f" && fail "VM $1: the PIN in $2 ($f)"
    done
    return 0
}
logs_of() { curl -fsS -H "Authorization: Bearer ${token[$1]}" "$url/api/vm-logs/lablink-vm-test-$1?lines=10000"; }

# --- VM 1: GPU, the agent ships every log ---------------------------------------
boot 1
[ "$rc" = 0 ] || { cat "$CONSOLE" >&2; fail "VM 1's user_data exited $rc"; }
wait_sql 60 running "SELECT status FROM vms WHERE hostname = 'lablink-vm-test-1'" \
    || { cat "$R/var/log/containers/"*.log >&2; fail "VM 1 never running: $(cat "$T/status1")"; }
wait_sql 30 t "SELECT container_start_time IS NOT NULL FROM vms WHERE hostname = 'lablink-vm-test-1'" \
    || fail "no container timings"
stop_watch 1 running
[ "$(tr '\n' ' ' <"$T/status1")" = "initializing running " ] || fail "VM 1's statuses: $(tr '\n' ' ' <"$T/status1")"
[ "$(psqlc "SELECT cloud_init_duration_seconds >= 0 AND cloud_init_end_time >= cloud_init_start_time
        AND container_end_time >= container_start_time FROM vms WHERE hostname = 'lablink-vm-test-1'")" = t ] \
    || fail "timings: $(psqlc "SELECT cloud_init_start_time, cloud_init_end_time, container_start_time FROM vms WHERE hostname = 'lablink-vm-test-1'")"
grep -q 'lablink: start-up done in [0-9]* s' "$CONSOLE" || fail "console: $(cat "$CONSOLE")"
pass "VM 1: the allocator saw initializing then running, cloud-init and container timings"

[ "$(stat -c '%a %u' "$R/etc/lablink/agent-token")" = "600 1000" ] \
    || fail "token file: $(stat -c '%a %u:%g' "$R/etc/lablink/agent-token")"
[ "$(cat "$R/etc/lablink/agent-token")" = "${token[1]}" ] || fail "token file content"
run=$(sandbox_calls "$R" docker | grep '^docker run')
grep -q -- '--network' <<<"$run" && fail "the container shares a network: $run"
grep -q -- "type=bind,src=/etc/lablink/agent-token,dst=/run/secrets/lablink-agent-token,readonly" <<<"$run" \
    && grep -q 'API_TOKEN_FILE=/run/secrets/lablink-agent-token' <<<"$run" || fail "token not mounted: $run"
grep -q -- '--runtime=nvidia --gpus all' <<<"$run" || fail "GPU run arguments: $run"
sandbox_calls "$R" systemctl | grep -qx 'systemctl restart docker' && sandbox_calls "$R" nvidia-smi | grep -qx 'nvidia-smi -pm 1' \
    && jq -e '."default-runtime" == "nvidia"' "$R/etc/docker/daemon.json" >/dev/null || fail "NVIDIA runtime set-up"
no_secret 1 "console log or a command line" "$CONSOLE" "$R/var/log/standins.log"
cpid=$(cat "$R/run/standin-containers/"*.pid 2>/dev/null | head -n 1)
for p in $(pgrep -s "$cpid" 2>/dev/null) $(pgrep -f /usr/local/bin/lablink); do
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "${token[1]}" && fail "the token on the command line of pid $p"
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qF "${token[1]}" && fail "the token in the environment of pid $p"
done
pass "VM 1: token file 0600 of uid 1000 mounted read-only, no token on the console, a command line or in an environment; own network; NVIDIA runtime"

# Logs: the container's, the agent's and cloud-init's, each once
wait_logs() {  # N STREAM PATTERN
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt 30 ]; do
        logs_of "$1" | jq -e --arg s "$2" --arg p "$3" \
            '[.lines[] | select(.stream == $s and (.line | test($p)))] | length > 0' >/dev/null && return 0
        sleep 0.3
    done
    return 1
}
wait_logs 1 docker 'lablink-client-start: .* starting' || fail "the container's log did not reach /api/vm-logs"
wait_logs 1 agent 'agent: starting on lablink-vm-test-1' || fail "the agent's log did not reach /api/vm-logs: $(logs_of 1 | head -c 600)"
wait_logs 1 cloud_init 'lablink: lablink-vm-test-1 starting' || fail "cloud-init's log did not reach /api/vm-logs"
wait_logs 1 cloud_init 'lablink: start-up done' || fail "the end of cloud-init's log did not reach /api/vm-logs"
logs_of 1 | jq -e '[.lines[] | select(.line | test("lablink: lablink-vm-test-1 starting"))] | length == 1' >/dev/null \
    || fail "cloud-init's first line arrived more than once"
logs_of 1 | jq -e '[.lines[] | select(.stream == "docker" and (.line | test("agent: starting on")))] | length == 0' >/dev/null \
    || fail "the agent's lines also came as the container's"
pass "VM 1: the container's, the agent's and cloud-init's logs reach /api/vm-logs, each line once"

# Claim to connect: the student's code reaches start-host, the watcher
# starts the CRD daemon once the host is registered
psqlc "UPDATE vms SET last_seen_at = now() WHERE hostname = 'lablink-vm-test-1'"
code=$(curl -s -o "$T/claim.out" -w '%{http_code}' -H 'Accept: application/json' --max-time 15 \
    --data-urlencode email=student@example.org --data-urlencode 'crd_command=--code=4/sandbox-code' "$url/api/request_vm")
[ "$code" = 200 ] || fail "claim: $code $(cat "$T/claim.out")"
wait_sql 30 t "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = 'lablink-vm-test-1'" || fail "assignment not acknowledged"
pin=$(psqlc "SELECT pin FROM vms WHERE hostname = 'lablink-vm-test-1'")
sh_log=$R/home/client/start-host.log
grep -qx -- 'arg: --code=4/sandbox-code' "$sh_log" && grep -qx -- 'arg: --name=lablink-vm-test-1' "$sh_log" \
    && [ "$(grep -cx "stdin: $pin" "$sh_log")" = 2 ] || fail "start-host: $(cat "$sh_log")"
t0=$SECONDS
until sandbox_calls "$R" chrome-remote-desktop | grep -q -- '--start --new-session'; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "the watcher did not start the CRD daemon: $(cat "$R/home/client/logs/container.log"; ls -la "$R/home/client/.config/chrome-remote-desktop"; ps -eo pid,args; cat "$sh_log")"
    sleep 0.3
done
sandbox_calls "$R" chrome-remote-desktop | head -n 1 | grep -qx 'chrome-remote-desktop --stop' || fail "daemon not stopped first"
grep -q 'session started for client' "$R/home/client/logs/container.log" || fail "the daemon did not run as the image's user"
no_secret 1 "a log" "$CONSOLE" "$R/home/client/logs/container.log" "$R/home/client/logs/agent.log" "$R/var/log/standins.log"
pass "VM 1: claim to connect: code and PIN to start-host, the watcher restarts the CRD daemon, no secret logged"

# --- VM 2: a log group: the CloudWatch agent takes cloud-init's log -----------------
boot 2
[ "$rc" = 0 ] || { cat "$CONSOLE" >&2; fail "VM 2's user_data exited $rc"; }
wait_sql 60 running "SELECT status FROM vms WHERE hostname = 'lablink-vm-test-2'" || fail "VM 2 never running"
stop_watch 2 running
sandbox_calls "$R" dpkg | grep -qx 'dpkg -i /tmp/amazon-cloudwatch-agent.deb' || fail "dpkg: $(sandbox_calls "$R" dpkg)"
grep -qx "dpkg-sha256 $(sha256sum "$T/cw.deb" | cut -d' ' -f1)" "$R/var/log/standins.log" || fail "not the package S3 served"
sandbox_calls "$R" amazon-cloudwatch-agent-ctl | grep -qx \
    'amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json -s' \
    || fail "ctl: $(sandbox_calls "$R" amazon-cloudwatch-agent-ctl)"
jq -e '.logs.logs_collected.files.collect_list == [{"file_path": "/var/log/cloud-init-output.log",
        "log_group_name": "lablink-test-cloud-init", "log_stream_name": "lablink-vm-test-2",
        "timestamp_format": "%b %d %H:%M:%S"}]' "$R/var/log/cloudwatch-agent-config.json" >/dev/null \
    || fail "CloudWatch agent config: $(cat "$R/var/log/cloudwatch-agent-config.json")"
{ sandbox_calls "$R" nvidia-smi | grep -q -- -pm || [ -e "$R/etc/docker/daemon.json" ]; } \
    && fail "the NVIDIA runtime set up without gpu_support"
grep -q -- '--mount type=bind,src=/var/log/cloud-init-output.log' <<<"$(sandbox_calls "$R" docker)" \
    && fail "cloud-init's log handed to the agent although CloudWatch ships it"
wait_logs 2 docker 'lablink-client-start: .* starting' && wait_logs 2 agent 'agent: starting on lablink-vm-test-2' \
    || fail "VM 2: the container's and agent's logs did not reach /api/vm-logs"
logs_of 2 | jq -e '[.lines[] | select(.stream == "cloud_init")] | length == 0' >/dev/null \
    || fail "VM 2: cloud-init's log shipped by the agent as well as by CloudWatch"
no_secret 2 "console log or a command line" "$CONSOLE" "$R/var/log/standins.log"
pass "VM 2: CloudWatch agent from its package, configured for cloud-init's log (group, stream = VM); the agent ships the rest"

# --- VM 3: a failing step reports error ---------------------------------------------
boot 3 "STANDIN_FAIL='docker:pull'"
[ "$rc" = 1 ] || fail "VM 3's user_data exited $rc, expected 1"
wait_sql 20 error "SELECT status FROM vms WHERE hostname = 'lablink-vm-test-3'" || fail "VM 3 not error: $(cat "$T/status3")"
stop_watch 3 error
[ "$(tr '\n' ' ' <"$T/status3")" = "initializing error " ] || fail "VM 3's statuses: $(tr '\n' ' ' <"$T/status3")"
grep -q 'lablink: start-up failed at line [0-9]*' "$CONSOLE" || fail "console does not name the failed line"
sandbox_calls "$R" docker | grep -q '^docker run' && fail "VM 3 ran a container after the pull failed"
no_secret 3 "console log" "$CONSOLE"
pass "VM 3: a failing docker pull reports error and names the line"

kill -TERM "$ALLOC_PID"
wait "$ALLOC_PID" || true
echo "8 passed, 0 failed"
