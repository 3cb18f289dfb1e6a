# scripts/checksrc's rules of issue 19 section 5 fail on a violating file:
# the include layers, the 1,000-line limit and the list of functions over 80 lines (printed, not a
# failure, bench/ left out). Each case is a small tree that passes, plus
# one violating file; the clean tree itself must pass, so the failure is
# the violation's.
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v clang-format >/dev/null || fail "clang-format missing (scripts/install-deps)"
work=$(mktemp -d /tmp/lablink-test.checksrc.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0

# The clean tree: every layer, two actors, one actor with a folder.
clean=$work/clean
mkdir -p "$clean"/{runtime,http,agent,lambda,bench,actors/baz}
cp "$SRC/.clang-format" "$clean/"
actor() {  #  actor DIR NAME: a header with its protocol and a source
    printf '/*  %s\n    Pipe: $TERM. */\n#include <czmq.h>\nvoid %s_actor (zsock_t *pipe, void *args);\n' \
        "$2" "$2" >"$clean/$1/$2.h"
    printf '#include "%s/%s.h"\n#include "runtime/a.h"\nvoid\n%s_actor (zsock_t *pipe, void *args)\n{\n    ll_actor_run (pipe);\n}\n' \
        "$1" "$2" "$2" >"$clean/$1/$2.c"
}
printf 'int ll_actor_run (void *pipe);\n' >"$clean/runtime/a.h"
printf '#include "runtime/a.h"\nint\nll_actor_run (void *pipe)\n{\n    return 0;\n}\n' >"$clean/runtime/a.c"
printf '#include "runtime/a.h"\n' >"$clean/http/h.h"
printf '#include "http/h.h"\n#include "runtime/a.h"\n#include <stdio.h>\n' >"$clean/http/h.c"
printf '#include "agent/g.h"\n#include "runtime/a.h"\n' >"$clean/agent/g.c"
printf 'int g;\n' >"$clean/agent/g.h"
printf '#include "runtime/a.h"\n' >"$clean/lambda/main.c"
actor actors foo
actor actors bar
actor actors/baz baz
printf 'int baz_helper;\n' >"$clean/actors/baz/helper.h"
printf '#include "actors/baz/helper.h"\n#include "http/h.h"\n' >"$clean/actors/baz/helper.c"
printf '#include "actors/bar.h"\n#include "actors/baz/baz.h"\n#include "actors/foo.h"\n' >"$clean/actors/main.c"
# A function of exactly 80 lines ({ to }) is not listed; bench/ never is
body() {  #  body NAME LINES: a function whose { ... } spans LINES lines
    printf 'int\n%s (int x)\n{\n' "$1"
    for ((i = 0; i < $2 - 3; i++)); do printf '    x++;\n'; done
    printf '    return x;\n}\n'
}
body s_eighty 80 >"$clean/runtime/eighty.c"
body s_bench_long 120 >"$clean/bench/long.c"

run_checksrc() {  #  run_checksrc TREE: output in $out, status in $rc
    find "$1" -name '*.[ch]' -exec clang-format -i {} +
    rc=0
    out=$("$SRC/scripts/checksrc" --root "$1" 2>&1) || rc=$?
}
run_checksrc "$clean"
[ $rc -eq 0 ] || fail "the clean tree fails checksrc: $out"
grep -q 's_eighty\|s_bench_long' <<<"$out" && fail "an 80-line or bench function is listed: $out"
passed=$((passed + 1))

# violate NAME FILE CONTENT MESSAGE: the clean tree plus FILE fails, saying MESSAGE
violate() {
    local tree=$work/$1
    cp -a "$clean" "$tree"
    mkdir -p "$(dirname "$tree/$2")"
    printf '%b' "$3" >"$tree/$2"
    run_checksrc "$tree"
    [ $rc -ne 0 ] || fail "$1: checksrc passes with $2: $out"
    grep -qF -- "$4" <<<"$out" || fail "$1: no '$4' in: $out"
    echo "ok - $1: $2 fails checksrc ($4)"
    passed=$((passed + 1))
}
violate runtime-up runtime/bad.c '#include "http/h.h"\n' \
    'runtime/bad.c includes http/h.h: runtime/ may include only runtime/'
violate http-actors http/bad.c '#include "actors/foo.h"\n' \
    'http/bad.c includes actors/foo.h: http/ may include only http/, runtime/'
violate agent-http agent/bad.c '#include "http/h.h"\n' \
    'agent/bad.c includes http/h.h: agent/ may include only agent/, runtime/'
violate lambda-agent lambda/bad.c '#include "agent/g.h"\n' \
    'lambda/bad.c includes agent/g.h: lambda/ may include only lambda/, runtime/'
violate actor-actor actors/bar2.c '#include "actors/bar.h"\n#include "actors/foo.h"\n' \
    "actors/bar2.c includes actors/foo.h: another actor's header"
violate actor-folder actors/foo2.c '#include "actors/baz/helper.h"\n' \
    "actors/foo2.c includes actors/baz/helper.h: an actor's folder is its own"
violate folder-actor actors/baz/helper2.c '#include "actors/foo.h"\n' \
    "actors/baz/helper2.c includes actors/foo.h: another actor's header"
violate actors-agent actors/bad.c '#include "agent/g.h"\n' \
    'actors/bad.c includes agent/g.h: actors/ may include only actors/, http/, runtime/'
big=$(for ((i = 0; i < 1001; i++)); do printf 'int v%d;\\n' "$i"; done)
violate long-file runtime/big.c "$big" 'runtime/big.c has 1001 lines (at most 1000'

# A function of 81 lines is listed, and the tree still passes
listed=$work/listed
cp -a "$clean" "$listed"
body s_long 81 >"$listed/agent/long.c"
run_checksrc "$listed"
[ $rc -eq 0 ] || fail "a long function fails checksrc: $out"
grep -qF 'agent/long.c:2 s_long: 81 lines' <<<"$out" || fail "s_long is not listed: $out"
passed=$((passed + 1))

echo "$passed passed, 0 failed"
