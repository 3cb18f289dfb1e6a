# terraform/infrastructure offline: init from the provider mirror, validate,
# fmt -check, then plan with fake credentials for each TLS/DNS option and
# assert on `terraform show -json` which resources must and must not exist:
# never an SSH rule open to the world, never a secret in user_data, the log
# pipeline wired to lablink-lambda, the IAM scoped, the rendered Caddyfile
# accepted by `caddy adapt`, and the rendered
# config.yaml accepted by `lablink-allocator --check-config`.
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
: "${LABLINK_TEST_DIR:?}"
BIN=${LABLINK_BUILD_DIR:?}/lablink-allocator
MIRROR=${LABLINK_TF_PLUGINS:-/opt/tf-plugins}

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; passed=$((passed + 1)); }
passed=0

command -v terraform >/dev/null 2>&1 \
    || fail "terraform not found in PATH (needs terraform >= 1.5; TESTING.md: /usr/local/bin/terraform)"
[ -d "$MIRROR/registry.terraform.io/hashicorp/aws" ] \
    || fail "no hashicorp/aws provider mirror under $MIRROR (set LABLINK_TF_PLUGINS)"
command -v jq >/dev/null 2>&1 || fail "jq not found (scripts/install-deps installs it)"

# A folder of our own, not under the shared lablink-test.* names: this test
# runs for a minute or more and clean-ups of those have been seen meanwhile.
T=$(mktemp -d "${TMPDIR:-/tmp}/lablink-infra-plan.XXXXXX")
finish() { local rc=$?; if [ $rc -eq 0 ]; then rm -rf "$T"; else echo "kept $T for inspection" >&2; fi; }
trap finish EXIT

. "$SRC/tests/aws/terraform.sh"

# A copy of the module with an override that keeps everything offline: local
# backend, fake credentials, no account or metadata look-ups. Every option is
# one call of the module in a root configuration, so that one plan (and one
# load of the provider, slow on a busy machine) covers them all.
W=$T/infra
R=$T/root
mkdir -p "$W" "$R"
cp "$SRC"/terraform/infrastructure/*.tf "$SRC"/terraform/infrastructure/*.tftpl "$W"/
rm -f "$W/backend.tf"
tf_offline "$W"

# A stand-in for lablink-lambda's zip (only its hash is planned).
printf '#!/bin/sh\n' >"$T/bootstrap"
(cd "$T" && zip -q lambda.zip bootstrap)

SENTINEL='Adm1n-S3ntinel-pa55word'
LAMBDA_SENTINEL='_lambda.0123456789abcdef-sentinel'
IMAGE='allocator_image = "registry.example.org/lablink-allocator:0.1.0"'

cat >"$R/main.tf" <<HCL
# 1. Caddy + Let's Encrypt, Route 53 record, RDS, Lambda, admin password parameter
module "caddy" {
  source           = "../infra"
  $IMAGE
  tls_mode         = "caddy"
  domain_name      = "lablink.example.org"
  route53_zone_id  = "Z0EXAMPLE"
  acme_email       = "ops@example.org"
  database         = "rds"
  admin_password   = "$SENTINEL"
  lambda_zip_path  = "$T/lambda.zip"
  lambda_api_token = "$LAMBDA_SENTINEL"
}
# 2. ACM on an ALB with a new certificate, existing VPC, persistent EIP,
#    PostgreSQL on the host, SSH from the admin network, no Lambda
module "acm" {
  source            = "../infra"
  $IMAGE
  tls_mode          = "acm"
  domain_name       = "lablink.example.org"
  route53_zone_id   = "Z0EXAMPLE"
  database          = "host"
  admin_ssh_cidr    = "203.0.113.0/24"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
  eip_strategy      = "persistent"
  eip_allocation_id = "eipalloc-0123456789abcdef0"
}
# 3. ACM with an existing certificate, DNS managed elsewhere
module "acm_existing" {
  source          = "../infra"
  $IMAGE
  environment     = "test"
  tls_mode        = "acm"
  domain_name     = "lablink.example.org"
  certificate_arn = "arn:aws:acm:us-west-2:111122223333:certificate/00000000-0000-0000-0000-000000000000"
}
# 5. One config file: everything from the allocator's config.yaml
module "yaml" {
  source         = "../infra"
  config_file    = "$T/config.yaml"
  image_registry = "registry.example.org/lablink"
  database       = "host" # the policy is then known at plan time
}
# 4. No TLS, no DNS: plain HTTP on the Elastic IP through Caddy
module "none" {
  source      = "../infra"
  $IMAGE
  environment = "dev"
  tls_mode    = "none"
  database    = "host"
}
output "none_url" {
  value = module.none.allocator_url
}
HCL
# Upstream's config.yaml with this deployment's values (the template's
# passwords placeholders included: they must not reach user_data)
cat >"$T/config.yaml" <<'YAML'
db:
  dbname: lablink_db
  user: lablink
  password: PLACEHOLDER_DB_PASSWORD
  host: localhost
  port: 5432
  table_name: vms
  message_channel: vm_updates
machine:
  machine_type: g5.2xlarge
  ami_id: ami-0123456789abcdef0
  repository: https://github.com/talmolab/sleap-tutorial-data.git
  software: sleap
  extension: slp
app:
  admin_user: admin
  admin_password: PLACEHOLDER_ADMIN_PASSWORD
  region: eu-west-1
dns:
  enabled: true
  terraform_managed: true
  domain: lablink.example.org
  zone_id: Z0YAMLZONE
  pattern: custom
  custom_subdomain: class
eip:
  strategy: dynamic
  tag_name: lablink-eip
ssl:
  provider: letsencrypt
  email: ops@example.org
  staging: false
allocator:
  image_tag: "0.2.0"
bucket_name: yaml-state-bucket
deployment_name: course
environment: fall
YAML
cd "$R"
terraform init -plugin-dir="$MIRROR" -input=false -no-color >"$T/init.log" 2>&1 \
    || { cat "$T/init.log" >&2; fail "terraform init -plugin-dir=$MIRROR"; }
pass "init from the mirror"
terraform validate -no-color >"$T/validate.log" 2>&1 || { cat "$T/validate.log" >&2; fail "terraform validate"; }
pass "validate"
terraform fmt -check -recursive -diff "$SRC/terraform/infrastructure" >"$T/fmt.log" 2>&1 \
    || { cat "$T/fmt.log" >&2; fail "terraform fmt -check: run terraform fmt terraform/infrastructure"; }
pass "fmt -check"

terraform plan -input=false -no-color -lock=false -out="$T/all.plan" >"$T/plan.log" 2>&1 \
    || { cat "$T/plan.log" >&2; fail "terraform plan failed"; }
terraform show -json "$T/all.plan" >"$T/all.json"
ALL=$T/all.json
pass "plan of the five options"

# use MODULE: the option the helpers below look at (its part of the plan in
# a small file: jq runs often)
use() {
    CASE=$1
    M=module.$1
    J=$T/$1.json
    jq --arg m "$M" '{resource_changes: [.resource_changes[] | select(.module_address == $m)]}' "$ALL" >"$J"
    UD=$(user_data)
}
# refuse NAME MESSAGE HCL: a plan of module "caddy" with HCL's arguments must
# fail with MESSAGE (the module name is reused: no new init needed)
refuse() {
    local name=$1 message=$2
    printf 'module "caddy" {\n  source = "../infra"\n  %s\n%s\n}\n' "$IMAGE" "$3" >"$R/main.tf"
    if terraform plan -input=false -no-color -lock=false >"$T/$name.log" 2>&1; then
        fail "$name: plan succeeded, expected a refusal"
    fi
    grep -q "$message" "$T/$name.log" || { cat "$T/$name.log" >&2; fail "$name: refusal without '$message'"; }
}
# count TYPE: resources of TYPE the plan creates in the current option
count() {
    jq --arg m "$M" --arg t "$1" '[.resource_changes[] | select(.module_address == $m and .type == $t
        and (.change.actions | index("create")))] | length' "$J"
}
has() { [ "$(count "$1")" -gt 0 ] || fail "$CASE: no $1 planned"; }
hasnt() { [ "$(count "$1")" -eq 0 ] || fail "$CASE: $1 planned but must not exist"; }
# after ADDRESS JQ: a value of the planned resource of the current option
after() { jq -r --arg a "$M.$1" ".resource_changes[] | select(.address == \$a) | .change.after | $2" "$J"; }
# exists ADDRESS-PREFIX: resources of the option whose address starts so
exists() { jq --arg a "$M.$1" '[.resource_changes[] | select(.address | startswith($a))] | length' "$J"; }
user_data() { after aws_instance.allocator .user_data_base64 | base64 -d; }
# rules: the ingress rules of the current option
rules() { jq --arg m "$M" '[.resource_changes[] | select(.module_address == $m
    and .type == "aws_vpc_security_group_ingress_rule") | .change.after]' "$J"; }

# Rules every option must satisfy.
invariants() {
    # No ingress rule from the whole internet but 80 and 443.
    local open
    open=$(rules | jq -r '[.[] | select(.cidr_ipv4 == "0.0.0.0/0" or .cidr_ipv6 == "::/0")
            | . as $r | select($r.from_port != $r.to_port or (([80, 443] | index($r.from_port)) == null))
            | "\($r.from_port)-\($r.to_port)"] | join(",")')
    [ -z "$open" ] || fail "$CASE: ports $open open to the world"
    local ssh_world
    ssh_world=$(rules | jq '[.[] | select(.from_port <= 22 and .to_port >= 22)
            | select(.cidr_ipv4 == "0.0.0.0/0" or .cidr_ipv6 == "::/0" or .ip_protocol == "-1")] | length')
    [ "$ssh_world" -eq 0 ] || fail "$CASE: an SSH rule open to 0.0.0.0/0"
    # Security groups carry no inline rules (all are the resources above).
    [ "$(jq --arg m "$M" '[.resource_changes[] | select(.module_address == $m and .type == "aws_security_group")
            | .change.after.ingress // [] | length] | add' "$J")" -eq 0 ] \
        || fail "$CASE: inline ingress rules"
    # user_data is known at plan time and carries names, never secrets.
    local ud=$UD
    [ -n "$ud" ] || fail "$CASE: user_data unknown at plan time"
    if grep -q -e "$SENTINEL" -e "$LAMBDA_SENTINEL" <<<"$ud"; then
        fail "$CASE: a secret in user_data"
    fi
    grep -q 'aws ssm get-parameter' <<<"$ud" || fail "$CASE: user_data does not fetch its secrets from SSM"
    # IMDSv2 only, encrypted root volume.
    [ "$(after aws_instance.allocator '.metadata_options[0].http_tokens')" = required ] || fail "$CASE: IMDSv1 allowed"
    [ "$(after aws_instance.allocator '.root_block_device[0].encrypted')" = true ] || fail "$CASE: root volume not encrypted"
    # The client log group always exists; the rendered config.yaml passes --check-config.
    has aws_cloudwatch_log_group
    awk '/^LABLINK_CONFIG$/{f=0} f{print} /<<.LABLINK_CONFIG.$/{f=1}' <<<"$ud" >"$T/$CASE.config.yaml"
    grep -q '"provider":' "$T/$CASE.config.yaml" || fail "$CASE: no config.yaml in user_data"
    if grep -qi 'password' "$T/$CASE.config.yaml"; then fail "$CASE: a password key in config.yaml"; fi
    # The rendered script is clean bash.
    if command -v shellcheck >/dev/null 2>&1; then
        printf '%s\n' "$ud" >"$T/$CASE.user_data.sh"
        shellcheck -s bash "$T/$CASE.user_data.sh" >"$T/$CASE.shellcheck" 2>&1 \
            || { cat "$T/$CASE.shellcheck" >&2; fail "$CASE: shellcheck finds problems in user_data"; }
    fi
    # The Caddyfile it writes (caddy and none) is one caddy accepts.
    awk '/^LABLINK_CADDYFILE$/{f=0} f{print} /<<.LABLINK_CADDYFILE.$/{f=1}' <<<"$ud" >"$T/$CASE.Caddyfile"
    if grep -q '[^[:space:]]' "$T/$CASE.Caddyfile" && command -v caddy >/dev/null 2>&1; then
        HOME=$T XDG_DATA_HOME=$T/xdg XDG_CONFIG_HOME=$T/xdg caddy adapt --adapter caddyfile \
            --config "$T/$CASE.Caddyfile" >"$T/$CASE.caddy.json" 2>"$T/$CASE.caddy.err" \
            || { cat "$T/$CASE.caddy.err" >&2; fail "$CASE: caddy rejects the Caddyfile in user_data"; }
        grep -q '"dial":"127.0.0.1:5000"' "$T/$CASE.caddy.json" || fail "$CASE: Caddy does not proxy to the allocator"
    fi
    if [ -x "$BIN" ]; then
        local out
        out=$("$BIN" --check-config "$T/$CASE.config.yaml" 2>&1) || fail "$CASE: config.yaml rejected: $out"
        grep -q '^\[PASS\]' <<<"$out" || fail "$CASE: --check-config: $out"
    fi
}

# --- 1. Caddy + Let's Encrypt, Route 53 record, RDS, Lambda, admin password parameter
use caddy
invariants
has aws_instance; has aws_eip; has aws_eip_association; has aws_vpc; has aws_subnet
[ "$(count aws_route53_record)" -eq 1 ] || fail "caddy: expected exactly the A record"
[ "$(after 'aws_route53_record.allocator[0]' .name)" = lablink.example.org ] || fail "caddy: A record name"
hasnt aws_lb; hasnt aws_acm_certificate; hasnt aws_lb_listener
[ "$(exists aws_vpc_security_group_ingress_rule.host_web)" -eq 2 ] \
    || fail "caddy: 80 and 443 not open on the host"
[ "$(count aws_vpc_security_group_ingress_rule | tr -d ' ')" -eq 3 ] || fail "caddy: expected 80, 443 and db-from-host only"
[ "$(exists aws_vpc_security_group_ingress_rule.ssh_admin)" -eq 0 ] \
    || fail "caddy: an SSH rule although admin_ssh_cidr is empty"
grep -q "TLS_MODE='caddy'" <<<"$UD" || fail "caddy: user_data does not set up Caddy"
grep -q '"provider": "letsencrypt"' "$T/caddy.config.yaml" || fail "caddy: ssl.provider"
grep -q '"listen": "127.0.0.1:5000"' "$T/caddy.config.yaml" || fail "caddy: allocator not on loopback behind Caddy"
grep -q '"host":\["lablink.example.org"\]' "$T/caddy.caddy.json" || fail "caddy: Caddy site is not the domain"
grep -q 'Strict-Transport-Security' "$T/caddy.caddy.json" || fail "caddy: no HSTS"
grep -q 'email ops@example.org' "$T/caddy.Caddyfile" || fail "caddy: no ACME e-mail"
pass "caddy: host with 80/443, A record, no ALB/ACM, no SSH rule"

has aws_db_instance
[ "$(after 'aws_db_instance.main[0]' .manage_master_user_password)" = true ] || fail "rds: password not managed by RDS"
[ "$(after 'aws_db_instance.main[0]' .storage_encrypted)" = true ] || fail "rds: storage not encrypted"
[ "$(after 'aws_db_instance.main[0]' .publicly_accessible)" = false ] || fail "rds: publicly accessible"
[ "$(after 'aws_db_instance.main[0]' '.password // "none"')" = none ] || fail "rds: a password in the plan"
[ "$(after 'aws_vpc_security_group_ingress_rule.db_from_host[0]' '.cidr_ipv4 // "none"')" = none ] \
    || fail "rds: PostgreSQL reachable by CIDR, not only from the host's group"
pass "rds: encrypted, private, password managed by RDS, reachable from the host only"

[ "$(after 'aws_ssm_parameter.admin_password[0]' .type)" = SecureString ] || fail "admin password not a SecureString"
grep -q "/lablink/prod/admin_password" <<<"$UD" || fail "user_data does not name the admin password parameter"
grep -q 'secretsmanager get-secret-value' <<<"$UD" || fail "user_data does not read the RDS secret"
pass "secrets: SecureString / Secrets Manager references, none in user_data"

has aws_lambda_function; has aws_lambda_permission; has aws_cloudwatch_log_subscription_filter
[ "$(after 'aws_lambda_function.logs[0]' .runtime)" = provided.al2023 ] || fail "lambda runtime"
[ "$(after 'aws_lambda_function.logs[0]' .handler)" = bootstrap ] || fail "lambda handler"
[ "$(after 'aws_lambda_function.logs[0]' .environment[0].variables.API_ENDPOINT)" = https://lablink.example.org/api/vm-logs ] \
    || fail "lambda API_ENDPOINT"
[ "$(after 'aws_lambda_permission.logs[0]' .principal)" = logs.amazonaws.com ] || fail "lambda permission principal"
[ "$(after 'aws_cloudwatch_log_subscription_filter.clients[0]' .log_group_name)" = lablink-prod-cloud-init ] \
    || fail "subscription filter not on the client log group"
[ "$(after 'aws_cloudwatch_log_subscription_filter.clients[0]' .filter_pattern)" = "" ] || fail "filter pattern"
pass "logs: client log group -> subscription filter -> lablink-lambda, with its permission"

# --- 2. ACM on an ALB with a new certificate, existing VPC, persistent EIP,
#        PostgreSQL on the host, SSH from the admin network, no Lambda
use acm
invariants
has aws_lb; has aws_lb_target_group; has aws_acm_certificate; has aws_acm_certificate_validation
[ "$(count aws_lb_listener)" -eq 2 ] || fail "acm: expected the HTTPS listener and the HTTP redirect"
[ "$(after 'aws_lb_listener.https[0]' .protocol)" = HTTPS ] || fail "acm: listener not HTTPS"
[ "$(after 'aws_lb_listener.http_redirect[0]' .default_action[0].type)" = redirect ] || fail "acm: port 80 does not redirect"
[ "$(after 'aws_lb_target_group.allocator[0]' .health_check[0].path)" = /api/health ] || fail "acm: health check path"
[ -n "$(after 'aws_route53_record.allocator_alias[0]' .name)" ] || fail "acm: no alias record"
hasnt aws_vpc; hasnt aws_subnet; hasnt aws_eip; has aws_eip_association
[ "$(after aws_eip_association.allocator .allocation_id)" = eipalloc-0123456789abcdef0 ] || fail "acm: persistent EIP not used"
[ "$(exists aws_vpc_security_group_ingress_rule.host_web)" -eq 0 ] \
    || fail "acm: the host is open to the world although the ALB fronts it"
! grep -q '[^[:space:]]' "$T/acm.Caddyfile" || fail "acm: Caddy set up although the ALB does TLS"
[ "$(after 'aws_vpc_security_group_ingress_rule.host_from_alb[0]' .from_port)" = 5000 ] || fail "acm: no ALB -> host rule"
[ "$(after 'aws_vpc_security_group_ingress_rule.ssh_admin[0]' .cidr_ipv4)" = 203.0.113.0/24 ] || fail "acm: SSH rule not from the admin CIDR"
grep -q '"listen": "0.0.0.0:5000"' "$T/acm.config.yaml" || fail "acm: allocator must listen for the ALB"
grep -q '"provider": "acm"' "$T/acm.config.yaml" || fail "acm: ssl.provider"
pass "acm: ALB + new certificate + alias, host reachable from the ALB only, SSH from 203.0.113.0/24"

hasnt aws_db_instance; hasnt aws_db_subnet_group; hasnt aws_lambda_function; hasnt aws_cloudwatch_log_subscription_filter
[ "$(exists aws_ssm_parameter.admin_password)" -eq 0 ] \
    || fail "acm: admin password parameter created although no admin_password was given"
grep -q "DATABASE='host'" <<<"$UD" || fail "acm: user_data does not install PostgreSQL"
pass "host database, no Lambda without a zip, admin password parameter left to the operator"

# The host-database bootstrap SQL runs as written against a real PostgreSQL:
# idempotent (twice), password taken from the environment.
awk '/^SQL$/{f=0} f{print} /<<.SQL.$/{f=1}' <<<"$UD" >"$T/bootstrap.sql"
grep -q 'getenv pw LABLINK_DB_PW' "$T/bootstrap.sql" || fail "bootstrap SQL does not read the password from the environment"
before=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atc "SELECT rolpassword FROM pg_authid WHERE rolname = 'lablink'" 2>&1) \
    || fail "the harness's PostgreSQL is unreachable ($LABLINK_TEST_DIR removed meanwhile?): $before"
for _ in 1 2; do
    LABLINK_DB_PW=bootstrap-test-pw psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -f "$T/bootstrap.sql" >"$T/bootstrap.log" 2>&1 || { cat "$T/bootstrap.log" >&2; fail "bootstrap SQL failed"; }
done
after=$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atc "SELECT rolpassword FROM pg_authid WHERE rolname = 'lablink'")
[ -n "$after" ] && [ "$after" != "$before" ] || fail "bootstrap SQL did not set the role's password"
[ "$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = 'lablink_db'")" = 1 ] \
    || fail "bootstrap SQL did not create lablink_db"
pass "host database bootstrap SQL: runs twice on PostgreSQL, password from the environment"

policy=$(after aws_iam_role_policy.allocator .policy)
[ -n "$policy" ] && [ "$policy" != null ] || fail "iam: policy unknown at plan time"
echo "$policy" >"$T/policy.json"
jq -e '[.Statement[] | .Action | if type == "array" then .[] else . end
        | select(. == "*" or endswith(":*"))] | length == 0' "$T/policy.json" >/dev/null \
    || fail "iam: a wildcard action: $(jq -c '[.Statement[].Action]' "$T/policy.json")"
jq -e '[.Statement[] | select(.Resource == "*" or (.Resource | type == "array" and index("*")))
        | .Action | if type == "array" then .[] else . end | select(startswith("ec2:Describe") or . == "ec2:GetConsoleOutput" | not)]
        | length == 0' "$T/policy.json" >/dev/null || fail "iam: a non-read action on every resource"
jq -e '.Statement[] | select(.Sid == "PassClientRoleToEc2") | .Condition.StringEquals["iam:PassedToService"] == "ec2.amazonaws.com"' \
    "$T/policy.json" >/dev/null || fail "iam: PassRole not limited to EC2"
jq -e '.Statement[] | select(.Sid == "LaunchTaggedClientInstances") | .Condition.StringEquals["aws:RequestTag/ResourcePrefix"] == "lablink_client_prod"' \
    "$T/policy.json" >/dev/null || fail "iam: RunInstances not limited to tagged client VMs"
jq -e '.Statement[] | select(.Sid == "ReadWriteOwnState") | .Resource == "arn:aws:s3:::tf-state-lablink-allocator-bucket/lablink/prod/*"' \
    "$T/policy.json" >/dev/null || fail "iam: state bucket access not limited to the stack's prefix"
jq -e '[.Statement[] | select(.Sid == "ReadDatabasePassword")] | length == 0' "$T/policy.json" >/dev/null \
    || fail "iam: Secrets Manager access without RDS"
pass "iam: no wildcard actions, PassRole to EC2 only, RunInstances by tag, state bucket by prefix"

# --- 3. ACM with an existing certificate, DNS managed elsewhere
use acm_existing
invariants
has aws_lb; hasnt aws_acm_certificate; hasnt aws_route53_record; hasnt aws_acm_certificate_validation
[ "$(after 'aws_lb_listener.https[0]' .certificate_arn)" = arn:aws:acm:us-west-2:111122223333:certificate/00000000-0000-0000-0000-000000000000 ] \
    || fail "acm_existing: listener does not use the given certificate"
pass "acm with an existing certificate: no certificate request, no Route 53 record"

# --- 4. No TLS, no DNS (plain HTTP on the Elastic IP through Caddy)
use none
invariants
hasnt aws_lb; hasnt aws_acm_certificate; hasnt aws_route53_record; hasnt aws_db_instance
[ "$(jq -r '.output_changes.none_url.after_unknown' "$ALL")" = true ] || fail "none: URL should come from the EIP"
grep -q '"provider": "none"' "$T/none.config.yaml" || fail "none: ssl.provider"
grep -q '^:80 {' "$T/none.Caddyfile" || fail "none: Caddy does not serve plain HTTP on :80"
if grep -q 'Strict-Transport-Security' "$T/none.Caddyfile"; then fail "none: HSTS on plain HTTP"; fi
pass "none: plain HTTP on the EIP, no DNS, no ALB"

# --- 5. One config file (config.yaml through yamldecode)
use yaml
invariants
[ "$(after 'aws_route53_record.allocator[0]' .name)" = class.lablink.example.org ] \
    || fail "yaml: the A record is not dns.custom_subdomain.dns.domain"
[ "$(after 'aws_route53_record.allocator[0]' .zone_id)" = Z0YAMLZONE ] || fail "yaml: dns.zone_id"
grep -q "IMAGE='registry.example.org/lablink/lablink-allocator:0.2.0'" <<<"$UD" \
    || fail "yaml: the allocator image is not image_registry + allocator.image_tag"
grep -q "REGION='eu-west-1'" <<<"$UD" || fail "yaml: app.region"
grep -q "TLS_MODE='caddy'" <<<"$UD" && grep -q 'email ops@example.org' "$T/yaml.Caddyfile" \
    && grep -q '^class.lablink.example.org {' "$T/yaml.Caddyfile" || fail "yaml: Caddy for the name from dns.*, with ssl.email"
c=$T/yaml.config.yaml
grep -q '"image": "registry.example.org/lablink/lablink-client:0.2.0"' "$c" || fail "yaml: machine.image default"
grep -q '"machine_type": "g5.2xlarge"' "$c" && grep -q '"ami_id": "ami-0123456789abcdef0"' "$c" \
    || fail "yaml: config.yaml's machine settings not handed on"
grep -q '"domain": "class.lablink.example.org"' "$c" && grep -q '"custom_subdomain": ""' "$c" \
    || fail "yaml: the allocator would compute another name"
grep -q '"bucket_name": "yaml-state-bucket"' "$c" && grep -q '"deployment_name": "course"' "$c" \
    && grep -q '"environment": "fall"' "$c" && grep -q '"state_backend": "s3"' "$c" || fail "yaml: names and state"
grep -q 'PLACEHOLDER' "$c" && fail "yaml: a password placeholder reached user_data"
out=$("$BIN" --check-config "$c" 2>&1) && ! grep -q '^\[WARN\]' <<<"$out" || fail "yaml: --check-config: $out"
policy=$(after aws_iam_role_policy.allocator .policy)
jq -e '.Statement[] | select(.Sid == "ReadWriteOwnState") | .Resource == "arn:aws:s3:::yaml-state-bucket/course/fall/*"' \
    <<<"$policy" >/dev/null || fail "yaml: state bucket and prefix from config.yaml"
jq -e '.Statement[] | select(.Sid == "LaunchTaggedClientInstances") | .Condition.StringEquals["ec2:InstanceType"] == "g5.2xlarge"' \
    <<<"$policy" >/dev/null || fail "yaml: client instance types from machine.machine_type"
jq -e '.Statement[] | select(.Sid == "StateLock") | .Resource == "arn:aws:dynamodb:eu-west-1:*:table/lock-table"' \
    <<<"$policy" >/dev/null || fail "yaml: the state lock table"
jq -e '[.Statement[] | .Action | if type == "array" then .[] else . end | select(. == "iam:AttachRolePolicy")] | length == 0' \
    <<<"$policy" >/dev/null || fail "yaml: the host may still attach managed policies to client roles"
[ "$(after aws_instance.allocator .tags.Name)" = course-fall-allocator ] || fail "yaml: names"
pass "one config file: region, names, bucket, DNS, TLS, image tag and machine settings from config.yaml; no password in user_data"

# --- refusals
CASE=refusals
# Variable validations are reported together, then the preconditions.
refuse bad_values 'never opened to the whole internet' \
    '  tls_mode = "caddy"
  admin_ssh_cidr = "0.0.0.0/0"
  domain_name = "x'"'"'; rm -rf /"'
grep -q 'lower-case DNS name' "$T/bad_values.log" || fail "refusals: a quoting domain name accepted"
refuse preconditions 'need domain_name' '  tls_mode = "acm"
  eip_strategy = "persistent"'
grep -q 'needs eip_allocation_id' "$T/preconditions.log" || fail "refusals: persistent EIP without an id"
grep -q 'needs route53_zone_id' "$T/preconditions.log" || fail "refusals: a new ACM certificate without a zone"
IMAGE= refuse no_image 'Name the allocator image' '  tls_mode = "none"'
pass "refused: SSH from 0.0.0.0/0, TLS without a name, ACM without a zone, persistent EIP without an id, a quoting domain, no allocator image"

echo "$passed passed, 0 failed"
