#!/usr/bin/env bash
# Destroy-time provisioner of terraform/local: stops exactly the processes
# vm-up.sh started for this VM (pid + start time, so a recycled pid is never
# hit), each with its whole session, then removes the VM's folder.
# Environment: VM_NAME VM_DIR
set -uo pipefail
: "${VM_NAME:?}" "${VM_DIR:?}"

stop() {
    local file=$1 pid started stat now
    [ -f "$file" ] || return 0
    read -r pid started <"$file" || return 0
    [ -n "$pid" ] || return 0
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0   # already gone
    stat=${stat##*) }
    now=$(echo "$stat" | cut -d' ' -f20)
    [ "$started" = 0 ] || [ "$now" = "$started" ] || return 0   # recycled pid
    # vm-up.sh started it with setsid: its session holds what it started
    # and what those left running (the desktop start-host leaves), which a
    # destroyed VM must not keep either
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    pkill -TERM -s "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        if ! kill -0 "$pid" 2>/dev/null \
            || [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]; then
            # (a zombie child of an exited parent still answers kill -0)
            pgrep -s "$pid" >/dev/null 2>&1 || return 0
        fi
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    pkill -KILL -s "$pid" 2>/dev/null
    return 0
}

stop "$VM_DIR/agent.pid"
stop "$VM_DIR/sshd.pid"
echo "$VM_NAME: stopped"
rm -rf -- "$VM_DIR"
