# Data before teardown (issue 16) with the real allocator, terraform (local
# module), sshd VMs and agents: the export of one VM and of one student;
# "export, then destroy" as one operation that keeps the zip on disk only
# after checking it against its manifest, destroys nothing when a VM could
# not be read, and serves the kept zip with HTTP ranges (a broken download
# resumes); deleting a kept export.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/provision_lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/tokens.sh"
export LABLINK_INTERVAL_SCALE=0.1
command -v unzip >/dev/null || fail "unzip missing (scripts/install-deps)"
keep=$T/kept
key=$work/export_ed25519
write_config "$port"
cat >>"$T/config.yaml" <<YAML
  terraform_dir: $SRC/terraform/local
  work_dir: $work
  operation_timeout_s: 120
  ssh_key_file: $key
environment: test
agent:
  long_poll_s: 1
export:
  key_file: $key
  ssh_user: $(id -un)
  keep_dir: $keep
  timeout_s: 15
YAML
"$BIN" --config "$T/config.yaml" >"$T/allocator.log" 2>&1 &
ALLOC_PID=$!
wait_healthy 15 "$url" || { cat "$T/allocator.log" >&2; fail "allocator not healthy"; }
wait_sql() {  # SQL WANT SECONDS WHAT
    local t0=$SECONDS
    until [ "$(psqlc "$1")" = "$2" ]; do
        [ $((SECONDS - t0)) -lt "$3" ] || fail "$4: $(psqlc "$1") (want $2)"
        sleep 0.3
    done
}
code=$(launch_json 2)
[ "$code" = 202 ] || fail "launch: $code"
wait_op "$(op_id)" 90 | grep -q '"status":"succeeded"' || fail "launch failed"
wait_sql "SELECT count(*) FROM vms WHERE status = 'running'" 2 30 "2 VMs running"
for n in 1 2; do
    d=$vms_dir/lablink-vm-test-$n/home/Desktop
    mkdir -p "$d/sub"
    head -c $((100000 + n)) /dev/urandom >"$d/data$n.slp"
    echo "notes of $n" >"$d/sub/notes$n.slp"
done
code=$(curl -s -H 'Accept: application/json' --data-urlencode email=Alice@Example.com \
    --data-urlencode 'crd_command=--code=4/alice' -o /dev/null -w '%{http_code}' "$url/api/request_vm")
[ "$code" = 200 ] || fail "claim: $code"

# --- one VM, one student ---------------------------------------------------------
zipped() {  # QUERY OUT: the export with that query, listed
    local code
    code=$(curl -s "${auth[@]}" -o "$2" -w '%{http_code}' "$url/api/scp-client?$1")
    [ "$code" = 200 ] || fail "export ?$1: $code $(head -c 200 "$2")"
    unzip -Z1 "$2" | sort | tr '\n' ' '
}
got=$(zipped "hostname=lablink-vm-test-2" "$T/one.zip")
[ "$got" = "MANIFEST.txt vm_2/data2.slp vm_2/sub/notes2.slp " ] || fail "export of VM 2: $got"
got=$(zipped "email=alice%40example.com" "$T/alice.zip")
[ "$got" = "MANIFEST.txt vm_1/data1.slp vm_1/sub/notes1.slp " ] || fail "export of alice: $got"
unzip -p "$T/alice.zip" vm_1/data1.slp | cmp -s - "$vms_dir/lablink-vm-test-1/home/Desktop/data1.slp" || fail "alice's bytes"
got=$(zipped "hostname=lablink-vm-test-1&hostname=lablink-vm-test-2" "$T/both.zip")
[ "$got" = "MANIFEST.txt vm_1/data1.slp vm_1/sub/notes1.slp vm_2/data2.slp vm_2/sub/notes2.slp " ] || fail "two VMs: $got"
[ "$(http_status "${auth[@]}" "$url/api/scp-client?hostname=bad%20name")" = 400 ] || fail "bad hostname not 400"
[ "$(http_status "${auth[@]}" "$url/api/scp-client?email=no-at-sign")" = 400 ] || fail "bad email not 400"
body=$(curl -s "${auth[@]}" -w ' %{http_code}' "$url/api/scp-client?email=nobody%40example.com")
[ "$body" = '{"error":"No VM matches the hostname or email given."} 404' ] || fail "no match: $body"
pass "export of one VM (?hostname=) and of one student (?email=, any case): only their files, numbered as in the full export; 400/404"

# --- export, then destroy: a VM that cannot be read -> nothing destroyed ---------------
read -r sshd2 _ <"$vms_dir/lablink-vm-test-2/sshd.pid"
kill -STOP "$sshd2"   # VM 2 accepts no SSH: its export times out
code=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST -o "$T/ed.out" -w '%{http_code}' "$url/api/export-destroy")
[ "$code" = 202 ] || fail "export-destroy: $code $(cat "$T/ed.out")"
op=$(sed -n 's/.*"operation_id":\([0-9]*\).*/\1/p' "$T/ed.out")
body=$(wait_op "$op" 120) || fail "export-destroy still running"
kill -CONT "$sshd2"
grep -q '"status":"failed"' <<<"$body" && grep -q '1 VM could not be exported' <<<"$body" \
    && grep -q 'nothing destroyed' <<<"$body" || { echo "$body" >&2; fail "export-destroy with a dead VM"; }
[ "$(psqlc "SELECT count(*) FROM fleet WHERE state = 'active'")" = 2 ] || fail "fleet touched: $(psqlc 'SELECT * FROM fleet')"
[ -d "$vms_dir/lablink-vm-test-1" ] && [ -d "$vms_dir/lablink-vm-test-2" ] || fail "a VM was destroyed"
[ "$(psqlc 'SELECT count(*) FROM export_archives')" = 0 ] || fail "an unchecked export was recorded"
# the VMs kept their credentials: they still report
after=$(psqlc "SELECT now()")
wait_sql "SELECT count(*) FROM vms WHERE token_hash IS NOT NULL AND last_seen_at > '$after'" 2 30 \
    "the VMs report after a failed export-destroy"
pass "export, then destroy with a VM that cannot be read: the operation fails, nothing destroyed, no archive kept, the VMs keep their tokens"

# --- export, then destroy, at the end of a schedule seconds away -------------------------
at=$(date -u -d "@$(( $(date +%s) + 2 ))" +%Y-%m-%dT%H:%M:%SZ)
code=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -o "$T/s.out" -w '%{http_code}' \
    -d '{"schedule_name": "lab over", "destruction_time": "'"$at"'", "export_before_destroy": true}' \
    "$url/api/schedule-destruction")
[ "$code" = 200 ] || fail "schedule: $code $(cat "$T/s.out")"
wait_sql "SELECT count(*) FROM operations WHERE kind = 'export-destroy' AND created_by = 'schedule:lab over'" 1 30 \
    "the schedule's export-destroy"
op=$(psqlc "SELECT id FROM operations WHERE created_by = 'schedule:lab over'")
body=$(wait_op "$op" 180) || fail "export-destroy still running"
wait_sql "SELECT status FROM scheduled_destructions WHERE schedule_name = 'lab over'" completed 20 "schedule completed"
grep -q '"status":"succeeded"' <<<"$body" || { echo "$body" >&2; fail "export-destroy failed"; }
grep -q '"kind":"export-destroy"' <<<"$body" && grep -q 'every file matches MANIFEST.txt' <<<"$body" \
    && grep -q 'Destruction complete' <<<"$body" || fail "output: $body"
# the check came before the destroy
[ "$(grep -o 'every file matches MANIFEST.txt\|Destruction complete' <<<"$body" | head -n 1)" = "every file matches MANIFEST.txt" ] \
    || fail "destroyed before the zip was checked"
[ "$(psqlc 'SELECT count(*) FROM fleet')" = 0 ] && [ ! -d "$vms_dir/lablink-vm-test-1" ] || fail "fleet not destroyed"
name=$(psqlc 'SELECT name FROM export_archives')
[ -f "$keep/$name" ] && [ "$(stat -c %a "$keep/$name")" = 600 ] || fail "kept zip: $(ls -l "$keep")"
ls "$keep" | grep -q '\.part$' && fail "a .part file was left"
mkdir "$T/unzipped"; (cd "$T/unzipped" && unzip -q "$keep/$name" && sha256sum --quiet -c MANIFEST.txt) || fail "manifest check of the kept zip"
[ -f "$T/unzipped/vm_2/data2.slp" ] && [ -f "$T/unzipped/vm_1/sub/notes1.slp" ] || fail "kept zip lacks files"
curl -s "${auth[@]}" "$url/api/exports" | grep -q "{\"exports\":\[{\"name\":\"$name\",\"bytes\":$(stat -c %s "$keep/$name"),\"files\":4" \
    || fail "GET /api/exports: $(curl -s "${auth[@]}" "$url/api/exports")"
pass "a schedule with export_before_destroy: one operation; the zip is kept (0600) and checked against its manifest before the fleet is destroyed"

# --- the kept zip: whole, resumed, refused ranges ---------------------------------------------
size=$(stat -c %s "$keep/$name")
curl -s "${auth[@]}" -D "$T/h.full" -o "$T/full.zip" "$url/api/exports/$name"
cmp -s "$T/full.zip" "$keep/$name" || fail "whole download differs"
grep -qi '^HTTP/1.1 200' "$T/h.full" && grep -qi '^Accept-Ranges: bytes' "$T/h.full" \
    && grep -qi "^Content-Disposition: attachment; filename=$name" "$T/h.full" || fail "headers: $(cat "$T/h.full")"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/Ip' "$T/h.full")
[ -n "$etag" ] || fail "no ETag"
[ -n "$(psqlc "SELECT downloaded_at FROM export_archives WHERE name = '$name'")" ] || fail "download not recorded"
# a download broken after 1000 bytes, resumed (as curl -C and browsers do)
head -c 1000 "$keep/$name" >"$T/part.zip"
curl -s "${auth[@]}" -D "$T/h.part" -H "If-Range: $etag" -C - -o "$T/part.zip" "$url/api/exports/$name"
grep -qi '^HTTP/1.1 206' "$T/h.part" && grep -qi "^Content-Range: bytes 1000-$((size - 1))/$size" "$T/h.part" \
    || fail "resume headers: $(cat "$T/h.part")"
cmp -s "$T/part.zip" "$keep/$name" || fail "resumed download differs"
code=$(curl -s "${auth[@]}" -H 'Range: bytes=100-199' -o "$T/r.bin" -w '%{http_code}' "$url/api/exports/$name")
[ "$code" = 206 ] && [ "$(stat -c %s "$T/r.bin")" = 100 ] && cmp -s "$T/r.bin" <(tail -c +101 "$keep/$name" | head -c 100) || fail "bytes=100-199: $code"
code=$(curl -s "${auth[@]}" -H 'Range: bytes=100-' -H 'If-Range: "stale"' -o "$T/r.bin" -w '%{http_code}' "$url/api/exports/$name")
[ "$code" = 200 ] && cmp -s "$T/r.bin" "$keep/$name" || fail "If-Range mismatch must send the whole file: $code"
code=$(curl -s "${auth[@]}" -H "Range: bytes=$size-" -D "$T/h.416" -o /dev/null -w '%{http_code}' "$url/api/exports/$name")
[ "$code" = 416 ] && grep -qi "^Content-Range: bytes \*/$size" "$T/h.416" || fail "unsatisfiable: $code"
[ "$(http_status "$url/api/exports/$name")" = 401 ] || fail "download without auth"
[ "$(http_status "${auth[@]}" "$url/api/exports/..%2Fconfig.yaml")" = 404 ] || fail "path traversal not 404"
[ "$(http_status "${auth[@]}" "$url/api/exports/lablink_data20000101_000000.zip")" = 404 ] || fail "unknown export"
pass "kept zip served with ranges: 200 whole, 206 resumed (If-Range), 416, a stale If-Range gets the whole file; 401, 404"

code=$(curl -s -X DELETE "${auth[@]}" -o /dev/null -w '%{http_code}' "$url/api/exports/$name")
[ "$code" = 200 ] && [ ! -f "$keep/$name" ] && [ "$(psqlc 'SELECT count(*) FROM export_archives')" = 0 ] || fail "delete: $code"
[ "$(http_status -X DELETE "${auth[@]}" "$url/api/exports/$name")" = 404 ] || fail "delete twice"
pass "DELETE /api/exports/<name> removes the file and its row; 404 after"
stop_allocator_within 15
echo "6 passed, 0 failed"
