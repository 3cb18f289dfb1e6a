#!/usr/bin/env bash
# The local provider's reboot (REBOOT-VM, POST /api/reboot-vm): what a
# machine's reboot does to its lablink-agent. The agent process (and its
# session: a CRD stand-in it started) stops, the VM's "running processes"
# (its proc/ folder) are cleared, and the agent starts again with the
# environment vm-up.sh gave it; sshd and the VM's files stay, as a disk
# does. A CRD host that ran comes back, as its systemd service does at
# boot. The agent then reports its status again and polls for an
# assignment, like an AWS VM after `aws ec2 reboot-instances`.
#   vm-reboot.sh NAME WORK_DIR    (the VM is WORK_DIR/vms/NAME, the module's
#                                  default vms_dir)
set -euo pipefail
name=${1:?usage: vm-reboot.sh NAME WORK_DIR}
work=${2:?usage: vm-reboot.sh NAME WORK_DIR}
case $name in */* | .* | "") echo "invalid VM name: $name" >&2; exit 2 ;; esac
dir=$work/vms/$name
. "$(dirname "$0")/vm-lib.sh"
[ -f "$dir/agent.env" ] && [ -f "$dir/agent.bin" ] \
    || { echo "$name: no local VM in $dir" >&2; exit 1; }
printf '%s %s: reboot\n' "$(date -u +'%b %d %H:%M:%S')" "$name" >>"$dir/home/cloud-init-output.log"
stop_pid "$dir/agent.pid"
crd=$dir/proc/4242
crd_ran=false
[ -f "$crd/cmdline" ] && crd_ran=true && cp "$crd/cmdline" "$dir/crd.cmdline"
rm -rf -- "$dir/proc"
mkdir -p "$dir/proc"
if $crd_ran; then
    mkdir -p "$crd" && mv "$dir/crd.cmdline" "$crd/cmdline"
fi
agent_start "$dir" || { tail -n 20 "$dir/agent.log" >&2; echo "$name: lablink-agent exited at once" >&2; exit 1; }
echo "$name: rebooted (lablink-agent pid $AGENT_PID)"
