# make install: everything in place under DESTDIR with PREFIX=/usr (programs,
# hardened systemd units, terraform modules, Caddy files, example config,
# docs), paths filled in for another PREFIX, the units accepted by
# `systemd-analyze verify` and rated by `systemd-analyze security`.
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
B=${LABLINK_BUILD_DIR:?}
T=${LABLINK_TEST_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }

# --- DESTDIR staging with PREFIX=/usr (how a package is built) ---
S=$T/stage
make -s -C "$SRC" install NO_BUILD=1 BUILD="$B" DESTDIR="$S" PREFIX=/usr >"$T/install.log" 2>&1 \
    || { cat "$T/install.log" >&2; fail "make install DESTDIR=$S PREFIX=/usr"; }
[ -x "$S/usr/bin/lablink-allocator" ] || fail "no /usr/bin/lablink-allocator"
if [ -x "$B/lablink-agent" ]; then
    [ -x "$S/usr/bin/lablink-agent" ] || fail "lablink-agent built but not installed"
fi
for f in usr/lib/systemd/system/lablink-allocator.service usr/lib/systemd/system/lablink-agent.service \
         usr/lib/sysusers.d/lablink.conf usr/share/man/man1/lablink-allocator.1 \
         usr/share/lablink/prometheus/lablink-alerts.yml usr/share/lablink/grafana/lablink-dashboard.json \
         usr/share/man/man1/lablink-agent.1 \
         usr/share/lablink/terraform/infrastructure/main.tf \
         usr/share/lablink/terraform/infrastructure/user_data.sh.tftpl \
         usr/share/lablink/caddy/Caddyfile usr/share/lablink/caddy/lablink.caddy \
         usr/share/lablink/examples/config.example.yaml etc/lablink/config.yaml.example \
         etc/lablink/allocator.env.example usr/share/doc/lablink/operations.md \
         usr/share/doc/lablink/api.md; do
    [ -f "$S/$f" ] || fail "not installed: /$f"
done
for module in local aws; do
    if [ -d "$SRC/terraform/$module" ]; then
        [ -n "$(ls "$S/usr/share/lablink/terraform/$module/"*.tf 2>/dev/null)" ] \
            || fail "terraform/$module not installed"
    fi
done
[ -z "$(find "$S" -name '.terraform' -o -name '*.tfstate*' -o -name 'terraform.runtime.tfvars*')" ] \
    || fail "terraform state or caches were installed"
[ "$(stat -c %a "$S/etc/lablink/allocator.env.example")" = 600 ] || fail "allocator.env.example not mode 0600"
ok "make install DESTDIR=... PREFIX=/usr: programs, units, modules, Caddy files, config, docs"

unit=$S/usr/lib/systemd/system/lablink-allocator.service
grep -qx 'ExecStart=/usr/bin/lablink-allocator --config /etc/lablink/config.yaml' "$unit" || fail "allocator ExecStart"
grep -qx 'EnvironmentFile=-/etc/lablink/allocator.env' "$unit" || fail "allocator EnvironmentFile"
for d in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
         'CapabilityBoundingSet=' RestrictSUIDSGID=yes MemoryDenyWriteExecute=yes StateDirectory=lablink \
         'User=lablink' Type=notify NotifyAccess=main WatchdogSec=30; do
    grep -qx "$d" "$unit" || fail "allocator unit lacks $d"
done
agent=$S/usr/lib/systemd/system/lablink-agent.service
grep -qx 'ExecStart=/usr/bin/lablink-agent run' "$agent" || fail "agent ExecStart"
for d in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes 'CapabilityBoundingSet=' \
         'Environment=XDG_SESSION_CLASS=user XDG_SESSION_TYPE=x11'; do
    grep -qx "$d" "$agent" || fail "agent unit lacks $d"
done
grep -q '^User=' "$agent" && ! grep -qx 'User=root' "$agent" || fail "agent must not run as root (CRD refuses)"
if grep -rq '@[A-Z]*DIR@' "$S"; then fail "unsubstituted @...@ in installed files"; fi
ok "units hardened (NoNewPrivileges, ProtectSystem=strict, PrivateTmp, no capabilities) with /usr paths"

out=$("$S/usr/bin/lablink-allocator" --check-config "$S/etc/lablink/config.yaml.example" 2>&1) \
    || fail "installed example config rejected: $out"
grep -q '^\[PASS\]' <<<"$out" || fail "example config: $out"
grep -q 'terraform_dir: /usr/share/lablink/terraform/aws' "$S/etc/lablink/config.yaml.example" \
    || fail "example config does not point at the installed terraform/aws"
if grep -Eiq '^[^#]*password:' "$S/etc/lablink/config.yaml.example"; then fail "a password in the example config"; fi
ok "the installed example config passes --check-config and holds no password"

grep -qx 'import /usr/share/lablink/caddy/lablink.caddy' "$S/usr/share/lablink/caddy/Caddyfile" \
    || fail "Caddyfile does not import the installed snippet"
if command -v caddy >/dev/null 2>&1; then
    sed "s|import /usr/share/|import $S/usr/share/|" "$S/usr/share/lablink/caddy/Caddyfile" >"$T/Caddyfile"
    HOME=$T XDG_DATA_HOME=$T/xdg XDG_CONFIG_HOME=$T/xdg LABLINK_DOMAIN=lablink.example.org \
        caddy adapt --config "$T/Caddyfile" --adapter caddyfile >"$T/caddy.json" 2>"$T/caddy.err" \
        || { cat "$T/caddy.err" >&2; fail "caddy adapt rejects the installed Caddyfile"; }
    grep -q '"dial":"127.0.0.1:5000"' "$T/caddy.json" || fail "Caddyfile does not proxy to 127.0.0.1:5000"
    grep -q 'lablink.example.org' "$T/caddy.json" || fail "Caddyfile site name"
    ok "caddy adapt accepts the installed Caddyfile (proxy to 127.0.0.1:5000)"
else
    echo "SKIP: caddy not installed: the Caddyfile was not adapted"
fi

# --- a real install into another prefix: paths follow PREFIX ---
P=$T/prefix
make -s -C "$SRC" install NO_BUILD=1 BUILD="$B" PREFIX="$P" >"$T/install2.log" 2>&1 \
    || { cat "$T/install2.log" >&2; fail "make install PREFIX=$P"; }
unit=$P/lib/systemd/system/lablink-allocator.service
grep -qx "ExecStart=$P/bin/lablink-allocator --config $P/etc/lablink/config.yaml" "$unit" \
    || fail "ExecStart does not follow PREFIX: $(grep ExecStart= "$unit")"
[ -f "$P/etc/lablink/config.yaml.example" ] || fail "sysconfdir is not PREFIX/etc for PREFIX=$P"
grep -qx "import $P/share/lablink/caddy/lablink.caddy" "$P/share/lablink/caddy/Caddyfile" || fail "Caddyfile import path"
ok "PREFIX=$P: ExecStart, sysconfdir and the Caddy import follow it"

# The lablink user from sysusers.d, not a manual useradd
command -v systemd-sysusers >/dev/null || fail "systemd-sysusers missing (scripts/install-deps: LABLINK_DEPS=ops)"
R=$T/sysroot
mkdir -p "$R/etc"
systemd-sysusers --root="$R" "$S/usr/lib/sysusers.d/lablink.conf" 2>"$T/sysusers.err" \
    || { cat "$T/sysusers.err" >&2; fail "systemd-sysusers rejects lablink.conf"; }
grep -Eq '^lablink:x:[0-9]+:[0-9]+:LabLink allocator:/var/lib/lablink:/usr/sbin/nologin$' "$R/etc/passwd" \
    || fail "sysusers made no lablink user: $(cat "$R/etc/passwd")"
grep -q '^lablink:' "$R/etc/group" || fail "sysusers made no lablink group"
uid=$(grep '^lablink:' "$R/etc/passwd" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "lablink is not a system user (uid $uid)"
grep -q 'useradd' "$SRC/docs/operations.md" && fail "docs/operations.md still creates the user by hand"
ok "sysusers.d creates the lablink system user (uid $uid, home /var/lib/lablink, nologin)"

# Manual pages installed, each one the program's own --man
for prog in lablink-allocator lablink-agent; do
    cmp -s "$S/usr/share/man/man1/$prog.1" <(ASAN_OPTIONS=detect_leaks=0 "$B/$prog" --man) \
        || fail "installed $prog.1 differs from $prog --man"
done
ok "manual pages of the allocator and the agent installed (man1)"

command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (scripts/install-deps: LABLINK_DEPS=ops)"
units=("$unit")
[ -x "$P/bin/lablink-agent" ] && units+=("$P/lib/systemd/system/lablink-agent.service")
for u in "${units[@]}"; do
    rc=0
    out=$(systemd-analyze verify "$u" 2>&1) || rc=$?
    if [ $rc -ne 0 ] || grep -q "$(basename "$u")" <<<"$out" ; then
        fail "systemd-analyze verify $(basename "$u"): $out"
    fi
done
exposure=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>/dev/null \
    | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "allocator unit exposure $exposure > 2.0"
ok "systemd-analyze verify passes (${#units[@]} unit(s)); allocator exposure $exposure (<= 2.0)"
echo "$passed passed, 0 failed"
