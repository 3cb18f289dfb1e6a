#!/usr/bin/env bash
# Destroy-time provisioner of terraform/local: stops exactly the processes
# vm-up.sh started for this VM (pid + start time, so a recycled pid is never
# hit), each with its whole session, and whatever the agent started that is
# still running, then removes the VM's folder.
# Environment: VM_NAME VM_DIR
set -uo pipefail
: "${VM_NAME:?}" "${VM_DIR:?}"

# leader FILE: the pid recorded in FILE when that very process still runs
leader() {
    local pid started stat
    [ -f "$1" ] || return 1
    read -r pid started <"$1" || return 1
    [ -n "$pid" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1   # already gone
    stat=${stat##*) }
    [ "$started" = 0 ] || [ "$(echo "$stat" | cut -d' ' -f20)" = "$started" ] || return 1
    echo "$pid"
}

# The agent's environment names the VM's home, and everything it started
# inherits it: that finds the desktop start-host left behind even when the
# agent died first (its session then has no leader to find it by).
marked() {
    grep -lzxF "HOME=$VM_DIR/home" /proc/[0-9]*/environ 2>/dev/null \
        | sed 's|^/proc/\([0-9]*\)/environ$|\1|' | grep -vx "$$"
}

# running PID...: true when one of them has not exited (a zombie has)
running() {
    local p state
    for p; do
        state=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
        [ -n "$state" ] && [ "$state" != Z ] && return 0
    done
    return 1
}

# signal SIG: to both leaders' sessions (vm-up.sh started them with setsid:
# what they started and left running is in them) and to the marked processes
signal() {
    local p
    for p in $leaders; do
        kill "-$1" -- "-$p" 2>/dev/null
        pkill "-$1" -s "$p" 2>/dev/null
    done
    for p in $marks; do kill "-$1" "$p" 2>/dev/null; done
}

# left: true while a leader, a process of their sessions or a marked one runs
left() {
    local p
    for p in $leaders; do
        # shellcheck disable=SC2046 # one pid a word
        running "$p" $(pgrep -s "$p") && return 0
    done
    # shellcheck disable=SC2086
    running $marks
}

leaders="$(leader "$VM_DIR/agent.pid") $(leader "$VM_DIR/sshd.pid")"
marks=$(marked)
signal TERM
for _ in $(seq 1 50); do
    left || break
    sleep 0.1
done
if left; then
    marks=$(marked)
    signal KILL
fi
echo "$VM_NAME: stopped"
rm -rf -- "$VM_DIR"
