# terraform/infrastructure's user_data (the allocator host's bootstrap),
# rendered by terraform itself from a config.yaml (database on the host,
# plain HTTP behind Caddy), run as cloud-init runs it in the sandbox of
# tests/aws/sandbox.sh. Stand-ins only for AWS (the aws CLI answering the
# SSM parameters the stack writes) and the OS (apt-get, systemctl, docker,
# whose stand-in runs the real lablink-allocator for the allocator image);
# PostgreSQL is real (its socket where the host's would be, passwords
# required over TCP), so is psql, openssl, curl. Asserted:
#   - the bootstrap ends with the allocator healthy on 127.0.0.1:5000,
#     having run --check-config on the config it wrote first
#   - the database role's password is the one the bootstrap generated (the
#     allocator logs in with it), the admin password is the SSM one (admin
#     routes accept it, refuse another)
#   - /etc/lablink/allocator.env is 0600 root; config.yaml holds no secret;
#     no secret on the console or in any recorded command line
#   - Caddy installed and configured for plain HTTP; shellcheck-clean
. "$LABLINK_SOURCE_DIR/tests/aws/sandbox.sh"
sandbox_enter "$0"
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/aws/terraform.sh"
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
command -v terraform >/dev/null || fail "terraform missing (TESTING.md)"
command -v shellcheck >/dev/null || fail "shellcheck missing: LABLINK_DEPS=aws scripts/install-deps"
MIRROR=${LABLINK_TF_PLUGINS:-/opt/tf-plugins}
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] || fail "no aws provider mirror under $MIRROR"
ADMIN_PW='Sandbox-Admin-pw-4711'
IMAGE=registry.example.org/lablink/lablink-allocator:sandbox

# --- user_data, rendered by terraform from config.yaml --------------------------
M=$T/infra
mkdir -p "$M/config"
cp "$SRC"/terraform/infrastructure/*.tf "$SRC"/terraform/infrastructure/*.tftpl "$M/"
rm -f "$M/backend.tf"
tf_offline "$M"
cat >"$M/config/config.yaml" <<YAML
db:
  password: PLACEHOLDER_DB_PASSWORD
app:
  admin_user: admin
  admin_password: PLACEHOLDER_ADMIN_PASSWORD
  region: us-west-2
machine:
  image: registry.example.org/lablink/lablink-client:sandbox
ssl:
  provider: none
dns:
  enabled: false
deployment_name: sandbox
environment: dev
bucket_name: sandbox-state
YAML
(cd "$M" && terraform init -plugin-dir="$MIRROR" -input=false -no-color >"$T/tf-init.log" 2>&1) \
    || { cat "$T/tf-init.log" >&2; fail "terraform init"; }
(cd "$M" && echo 'base64encode(local.user_data)' | terraform console -no-color \
    -var database=host -var "allocator_image=$IMAGE" >"$T/console.out" 2>"$T/console.err") \
    || { cat "$T/console.err" >&2; fail "terraform console"; }
tr -d '"' <"$T/console.out" | base64 -d >"$T/bootstrap.sh" || fail "user_data is not base64"
grep -q "^IMAGE='$IMAGE'\$" "$T/bootstrap.sh" && grep -q "^DATABASE='host'\$" "$T/bootstrap.sh" \
    && grep -q "^TLS_MODE='none'\$" "$T/bootstrap.sh" || fail "rendered: $(head -c 600 "$T/bootstrap.sh")"
grep -q 'PLACEHOLDER' "$T/bootstrap.sh" && fail "config.yaml's password placeholders reached user_data"
shellcheck -s bash "$T/bootstrap.sh" >"$T/shellcheck.log" 2>&1 || { cat "$T/shellcheck.log" >&2; fail "shellcheck"; }
pass "the host's user_data rendered by terraform from config.yaml, shellcheck-clean, no password in it"

# --- the machine ------------------------------------------------------------------
R=$T/host
sandbox_make "$R"
sandbox_conf "$R" "STANDIN_ALLOCATOR_IMAGE=$IMAGE"
mkdir -p "$R/var/lib/standin-aws/ssm/sandbox/dev"
printf '%s' "$ADMIN_PW" >"$R/var/lib/standin-aws/ssm/sandbox/dev/admin_password"
printf '%s' 'http://127.0.0.1' >"$R/var/lib/standin-aws/ssm/sandbox/dev/public_url"
printf '%s' '127.0.0.1' >"$R/var/lib/standin-aws/ssm/sandbox/dev/public_ip"
printf '%s' '127.0.0.1' >"$R/var/lib/standin-aws/ssm/sandbox/dev/db_host"
# PostgreSQL where Debian's package puts it: port 5432, socket in
# /var/run/postgresql (the sandbox's), peer-free local access for the
# postgres user, passwords (SCRAM) over TCP
PG=$T/pg-host
install -d -o postgres -g postgres "$PG" "$R/run/postgresql"
runuser -u postgres -- "$LL_PGBIN/initdb" -D "$PG/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$PG/initdb.log" 2>&1 \
    || { cat "$PG/initdb.log" >&2; fail "initdb"; }
runuser -u postgres -- "$LL_PGBIN/pg_ctl" -D "$PG/data" -l "$PG/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p 5432 -k $R/run/postgresql -c fsync=off" start >/dev/null \
    || { cat "$PG/postgres.log" >&2; fail "PostgreSQL"; }

rc=0
sandbox_run "$R" "$T/bootstrap.sh" /var/log/cloud-init-output.log || rc=$?
CONSOLE=$R/var/log/cloud-init-output.log
[ "$rc" = 0 ] || { cat "$CONSOLE" >&2; cat "$R"/var/log/containers/*.log >&2 2>/dev/null; fail "the bootstrap exited $rc"; }
grep -q 'lablink-bootstrap: allocator healthy at http://127.0.0.1' "$CONSOLE" || fail "console: $(tail -n 5 "$CONSOLE")"
[ "$(http_status http://127.0.0.1:5000/api/health)" = 200 ] || fail "the allocator is not healthy"
calls=$R/var/log/standins.log
grep -q "^docker run --rm -v /etc/lablink:/etc/lablink:ro $IMAGE --check-config /etc/lablink/config.yaml\$" "$calls" \
    || fail "no --check-config before the start: $(grep '^docker' "$calls")"
[ "$(grep -n '^docker run' "$calls" | head -n 1 | grep -c -- --check-config)" = 1 ] || fail "config not checked first"
grep -q "^docker run -d --name lablink-allocator --restart unless-stopped --network host --env-file /etc/lablink/allocator.env" "$calls" \
    || fail "allocator container: $(grep '^docker run' "$calls")"
grep -q '^aws ssm get-parameter --region us-west-2 --name /sandbox/dev/admin_password --with-decryption' "$calls" \
    || fail "the admin password was not read from SSM"
pass "bootstrap: PostgreSQL role and database made, --check-config passed, the allocator healthy"

# The secrets went where they belong
[ "$(stat -c '%a %U' "$R/etc/lablink/allocator.env")" = "600 root" ] || fail "allocator.env: $(stat -c '%a %U' "$R/etc/lablink/allocator.env")"
grep -qx "LABLINK_ADMIN_PASSWORD=$ADMIN_PW" "$R/etc/lablink/allocator.env" || fail "admin password not in allocator.env"
db_pw=$(sed -n 's/^LABLINK_DB_PASSWORD=//p' "$R/etc/lablink/allocator.env")
[ ${#db_pw} -ge 32 ] && [ "$db_pw" = "$(cat "$R/etc/lablink/db_password")" ] || fail "database password"
[ "$(stat -c '%a' "$R/etc/lablink/db_password")" = 600 ] || fail "db_password file mode"
[ "$(PGPASSWORD=$db_pw psql -h 127.0.0.1 -p 5432 -U lablink -d lablink_db -Atc 'SELECT 1')" = 1 ] \
    || fail "the role does not take the generated password"
PGPASSWORD=wrong psql -h 127.0.0.1 -p 5432 -U lablink -d lablink_db -Atc 'SELECT 1' >/dev/null 2>&1 \
    && fail "PostgreSQL takes any password: the check above proves nothing"
[ "$(http_status -u "admin:$ADMIN_PW" http://127.0.0.1:5000/api/operations)" = 200 ] || fail "the SSM admin password is refused"
[ "$(http_status -u admin:PLACEHOLDER_ADMIN_PASSWORD http://127.0.0.1:5000/api/operations)" = 401 ] \
    || fail "config.yaml's placeholder works as a password"
grep -qi 'password' "$R/etc/lablink/config.yaml" && fail "a password key in config.yaml: $(grep -i password "$R/etc/lablink/config.yaml")"
for f in "$CONSOLE" "$R/var/log/lablink-bootstrap.log" "$calls" "$R"/var/log/containers/*.log; do
    [ -f "$f" ] || continue
    grep -qF "$ADMIN_PW" "$f" && fail "the admin password in $f"
    grep -qF "$db_pw" "$f" && fail "the database password in $f"
done
for p in $(pgrep -f lablink-allocator); do
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -e "$ADMIN_PW" -e "$db_pw" && fail "a password on a command line"
done
pass "secrets: allocator.env 0600 root, database password generated and working, the SSM admin password the only one; none on the console, a command line or in config.yaml"

grep -q '^apt-get install -y -q --no-install-recommends caddy$' "$calls" && grep -q '^systemctl restart caddy$' "$calls" \
    && grep -q '^:80 {' "$R/etc/caddy/Caddyfile" && grep -q 'reverse_proxy 127.0.0.1:5000' "$R/etc/caddy/Caddyfile" \
    || fail "Caddy: $(grep -E '^(apt-get|systemctl)' "$calls"; cat "$R/etc/caddy/Caddyfile" 2>/dev/null)"
pass "Caddy installed and set up for plain HTTP on :80 in front of 127.0.0.1:5000"
echo "4 passed, 0 failed"
