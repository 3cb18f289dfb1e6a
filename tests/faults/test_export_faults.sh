# Export against VMs that fail in the ways a network does, and a client
# whose disk fills up. What the admin sees: the zip arrives within a
# bounded time with the healthy VMs' files and a MANIFEST naming each VM
# that failed; when the download fails on the client's side (disk full)
# the allocator ends the export, and the next export works (no 409).
# Checked: the healthy VMs' bytes are in the zip, the failures are named,
# no temp file on the allocator, /api/export/status not stuck running.
# (tests/integration/test_export.sh covers a stopped sshd, a frozen one
# (SIGSTOP), a changed host key and a client that goes away.)
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$SRC/tests/integration/export_vms.sh"
. "$SRC/tests/integration/tokens.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)
start_exporting_allocator ""

# vm 1 and 3: real sshd with files; vm 2: accepts and never answers; vm 4:
# sends its SSH banner, then nothing
for n in 1 2 3 4; do ports[$n]=$(ll_free_port); done
for n in 1 3; do vm_start "$n" "${ports[$n]}" "$T/keys/export_ed25519.pub"; done
perl "$SRC/tests/faults/fake_ssh.pl" 127.0.1.2 "${ports[2]}" silent &
perl "$SRC/tests/faults/fake_ssh.pl" 127.0.1.4 "${ports[4]}" banner &
for n in 2 4; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.1.$n/${ports[$n]}") 2>/dev/null && break; sleep 0.1; done
done
for n in 1 2 3 4; do
    psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, status, public_ip, ssh_port)
        VALUES ('lablink-vm-test-$n', 'running', '127.0.1.$n', ${ports[$n]})" || fail "insert vm $n"
done
mkfile "$(vm_home 1)/Desktop/a.slp" 200000
mkfile "$(vm_home 1)/Desktop/sub/b.slp" 3000
mkfile "$(vm_home 3)/Desktop/c.slp" 50000

# --- silent VMs: bounded, named, the others exported ---
t0=$SECONDS
[ "$(download "$url/api/scp-client" "$T/one.zip")" = 200 ] || fail "export with silent VMs not 200"
took=$((SECONDS - t0))
# export.timeout_s is 10: each silent VM fails after one deadline, in parallel
[ $took -lt 45 ] || fail "export with silent VMs took $took s"
unzip -tq "$T/one.zip" >/dev/null || fail "unzip -t"
for f in 1/a.slp 1/sub/b.slp 3/c.slp; do
    unzip -p "$T/one.zip" "vm_${f%%/*}/${f#*/}" | cmp -s - "$(vm_home "${f%%/*}")/Desktop/${f#*/}" \
        || fail "vm_$f missing or different in the zip"
done
unzip -Z1 "$T/one.zip" | grep -q '^vm_[24]/' && fail "entries for a silent VM"
unzip -p "$T/one.zip" MANIFEST.txt >"$T/manifest"
grep -q '^# vm_2 lablink-vm-test-2 .*FAILED' "$T/manifest" || fail "silent vm_2 not named: $(cat "$T/manifest")"
grep -q '^# vm_4 lablink-vm-test-4 .*FAILED' "$T/manifest" || fail "banner-only vm_4 not named: $(cat "$T/manifest")"
grep -q '^# vm_1 .* ok files=2 ' "$T/manifest" && grep -q '^# vm_3 .* ok files=1 ' "$T/manifest" \
    || fail "healthy VMs in the manifest: $(cat "$T/manifest")"
pass "two silent VMs (nothing sent; banner only): zip in ${took} s with the others' files, MANIFEST names both"
grep '^# vm_[24]' "$T/manifest" | sed 's/^/    /'

# --- the client's disk fills up mid-download ---
mkfile "$(vm_home 3)/Desktop/big.slp" 8000000
psql -q -c "DELETE FROM vms WHERE hostname IN ('lablink-vm-test-2', 'lablink-vm-test-4')"
mkdir -p "$T/small"
trap 'mountpoint -q "$T/small" && umount "$T/small"; true' EXIT
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
    dest=$T/small/full.zip; where="a 1 MiB tmpfs"
else
    dest=/dev/full; where="/dev/full (no tmpfs here)"
fi
rc=0; curl -s "${auth[@]}" --max-time 60 -o "$dest" "$url/api/scp-client" || rc=$?
mountpoint -q "$T/small" && umount "$T/small"
[ $rc = 23 ] || fail "curl into $where: exit $rc, expected 23 (write error)"
t0=$SECONDS
until curl -s "${auth[@]}" "$url/api/export/status" | grep -q '"running":false'; do
    [ $((SECONDS - t0)) -lt 30 ] || fail "export still running 30 s after the client failed"
    sleep 0.3
done
[ "$(http_status "$url/api/health")" = 200 ] || fail "health after a failed download"
[ -z "$(ls -A "$T/alloc-tmp")" ] || fail "temp files left: $(ls -A "$T/alloc-tmp")"
[ -z "$(ls -A "$T/alloc-cwd")" ] || fail "files written by the allocator: $(ls -A "$T/alloc-cwd")"
[ "$(download "$url/api/scp-client" "$T/two.zip")" = 200 ] || fail "export after the failed download not 200"
unzip -p "$T/two.zip" 'vm_*/big.slp' | cmp -s - "$(vm_home 3)/Desktop/big.slp" || fail "big.slp in the next export"
pass "client disk full ($where): export ended, no temp file, health 200, the next export 200 and complete"

for n in 1 3; do vm_stop $n; done
stop_allocator_within 20
echo "2 passed, 0 failed"
