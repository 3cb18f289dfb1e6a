#!/usr/bin/env bash
# Create-time provisioner of terraform/local: brings up one local "VM".
#   - a per-VM home with Desktop/ and a cloud-init-like log the agent ships,
#     and the skeleton a reset restores that home to (skel/Desktop)
#   - an sshd on its own loopback address serving that home (ed25519 host
#     key, only the allocator's key authorized)
#   - lablink-agent: `status initializing`, `metrics cloud-init`, then `run`
#     in the background in its own session (all three streams redirected, so
#     terraform does not wait for it), pid files for vm-down.sh, and its
#     environment but the token in agent.env for vm-reboot.sh
#   - proc/: the VM's own view of running processes (LABLINK_PROC_ROOT), so
#     VMs sharing this host do not see each other's software or CRD; the
#     start-host stand-in adds its "host daemon" there
# Environment (from main.tf): VM_NAME VM_DIR VM_ADDRESS VM_SSH_PORT AGENT_BIN
#   ALLOCATOR_URL API_TOKEN SUBJECT_SOFTWARE CRD_START_HOST NVIDIA_SMI
#   SSH_PUBLIC_KEY
set -euo pipefail
: "${VM_NAME:?}" "${VM_DIR:?}" "${VM_ADDRESS:?}" "${VM_SSH_PORT:?}" "${AGENT_BIN:?}"
start=$(date +%s)
home=$VM_DIR/home
mkdir -p "$home/Desktop" "$VM_DIR/ssh"
chmod 700 "$VM_DIR/ssh"
log=$home/cloud-init-output.log

say() {
    printf '%s %s: %s\n' "$(date -u +'%b %d %H:%M:%S')" "$VM_NAME" "$*" | tee -a "$log"
}

# The agent's environment (the contract of the agent area). The token this
# launch minted stays in the environment (readable by this user only), never
# on a command line (/proc/<pid>/cmdline is world-readable) nor in a file:
# agent.env leaves it out, and vm-reboot.sh gets it from the allocator.
export API_TOKEN="${API_TOKEN:-}"
mkdir -p "$VM_DIR/proc"
AGENT_ENV=(VM_NAME="$VM_NAME" ALLOCATOR_URL="${ALLOCATOR_URL:-}"
    SUBJECT_SOFTWARE="${SUBJECT_SOFTWARE:-}"
    LABLINK_LOG_FILES="$log" HOME="$home" LABLINK_PROC_ROOT="$VM_DIR/proc")
[ -n "${CRD_START_HOST:-}" ] && AGENT_ENV+=(LABLINK_CRD_START_HOST="$CRD_START_HOST")
# The image's skeleton: what a reset (claim.on_release) restores the home to
mkdir -p "$VM_DIR/skel/Desktop"
AGENT_ENV+=(LABLINK_SKELETON_DIR="$VM_DIR/skel")
[ -n "${NVIDIA_SMI:-}" ] && AGENT_ENV+=(LABLINK_NVIDIA_SMI="$NVIDIA_SMI")
agent() {  # one-shot reports: bounded, a VM never waits on them for long
    timeout 8 env -u LABLINK_NVIDIA_SMI "${AGENT_ENV[@]}" "$AGENT_BIN" "$@"
}

. "$(dirname "$0")/vm-lib.sh"

failed() {
    say "startup failed at line $1"
    agent status error >/dev/null 2>&1 || true
    exit 1
}
trap 'failed $LINENO' ERR

say "cloud-init: starting $VM_NAME on $VM_ADDRESS:$VM_SSH_PORT"
command -v "$AGENT_BIN" >/dev/null || { say "lablink-agent not found: $AGENT_BIN"; exit 1; }
agent status initializing >>"$log" 2>&1 || say "could not report initializing (continuing)"

# --- sshd --------------------------------------------------------------------
[ -f "$VM_DIR/ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$VM_NAME" -f "$VM_DIR/ssh/host_ed25519"
printf '%s\n' "${SSH_PUBLIC_KEY:-}" >"$VM_DIR/ssh/authorized_keys"
chmod 600 "$VM_DIR/ssh/authorized_keys"
cat >"$VM_DIR/sshd_config" <<CONF
ListenAddress $VM_ADDRESS
Port $VM_SSH_PORT
HostKey $VM_DIR/ssh/host_ed25519
PidFile none
AuthorizedKeysFile $VM_DIR/ssh/authorized_keys
AllowUsers $(id -un)
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp /usr/lib/openssh/sftp-server -d $home
CONF
[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
: >"$VM_DIR/sshd.log"
(exec setsid /usr/sbin/sshd -D -e -f "$VM_DIR/sshd_config" </dev/null >>"$VM_DIR/sshd.log" 2>&1) &
sshd_pid=$!
record_pid "$sshd_pid" "$VM_DIR/sshd.pid"
for _ in $(seq 1 100); do
    grep -q 'Server listening' "$VM_DIR/sshd.log" && break
    kill -0 "$sshd_pid" 2>/dev/null || { tee -a "$log" <"$VM_DIR/sshd.log"; say "sshd did not start"; false; }
    sleep 0.05
done
grep -q 'Server listening' "$VM_DIR/sshd.log" || { say "sshd not listening after 5 s"; false; }
say "sshd listening on $VM_ADDRESS port $VM_SSH_PORT"

# --- timings, then the agent ------------------------------------------------
end=$(date +%s)
agent metrics cloud-init --start "$start" --end "$end" >>"$log" 2>&1 || say "could not report timings (continuing)"
(umask 077 && printf '%s\0' "${AGENT_ENV[@]}" >"$VM_DIR/agent.env")
printf '%s' "$AGENT_BIN" >"$VM_DIR/agent.bin"
agent_start "$VM_DIR" || { tail -n 20 "$VM_DIR/agent.log" | tee -a "$log"; say "lablink-agent exited at once"; false; }
say "cloud-init: done in $((end - start)) s; lablink-agent running (pid $AGENT_PID)"
