# The admin console in headless chromium against the real allocator and
# PostgreSQL (admin_console.mjs): login, logout, CSRF from another origin,
# every page under the CSP in both themes and at 375 px, live instances,
# CSV, a claim reset. Screenshots: tests/browser/artifacts/admin_console/.
. "$LABLINK_SOURCE_DIR/tests/browser/lib.sh"

browser_setup
artifacts admin_console
port=$(ll_free_port)
export URL=http://127.0.0.1:$port
start_allocator "$port"
rc=0
node "$BROWSER_DIR/admin_console.mjs" || rc=$?
stop_allocator
[ $rc -eq 0 ] || fail "browser checks failed (screenshots in $ARTIFACTS)"
