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

# The Basic challenge the edge sends is the one the guide names
realms=$(grep -ohE 'realm=\\"[^\\]*\\"' "$src/http/server.h" | sort -u | sed 's/\\//g')
[ "$(wc -l <<<"$realms")" = 1 ] && [ -n "$realms" ] || { echo "FAIL: realms in http/server.h: $realms"; exit 1; }
grep -qF "WWW-Authenticate: Basic $realms" "$doc" || { echo "FAIL: docs/api.md does not name $realms"; exit 1; }
# (Basic realms only: /metrics answers its own Bearer realm)
grep -rqE 'Basic realm="[^"]*"' "$src/docs" --include='*.md' \
    && ! grep -rhoE 'Basic realm="[^"]*"' "$src/docs" --include='*.md' | grep -qvxF "Basic $realms" \
    || { echo "FAIL: the docs name another Basic realm than $realms"; exit 1; }
echo "ok - the docs name the realm the server sends ($realms)"
echo "2 passed, 0 failed"
