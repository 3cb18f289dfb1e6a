# Issue 15 section 6: bad bytes from a VM never corrupt the allocator. The
# container source of the export (AWS: files inside the client container,
# read as a `tar -cf -` stream) against VMs that lie, through real sshds
# and the real allocator: export.container_command is a script that plays a
# compromised VM (which one it is comes from SSH_CONNECTION):
#   vm 1  honest
#   vm 2  a member size in base-256 that is negative
#   vm 3  a base-256 size that overflows 64 bits
#   vm 4  a size over export.max_file_bytes (the file was listed small)
#   vm 5  a header whose checksum is wrong
#   vm 6  a file that grew after it was listed (within the cap)
#   vm 7  a file that grew past export.max_file_bytes after it was listed
#   vm 8  a stream that ends in the middle of a member
# Each refusal is named in the manifest; the honest VM's file and the
# listed bytes of the grown file are in the zip, nothing more; the
# allocator stays healthy and the next export works.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$SRC/tests/integration/export_vms.sh"

port=$(ll_free_port)
url=http://127.0.0.1:$port
auth=(-u admin:test-admin-password)
user=lablink-export-test
if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir / --shell /bin/sh "$user" || fail "useradd"
fi
usermod -p '*' "$user"

# --- the VMs, their files, the crafted streams -------------------------------
for n in $(seq 1 8); do
    ports[$n]=$(ll_free_port)
    d=$(vm_home "$n")/Desktop
    mkfile "$d/ok.slp" 1000
    chmod -R a+rX "$T/vm$n"
done
for n in 6 7; do
    d=$(vm_home "$n")/Desktop
    mkfile "$d/a-grow.slp" 1000
    mkfile "$d/b-after.slp" 1000
    rm "$d/ok.slp"
    cp "$d/a-grow.slp" "$T/grow-$n.listed"
    chmod a+rw "$d/a-grow.slp"
done
# craft MODE OUT: a GNU tar of ok.slp (1000 bytes), then made to lie
craft() {
    python3 - "$1" "$2" <<'PY'
import io, sys, tarfile
mode, out = sys.argv[1], sys.argv[2]
data = bytes(i % 251 for i in range(1000))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
    info = tarfile.TarInfo("ok.slp")
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
b = bytearray(buf.getvalue())
if mode == "negative":
    b[124:136] = b"\xff" * 12                     # -1 in base-256
elif mode == "overflow":
    b[124:136] = b"\x80\x7f" + b"\xff" * 10       # about 2^86
elif mode == "overcap":
    b[124:136] = b"%011o\0" % 5000000             # listed as 1000 bytes
elif mode == "early":
    b = b[:512 + 100]                              # 100 of 1000 bytes
b[148:156] = b" " * 8
b[148:156] = b"%06o\0 " % sum(b[0:512])
if mode == "badsum":
    b[150] = ord("7") if b[150] != ord("7") else ord("6")
open(out, "wb").write(bytes(b))
PY
}
craft negative "$T/evil-2.tar"
craft overflow "$T/evil-3.tar"
craft overcap "$T/evil-4.tar"
craft badsum "$T/evil-5.tar"
craft early "$T/evil-8.tar"
chmod a+r "$T"/evil-*.tar
# The compromised VM: `<command> find '<dir>' ...` and `<command> tar -C
# '<dir>' ...` arrive here; each VM answers from its own home
cat >"$T/vm-shell" <<SH
#!/bin/sh
set -- "\$@"
ip=\$(echo "\$SSH_CONNECTION" | cut -d' ' -f3)
n=\${ip##*.}
home=$T/vm\$n/home/Desktop
cmd=\$1
shift
case \$cmd in
    find) shift; exec find "\$home" "\$@" ;;
    tar)
        shift 2
        case \$n in
            1) exec tar -C "\$home" "\$@" ;;
            6) head -c 5000 /dev/urandom >>"\$home/a-grow.slp"; exec tar -C "\$home" "\$@" ;;
            7) head -c 200000 /dev/urandom >>"\$home/a-grow.slp"; exec tar -C "\$home" "\$@" ;;
            *) cat >/dev/null; exec cat "$T/evil-\$n.tar" ;;
        esac ;;
esac
exit 2
SH
chmod 755 "$T/vm-shell"

EXPORT_USER=$user start_exporting_allocator "  source: container
  container_command: $T/vm-shell
  data_dir: /data
  max_file_bytes: 100000"
for n in $(seq 1 8); do
    vm_start "$n" "${ports[$n]}" "$T/keys/export_ed25519.pub"
    psql -q -v ON_ERROR_STOP=1 -c "INSERT INTO vms (hostname, status, public_ip, ssh_port)
        VALUES ('lablink-vm-test-$n', 'running', '127.0.1.$n', ${ports[$n]})" || fail "insert vm $n"
done

# --- the export ----------------------------------------------------------------
[ "$(download "$url/api/scp-client" "$T/one.zip")" = 200 ] || { cat "$T/one.zip"; cat "$T/allocator.log" >&2; fail "export not 200"; }
unzip -tq "$T/one.zip" >/dev/null || fail "unzip -t: $(unzip -t "$T/one.zip")"
m=$(unzip -p "$T/one.zip" MANIFEST.txt)
want() {  # VM TEXT: the manifest's line of that VM holds TEXT
    grep "^# vm_$1 " <<<"$m" | grep -qF "$2" || fail "manifest of vm_$1 lacks '$2': $m"
}
want 1 "ok files=1 bytes=1000"
want 2 "FAILED"; want 2 "tar: negative size"
want 3 "FAILED"; want 3 "tar: size overflows"
want 4 "FAILED"; want 4 "tar: a member of 5000000 bytes, over the cap of 100000"
want 5 "FAILED"; want 5 "tar: a header's checksum is wrong"
want 7 "FAILED"; want 7 "tar: a member of 201000 bytes, over the cap of 100000"
want 8 "FAILED"; want 8 "the tar stream ended early"
pass "negative, overflowing, over-cap and unchecked sizes and a cut stream: the VM's stream is refused, each reason in the manifest"

want 6 "ok files=2 bytes=2000"
grep -qxF "# vm_6/a-grow.slp: grew after it was listed: cut at the listed 1000 bytes" <<<"$m" \
    || fail "the grown file's note: $m"
rm -rf "$T/out"; mkdir "$T/out"
(cd "$T/out" && unzip -q "$T/one.zip") || fail "unzip"
cmp "$T/out/vm_6/a-grow.slp" "$T/grow-6.listed" || fail "vm_6: not the listed 1000 bytes"
cmp "$T/out/vm_6/b-after.slp" "$(vm_home 6)/Desktop/b-after.slp" || fail "vm_6: the file after the grown one"
cmp "$T/out/vm_1/ok.slp" "$(vm_home 1)/Desktop/ok.slp" || fail "vm_1's file"
(cd "$T/out" && sha256sum --quiet -c MANIFEST.txt) || fail "manifest sums"
entries=$(unzip -Z1 "$T/one.zip" | grep '^vm_' | sort | tr '\n' ' ')
expect_entries="vm_1/ok.slp vm_6/a-grow.slp vm_6/b-after.slp vm_8/ok.slp "
[ "$entries" = "$expect_entries" ] || fail "entries: $entries"
[ "$(unzip -p "$T/one.zip" vm_8/ok.slp | wc -c)" = 100 ] || fail "vm_8: more than the bytes sent"
grep -qxF "# vm_8/ok.slp: incomplete: read failed" <<<"$m" || fail "vm_8's partial file not marked"
st=$(curl -s "${auth[@]}" "$url/api/export/status")
grep -q '"running":false' <<<"$st" && grep -q '"bytes":3100' <<<"$st" || fail "status: $st"
pass "a file that grew after listing is cut at its listed size (the bytes counted are the listed ones), the stream stays in step for the next file"

# --- the allocator is unharmed -------------------------------------------------
expect_health=$(http_status "$url/api/health")
[ "$expect_health" = 200 ] || fail "health after the hostile export: $expect_health"
grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/allocator.log" && fail "sanitizer report"
[ "$(download "$url/api/scp-client" "$T/two.zip")" = 200 ] || fail "second export"
unzip -tq "$T/two.zip" >/dev/null || fail "second zip"
[ -z "$(ls -A "$T/alloc-tmp")" ] && [ -z "$(ls -A "$T/alloc-cwd")" ] || fail "allocator left files"
pass "the allocator stays healthy; the next export works; nothing left behind"
stop_allocator
for n in $(seq 1 8); do vm_stop "$n"; done
