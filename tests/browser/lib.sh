# Shared by the browser tests (sourced, under tests/harness/run-test): the
# integration helpers, Debian's chromium, playwright-core and axe-core
# installed from the pinned package-lock.json into tests/browser/node_modules
# (never a browser download), and a folder for screenshots.
. "$LABLINK_SOURCE_DIR/tests/integration/lib.sh"
set +o pipefail  # "curl | grep -q": grep may close the pipe early

BROWSER_DIR=$SRC/tests/browser
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

browser_setup() {
    [ -x "$CHROMIUM" ] || fail "$CHROMIUM missing: 'make test' installs it (LABLINK_DEPS=browser scripts/install-deps)"
    command -v node >/dev/null || fail "node missing: LABLINK_DEPS=browser scripts/install-deps installs it"
    command -v npm >/dev/null || fail "npm missing: LABLINK_DEPS=browser scripts/install-deps installs it"
    local want have
    # every pinned package (playwright-core, axe-core) at its pinned version
    want=$(node -p "Object.entries(require('$BROWSER_DIR/package.json').dependencies).map(([k, v]) => k + '@' + v).join(' ')")
    (
        flock 9
        have=$(cd "$BROWSER_DIR" && node -p "Object.keys(require('./package.json').dependencies).map((k) => { try { return k + '@' + require('./node_modules/' + k + '/package.json').version; } catch (e) { return k + '@none'; } }).join(' ')" 2>/dev/null || true)
        if [ "$have" != "$want" ]; then
            cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >"$T/npm.log" 2>&1 \
                || { cat "$T/npm.log" >&2; exit 1; }
        fi
    ) 9>/tmp/lablink-browser-npm.lock || fail "npm ci in tests/browser failed"
}

# artifacts NAME: a fresh folder for this test's screenshots (kept after
# the run: tests/browser/artifacts/NAME).
artifacts() {
    export ARTIFACTS=$BROWSER_DIR/artifacts/$1
    rm -rf "$ARTIFACTS"
    mkdir -p "$ARTIFACTS"
}

# router_missing METHOD PATH: true when no route matches (the router's own
# 404 "Not found."), as opposed to a route's answer.
router_missing() {
    local body
    body=$(curl -s -X "$1" -u "admin:test-admin-password" --max-time 10 "$URL$2")
    [ "$body" = '{"error":"Not found."}' ]
}
