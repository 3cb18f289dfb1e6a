# docs/architecture.md must name every actor of the runtime table and every
# endpoint of runtime/protocol.h.
set -euo pipefail
src=${LABLINK_SOURCE_DIR:?}
doc=$src/docs/architecture.md
missing=0
actors=$(sed -n '/s_actor_table\[\] = {/,/^};/p' "$src/actors/main.c" | grep -o '{"[a-z_]*"' | tr -d '{"')
[ -n "$actors" ] || { echo "FAIL: no actors found in actors/main.c"; exit 1; }
for a in $actors; do
    grep -q "\`$a\`" "$doc" || { echo "FAIL: actor $a missing from docs/architecture.md"; missing=1; }
done
endpoints=$(grep -o '"inproc://[a-z-]*"' "$src/runtime/protocol.h" | tr -d '"')
[ -n "$endpoints" ] || { echo "FAIL: no endpoints found in runtime/protocol.h"; exit 1; }
for e in $endpoints; do
    grep -q "$e" "$doc" || { echo "FAIL: endpoint $e missing from docs/architecture.md"; missing=1; }
done
[ $missing -eq 0 ] || exit 1
echo "1 passed, 0 failed"
