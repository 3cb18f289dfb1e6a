# A class from start to end in headless chromium (fleet_flow.mjs) against
# the real allocator, the real terraform (terraform/local), agents and sshd:
# launch 2, student claim, live log, export, destroy. Steps whose routes
# are not on this build are skipped with a SKIP line naming the route.
# Screenshots: tests/browser/artifacts/fleet_flow/.
. "$LABLINK_SOURCE_DIR/tests/browser/lib.sh"

browser_setup
artifacts fleet_flow
port=$(ll_free_port)
export URL=http://127.0.0.1:$port
work=$T/work
mkdir -p "$work"
export FLEET_WORK=$work CHECKPOINT_DISABLE=1
# Local VMs on 127.<a>.<b>.N with a port of their own (parallel runs never meet)
agent_bin=$(dirname "$BIN")/lablink-agent
cat >"$work/test.auto.tfvars" <<TFVARS
address_prefix = "127.$((10 + RANDOM % 240)).$((10 + RANDOM % 240))"
ssh_port       = $(ll_free_port)
agent_bin      = "$agent_bin"
TFVARS
write_config "$port"
cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  operation_timeout_s: 300
YAML
printf 'environment: test\n' >>"$T/config.yaml"
# One ssh key for provisioning (authorized on the VMs) and the export: the
# exporter makes it in its own format at start, provisioning reads its .pub.
# Only settings this build has (an unknown key is a config error).
key=$work/export_ed25519
try_config() {  # YAML to append, kept only if the allocator accepts it
    cp "$T/config.yaml" "$T/config.try.yaml"
    printf '%s\n' "$1" >>"$T/config.try.yaml"
    if "$BIN" --check-config "$T/config.try.yaml" >/dev/null 2>&1; then
        mv "$T/config.try.yaml" "$T/config.yaml"
    fi
}
sed -i "s|^  work_dir: .*|&\n  ssh_key_file: $key|" "$T/config.yaml"
"$BIN" --check-config "$T/config.yaml" >/dev/null 2>&1 || sed -i '/^  ssh_key_file:/d' "$T/config.yaml"
try_config "export:
  key_file: $key
  ssh_user: $(id -un)"
"$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 30 "$URL" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
rc=0
node "$BROWSER_DIR/fleet_flow.mjs" || rc=$?
# Never leave local VMs behind, whatever happened
if [ -d "$work/vms" ] && [ -n "$(ls -A "$work/vms" 2>/dev/null)" ]; then
    curl -s -o /dev/null -u admin:test-admin-password -H 'Accept: application/json' -X POST "$URL/destroy" || true
    for _ in $(seq 1 100); do [ -z "$(ls -A "$work/vms" 2>/dev/null)" ] && break; sleep 0.3; done
fi
stop_allocator
[ $rc -eq 0 ] || fail "browser checks failed (screenshots in $ARTIFACTS)"
