# Issue 15 section 3 with the real terraform local module, the real
# lablink-agent and the real allocator: a released VM is wiped before the
# next student. claim.on_release reset (the default): the agent ends the
# session's processes and restores the home from the image's skeleton, and
# the VM is offered again only once it confirmed the current reset, so a
# file student A wrote is gone for student B. A VM whose reset is not
# confirmed (or confirmed with a wrong id, by another VM, or as failed)
# stays out of the pool. destroy replaces the VM; reuse frees it at once
# (documented as unsafe).
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
export LABLINK_STANDIN_SESSION_DIR=$T/sessions  # start-host leaves a session
mkdir -p "$LABLINK_STANDIN_SESSION_DIR"
# session_alive PID: the stand-in's desktop session of this test still runs
session_alive() {
    grep -qz "LABLINK_STANDIN_SESSION_DIR=$LABLINK_STANDIN_SESSION_DIR" "/proc/$1/environ" 2>/dev/null \
        && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}
# Besides provision_lib's clean-up: no desktop session of ours outlives us
cleanup_sessions() {
    local f p
    cleanup
    for f in "$LABLINK_STANDIN_SESSION_DIR"/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        session_alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    return 0
}
trap cleanup_sessions EXIT

# start_mode ON_RELEASE: (re)start the allocator of provision_lib with it
start_mode() {
    write_config "$port"
    cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  terraform_bin: terraform
  operation_timeout_s: 120
environment: test
agent:
  long_poll_s: 1
claim:
  on_release: $1
  email_per_minute: 0
YAML
    "$BIN" --config "$T/config.yaml" >>"$T/allocator.log" 2>&1 &
    ALLOC_PID=$!
    wait_healthy 10 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
}
until_sql() {  # QUERY WANT SECONDS WHAT
    local t0=$SECONDS
    until [ "$(psqlc "$1")" = "$2" ]; do
        [ $((SECONDS - t0)) -lt "$3" ] || { tail -n 30 "$vms_dir"/*/agent.log >&2 || true; fail "$4: $(psqlc "$1")"; }
        sleep 0.2
    done
}
free_count() { curl -s "$url/api/unassigned_vms_count" | sed 's/[^0-9]//g'; }
host=lablink-vm-test-1

start_mode reset
code=$(launch_json 1)
[ "$code" = 202 ] || fail "launch: $code $(cat "$T/launch.out")"
body=$(wait_op "$(op_id)" 90) || fail "launch still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "launch failed"; }
until_sql "SELECT status FROM vms WHERE hostname = '$host'" running 30 "the VM did not report running"
home=$vms_dir/$host/home

# --- student A works on the desktop ---
out=$(claim_json "$url" a@example.com '--code=4/studentA')
expect "A's claim" 200 "${out##* }"
grep -q "\"hostname\":\"$host\"" <<<"$out" || fail "A got another VM: $out"
until_sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = '$host'" t 20 "A's assignment not delivered"
session=$(cat "$LABLINK_STANDIN_SESSION_DIR/session-$host.pid")
kill -0 "$session" || fail "no desktop session of A running"
a_host=$(cat "$home"/.config/chrome-remote-desktop/host#*.json) || fail "A's CRD registration is missing"
echo "A's results" >"$home/Desktop/a-results.slp"
echo "secret" >"$home/.a_history"
mkdir -p "$home/nested/deeper" "$home/locked"
echo x >"$home/nested/deeper/file"
echo y >"$home/locked/file"
chmod 500 "$home/locked"
echo "not the student's" >"$T/outside.txt"
ln -s "$T/outside.txt" "$home/link-out"
ln -s "$T" "$home/Desktop/link-dir"
pass "student A holds the VM: a desktop session running, files in the home"

# --- released: reset by the agent, then offered again ---
out=$(curl -s -w ' %{http_code}' "${auth[@]}" -H 'Accept: application/json' -X POST "$url/api/vms/$host/release")
expect "release" 200 "${out##* }"
grep -q '"on_release":"reset"' <<<"$out" || fail "release answer: $out"
until_sql "SELECT release_pending IS NULL FROM vms WHERE hostname = '$host'" t 30 "the agent did not confirm the reset"
expect "reset audited" ok "$(psqlc "SELECT outcome FROM audit_log WHERE action = 'reset' AND target = '$host' ORDER BY id DESC LIMIT 1")"
session_alive "$session" && fail "A's desktop session survived the reset"
for f in Desktop/a-results.slp .a_history nested locked link-out Desktop/link-dir .config; do
    [ -e "$home/$f" ] || [ -L "$home/$f" ] && fail "~/$f survived the reset"
done
[ -d "$home/Desktop" ] || fail "the skeleton's Desktop is missing"
expect "links were not followed" "not the student's" "$(cat "$T/outside.txt")"
[ -f "$T/config.yaml" ] || fail "a link led the reset out of the home"
[ -s "$home/cloud-init-output.log" ] || fail "the shipped log was removed"
[ -d "$home/.lablink-agent" ] || fail "the agent's state was removed"
pass "release (reset): the agent ended A's session and restored the home from the skeleton (links not followed, its own files kept)"

out=$(claim_json "$url" b@example.com '--code=4/studentB')
expect "B's claim" 200 "${out##* }"
grep -q "\"hostname\":\"$host\"" <<<"$out" || fail "B got another VM: $out"
until_sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = '$host'" t 20 "B's assignment not delivered"
left=$(cd "$home" && find . -mindepth 1 -maxdepth 1 | sort | tr '\n' ' ')
expect "B's home" "./.config ./.lablink-agent ./Desktop ./cloud-init-output.log ./start-host.log " "$left"
[ "$(cat "$home"/.config/chrome-remote-desktop/host#*.json)" != "$a_host" ] || fail "B's desktop is A's CRD host"
[ -z "$(ls -A "$home/Desktop")" ] || fail "B's Desktop is not empty: $(ls -A "$home/Desktop")"
grep -rq "A's results" "$home" && fail "A's file content is still in the home"
pass "student B gets the VM: nothing of A's is left"

# --- withheld until the current reset is confirmed (a VM without agent) ---
tok1=$(vm_token "$url" byo-1)
tok2=$(vm_token "$url" byo-2)
psqlc "UPDATE vms SET status = 'running', last_seen_at = now(), last_polled_at = now() WHERE hostname IN ('byo-1', 'byo-2')"
out=$(claim_json "$url" c@example.com '--code=4/studentC')
grep -q '"hostname":"byo-1"' <<<"$out" || fail "C's claim: $out"
psqlc "UPDATE vms SET last_seen_at = now() - interval '1 hour' WHERE hostname = 'byo-2'"  # only byo-1 may be offered
expect "release byo-1" 200 "$(http_status "${auth[@]}" -X POST "$url/api/vms/byo-1/release")"
psqlc "UPDATE vms SET last_polled_at = now() WHERE hostname = 'byo-1'"  # its client waits: only the reset keeps it out
expect "withheld: not counted" 0 "$(free_count)"
before=$(psqlc "SELECT count(*) FROM vms WHERE user_email IS NOT NULL")
out=$(claim_json "$url" d@example.com '--code=4/studentD')
expect "withheld: not offered" 503 "${out##* }"
expect "nothing assigned" "$before" "$(psqlc "SELECT count(*) FROM vms WHERE user_email IS NOT NULL")"
poll=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $tok1" -d '{"hostname":"byo-1"}' "$url/vm_startup")
expect "the reset is what the VM is told" 200 "${poll##* }"
rid=$(sed -n 's/.*"reset_id":"\([0-9a-f]*\)".*/\1/p' <<<"$poll")
[ ${#rid} = 32 ] || fail "no reset id: $poll"
result() {  # TOKEN BODY -> status
    http_status -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$2" "$url/api/vm-reset-result"
}
expect "no token" 401 "$(http_status -d "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":true}" "$url/api/vm-reset-result")"
expect "another VM's token" 403 "$(result "$tok2" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":true}")"
expect "a wrong id" 409 "$(result "$tok1" "{\"hostname\":\"byo-1\",\"reset_id\":\"$(printf '%032d' 0)\",\"success\":true}")"
expect "a malformed id" 400 "$(result "$tok1" '{"hostname":"byo-1","reset_id":"x","success":true}')"
expect "success not a boolean" 400 "$(result "$tok1" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":\"yes\"}")"
expect "a failed reset" 200 "$(result "$tok1" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":false,\"error\":\"disk full\"}")"
expect "still withheld after all that" 0 "$(free_count)"
expect "still withheld (row)" reset "$(psqlc "SELECT release_pending FROM vms WHERE hostname = 'byo-1'")"
expect "failure audited" failed "$(psqlc "SELECT outcome FROM audit_log WHERE action = 'reset' AND target = 'byo-1' ORDER BY id DESC LIMIT 1")"
# A second release: the first reset's id no longer frees it
expect "release again" 200 "$(http_status "${auth[@]}" -X POST "$url/api/vms/byo-1/release")"
expect "the old reset's confirmation" 409 "$(result "$tok1" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":true}")"
expect "still withheld" 0 "$(free_count)"
poll=$(curl -s -H "Authorization: Bearer $tok1" -d '{"hostname":"byo-1"}' "$url/vm_startup")
rid=$(sed -n 's/.*"reset_id":"\([0-9a-f]*\)".*/\1/p' <<<"$poll")
# A new token for the VM (a relaunch): the old one confirms nothing
old_tok=$tok1
tok1=$(vm_token "$url" byo-1)
expect "a revoked token" 401 "$(result "$old_tok" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":true}")"
expect "still withheld (revoked token)" reset "$(psqlc "SELECT release_pending FROM vms WHERE hostname = 'byo-1'")"
expect "the current reset" 200 "$(result "$tok1" "{\"hostname\":\"byo-1\",\"reset_id\":\"$rid\",\"success\":true}")"
sleep 0.6  # the count is cached 500 ms
expect "offered again" 1 "$(free_count)"
pass "a released VM is offered again only once it confirms the current reset: no token 401, another VM 403, a wrong or old id 409, a failed reset keeps it out, a revoked token 401"

# --- reuse: freed at once (documented as unsafe) ---
kill -TERM "$ALLOC_PID"; wait "$ALLOC_PID" || true
start_mode reuse
psqlc "UPDATE vms SET last_polled_at = now() WHERE hostname = 'byo-1'"  # its client waits
out=$(claim_json "$url" e@example.com '--code=4/studentE')
grep -q '"hostname":"byo-1"' <<<"$out" || fail "E's claim: $out"
out=$(curl -s -w ' %{http_code}' "${auth[@]}" -H 'Accept: application/json' -X POST "$url/api/vms/byo-1/release")
grep -q '"on_release":"reuse"' <<<"$out" || fail "reuse release: $out"
expect "reuse: free at once" "" "$(psqlc "SELECT coalesce(release_pending, '') FROM vms WHERE hostname = 'byo-1'")"
pass "reuse: the VM is free at once, as before (unsafe: nothing is wiped)"

# --- destroy: the VM is replaced ---
kill -TERM "$ALLOC_PID"; wait "$ALLOC_PID" || true
start_mode destroy
echo "B's results" >"$home/Desktop/b-results.slp"
old_agent=$(cut -d' ' -f1 "$vms_dir/$host/agent.pid")
session=$(cat "$LABLINK_STANDIN_SESSION_DIR/session-$host.pid")
session_alive "$session" || fail "no desktop session of B running"
out=$(curl -s -w ' %{http_code}' "${auth[@]}" -H 'Accept: application/json' -X POST "$url/api/vms/$host/release")
expect "release (destroy)" 202 "${out##* }"
op=$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' <<<"$out")
expect "withheld while it is replaced" replace "$(psqlc "SELECT release_pending FROM vms WHERE hostname = '$host'")"
body=$(wait_op "$op" 90) || fail "replace still running"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "replace failed"; }
grep -q '"kind":"replace-vm"' <<<"$body" || fail "not a replace: $body"
expect "no longer withheld" "" "$(psqlc "SELECT coalesce(release_pending, '') FROM vms WHERE hostname = '$host'")"
[ -e "$home/Desktop/b-results.slp" ] && fail "B's file survived the replacement"
[ "$(cut -d' ' -f1 "$vms_dir/$host/agent.pid")" != "$old_agent" ] || fail "the same agent still runs"
session_alive "$session" && fail "B's desktop session survived the replacement"
until_sql "SELECT status FROM vms WHERE hostname = '$host'" running 30 "the new VM did not report running"
psqlc "UPDATE vms SET last_seen_at = now() - interval '1 hour' WHERE hostname LIKE 'byo-%'"
out=$(claim_json "$url" f@example.com '--code=4/studentF')
grep -q "\"hostname\":\"$host\"" <<<"$out" || fail "F's claim: $out"
pass "destroy: the released VM is replaced (a new machine: nothing of B's, no process of B's) and offered again"
# Destroying the fleet ends the last student's session as well, even when
# the agent died first (the session then has no leader to be found by)
until_sql "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = '$host'" t 20 "F's assignment not delivered"
session=$(cat "$LABLINK_STANDIN_SESSION_DIR/session-$host.pid")
agent=$(cut -d' ' -f1 "$vms_dir/$host/agent.pid")
kill -KILL "$agent"
# a crash long past: wait until init reaped it (a zombie still leads its session)
for _ in $(seq 1 100); do [ -e "/proc/$agent" ] || break; sleep 0.1; done
code=$(curl -s -o "$T/destroy.out" -w '%{http_code}' "${auth[@]}" -H 'Accept: application/json' -X POST "$url/destroy")
[ "$code" = 202 ] || fail "destroy: $code $(cat "$T/destroy.out")"
body=$(wait_op "$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/destroy.out")" 90) || fail "destroy still running"
grep -q '"status":"succeeded"' <<<"$body" || fail "destroy failed: $body"
session_alive "$session" && fail "F's desktop session survived the destroy (its agent killed first)"
kill -TERM "$ALLOC_PID"; wait "$ALLOC_PID" || true
echo "6 passed, 0 failed"
