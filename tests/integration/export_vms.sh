# Local "VMs" for the export tests and bench (sourced): one real sshd per
# VM on its own loopback address (127.0.1.N), serving SFTP with the VM's
# home as its start folder, as the local provider runs them. internal-sftp:
# no login shell runs (a slow ~/.bashrc would otherwise delay every export).
#   vm_start N PORT PUBKEY_FILE   starts (or restarts) VM N; home $T/vmN/home
#   vm_stop N                     stops its sshd
#   vm_home N                     prints its home
#   start_exporting_allocator [yaml lines for export:]   (lib.sh, $port, $url)
#   download URL OUT              the zip into OUT, headers into OUT.headers
#   mkfile PATH BYTES             random bytes, parents made
[ -x /usr/sbin/sshd ] || { echo "FAIL: /usr/sbin/sshd missing (openssh-server)" >&2; exit 1; }
mkdir -p /run/sshd

vm_home() { echo "$T/vm$1/home"; }

vm_start() {
    local n=$1 port=$2 pub=$3 dir=$T/vm$1
    mkdir -p "$dir/home/Desktop"
    [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
    cp "$pub" "$dir/authorized_keys"
    cat >"$dir/sshd_config" <<CFG
ListenAddress 127.0.1.$n
Port $port
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 200
Subsystem sftp internal-sftp -d $dir/home
CFG
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >>"$dir/sshd.log" 2>&1 &
    echo $! >"$dir/sshd.child"
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.1.$n/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    cat "$dir/sshd.log" >&2
    echo "FAIL: sshd of vm$n did not listen" >&2
    exit 1
}

vm_stop() {
    local dir=$T/vm$1 pid
    pid=$(cat "$dir/sshd.child" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$dir/sshd.child"
}

# start_exporting_allocator [extra yaml lines for export:]
start_exporting_allocator() {
    mkdir -p "$T/alloc-cwd" "$T/alloc-tmp" "$T/keys"
    write_config "$port"
    cat >>"$T/config.yaml" <<YAML
export:
  ssh_user: ${EXPORT_USER:-root}
  key_file: $T/keys/export_ed25519
  timeout_s: 10
  parallel: 2
$1
YAML
    (cd "$T/alloc-cwd" && TMPDIR=$T/alloc-tmp exec "$BIN" --config "$T/config.yaml") \
        >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 20 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}

mkfile() { mkdir -p "$(dirname "$1")"; head -c "$2" /dev/urandom >"$1"; }

# download URL OUT: the zip into OUT, headers into OUT.headers
download() {
    curl -s "${auth[@]}" -D "$2.headers" -o "$2" -w '%{http_code}' --max-time 60 "$1"
}
