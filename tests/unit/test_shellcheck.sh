# shellcheck (Debian's) passes on every shell script the project ships: each
# file outside tests/ whose first line runs bash or sh, or whose name ends in
# .sh. The user_data templates are checked once terraform has rendered them
# (test_user_data, test_allocator_user_data). Two checks are off
# everywhere: SC1091 (sourced files are found at run time) and SC2015
# (`a && b || true`, the scripts' best-effort clean-up idiom).
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v shellcheck >/dev/null || fail "shellcheck missing: LABLINK_DEPS=aws scripts/install-deps"
cd "$SRC"
scripts=()
while IFS= read -r -d '' f; do
    case $f in ./tests/*|./build*|*/node_modules/*|./.git/*|*.tftpl) continue ;; esac
    if [[ $f == *.sh ]] || head -n 1 "$f" 2>/dev/null | grep -Eq '^#!\s*/(usr/)?bin/(env )?(ba)?sh'; then
        scripts+=("$f")
    fi
done < <(find . -type f -not -path './.git/*' -not -path '*/node_modules/*' -not -path './build*' -print0)
[ ${#scripts[@]} -ge 10 ] || fail "found only ${#scripts[@]} scripts: ${scripts[*]}"
for must in ./packaging/install ./packaging/docker/client/lablink-client-start ./terraform/local/vm-up.sh \
        ./lambda/package ./scripts/install-deps; do
    printf '%s\n' "${scripts[@]}" | grep -qx "$must" || fail "$must not among the checked scripts"
done
shellcheck -e SC1091,SC2015 "${scripts[@]}" || fail "shellcheck finds problems (above)"
echo "ok - shellcheck passes on ${#scripts[@]} shipped scripts: ${scripts[*]}"
echo "1 passed, 0 failed"
