#!/usr/bin/env bash
# bench/report.sh BUILD_DIR [RUNS] [SCENARIO...]
# Runs every lablink-bench scenario RUNS times (default 3) the way
# docs/performance.md reports them and prints, per scenario, each run's key
# figures and their median. Raw outputs stay in $LL_REPORT_DIR (default
# /tmp/lablink-report). Needs root (the export scenario starts sshds) and a
# release build (`make build`).
#   bench/report.sh build 3
#   bench/report.sh build 5 claims deliver
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?build dir}" && pwd)
runs=${2:-3}
shift $(($# >= 2 ? 2 : 1))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(claims deliver logs logs-read telemetry export startup startup-320 scaleout deliver-scale)
out=${LL_REPORT_DIR:-/tmp/lablink-report}
mkdir -p "$out"

run_one() {  # scenario -> its output on stdout
    case "$1" in
        claims) "$src/bench/run.sh" "$build" claims --vms 5000 --clients 64 --health-seconds 3 ;;
        deliver) "$src/bench/run.sh" "$build" deliver --zmq-agents 1000 --http-agents 200 ;;
        logs) "$src/bench/run.sh" "$build" logs --seconds 10 ;;
        logs-read) "$src/bench/run.sh" "$build" logs-read --lines 1000000 --reads 50 ;;
        telemetry) "$src/bench/run.sh" "$build" telemetry --seconds 10 ;;
        startup) "$src/bench/run.sh" "$build" startup --runs 5 ;;
        startup-320) LL_BENCH_HTTP_THREADS=320 "$src/bench/run.sh" "$build" startup --runs 5 ;;
        deliver-scale) LL_BENCH_HTTP_THREADS=2400 LL_BENCH_MAX_PARKED=2050 LL_BENCH_MAX_ZMQ_AGENTS=10000 \
            "$src/bench/run.sh" "$build" deliver --zmq-agents 10000 --http-agents 2000 --procs 4 --ready-timeout 300 ;;
        scaleout) "$src/bench/run.sh" "$build" scaleout --vms 3000 --clients 64 --health-seconds 0 ;;
        export) LABLINK_SOURCE_DIR=$src LABLINK_BUILD_DIR=$build \
            "$src/tests/harness/run-test" "$build/lablink-bench" export --vms 50 --files 20 --size 1048576 ;;
        *) echo "unknown scenario $1" >&2; return 1 ;;
    esac
}

# The figures of one run: "name value" lines, taken from the scenario's text
figures() {
    case "$1" in
        claims) awk '/claims\/s, latency/ {print "claims/s", $2; print "p50_ms", $6; print "p99_ms", $9}
                     /^health:/ {print "health_req/s", $2}
                     /^ratio:/ {print "ratio_%", $4}
                     /^verdict:/ {print "verdict", ($2 == "no" ? 1 : 0)}' ;;
        deliver) awk '/^deliver: claim-to-agent p50/ {print "p50_ms", $4; print "p99_ms", $7}
                      /connections, most seen/ {print "pg_connections", $NF}
                      /while they connected/ {v = $12; sub(/\(/, "", v); print "connect_us_per_agent", v}
                      /^verdict:/ {print "verdict", ($2 == "every" ? 1 : 0)}' ;;
        logs) awk '/acknowledged .* lines\/s/ {v = $5; gsub(/\(/, "", v); print "lines/s", v}
                   /stored .* lines:/ {print "stored==acked", ($NF == "acknowledged" ? 1 : 0)}
                   /allocator RSS/ {print "peak_rss_kib", $(NF-1)}' ;;
        logs-read) awk '/newest 1,000 lines over HTTP/ {for (i = 1; i <= NF; i++) {
                            if ($i == "median") print "median_ms", $(i+1);
                            if ($i == "p99") print "p99_ms", $(i+1)}}' ;;
        telemetry) awk '/heartbeats, / {for (i = 1; i <= NF; i++) if ($i ~ /\/s$/ && $(i-1) ~ /heartbeats/) {v = $i; sub(/\/s/, "", v); print "heartbeats/s", v}
                                        for (i = 1; i <= NF; i++) if ($i == "failures") print "failures", $(i-1)}
                        /latency from the due time/ {print "p50_ms", $8; print "p99_ms", $11}
                        /the allocator used/ {print "alloc_us_per_hb", $9}
                        /allocator RSS/ {print "peak_rss_kib", $(NF-1)}' ;;
        deliver-scale) awk '/^deliver: before the first claim/ {print "zmq_connected", $(NF-11); print "http_parked", $(NF-5)}
                            /connected after the first claim/ {print "late_agents", $2}
                            /^deliver: claim-to-agent p50/ {print "p50_ms", $4; print "p99_ms", $7}
                            /connections, most seen/ {print "pg_connections", $NF}
                            /while they connected/ {v = $12; sub(/\(/, "", v); print "connect_us_per_agent", v
                                                     v = $(NF-3); sub(/\(/, "", v); print "connect_kib_per_agent", v}
                            /allocator RSS peak/ {print "peak_rss_kib", $5}
                            /^verdict:/ {print "verdict", ($2 == "every" ? 1 : 0)}' ;;
        scaleout) awk '/claims\/s, latency/ {n++; print "claims/s_" n "_allocators", $2}
                       /^verdict:/ {ok += ($2 == "no"); v++} END {print "verdict", (ok == v && v == 2 ? 1 : 0)}' ;;
        startup|startup-320) awk '/^startup: median/ {print "median_ms", $3; print "max_ms", $8 + 0}
                      /last run.s log: ready in/ {print "after_main_ms", $7}
                      /^verdict:/ {print "verdict", ($2 == "every" ? 1 : 0)}' ;;
        export) awk '/throughput/ {print "MB/s", $3}
                     /peak RSS/ {print "peak_rss_mib", $(NF-2)}
                     /CPU/ {gsub(/\(/, "", $6); print "cpu_ms_per_100MB", $6}
                     /complete:/ {print "complete", ($NF == "yes" ? 1 : 0)}' ;;
    esac
}

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${scenarios[@]}"; do
    : >"$out/$s.figures"
    for r in $(seq 1 "$runs"); do
        run_one "$s" >"$out/$s.$r.txt" 2>&1
        figures "$s" <"$out/$s.$r.txt" | sed "s/^/$r /" >>"$out/$s.figures"
    done
    echo "== $s ($runs runs; raw output in $out/$s.N.txt; load after: $(cut -d" " -f1-3 /proc/loadavg))"
    # names are single words; echo joins the values on one line
    # shellcheck disable=SC2013,SC2116,SC2086
    for name in $(awk '{print $2}' "$out/$s.figures" | awk '!seen[$0]++'); do
        values=$(awk -v n="$name" '$2 == n {print $3}' "$out/$s.figures")
        printf '  %-18s %-40s median %s\n' "$name" "$(echo $values)" "$(median <<<"$values")"
    done
done
