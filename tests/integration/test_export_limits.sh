# GET /api/scp-client with caps (per file, total: files left out, listed,
# caps named in the manifest) and with the container source (AWS: the files
# inside the client container, read through two remote commands that never
# carry a file name), against a real sshd VM and the real allocator.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$SRC/tests/integration/export_vms.sh"
export PATH=/usr/lib/postgresql/15/bin:$PATH

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)

# --- caps: per file and total ---
start_exporting_allocator "  max_file_bytes: 100000
  max_total_bytes: 74000"
vport=$(ll_free_port)
vm_start 1 "$vport" "$T/keys/export_ed25519.pub"
psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, public_ip, ssh_port)
    VALUES ('lablink-vm-test-1', '127.0.1.1', $vport)" || fail "insert vm"
d1=$(vm_home 1)/Desktop
mkfile "$d1/top.slp" 150000
mkfile "$d1/sub/inner.slp" 70000
mkfile "$d1/sub/deeper/deep.slp" 3000
mkfile "$d1/models/model.slp" 1000
mkfile "$d1/a/predictions/pred.slp" 1000
mkfile "$d1/notes.txt" 500
mkfile "$d1/odd 'quote\" name.slp" 1234
mkfile "$d1/\$(touch PWNED).slp" 99
mkfile "$d1/-rf --x.slp" 97
mkfile "$d1/--files-from=x.slp" 93
mkfile "$d1/new"$'\n'"line.slp" 96
mkfile "$d1/$(printf 'l%.0s' $(seq 1 120)).slp" 91
ln -s /etc/passwd "$d1/link.slp"
expect=$T/expect/vm_1
(cd "$d1" && find . -name '*.slp' -type f -not -path '*/models/*' -not -path '*/predictions/*' -print0) |
    while IFS= read -r -d '' f; do
        mkdir -p "$expect/$(dirname "$f")"
        cp -p "$d1/$f" "$expect/$f"
    done
# a name with a control character is refused (listed in the manifest)
rm "$expect/new"$'\n'"line.slp"
snapshot() { (cd "$(vm_home 1)" && find . -printf '%p %s %T@ %m\n' | sort); }
snapshot >"$T/vm.before"

[ "$(download "$url/api/scp-client" "$T/caps.zip")" = 200 ] || fail "export with caps"
unzip -tq "$T/caps.zip" >/dev/null || fail "unzip -t (caps)"
m=$(unzip -p "$T/caps.zip" MANIFEST.txt)
grep -q '^# cap hit: export.max_file_bytes' <<<"$m" || fail "file cap not reported: $m"
grep -q '^# skipped vm_1/top.slp (150000 bytes): larger than export.max_file_bytes' <<<"$m" || fail "big file not listed"
grep -q '^# cap hit: export.max_total_bytes' <<<"$m" || fail "total cap not reported: $m"
unzip -Z1 "$T/caps.zip" | grep -q '^vm_1/top.slp$' && fail "file over the cap exported"
total=$(unzip -Zt "$T/caps.zip" | grep -o '[0-9]* bytes uncompressed' | cut -d' ' -f1)
manifest_size=$(unzip -p "$T/caps.zip" MANIFEST.txt | wc -c)
[ $((total - manifest_size)) -le 74000 ] || fail "total cap exceeded: $total"
skipped=$(grep -c '^# skipped ' <<<"$m" )
exported=$(unzip -Z1 "$T/caps.zip" | grep -c '^vm_1/')
[ $((skipped + exported)) -eq 9 ] || fail "files lost: $skipped skipped + $exported exported != 9"
pass "per-file and total caps: files left out and listed, caps named in the manifest"
stop_allocator

# --- the container source: "env" stands in for export.container_command
# (docker exec), and a login user with /bin/sh keeps login shell rc files
# out of the timing ---
user=lablink-export-test
if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir / --shell /bin/sh "$user" || fail "useradd"
fi
usermod -p '*' "$user"
EXPORT_USER=$user start_exporting_allocator "  source: container
  container_command: env
  data_dir: $d1"
[ "$(download "$url/api/scp-client" "$T/six.zip")" = 200 ] || { cat "$T/six.zip"; fail "container export"; }
unzip -tq "$T/six.zip" >/dev/null || fail "unzip -t (container)"
rm -rf "$T/out"; mkdir "$T/out"
(cd "$T/out" && unzip -q "$T/six.zip") || fail "unzip (container)"
rm "$T/out/MANIFEST.txt"
diff -r "$expect" "$T/out/vm_1" >"$T/diff" 2>&1 || { cat "$T/diff"; fail "container export differs"; }
[ "$(unzip -Z1 "$T/six.zip" | grep -c '^vm_1/')" -eq 8 ] || fail "container: not 8 files"
tr '\n' '\001' <"$T/six.zip" | grep -aqF "new"$'\001'"line.slp" && fail "container: the newline name is in the zip"
m=$(unzip -p "$T/six.zip" MANIFEST.txt)
grep -qxF '# skipped vm_1/new\nline.slp (96 bytes): name has a control character or a backslash: refused' <<<"$m" \
    || fail "container: newline name not listed as refused: $m"
grep -q '^# vm_1 .* ok files=8 ' <<<"$m" || fail "container manifest: $m"
grep -q '^# folder: \|folder: /' <<<"$m" || fail "manifest lacks the folder"
for f in PWNED x; do
    find "$T" -name "$f" | grep -q . && fail "a file name was executed or taken as an option ($f)"
done
snapshot >"$T/vm.after"
cmp -s "$T/vm.before" "$T/vm.after" || { diff "$T/vm.before" "$T/vm.after"; fail "the VM changed"; }
[ -z "$(ls -A "$T/alloc-tmp")" ] && [ -z "$(ls -A "$T/alloc-cwd")" ] || fail "allocator left files"
pass "container source: the same files and names (tar --null --verbatim-files-from), a control character refused, nothing ran, nothing left"
stop_allocator
vm_stop 1
echo "1 passed, 0 failed"
