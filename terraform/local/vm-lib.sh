# shellcheck shell=bash
# Shared by vm-up.sh, vm-down.sh and vm-reboot.sh (sourced): the local
# VM's processes, recorded as "<pid> <start time>" so nothing ever stops a
# recycled pid.

# record_pid PID FILE
record_pid() {
    local pid=$1 file=$2 stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo "$pid 0" >"$file"; return; }
    stat=${stat##*) }
    echo "$pid $(echo "$stat" | cut -d' ' -f20)" >"$file"
}

# stop_pid FILE: SIGTERM to the recorded process's session, SIGKILL after
# 5 s; nothing when it is gone or its pid was reused.
stop_pid() {
    local file=$1 pid started stat now
    [ -f "$file" ] || return 0
    read -r pid started <"$file" || return 0
    [ -n "$pid" ] || return 0
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 0   # already gone
    stat=${stat##*) }
    now=$(echo "$stat" | cut -d' ' -f20)
    [ "$started" = 0 ] || [ "$now" = "$started" ] || return 0   # recycled pid
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        # a zombie child of an exited parent still answers kill -0
        [ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    return 0
}

# agent_start VM_DIR: `lablink-agent run` in its own session with the
# environment vm-up.sh saved (agent.env, NUL-separated, mode 0600: it holds
# the VM's token, as a real VM's user_data does), output to agent.log.
# 0 when it is still running 0.2 s later.
agent_start() {
    local dir=$1 bin env=()
    bin=$(cat "$dir/agent.bin")
    mapfile -d '' env <"$dir/agent.env"
    (exec setsid env -u LABLINK_NVIDIA_SMI "${env[@]}" "$bin" run \
        </dev/null >>"$dir/agent.log" 2>&1) &
    AGENT_PID=$!
    record_pid "$AGENT_PID" "$dir/agent.pid"
    sleep 0.2
    kill -0 "$AGENT_PID" 2>/dev/null
}
