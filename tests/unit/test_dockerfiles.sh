# The Dockerfiles cannot be built here (no container engine), so this checks
# their content for the pieces that matter: the allocator image runs
# unprivileged with a health check and a terraform checked against a pinned
# SHA-256; the client image installs exactly the libraries lablink-agent
# links; the client image
# carries lablink-agent and Chrome Remote Desktop with upstream's
# CRD-in-container fixes (XDG_RUNTIME_DIR, user env matching the uid, daemon
# started directly, adduser regex, CRD pinned and held). The client start
# script is syntax- and lint-checked.
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
# need FILE WHAT REGEX: FILE must match the extended REGEX
need() { grep -Eq -- "$3" "$1" || fail "$(basename "$(dirname "$1")")/$(basename "$1"): $2 (/$3/)"; }

A=$SRC/packaging/docker/allocator/Dockerfile
C=$SRC/packaging/docker/client/Dockerfile
S=$SRC/packaging/docker/client/lablink-client-start
for f in "$A" "$C" "$S"; do [ -f "$f" ] || fail "missing $f"; done

need "$A" "Debian 12 base" '^ARG DEBIAN=debian:12'
need "$A" "multi-stage build" '^FROM \$\{DEBIAN\} AS build'
need "$A" "builds with make install" 'make install NO_BUILD=1 BUILD=build PREFIX=/usr DESTDIR=/out'
need "$A" "terraform checked against its SHA-256" 'sha256sum -c'
need "$A" "terraform's SHA-256 pinned" '^ARG TERRAFORM_SHA256=[0-9a-f]{64}$'
grep -q 'if \[ -n "\${TERRAFORM_SHA256}" \]' "$A" && fail "allocator Dockerfile: the terraform check can be skipped"
grep -A2 'terraform.zip \\$' "$A" | grep -q 'echo "\${TERRAFORM_SHA256}  /tmp/terraform.zip" | sha256sum -c -' \
    || fail "allocator Dockerfile: the download is not checked right after it"
need "$A" "unprivileged user" '^USER lablink$'
need "$A" "entrypoint" '^ENTRYPOINT \["/usr/bin/lablink-allocator"\]'
need "$A" "health check on /api/health" '^HEALTHCHECK .*|/api/health'
need "$A" "port" '^EXPOSE 5000$'
need "$A" "state volume" '^VOLUME \["/var/lib/lablink"\]'
need "$A" "the aws CLI (terraform/aws/vm-reboot.sh)" '^ +awscli \\$'
need "$A" "libsystemd to build (sd_notify)" 'libsystemd-dev'
need "$A" "libsystemd at run time" 'libsystemd0'
need "$C" "libsystemd to configure the build" 'libsystemd-dev'
if grep -Eiq '^(ENV|ARG) .*(PASSWORD|SECRET|TOKEN)' "$A" "$C"; then fail "a secret baked into an image"; fi
ok "allocator image: Debian 12 build, verified terraform, non-root, health check, no secrets"

need "$C" "CUDA base image" '^ARG BASE_IMAGE=nvidia/cuda:'
need "$C" "agent built in a stage" 'cmake --build build .*--target lablink-agent'
need "$C" "agent copied in" '^COPY --from=agent .*/lablink-agent /usr/bin/lablink-agent'
need "$C" "Chrome Remote Desktop installed, version pinned" 'chrome-remote-desktop=\$\{CRD_VERSION\}'
need "$C" "CRD held" 'apt-mark hold chrome-remote-desktop'
need "$C" "CRD 148 line" '^ARG CRD_VERSION=148\.'
need "$C" "adduser NAME_REGEX_SYSTEM relaxed for _crd_network" 'NAME_REGEX_SYSTEM=.*\^\[a-z_\]'
need "$C" "CRD session runs XFCE" 'xfce4-session.*/etc/chrome-remote-desktop-session'
need "$C" "Chrome wrapped for containers" 'no-sandbox --disable-gpu --disable-dev-shm-usage'
need "$C" "non-root desktop user" 'useradd --create-home --uid "\$\{CLIENT_UID\}"'
need "$C" "user in the chrome-remote-desktop group" 'usermod -aG chrome-remote-desktop'
need "$C" "runtime dir 0700 owned by the user" 'install -d -m 0700 -o "\$\{CLIENT_USER\}" .*"/run/user/\$\{CLIENT_UID\}"'
need "$C" "XDG_RUNTIME_DIR" 'XDG_RUNTIME_DIR=/run/user/\$\{CLIENT_UID\}'
need "$C" "USER matches the user" 'USER=\$\{CLIENT_USER\}'
need "$C" "LOGNAME matches the user" 'LOGNAME=\$\{CLIENT_USER\}'
need "$C" "HOME matches the user" 'HOME=/home/\$\{CLIENT_USER\}'
need "$C" "runs as the user" '^USER \$\{CLIENT_USER\}$'
need "$C" "agent uses Google's start-host" 'LABLINK_CRD_START_HOST=/opt/google/chrome-remote-desktop/start-host'
need "$C" "start script" '^CMD \["/usr/local/bin/lablink-client-start"\]'
if grep -Eq 'NOPASSWD|chpasswd|password' "$C"; then fail "client image gives the user a password or sudo"; fi
grep -q 'LABLINK_LOG_FILES' "$C" && fail "client Dockerfile sets LABLINK_LOG_FILES (lablink-client-start names the container's logs)"
# The agent's runtime libraries: exactly the packages of what the binary
# links (its DT_NEEDED, through dpkg -S; the sanitizers and libc aside)
agent=${LABLINK_BUILD_DIR:-}/lablink-agent
if [ -x "$agent" ] && command -v readelf >/dev/null && command -v dpkg >/dev/null; then
    libs_line=$(sed -n '/runtime libraries, exactly/,/rm -rf/p' "$C" \
        | grep -o 'install -y --no-install-recommends .*' | sed 's/.*recommends //; s/ *\\$//')
    have=$(tr ' ' '\n' <<<"$libs_line" | grep . | sort -u)
    want=$(readelf -d "$agent" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' \
        | grep -Ev '^(libc|libm|libasan|libubsan|libtsan|libgcc_s|ld-linux.*)\.so' \
        | while read -r so; do
            path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|x86_64/ {print $NF; exit}')
            dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1
        done | sort -u)
    [ -n "$want" ] || fail "cannot find the agent's libraries' packages"
    [ "$have" = "$want" ] || fail "client image's agent libraries: $(echo $have) but lablink-agent links $(echo $want)"
    ok "client image: installs exactly the agent's runtime libraries ($(echo $want))"
fi
ok "client image: CUDA base, agent, CRD pinned and held, adduser regex, user/env/runtime dir, no sudo"

need "$S" "refuses root" 'refusing to run as root'
need "$S" "USER and LOGNAME from the real uid" 'export USER=\$name LOGNAME=\$name'
need "$S" "HOME from the passwd entry" 'getent passwd'
need "$S" "XDG_RUNTIME_DIR for this uid" 'export XDG_RUNTIME_DIR=/run/user/\$uid'
need "$S" "runtime dir ownership checked" 'stat -c %u "\$XDG_RUNTIME_DIR"'
need "$S" "session class and type" 'export XDG_SESSION_CLASS=user XDG_SESSION_TYPE=x11'
need "$S" "daemon started directly after registration" 'timeout 30 "\$daemon" --start --new-session'
need "$S" "waits for the host config start-host writes" 'host#\*\.json'
need "$S" "agent is the main process" 'lablink-agent run'
bash -n "$S" || fail "lablink-client-start: syntax error"
if command -v shellcheck >/dev/null 2>&1; then
    shellcheck "$S" "$SRC/packaging/install" || fail "shellcheck"
    ok "client start script: CRD fixes present, bash -n and shellcheck clean"
else
    ok "client start script: CRD fixes present, bash -n clean (shellcheck not installed)"
fi
echo "NOTE: no container engine here: the Dockerfiles were checked by content, not built"
echo "$passed passed, 0 failed"
