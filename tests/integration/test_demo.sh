# `make demo` at a terminal, twice (and a third time after a hard kill):
# Ctrl-C (typed on a pseudo-terminal: SIGINT to the foreground process
# group, as a keyboard does) destroys the demo's VMs (their agent and sshd
# stop), stops the allocator and the PostgreSQL the demo started, says so,
# and make exits 0. A second `make demo` starts clean; after a demo killed
# hard with a VM running, the next one adopts that VM (its agent reconnects)
# and its Ctrl-C destroys it.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
command -v terraform >/dev/null || fail "terraform is not installed (TESTING.md)"
export CHECKPOINT_DISABLE=1
PTY="/usr/bin/python3 $SRC/tests/integration/pty_run.py"
export DEMO_VAR=$T/var DEMO_PORT=$(ll_free_port) DEMO_PG_PORT=$(ll_free_port)
export DEMO_VM_PREFIX="127.$((10 + RANDOM % 240)).$((10 + RANDOM % 240))" DEMO_VM_SSH_PORT=$(ll_free_port)
url=http://127.0.0.1:$DEMO_PORT
pgdir=$DEMO_VAR/pg
# Whatever happens, no demo process outlives the test
cleanup() {
    local f p
    for f in "$T"/demo*.log.pid; do   # each make demo's session, whole
        [ -f "$f" ] && pkill -KILL -s "$(cat "$f")" 2>/dev/null || true
    done
    for f in "$DEMO_VAR"/local/vms/*/agent.pid "$DEMO_VAR"/local/vms/*/sshd.pid; do
        [ -f "$f" ] && read -r p _ <"$f" && kill -KILL -- "-$p" 2>/dev/null || true
    done
    [ -d "$pgdir/data" ] && ll_pg_stop "$pgdir" immediate
    return 0
}
trap cleanup EXIT

# demo_start LOG: `make demo` on a terminal, in the background (DEMO_PID)
demo_start() {
    : >"$1"
    $PTY "$1" make -s -C "$SRC" demo NO_BUILD=1 BUILD="$LABLINK_BUILD_DIR" &
    DEMO_PID=$!
    for _ in $(seq 1 600); do
        grep -q 'LabLink is running' "$1" && return 0
        kill -0 "$DEMO_PID" 2>/dev/null || { cat "$1" >&2; fail "make demo ended early"; }
        sleep 0.1
    done
    cat "$1" >&2
    fail "make demo not running after 60 s"
}
# ctrl_c LOG: Ctrl-C on the demo's terminal; make's exit code in DEMO_RC
ctrl_c() {
    kill -USR1 "$DEMO_PID"
    local t0=$SECONDS
    while kill -0 "$DEMO_PID" 2>/dev/null; do
        [ $((SECONDS - t0)) -lt 120 ] || { cat "$1" >&2; fail "make demo still running 120 s after Ctrl-C"; }
        sleep 0.2
    done
    DEMO_RC=0
    wait "$DEMO_PID" || DEMO_RC=$?
}
password() { cat "$DEMO_VAR/admin-password"; }
# launch_vm: one VM through the API; prints its name once its agent polls
launch_vm() {
    local out id st
    out=$(curl -s -u "admin:$(password)" -H 'Accept: application/json' -d num_vms=1 "$url/api/launch")
    id=$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' <<<"$out")
    [ -n "$id" ] || fail "launch: $out"
    for _ in $(seq 1 600); do
        st=$(curl -s -u "admin:$(password)" "$url/api/operations/$id" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')
        [ "$st" = succeeded ] || [ "$st" = failed ] && break
        sleep 0.2
    done
    [ "$st" = succeeded ] || fail "launch operation: $st"
    for _ in $(seq 1 300); do
        [ "$(curl -s "$url/api/unassigned_vms_count")" != '{"count":0}' ] && break
        sleep 0.2
    done
    [ "$(curl -s "$url/api/unassigned_vms_count")" != '{"count":0}' ] || fail "the launched VM never waited for a student"
}
# vm_pids: the running agent and sshd pids of the demo's VMs
vm_pids() {
    local f p
    for f in "$DEMO_VAR"/local/vms/*/agent.pid "$DEMO_VAR"/local/vms/*/sshd.pid; do
        [ -f "$f" ] && read -r p _ <"$f" && kill -0 "$p" 2>/dev/null && echo "$p"
    done
    return 0
}
# running PID: the process exists and is not a zombie (an orphan waits for
# its reaper, which under load may take a moment)
running() {
    local state
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$state" ] && [ "$state" != Z ]
}
# gone_within SECONDS PID...: true once none of them runs
gone_within() {
    local limit=$1 p left
    shift
    for _ in $(seq 1 $((limit * 10))); do
        left=
        for p; do running "$p" && left=$p; done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "$left"
    return 1
}
demo_allocators() { pgrep -f "lablink-allocator --config $DEMO_VAR/demo.yaml" || true; }

# --- first run: a VM, then Ctrl-C ------------------------------------------
demo_start "$T/demo1.log"
launch_vm
pids=$(vm_pids)
[ "$(wc -w <<<"$pids")" = 2 ] || fail "expected an agent and an sshd, got: $pids"
ctrl_c "$T/demo1.log"
[ "$DEMO_RC" = 0 ] || { cat "$T/demo1.log" >&2; fail "make demo exited $DEMO_RC after Ctrl-C"; }
grep -q 'Error 130\|Interrupt' "$T/demo1.log" && fail "make reported the interrupt: $(cat "$T/demo1.log")"
for msg in 'demo: destroying the demo' 'demo: VMs destroyed' 'demo: stopping the allocator' \
           'demo: stopping PostgreSQL' 'demo: stopped'; do
    grep -q "$msg" "$T/demo1.log" || { cat "$T/demo1.log" >&2; fail "the demo did not say '$msg'"; }
done
# shellcheck disable=SC2086  # one pid a word
left=$(gone_within 5 $pids) || fail "VM process $left still runs after Ctrl-C"
[ -z "$(demo_allocators)" ] || fail "the allocator still runs"
ll_pg_running "$pgdir" && fail "the demo's PostgreSQL still runs"
pass "Ctrl-C: the VM destroyed (agent and sshd gone), allocator and PostgreSQL stopped, said so, make exit 0"

# --- second run: starts clean ----------------------------------------------
demo_start "$T/demo2.log"
[ -z "$(vm_pids)" ] || fail "VM processes at the second start"
expect() { [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"; }
expect "no VMs in the fleet" 404 "$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$(password)" "$url/api/vm-status")"
grep -q 'adopting' "$T/demo2.log" && fail "adopted VMs after a clean stop"
ctrl_c "$T/demo2.log"
[ "$DEMO_RC" = 0 ] || fail "second make demo exited $DEMO_RC"
grep -q 'demo: destroying' "$T/demo2.log" && fail "destroyed VMs that did not exist"
pass "a second make demo starts clean (no VM, no process) and stops with exit 0"

# --- a demo killed hard with a VM: the next adopts and destroys it ----------
demo_start "$T/demo3.log"
launch_vm
pids=$(vm_pids)
kill -KILL "$DEMO_PID" $(demo_allocators) 2>/dev/null || true
pkill -KILL -f "pty_run.py $T/demo3.log" 2>/dev/null || true
pkill -KILL -s "$(cat "$T/demo3.log.pid")" -f 'scripts/demo|make' 2>/dev/null || true
sleep 1
for p in $pids; do kill -0 "$p" 2>/dev/null || fail "the VM did not outlive the killed demo"; done
demo_start "$T/demo4.log"
grep -q 'demo: adopting 1 VM' "$T/demo4.log" || { cat "$T/demo4.log" >&2; fail "the left VM was not adopted"; }
for _ in $(seq 1 150); do
    [ "$(curl -s "$url/api/unassigned_vms_count")" = '{"count":1}' ] && break
    sleep 0.2
done
expect "the adopted VM is offered again" '{"count":1}' "$(curl -s "$url/api/unassigned_vms_count")"
ctrl_c "$T/demo4.log"
[ "$DEMO_RC" = 0 ] || fail "make demo exited $DEMO_RC"
grep -q 'demo: VMs destroyed' "$T/demo4.log" || { cat "$T/demo4.log" >&2; fail "the adopted VM was not destroyed"; }
# shellcheck disable=SC2086  # one pid a word
left=$(gone_within 5 $pids) || fail "the adopted VM's process $left still runs"
pass "after a hard kill the next make demo adopts the VM left running and its Ctrl-C destroys it"
echo "3 passed, 0 failed"
