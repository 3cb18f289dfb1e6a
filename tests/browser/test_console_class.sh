# Running a live class from the console (issue 16) in headless chromium
# (console_class.mjs) against the real allocator, the real terraform
# (terraform/local), agents and sshd: the live dashboard, students'
# pages following their VM through a successful and a failed start-host,
# the page without JavaScript, a reboot and replacements from the
# instances page, a scheduled teardown seconds away; axe-core on every
# page, light and dark, at 375 px and on a desktop. Screenshots:
# tests/browser/artifacts/console_class/.
. "$LABLINK_SOURCE_DIR/tests/browser/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"  # stop_allocator_within

browser_setup
artifacts console_class
port=$(ll_free_port)
export URL=http://127.0.0.1:$port
work=$T/work
mkdir -p "$work"
export FLEET_WORK=$work CHECKPOINT_DISABLE=1 LABLINK_INTERVAL_SCALE=0.1
agent_bin=$(dirname "$BIN")/lablink-agent
cat >"$work/test.auto.tfvars" <<TFVARS
address_prefix = "127.$((10 + RANDOM % 240)).$((10 + RANDOM % 240))"
ssh_port       = $(ll_free_port)
agent_bin      = "$agent_bin"
TFVARS
key=$work/export_ed25519
write_config "$port"
cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  operation_timeout_s: 300
  ssh_key_file: $key
environment: test
agent:
  long_poll_s: 2
machine:
  hourly_usd: 0.5
export:
  key_file: $key
  ssh_user: $(id -un)
  keep_dir: $work/kept
YAML
"$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 30 "$URL" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
rc=0
node "$BROWSER_DIR/console_class.mjs" || rc=$?
# Never leave local VMs behind, whatever happened
if [ -d "$work/vms" ] && [ -n "$(ls -A "$work/vms" 2>/dev/null)" ]; then
    curl -s -o /dev/null -u admin:test-admin-password -H 'Accept: application/json' -X POST "$URL/destroy" || true
    for _ in $(seq 1 150); do [ -z "$(ls -A "$work/vms" 2>/dev/null)" ] && break; sleep 0.3; done
fi
stop_allocator_within 15
[ $rc -eq 0 ] || { tail -n 40 "$T/allocator.log" >&2; fail "browser checks failed (screenshots in $ARTIFACTS)"; }
