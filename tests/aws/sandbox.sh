# A throwaway "machine" for scripts written for real hosts (user_data, the
# client image's start script), sourced by tests that already run in their
# own mount, network and pid namespaces (sandbox_enter):
#   sandbox_enter "$0"     re-runs the calling test in new mount, network
#                          and pid namespaces (only a loopback, up), once
#   sandbox_make ROOT      a chroot: the system read-only (/usr and the
#                          merged-/usr links), a copy of /etc with the client
#                          image's user (uid 1000) and the allocator image's
#                          (uid 10001), empty /var /tmp /run /home /opt /root,
#                          /proc, /dev; the stand-ins of tests/aws/standins
#                          in /usr/local/sbin (first on PATH: apt-get, dpkg,
#                          docker, systemctl, nvidia-smi), our programs in
#                          /usr/local/bin (lablink-agent, lablink-allocator,
#                          lablink-client-start), Google's CRD start-host
#                          and daemon stand-ins in /opt/google/...
#   sandbox_conf ROOT LINE...  settings of the stand-ins
#   sandbox_run ROOT SCRIPT LOG  runs SCRIPT as cloud-init does (root, bash,
#                          a clean environment), output appended to LOG
#                          (inside ROOT); returns its exit status
# Only AWS's services and the OS installer are stand-ins: everything else
# (bash, curl, coreutils, the agent, the allocator) is the real program.

sandbox_enter() {
    if [ -z "${LABLINK_SANDBOXED:-}" ]; then
        command -v unshare >/dev/null || { echo "FAIL: unshare (util-linux) missing" >&2; exit 1; }
        [ "$(id -u)" -eq 0 ] || { echo "FAIL: the sandbox needs root (namespaces, mounts, chroot)" >&2; exit 1; }
        exec unshare --mount --net --pid --fork --mount-proc --kill-child \
            env LABLINK_SANDBOXED=1 bash "$1"
    fi
    ip link set lo up || { echo "FAIL: cannot bring up the sandbox's loopback" >&2; exit 1; }
}

sandbox_make() {
    local root=$1 d
    mkdir -p "$root"
    for d in usr bin sbin lib lib32 lib64 libx32; do
        if [ -L "/$d" ]; then
            ln -s "$(readlink "/$d")" "$root/$d"
        elif [ -d "/$d" ]; then
            mkdir -p "$root/$d"
            mount --bind "/$d" "$root/$d"
            mount -o remount,bind,ro "$root/$d"
        fi
    done
    cp -a /etc "$root/etc"
    for d in var tmp run home opt root srv; do
        mkdir -p "$root/$d"
        mount -t tmpfs -o mode=0755 tmpfs "$root/$d"
    done
    chmod 1777 "$root/tmp"
    chmod 0700 "$root/root"
    mkdir -p "$root/var/log" "$root/var/lib/cloud/instance/scripts" "$root/var/tmp" \
        "$root/proc" "$root/dev" "$root/sys"
    ln -s /run "$root/var/run"
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local/sbin"
    mount -t tmpfs -o mode=0755 tmpfs "$root/usr/local/bin"
    mkdir -p "$root/usr/local/share"
    cp "$SRC"/tests/aws/standins/* "$root/usr/local/sbin/"
    install -m 0755 "$LABLINK_BUILD_DIR/lablink-agent" "$LABLINK_BUILD_DIR/lablink-allocator" \
        "$SRC/packaging/docker/client/lablink-client-start" "$root/usr/local/bin/"
    touch "$root/var/log/standins.log"
    chmod 0666 "$root/var/log/standins.log"

    # The users of the two images (the machine's own uid 1000 leaves)
    sed -i '/^[^:]*:[^:]*:1000:/d; /^[^:]*:[^:]*:10001:/d' "$root/etc/passwd"
    sed -i '/^[^:]*:[^:]*:1000:/d; /^[^:]*:[^:]*:10001:/d' "$root/etc/group"
    echo 'client:x:1000:1000::/home/client:/bin/bash' >>"$root/etc/passwd"
    echo 'lablink:x:10001:10001::/var/lib/lablink:/usr/sbin/nologin' >>"$root/etc/passwd"
    printf 'client:x:1000:\nlablink:x:10001:\n' >>"$root/etc/group"
    # What the client image prepares for its user (packaging/docker/client)
    install -d -m 0755 -o 1000 -g 1000 "$root/home/client" "$root/home/client/Desktop" \
        "$root/home/client/logs" "$root/home/client/.config" "$root/home/client/.config/chrome-remote-desktop"
    install -d -m 0700 -o 1000 -g 1000 "$root/run/user/1000"
    install -d -m 0755 "$root/opt/google/chrome-remote-desktop"
    install -m 0755 "$SRC/agent/standins/start-host" "$root/opt/google/chrome-remote-desktop/start-host"
    install -m 0755 "$SRC/tests/aws/standins/chrome-remote-desktop" \
        "$root/opt/google/chrome-remote-desktop/chrome-remote-desktop"
    cp "$SRC/tests/aws/standins/record.sh" "$root/opt/google/chrome-remote-desktop/"
    cp "$SRC/tests/fixtures/nvidia-smi/"* "$root/usr/local/share/" 2>/dev/null || true
    : >"$root/etc/lablink-standins.conf"
}

sandbox_conf() {
    local root=$1
    shift
    printf '%s\n' "$@" >>"$root/etc/lablink-standins.conf"
}

sandbox_run() {
    local root=$1 script=$2 log=$3
    install -m 0700 "$script" "$root/var/lib/cloud/instance/scripts/part-001"
    chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 /bin/bash /var/lib/cloud/instance/scripts/part-001 \
        >>"$root$log" 2>&1
}

# sandbox_calls ROOT NAME: the recorded calls of one stand-in
sandbox_calls() { grep "^$2\\( \\|\$\\)" "$1/var/log/standins.log" || true; }
