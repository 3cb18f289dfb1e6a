#!/usr/bin/env bash
# Destroy-time provisioner of terraform/local: stops exactly the processes
# vm-up.sh started for this VM (pid + start time, so a recycled pid is never
# hit), each with its whole session, then removes the VM's folder.
# Environment: VM_NAME VM_DIR
set -uo pipefail
: "${VM_NAME:?}" "${VM_DIR:?}"

. "$(dirname "$0")/vm-lib.sh"

stop_pid "$VM_DIR/agent.pid"
stop_pid "$VM_DIR/sshd.pid"
echo "$VM_NAME: stopped"
rm -rf -- "$VM_DIR"
