# GET /api/scp-client against real sshd "VMs" (127.0.1.N, per-VM homes) and
# the real allocator: exactly the matching files (top level and
# sub-folders, models/ and predictions/ left out) with the right bytes and
# names, hostile names exported as data, a manifest with SHA-256 sums, one
# stopped VM does not fail the export, a changed host key is refused, 409
# while an export runs, a client leaving cancels, upstream's 404s, nothing
# left behind. Caps and the container source: test_export_limits.sh.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$SRC/tests/integration/export_vms.sh"
export PATH=/usr/lib/postgresql/15/bin:$PATH

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)

start_exporting_allocator ""
[ -f "$T/keys/export_ed25519" ] && [ -f "$T/keys/export_ed25519.pub" ] || fail "no client key made"
[ "$(stat -c %a "$T/keys/export_ed25519")" = 600 ] || fail "client key is not mode 0600"
ssh-keygen -y -f "$T/keys/export_ed25519" | cut -d' ' -f2 >"$T/derived"
cut -d' ' -f2 "$T/keys/export_ed25519.pub" | cmp -s - "$T/derived" || fail "the .pub does not match the key"
pass "ed25519 client key made at start (0600, OpenSSH format)"

# --- upstream's 404 with no VM, 401 without auth ---
[ "$(http_status "$url/api/scp-client")" = 401 ] || fail "no auth not 401"
body=$(curl -s "${auth[@]}" -w ' %{http_code}' "$url/api/scp-client")
[ "$body" = '{"error":"No VMs found in the database."} 404' ] || fail "empty table: $body"
pass "401 without auth; 404 'No VMs found in the database.'"

# --- three VMs ---
ports=()
for n in 1 2 3; do
    ports[$n]=$(ll_free_port)
    vm_start "$n" "${ports[$n]}" "$T/keys/export_ed25519.pub"
    psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, status, public_ip, ssh_port)
        VALUES ('lablink-vm-test-$n', 'running', '127.0.1.$n', ${ports[$n]})" || fail "insert vm $n"
done
d1=$(vm_home 1)/Desktop d2=$(vm_home 2)/Desktop d3=$(vm_home 3)/Desktop
mkfile "$d1/top.slp" 150000
mkfile "$d1/sub/inner.slp" 70000
mkfile "$d1/sub/deeper/deep.slp" 3000
mkfile "$d1/models/model.slp" 1000
mkfile "$d1/sub/predictions/pred.slp" 1000
mkfile "$d1/notes.txt" 500
mkfile "$d1/x.slp.bak" 500
mkfile "$d1/odd 'quote\" name.slp" 1234
mkfile "$d1/\$(touch PWNED).slp" 99
mkfile "$d1/\`touch PWNED2\`;.slp" 98
mkfile "$d1/-rf --x.slp" 97
mkfile "$d1/new"$'\n'"line.slp" 96
mkfile "$d1/back\\slash.slp" 95
ln -s /etc/passwd "$d1/link.slp"
ln -s /etc "$d1/linkdir"
mkfile "$d2/empty-dir/../two.slp" 4096
: >"$d2/zero.slp"
mkfile "$d2/with space/a b.slp" 5000
mkfile "$d3/readme.txt" 100
# What must come out, laid out as the zip should be
expect=$T/expect; rm -rf "$expect"
for n in 1 2 3; do
    src=$(vm_home $n)/Desktop
    (cd "$src" && find . -name '*.slp' -type f -not -path '*/models/*' -not -path '*/predictions/*' -print0) |
        while IFS= read -r -d '' f; do
            mkdir -p "$expect/vm_$n/$(dirname "$f")"
            cp -p "$src/$f" "$expect/vm_$n/$f"
        done
done
# A name with a control character or a backslash is refused (issue 15
# section 6: an unzipper would print the control character or take the
# backslash for a folder): listed in the manifest, not in the zip
rm "$expect/vm_1/new"$'\n'"line.slp" "$expect/vm_1/back\\slash.slp"
snapshot() { for n in 1 2 3; do (cd "$(vm_home $n)" && find . -printf '%p %s %T@ %m\n' | sort); done; }
snapshot >"$T/vms.before"

[ "$(download "$url/api/scp-client" "$T/one.zip")" = 200 ] || { cat "$T/one.zip"; fail "export not 200"; }
grep -Eqi '^Content-Disposition: attachment; filename=lablink_data[0-9]{8}_[0-9]{6}\.zip' "$T/one.zip.headers" \
    || fail "no attachment header: $(cat "$T/one.zip.headers")"
grep -qi '^Transfer-Encoding: chunked' "$T/one.zip.headers" || fail "not streamed (chunked)"
grep -qi '^Content-Type: application/zip' "$T/one.zip.headers" || fail "content type"
unzip -tq "$T/one.zip" >/dev/null || fail "unzip -t: $(unzip -t "$T/one.zip")"
pass "200, attachment lablink_data<YYYYmmdd_HHMMSS>.zip, chunked, unzip -t clean"

rm -rf "$T/out"; mkdir "$T/out"
(cd "$T/out" && unzip -q "$T/one.zip") || fail "unzip"
[ -f "$T/out/MANIFEST.txt" ] || fail "no MANIFEST.txt"
cp "$T/out/MANIFEST.txt" "$T/manifest.txt"
rm "$T/out/MANIFEST.txt"
diff -r "$expect" "$T/out" >"$T/diff" 2>&1 || { cat "$T/diff"; fail "zip content differs from the VMs' files"; }
count=$(unzip -Z1 "$T/one.zip" | grep -c '^vm_' || true)
[ "$count" -eq 10 ] || fail "expected 10 vm_ entries, got $count: $(unzip -Z1 "$T/one.zip")"
# the refused names appear nowhere in the zip but in the manifest
tr '\n' '\001' <"$T/one.zip" | grep -aqF "new"$'\001'"line.slp" && fail "the newline name is in the zip"
grep -aqF 'back\slash' <(unzip -Z1 "$T/one.zip") && fail "the backslash name is in the zip"
grep -qxF '# skipped vm_1/new\nline.slp (96 bytes): name has a control character or a backslash: refused' "$T/manifest.txt" \
    || fail "newline name not listed as refused: $(cat "$T/manifest.txt")"
grep -qxF '# skipped vm_1/back\\slash.slp (95 bytes): name has a control character or a backslash: refused' "$T/manifest.txt" \
    || fail "backslash name not listed as refused"
[ -e "$T/out/vm_1/\$(touch PWNED).slp" ] || fail "\$() name not kept"
pass "exactly the matching files (top level, sub-folders; models/ predictions/ links excluded), same bytes and names; names with a control character or a backslash refused and listed"

grep -q '^# vm_1 lablink-vm-test-1 127.0.1.1:[0-9]* ok files=7 .* skipped=2' "$T/manifest.txt" || fail "manifest vm_1: $(cat "$T/manifest.txt")"
grep -q '^# vm_2 lablink-vm-test-2 127.0.1.2:[0-9]* ok files=3 ' "$T/manifest.txt" || fail "manifest vm_2"
grep -q '^# vm_3 lablink-vm-test-3 127.0.1.3:[0-9]* ok files=0 ' "$T/manifest.txt" || fail "manifest vm_3"
(cd "$T/out" && sha256sum --quiet -c "$T/manifest.txt" 2>"$T/sumerr") || { cat "$T/sumerr"; fail "manifest sums"; }
[ "$(grep -c '^[\\0-9a-f]' "$T/manifest.txt")" -eq 10 ] || fail "not one sum per file"
pass "MANIFEST.txt: per-VM counts and a SHA-256 for every file (sha256sum -c passes)"

for f in PWNED PWNED2; do
    find "$T" / -maxdepth 1 -name "$f" 2>/dev/null | grep -q . && fail "a file name was executed"
    find "$T" -name "$f" | grep -q . && fail "a file name was executed"
done
snapshot >"$T/vms.after"
cmp -s "$T/vms.before" "$T/vms.after" || { diff "$T/vms.before" "$T/vms.after"; fail "the VMs changed"; }
[ -z "$(ls -A "$T/alloc-tmp")" ] || fail "allocator left temp files: $(ls -A "$T/alloc-tmp")"
[ -z "$(ls -A "$T/alloc-cwd")" ] || fail "allocator wrote into its folder: $(ls -A "$T/alloc-cwd")"
pass "hostile names are data (nothing ran); nothing left on the VMs or the allocator"

st=$(curl -s "${auth[@]}" "$url/api/export/status")
grep -q '"running":false' <<<"$st" && echo "$st" | grep -q '"vms_total":3' &&
    grep -q '"vms_done":3' <<<"$st" && echo "$st" | grep -q '"files":10' || fail "status: $st"
n=$(psql -Atc "SELECT count(*) FROM ssh_host_keys")
[ "$n" = 3 ] || fail "host keys not pinned ($n)"
pass "status after the export; 3 host keys pinned"

# --- one VM stopped: the others still come, the manifest names the failure ---
vm_stop 2
[ "$(download "$url/api/scp-client" "$T/two.zip")" = 200 ] || fail "export with vm 2 down not 200"
unzip -tq "$T/two.zip" >/dev/null || fail "unzip -t (vm 2 down)"
unzip -Z1 "$T/two.zip" | grep -q '^vm_2/' && fail "vm_2 entries although it is down"
[ "$(unzip -Z1 "$T/two.zip" | grep -c '^vm_1/')" -eq 7 ] || fail "vm_1 files missing with vm 2 down"
unzip -p "$T/two.zip" MANIFEST.txt | grep -q '^# vm_2 lablink-vm-test-2 .*FAILED.*cannot connect.*refused' \
    || fail "manifest does not name vm_2's failure: $(unzip -p "$T/two.zip" MANIFEST.txt | head)"
st=$(curl -s "${auth[@]}" "$url/api/export/status")
grep -q '{"hostname":"lablink-vm-test-2","status":"failed","files":0,"bytes":0,"error":"cannot connect' <<<"$st" \
    || fail "status does not show vm 2's failure: $st"
grep -q '{"hostname":"lablink-vm-test-1","status":"done","files":7,' <<<"$st" || fail "status vm 1: $st"
pass "one VM down: the others exported, MANIFEST and /api/export/status name the failure"

# --- a second export while one runs: 409 (vm 2's sshd frozen: handshake waits) ---
vm_start 2 "${ports[2]}" "$T/keys/export_ed25519.pub"
kill -STOP "$(cat "$T/vm2/sshd.child")"
curl -s "${auth[@]}" -o "$T/three.zip" "$url/api/scp-client" &
slow=$!
for _ in $(seq 1 50); do
    curl -s "${auth[@]}" "$url/api/export/status" | grep -q '"running":true' && break
    sleep 0.1
done
[ "$(http_status "${auth[@]}" "$url/api/scp-client")" = 409 ] || fail "second export not 409"
body=$(curl -s "${auth[@]}" -H 'Accept: application/json' -X POST "$url/destroy" -w ' %{http_code}')
[ "${body##* }" = 409 ] && grep -q '"error":"A data export is running' <<<"$body" \
    || fail "destroy during an export: $body"
pass "409 for a second export and for destroy while an export runs"
wait $slow || fail "the slow export failed"
kill -CONT "$(cat "$T/vm2/sshd.child")"
unzip -p "$T/three.zip" MANIFEST.txt | grep -q '^# vm_2 .*FAILED.*handshake' || fail "frozen VM not reported"
pass "a VM that never answers fails after export.timeout_s, the rest is exported"

# --- the client goes away mid-download: the export is cancelled ---
mkfile "$d3/big.slp" 30000000
curl -s "${auth[@]}" --limit-rate 300k --max-time 2 -o /dev/null "$url/api/scp-client" || true
for _ in $(seq 1 50); do
    curl -s "${auth[@]}" "$url/api/export/status" | grep -q '"running":false' && break
    sleep 0.2
done
curl -s "${auth[@]}" "$url/api/export/status" | grep -q '"running":false' || fail "export still running after the client left"
grep -q 'exporter: export lablink_data.* cancelled: the client went away' "$T/allocator.log" || fail "no cancel logged"
rm "$d3/big.slp"
snapshot >"$T/vms.before"
pass "a client that goes away mid-download cancels the export"

# --- a changed host key is refused and reported ---
vm_stop 1
rm -f "$T/vm1/host_ed25519" "$T/vm1/host_ed25519.pub"
vm_start 1 "${ports[1]}" "$T/keys/export_ed25519.pub"
[ "$(download "$url/api/scp-client" "$T/four.zip")" = 200 ] || fail "export after key change"
unzip -Z1 "$T/four.zip" | grep -q '^vm_1/' && fail "vm_1 exported despite a changed host key"
unzip -p "$T/four.zip" MANIFEST.txt | grep -q '^# vm_1 .*FAILED.*host key changed' || fail "key change not in the manifest"
[ "$(psql -Atc "SELECT count(*) FROM audit_log WHERE action = 'export-host-key-refused' AND target = 'lablink-vm-test-1'")" = 1 ] \
    || fail "key change not audited"
grep -q 'lablink-vm-test-1.*host key changed' "$T/allocator.log" || fail "key change not logged"
pass "a changed host key is refused, reported in the manifest, the log and the audit log"

# --- no file anywhere: upstream's 404 ---
psql -q -c "DELETE FROM vms WHERE hostname <> 'lablink-vm-test-3'"
body=$(curl -s "${auth[@]}" -w ' %{http_code}' "$url/api/scp-client")
[ "$body" = '{"error":"No slp files found in any VMs."} 404' ] || fail "no files: $body"
pass "404 'No slp files found in any VMs.'"

# --- SIGTERM while an export runs: the allocator still stops within 5 s ---
psql -q -c "INSERT INTO vms (hostname, public_ip, ssh_port) VALUES ('lablink-vm-test-2', '127.0.1.2', ${ports[2]})"
kill -STOP "$(cat "$T/vm2/sshd.child")"
curl -s "${auth[@]}" -o "$T/seven.out" -w '%{http_code}' "$url/api/scp-client" >"$T/seven.code" &
slow=$!
for _ in $(seq 1 50); do
    curl -s "${auth[@]}" "$url/api/export/status" | grep -q '"running":true' && break
    sleep 0.1
done
# The allocator's own account of its stop must be under 5 s; the process
# exit after it (AddressSanitizer's leak scan) gets more room under load
kill -TERM "$ALLOC_PID"
t0=$SECONDS
while kill -0 "$ALLOC_PID" 2>/dev/null; do
    [ $((SECONDS - t0)) -ge 30 ] && fail "allocator still running 30 s after SIGTERM"
    sleep 0.1
done
rc=0; wait "$ALLOC_PID" || rc=$?
[ $rc -eq 0 ] || fail "allocator exited $rc after SIGTERM during an export"
grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|WARNING: ThreadSanitizer\|runtime error:' "$T/allocator.log" && fail "sanitizer report"
ms=$(grep -o 'allocator: stopped in [0-9]* ms' "$T/allocator.log" | tail -1 | grep -o '[0-9]*')
[ -n "$ms" ] && [ "$ms" -lt 5000 ] || fail "stop took ${ms:-?} ms"
kill -CONT "$(cat "$T/vm2/sshd.child")"
wait $slow || true
# civetweb writes nothing once it stops: a 503 or a closed connection
case "$(cat "$T/seven.code")" in 503|000) ;; *) fail "stopped export answered $(cat "$T/seven.code")" ;; esac
pass "SIGTERM during an export: stopped in $ms ms, exit 0, no zip passed off as complete"
for n in 1 2 3; do vm_stop $n; done
echo "1 passed, 0 failed"
