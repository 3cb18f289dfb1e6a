# The pages keep to the strict CSP and to local assets: no inline script,
# no style attribute or <style> element, no inline event handler, no
# javascript: URL, nothing loaded from another host (links to other sites
# are fine).
set -euo pipefail
src=${LABLINK_SOURCE_DIR:?}
failed=0
check() {  # PATTERN WHAT
    local hits
    if hits=$(grep -nEi "$1" "$src"/http/assets/*.html); then
        echo "FAIL: $2:"
        echo "$hits"
        failed=$((failed + 1))
    fi
}
# every <script> loads a local file (no inline script)
if grep -nEi '<script' "$src"/http/assets/*.html | grep -viE '<script [^>]*src="/static/[a-z0-9_.-]+\.js"' >/dev/null; then
    grep -nEi '<script' "$src"/http/assets/*.html | grep -viE '<script [^>]*src="/static/'
    echo "FAIL: a script that is not a local file"
    failed=$((failed + 1))
fi
check '\sstyle\s*=|<style' 'inline style'
check '\son[a-z]+\s*=' 'inline event handler'
check 'javascript:' 'javascript: URL'
check '(src|href)\s*=\s*"(https?:)?//[^"]*\.(js|css|png|svg|woff2?)' 'asset from another host'
if grep -nE 'eval\(|new Function|innerHTML\s*=' "$src"/http/assets/*.js; then
    echo "FAIL: eval or innerHTML in a script (use textContent)"
    failed=$((failed + 1))
fi
[ $failed -eq 0 ] || exit 1
echo "1 passed, 0 failed"
