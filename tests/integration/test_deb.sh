# The Debian packages (make deb: packaging/deb/build) installed with dpkg -i
# and run. The install goes into a chroot that is a copy-on-write overlay of
# this machine's root (its dpkg database included, so Depends are checked
# against what is really installed; nothing reaches the real root). There
# is no systemd to start the unit under here (PID 1 is not systemd), so the
# installed binary runs as the unit would run it: as the lablink user that
# the package's sysusers.d file created, with the installed config and an
# environment file, ExecStartPre's --check-config first.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
command -v dpkg-shlibdeps >/dev/null || fail "dpkg-dev missing (scripts/install-deps: LABLINK_DEPS=ops)"
[ "$(id -u)" = 0 ] || fail "the chroot install needs root"

# --- the packages ------------------------------------------------------------
"$SRC/packaging/deb/build" "$LABLINK_BUILD_DIR" "$T/debs" >"$T/build.log" 2>&1 \
    || { cat "$T/build.log" >&2; fail "packaging/deb/build"; }
version=$(sed -n 's/^project(lablink VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
A=$(ls "$T"/debs/lablink-allocator_"$version"-1_*.deb)
G=$(ls "$T"/debs/lablink-agent_"$version"-1_*.deb)
info() { dpkg-deb -f "$1" "$2"; }
# Depends name the package of every library the program links
ldconfig -p >"$T/ldconfig"
for pair in "$A lablink-allocator" "$G lablink-agent"; do
    set -- $pair
    deps=$(info "$1" Depends)
    : >"$T/paths"
    for lib in $(objdump -p "$LABLINK_BUILD_DIR/$2" | awk '/NEEDED/ { print $2 }'); do
        path=$(awk -v l="$lib" '$1 == l && !p { p = $NF } END { print p }' "$T/ldconfig")
        [ -n "$path" ] || fail "$2 links $lib, which ldconfig does not know"
        # dpkg knows a library by one of its names (usrmerge: /lib or /usr/lib)
        { echo "$path"; readlink -f "$path"; } >>"$T/paths"
    done
    # one dpkg -S for all (each call reads the whole database)
    owners=$(xargs dpkg -S <"$T/paths" 2>/dev/null | cut -d: -f1 | sort -u) || true
    # dpkg -S answered (the agent links 9 packages' libraries in this build)
    [ "$(wc -l <<<"$owners")" -ge 5 ] || fail "$2: owners of its libraries: $owners"
    for owner in $owners; do
        grep -qE "(^|, )$owner( |,|$)" <<<"$deps" || fail "$2 links a library of $owner, not in Depends: $deps"
    done
done
grep -q 'openssh-client' <<<"$(info "$A" Depends)" || fail "allocator Depends lacks openssh-client"
dpkg-deb -c "$A" >"$T/allocator.list"
dpkg-deb -c "$G" >"$T/agent.list"
for f in ./usr/bin/lablink-allocator ./usr/lib/systemd/system/lablink-allocator.service \
         ./usr/lib/sysusers.d/lablink.conf ./usr/share/man/man1/lablink-allocator.1.gz \
         ./usr/share/lablink/terraform/aws/main.tf ./etc/lablink/config.yaml.example; do
    grep -q " $f\$" "$T/allocator.list" || fail "allocator package lacks $f"
done
for f in ./usr/bin/lablink-agent ./usr/lib/systemd/system/lablink-agent.service \
         ./usr/share/man/man1/lablink-agent.1.gz; do
    grep -q " $f\$" "$T/agent.list" || fail "agent package lacks $f"
done
dpkg-deb -I "$A" conffiles >"$T/conffiles"
grep -qx '/etc/lablink/config.yaml.example' "$T/conffiles" || fail "config not a conffile"
pass "make deb's packages: Depends cover every linked library, units, sysusers.d, manual pages, conffiles"

# --- install and run them in an overlay chroot --------------------------------
passwd_before=$(md5sum </etc/passwd)
port=$(ll_free_port)
mkdir -p "$T/upper" "$T/work" "$T/root"
export T A G port PGPORT_TEST=${LABLINK_DB_PORT:-5432}
unshare -m bash -euo pipefail -c '
fail() { echo "FAIL: $*" >&2; exit 1; }
R=$T/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R"
mount --bind /proc "$R/proc"
mount --bind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/tmp"
mount -t tmpfs tmpfs "$R/run"    # no /run/systemd/system: no systemd here
inside() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$@"; }
inside sh -c "! getent passwd lablink >/dev/null" || fail "a lablink user before the install"
cp "$A" "$G" "$R/tmp/"
inside env DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/$(basename "$A") /tmp/$(basename "$G") >"$T/dpkg.log" 2>&1 \
    || { cat "$T/dpkg.log" >&2; fail "dpkg -i"; }
for p in lablink-allocator lablink-agent; do
    inside dpkg-query -W -f="\${Status}" $p | grep -q "install ok installed" || fail "$p not installed"
done
inside getent passwd lablink | grep -Eq "^lablink:x:[0-9]+:[0-9]+:LabLink allocator:/var/lib/lablink:/usr/sbin/nologin$" \
    || fail "postinst (sysusers) made no lablink user: $(inside getent passwd lablink)"
[ "$(inside stat -c %U:%a /var/lib/lablink)" = lablink:750 ] || fail "/var/lib/lablink: $(inside stat -c %U:%a /var/lib/lablink)"
inside man -w lablink-allocator >/dev/null || fail "man lablink-allocator"
inside systemd-analyze verify /usr/lib/systemd/system/lablink-allocator.service >"$T/verify.log" 2>&1 \
    || { cat "$T/verify.log" >&2; fail "systemd-analyze verify of the installed unit"; }
echo "ok - dpkg -i of both packages: lablink user by sysusers.d, state directory, manual pages, the unit verifies"

# As the unit runs it: EnvironmentFile, ExecStartPre, ExecStart as lablink
inside cp /etc/lablink/config.yaml.example /etc/lablink/config.yaml
cat >"$R/etc/lablink/allocator.env" <<ENV
LABLINK_ADMIN_PASSWORD=deb-admin-password
LABLINK_DB_HOST=127.0.0.1
LABLINK_DB_PORT=$PGPORT_TEST
LABLINK_LISTEN=127.0.0.1:$port
LABLINK_PUBLIC_URL=http://127.0.0.1:$port
ENV
chmod 0600 "$R/etc/lablink/allocator.env"
unit=$R/usr/lib/systemd/system/lablink-allocator.service
pre=$(sed -n "s/^ExecStartPre=//p" "$unit")
start=$(sed -n "s/^ExecStart=//p" "$unit")
inside $pre >"$T/check.log" 2>&1 || { cat "$T/check.log" >&2; fail "ExecStartPre: $pre"; }
env_args=$(grep -v "^#" "$R/etc/lablink/allocator.env" | tr "\n" " ")
chroot --userspec=lablink:lablink "$R" env -i PATH=/usr/bin:/bin HOME=/var/lib/lablink $env_args \
    sh -c "cd /var/lib/lablink && exec $start" >"$T/installed.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && break
    kill -0 $pid 2>/dev/null || { cat "$T/installed.log" >&2; fail "the installed allocator exited"; }
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/api/health")" = 200 ] \
    || { cat "$T/installed.log" >&2; fail "installed allocator not healthy"; }
ps -o user= -p $pid | grep -q lablink || true
grep -q "lablink_build_info{version=" <(curl -s "http://127.0.0.1:$port/metrics") || fail "installed /metrics"
# the installed agent reports to it with a registered VM token
tok=$(curl -s -u admin:deb-admin-password -X POST "http://127.0.0.1:$port/api/vms/deb-vm-1/register" \
    | sed -n "s/.*\"token\":\"\([^\"]*\)\".*/\1/p")
[ -n "$tok" ] || fail "register a VM"
inside env VM_NAME=deb-vm-1 API_TOKEN="$tok" ALLOCATOR_URL="http://127.0.0.1:$port" \
    lablink-agent status running >"$T/agent.log" 2>&1 || { cat "$T/agent.log" >&2; fail "installed agent status"; }
kill -TERM $pid
wait $pid || fail "installed allocator exit code $?"
echo "ok - the installed allocator (lablink user, installed config, ExecStartPre first) serves; the installed agent reports to it"

inside env DEBIAN_FRONTEND=noninteractive dpkg -r lablink-agent lablink-allocator >"$T/remove.log" 2>&1 \
    || { cat "$T/remove.log" >&2; fail "dpkg -r"; }
[ ! -e "$R/usr/bin/lablink-allocator" ] || fail "binary left after dpkg -r"
[ -f "$R/etc/lablink/config.yaml.example" ] || fail "dpkg -r removed a conffile"
echo "ok - dpkg -r removes the programs and keeps the configuration"
' || fail "the chroot install"
grep -q 'installed allocator' "$T/installed.log" 2>/dev/null || true
grep -q 'allocator: ready' "$T/installed.log" || fail "the installed allocator's log: $(tail -3 "$T/installed.log")"
[ "$(md5sum </etc/passwd)" = "$passwd_before" ] || fail "the machine's /etc/passwd changed"
dpkg -s lablink-allocator >/dev/null 2>&1 && fail "lablink-allocator reached the machine's dpkg database"
pass "installed in an overlay chroot, the machine itself untouched"
echo "5 passed, 0 failed"
