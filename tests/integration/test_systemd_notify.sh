# Type=notify and the watchdog, speaking systemd's real protocol: a
# datagram socket at NOTIFY_SOCKET receives what sd_notify sends (as
# systemd's manager does). READY=1 arrives once the HTTP listener answers;
# with WATCHDOG_USEC set, WATCHDOG=1 follows every half interval while the
# listener answers, stops while every worker is held (so systemd would
# restart a stuck allocator), and resumes; STOPPING=1 on SIGTERM.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
. "$LABLINK_SOURCE_DIR/tests/integration/claim_lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || fail "python3 missing (scripts/install-deps: LABLINK_DEPS=ops)"

sock=$T/notify.sock
# The manager's end: one line per datagram, "<epoch seconds> <payload>"
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a", buffering=1)
while True:
    data = s.recv(4096).decode(errors="replace").replace("\n", "|")
    out.write("%.3f %s\n" % (time.time(), data))
' "$sock" "$T/notify.log" &
receiver=$!
for _ in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no notify socket"

port=$(ll_free_port)
url=http://127.0.0.1:$port
claim_config "$T/a.yaml" "$port"
sed -i 's/^  listen: .*/&\n  http_threads: 4\n  request_timeout_s: 30/' "$T/a.yaml"
NOTIFY_SOCKET=$sock WATCHDOG_USEC=2000000 "$BIN" --config "$T/a.yaml" >"$T/a.log" 2>&1 &
PID_a=$!
for _ in $(seq 1 300); do grep -q 'READY=1' "$T/notify.log" 2>/dev/null && break; sleep 0.05; done
grep -q 'READY=1' "$T/notify.log" || { cat "$T/a.log"; fail "no READY=1"; }
# readiness means serving: the very first request after it is answered
expect "health right after READY" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/api/health")"
grep -q "READY=1|STATUS=serving on port $port" "$T/notify.log" || fail "status line: $(cat "$T/notify.log")"
pass "READY=1 once the listener answers (STATUS names the port)"

watchdogs() { grep -c 'WATCHDOG=1' "$T/notify.log" || true; }
n0=$(watchdogs)
sleep 4.5
n1=$(watchdogs)
[ $((n1 - n0)) -ge 3 ] || fail "WATCHDOG=1 every ~1 s expected, got $((n1 - n0)) in 4.5 s"
pass "WATCHDOG=1 every half WatchdogSec while the allocator answers ($((n1 - n0)) in 4.5 s)"

# Both workers held by clients that never finish their request: the
# watchdog must starve (systemd would restart the unit)
for fd in 5 6 7 8; do
    eval "exec $fd<>/dev/tcp/127.0.0.1/$port"
    printf 'GET /api/health HTTP/1.1\r\nHost: x\r\n' >&$fd
done
sleep 1.5   # a ping already on its way may land
n2=$(watchdogs)
sleep 4
n3=$(watchdogs)
[ "$n3" = "$n2" ] || fail "WATCHDOG=1 sent while every worker was held ($((n3 - n2)) pings)"
grep -q 'watchdog: .* did not answer' "$T/a.log" || fail "the starved watchdog is not logged"
exec 5>&- 6>&- 7>&- 8>&-
for _ in $(seq 1 60); do [ "$(watchdogs)" -gt "$n3" ] && break; sleep 0.1; done
[ "$(watchdogs)" -gt "$n3" ] || fail "WATCHDOG=1 did not resume once the workers were free"
pass "no WATCHDOG=1 while every worker is stuck; it resumes when they are free"

claim_stop a
grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1 on SIGTERM"
pass "STOPPING=1 on SIGTERM; exit 0"

# Without NOTIFY_SOCKET (not under systemd) nothing changes
claim_start b "$port"
expect "plain start" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/health")"
claim_stop b
kill "$receiver" 2>/dev/null || true
echo "4 passed, 0 failed"
