# docs/api.md must document every route of the route table (http/routes.c):
# each `METHOD /path` there (with <name> for a {} segment) must appear in it.
set -euo pipefail
src=${LABLINK_SOURCE_DIR:?}
doc=$src/docs/api.md
[ -f "$doc" ] || { echo "FAIL: docs/api.md missing"; exit 1; }
routes=$(grep -oE '\{"(GET|POST|PUT|PATCH|DELETE)", *"[^"]+"' "$src/http/routes.c" \
    | sed -E 's/\{"([A-Z]+)", *"([^"]+)"/\1 \2/' | sort -u)
[ -n "$routes" ] || { echo "FAIL: no routes found in http/routes.c"; exit 1; }
# Documented routes: backticked `METHOD /path...`, query and options dropped,
# <name> segments written as {}.
documented=$(grep -oE '`(GET|POST|PUT|PATCH|DELETE) /[^`]*`' "$doc" | tr -d '`' \
    | sed -E 's/[?[].*$//; s/<[^>]+>/{}/g' | sort -u)
missing=0
count=0
while read -r route; do
    count=$((count + 1))
    grep -qxF "$route" <<<"$documented" || { echo "FAIL: route '$route' is not in docs/api.md"; missing=1; }
done <<<"$routes"
[ $missing -eq 0 ] || exit 1
echo "ok - all $count routes of http/routes.c are documented"
echo "1 passed, 0 failed"
