# Every program's command line (runtime/cli.h): --help lists every option
# and subcommand, --version names the version and the git commit, an
# unknown option is refused on stderr with a usage line and exit code 2
# (lablink-bench used to ignore them), errors go to stderr, and the manual
# pages are written from the same description as --help and render without
# a groff warning.
set -euo pipefail
SRC=${LABLINK_SOURCE_DIR:?}
B=${LABLINK_BUILD_DIR:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
export ASAN_OPTIONS=detect_leaks=0

# run PROG ARGS...: sets RC, OUT (stdout) and ERR (stderr)
run() {
    RC=0
    "$@" >"$T/out" 2>"$T/err" </dev/null || RC=$?
    OUT=$(cat "$T/out")
    ERR=$(cat "$T/err")
}

version=$(sed -n 's/^project(lablink VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
commit=$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for prog in lablink-allocator lablink-agent lablink-bench lablink-lambda; do
    bin=$B/$prog
    [ -x "$bin" ] || fail "$prog not built"
    run "$bin" --help
    [ $RC -eq 0 ] && [ -z "$ERR" ] || fail "$prog --help: rc $RC, stderr: $ERR"
    grep -q "^usage: $prog " <<<"$OUT" || fail "$prog --help has no usage line"
    grep -q '^Exit codes:' <<<"$OUT" || fail "$prog --help documents no exit codes"
    for opt in --help --version --man; do
        grep -q -- "^  \(-h, \)\?$opt\b" <<<"$OUT" || fail "$prog --help lacks $opt"
    done
    run "$bin" --man
    [ $RC -eq 0 ] && grep -q '^\.TH ' <<<"$OUT" || fail "$prog --man: rc $RC, no .TH line"
    run "$bin" --version
    [ $RC -eq 0 ] || fail "$prog --version: rc $RC"
    grep -Eq "^$prog $version \(commit $commit(-dirty)?\)\$" <<<"$OUT" \
        || fail "$prog --version: '$OUT' (want version $version, commit $commit)"
    run "$bin" --no-such-option
    [ $RC -eq 2 ] || fail "$prog --no-such-option: rc $RC (want 2)"
    [ -z "$OUT" ] || fail "$prog --no-such-option wrote to stdout: $OUT"
    grep -q -- "--no-such-option" <<<"$ERR" || fail "$prog: the refusal does not name the option: $ERR"
    grep -q "^usage: $prog " <<<"$ERR" || fail "$prog: no usage line on stderr: $ERR"
done
ok "--help, --version (version $version, commit $commit), --man, unknown options refused (exit 2, usage on stderr)"

# The options each program reads, as its --help names them
run "$B/lablink-allocator" --help
for opt in --config --check-config --agent-token --zmq-keygen --aws-credentials --routes --help --version --man; do
    grep -q -- "^  \(-h, \)\?$opt\b" <<<"$OUT" || fail "allocator --help lacks $opt"
done
run "$B/lablink-agent" --help
for cmd in run status metrics relay version; do
    grep -q "^  $cmd\b" <<<"$OUT" || fail "agent --help lacks the command $cmd"
done
for opt in --listen --help --version --man; do
    grep -q -- "^  \(-h, \)\?$opt\b" <<<"$OUT" || fail "agent --help lacks $opt"
done
run "$B/lablink-bench" --help
for scenario in $(sed -n 's/^    {"\([a-z-]*\)", ll_bench_.*/\1/p' "$SRC/bench/main.c"); do
    grep -q "^  $scenario\b" <<<"$OUT" || fail "bench --help lacks the scenario $scenario"
done
ok "--help names every option, subcommand and scenario"

# lablink-bench: every scenario refuses what it does not read, before any
# work (no allocator listens on port 1)
for scenario in claims burst deliver export logs logs-read telemetry; do
    run "$B/lablink-bench" "$scenario" --vmz 3
    [ $RC -eq 2 ] || fail "bench $scenario --vmz: rc $RC"
    grep -q "unknown option '--vmz'" <<<"$ERR" || fail "bench $scenario: $ERR"
done
run "$B/lablink-bench" claims --url
[ $RC -eq 2 ] && grep -q "needs a value" <<<"$ERR" || fail "bench claims --url without value: rc $RC $ERR"
run "$B/lablink-bench" nosuch
[ $RC -eq 2 ] && grep -q "unknown scenario 'nosuch'" <<<"$ERR" || fail "bench nosuch: rc $RC $ERR"
ok "lablink-bench refuses unknown options and scenarios (exit 2)"

# Errors on stderr, with the documented exit codes
run "$B/lablink-allocator" --config "$T/none.yaml"
[ $RC -eq 1 ] && [ -z "$OUT" ] && grep -q "config file not found" <<<"$ERR" \
    || fail "allocator with a missing config: rc $RC out '$OUT' err '$ERR'"
run "$B/lablink-allocator" --check-config "$T/none.yaml"
[ $RC -eq 1 ] && grep -q '^\[FAIL\]' <<<"$OUT" || fail "--check-config of a missing file: rc $RC $OUT"
run "$B/lablink-allocator" --config a.yaml extra
[ $RC -eq 2 ] && grep -q "unexpected argument 'extra'" <<<"$ERR" || fail "extra argument: rc $RC $ERR"
run "$B/lablink-allocator" --check-config a --zmq-keygen b
[ $RC -eq 2 ] || fail "two commands at once: rc $RC"
run env -i "$B/lablink-agent" run
[ $RC -eq 2 ] && [ -z "$OUT" ] && grep -q "missing required setting" <<<"$ERR" \
    || fail "agent without settings: rc $RC err '$ERR'"
run "$B/lablink-agent" status bogus
[ $RC -eq 2 ] && grep -q "status must be one of" <<<"$ERR" || fail "agent status bogus: rc $RC $ERR"
run "$B/lablink-agent" relay --listen 0.0.0.0:5000
[ $RC -eq 2 ] && grep -q "loopback" <<<"$ERR" || fail "relay on a public address: rc $RC $ERR"
run env -i "$B/lablink-lambda"
[ $RC -eq 1 ] && [ -z "$OUT" ] && grep -q "AWS_LAMBDA_RUNTIME_API" <<<"$ERR" \
    || fail "lambda outside Lambda: rc $RC err '$ERR'"
ok "errors on stderr; exit codes 1 (failure) and 2 (usage) as documented"

# Manual pages: built from the same description as --help
for prog in lablink-allocator lablink-agent; do
    page=$B/man/$prog.1
    [ -s "$page" ] || fail "no manual page $page"
    run "$B/$prog" --man
    [ "$OUT" = "$(cat "$page")" ] || fail "$page differs from $prog --man"
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
    text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
    run "$B/$prog" --help
    for opt in $(grep -o -- '^  \(-h, \)\?--[a-z-]*' <<<"$OUT" | grep -o -- '--[a-z-]*'); do
        grep -q -- "$opt" <<<"$(sed -n '/^OPTIONS/,/^[A-Z]/p' <<<"$text")" \
            || fail "$prog: $opt is in --help but not in the manual's OPTIONS"
    done
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS ENVIRONMENT "EXIT STATUS"; do
        grep -q "^$section" <<<"$text" || fail "$prog.1 has no $section section"
    done
done
ok "manual pages of the allocator and the agent: same source as --help, no groff warning"
echo "$passed passed, 0 failed"
