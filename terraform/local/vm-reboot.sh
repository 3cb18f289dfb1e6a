#!/usr/bin/env bash
# The local provider's reboot (REBOOT-VM, POST /api/reboot-vm): what a
# machine's reboot does to its lablink-agent. The agent process (and its
# session: a CRD stand-in it started) stops, the VM's "running processes"
# (its proc/ folder) are cleared, and the agent starts again with the
# environment vm-up.sh gave it; sshd and the VM's files stay, as a disk
# does. A registered CRD host comes back, as its systemd unit does at
# boot. The agent then reports its status again and polls for an
# assignment, like an AWS VM after `aws ec2 reboot-instances`.
#   API_TOKEN=<the VM's token> vm-reboot.sh NAME WORK_DIR
#     (the VM is WORK_DIR/vms/NAME, the module's default vms_dir; the token
#     comes from the allocator as at launch, never from a file)
set -euo pipefail
: "${API_TOKEN:?API_TOKEN (the token of the VM) is required}"
name=${1:?usage: vm-reboot.sh NAME WORK_DIR}
work=${2:?usage: vm-reboot.sh NAME WORK_DIR}
case $name in */* | .* | "") echo "invalid VM name: $name" >&2; exit 2 ;; esac
dir=$work/vms/$name
. "$(dirname "$0")/vm-lib.sh"
[ -f "$dir/agent.env" ] && [ -f "$dir/agent.bin" ] \
    || { echo "$name: no local VM in $dir" >&2; exit 1; }
printf '%s %s: reboot\n' "$(date -u +'%b %d %H:%M:%S')" "$name" >>"$dir/home/cloud-init-output.log"
stop_pid "$dir/agent.pid"
rm -rf -- "$dir/proc"
mkdir -p "$dir/proc"
# A registered CRD host starts again at boot (its systemd unit), unless the
# test switch says it never connects
if compgen -G "$dir/home/.config/chrome-remote-desktop/host#*.json" >/dev/null \
    && [ ! -f "$dir/home/crd-host.fail" ]; then
    mkdir -p "$dir/proc/4242"
    printf '/opt/google/chrome-remote-desktop/chrome-remote-desktop-host\0--start\0' \
        >"$dir/proc/4242/cmdline"
fi
export API_TOKEN
agent_start "$dir" || { tail -n 20 "$dir/agent.log" >&2; echo "$name: lablink-agent exited at once" >&2; exit 1; }
echo "$name: rebooted (lablink-agent pid $AGENT_PID)"
