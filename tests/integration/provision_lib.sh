# Shared by the provision tests (sourced after lib.sh): an allocator with the
# local module in $T/work, VMs on a loopback prefix and ssh port of their
# own, helpers to wait for operations and count VM processes, and a clean-up
# that stops every process the test started (by recorded pid and start time).
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
command -v terraform >/dev/null || fail "terraform is not installed (TESTING.md)"
export CHECKPOINT_DISABLE=1
[ -f "${TF_CLI_CONFIG_FILE:-/nonexistent}" ] || unset TF_CLI_CONFIG_FILE

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)
work=$T/work
mkdir -p "$work"
vms_dir=$work/vms
psqlc() { psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# VMs on 127.<a>.<b>.N with a port of their own: parallel runs never meet
ssh_port=$(ll_free_port)
prefix="127.$((10 + RANDOM % 240)).$((10 + RANDOM % 240))"
BIN_DIR=$(dirname "$BIN")
pidB=
# Whatever happens, leave no VM, allocator or stand-in behind
cleanup() {
    local f p started now
    for f in "$vms_dir"/*/agent.pid "$vms_dir"/*/sshd.pid; do
        [ -f "$f" ] || continue
        read -r p started <"$f" || continue
        now=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20) || continue
        # only the very process vm-up.sh recorded, never a recycled pid
        # with its session: what the VM started (start-host's desktop)
        [ -n "$now" ] && [ "$now" = "$started" ] && {
            kill -KILL -- "-$p" 2>/dev/null
            pkill -KILL -s "$p" 2>/dev/null || true
        }
    done
    for f in "$T"/hang*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        grep -q "$T" "/proc/$p/cmdline" 2>/dev/null && { kill -KILL "$p" 2>/dev/null || true; }
    done
    for p in ${ALLOC_PID:-} $pidB; do
        grep -q "$T" "/proc/$p/cmdline" 2>/dev/null && { kill -KILL "$p" 2>/dev/null || true; }
    done
    return 0
}
trap cleanup EXIT
agent_bin=$BIN_DIR/lablink-agent
[ -x "$agent_bin" ] || agent_bin=$SRC/tests/integration/standins/agent
cat >"$work/test.auto.tfvars" <<TFVARS
address_prefix = "$prefix"
ssh_port       = $ssh_port
agent_bin      = "$agent_bin"
TFVARS

# provision_config TERRAFORM_BIN TIMEOUT_S: $T/config.yaml for the module
# in $work
provision_config() {
    write_config "$port"
    cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  terraform_bin: $1
  operation_timeout_s: $2
YAML
    # parked /vm_startup requests of the real agents end quickly, so the
    # allocator stops within 5 s
    printf 'environment: test\nagent:\n  long_poll_s: 1\n' >>"$T/config.yaml"
    sed -i 's/^  admin_password: .*/&\n  max_vms: 8/' "$T/config.yaml"
}

# start_with TERRAFORM_BIN TIMEOUT_S: (re)start the allocator
start_with() {
    provision_config "$1" "$2"
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 10 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}

# wait_op ID SECONDS: until the operation is no longer running; prints it
wait_op() {
    local id=$1 t0=$SECONDS body
    while [ $((SECONDS - t0)) -lt "$2" ]; do
        body=$(curl -s "${auth[@]}" "$url/api/operations/$id")
        if ! grep -q '"status":"running"' <<<"$body" ; then
            echo "$body"
            return 0
        fi
        sleep 0.2
    done
    echo "$body"
    return 1
}

launch_json() {
    curl -s "${auth[@]}" -H 'Accept: application/json' -d "num_vms=$1" -o "$T/launch.out" \
        -w '%{http_code}' "$url/api/launch"
}

op_id() { sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/launch.out"; }

vm_pids() {  # the sshd and agent pids of the VMs, sorted
    { cat "$vms_dir"/*/sshd.pid "$vms_dir"/*/agent.pid 2>/dev/null || true; } | cut -d' ' -f1 | sort -n
}

alive_count() {  # processes still running from a pid list on stdin
    local n=0 pid
    while read -r pid; do
        [ -n "$pid" ] || continue
        # a zombie waiting for init to reap it is not running
        state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || true
        [ -n "$state" ] && [ "$state" != Z ] && n=$((n + 1))
    done
    echo $n
}

