#!/usr/bin/env bash
# bench/run.sh BUILD_DIR SCENARIO [bench options...]
# Runs one claim-area benchmark the way docs/performance.md reports it: a
# throwaway PostgreSQL with fsync ON, one allocator (release build) with a
# benchmark config (no rate limits; room for 200+ parked HTTP agents; the
# ZeroMQ gateway on), then lablink-bench SCENARIO against them.
#   bench/run.sh build claims --vms 5000 --clients 64
#   bench/run.sh build deliver --zmq-agents 1000 --http-agents 200
#   LL_BENCH_HTTP_THREADS=2400 LL_BENCH_MAX_PARKED=2050 \
#   LL_BENCH_MAX_ZMQ_AGENTS=10000 bench/run.sh build deliver \
#       --zmq-agents 10000 --http-agents 2000 --procs 4 --ready-timeout 300
#     (2,000 parked need 2,400 workers: an eighth stay free for claims and
#     health, and the streams' 16; with 2,100 the cap was lowered to 1,822)
#   bench/run.sh build logs --seconds 10
#   bench/run.sh build logs-read --lines 1000000 --reads 50
#   bench/run.sh build telemetry --seconds 10
#   bench/run.sh build startup --runs 5     (64 workers, the default)
#   LL_BENCH_HTTP_THREADS=320 bench/run.sh build startup --runs 5
#   bench/run.sh build scaleout --vms 3000 --clients 64 --health-seconds 0
# PostgreSQL asks for the password with scram-sha-256 (as in production;
# LL_PG_AUTH=trust to compare).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?build dir}" && pwd)
scenario=${2:?scenario}
shift 2
. "$src/tests/harness/pg.sh"
T=$(mktemp -d /tmp/lablink-bench.XXXXXX)
chmod 755 "$T"
alloc="" alloc2="" caddy1="" caddy2=""
cleanup() {
    for p in $caddy1 $caddy2 $alloc2; do kill -TERM "$p" 2>/dev/null || true; done
    [ -n "$alloc" ] && kill -TERM "$alloc" 2>/dev/null && wait "$alloc" 2>/dev/null || true
    ll_pg_stop "$T/pg" immediate
    rm -rf "$T"
}
trap cleanup EXIT
pgport=$(ll_free_port)
LL_PG_FSYNC=on ll_pg_init "$T/pg" "$pgport"
if [ "${LL_PG_AUTH:-scram}" = scram ]; then
    sed -i 's/^\(host .*\) trust$/\1 scram-sha-256/' "$T/pg/data/pg_hba.conf"
    ll_pg_as "$LL_PGBIN/pg_ctl" -D "$T/pg/data" reload >/dev/null
fi
port=$(ll_free_port)
zport=$(ll_free_port)
key=$("$build/lablink-allocator" --zmq-keygen "$T/gateway.cert")
cat >"$T/config.yaml" <<YAML
db:
  host: 127.0.0.1
  port: $pgport
app:
  admin_password: bench-admin-password
  listen: 127.0.0.1:$port
  http_threads: ${LL_BENCH_HTTP_THREADS:-320}
  log_level: ${LL_BENCH_LOG_LEVEL:-warn}
agent:
  zmq_endpoint: tcp://127.0.0.1:$zport
  zmq_secret_key_file: $T/gateway.cert_secret
  max_parked: ${LL_BENCH_MAX_PARKED:-260}
  max_zmq_agents: ${LL_BENCH_MAX_ZMQ_AGENTS:-2000}
claim:
  email_per_minute: 0
  address_per_minute: 0
provider:
  kind: local
logs:
  retain_lines: 2000000
YAML
if [ "$scenario" = startup ]; then
    # the bench starts the allocator itself, RUNS times; its log says how
    # long each step took (LL_STARTUP_LOG=debug: each actor too). Workers:
    # the shipped default (64) unless LL_BENCH_HTTP_THREADS says otherwise
    # (civetweb makes every worker thread before it listens)
    sed -i "s/^  log_level: .*/  log_level: ${LL_STARTUP_LOG:-info}/; s/^  http_threads: .*/  http_threads: ${LL_BENCH_HTTP_THREADS:-64}/" "$T/config.yaml"
    echo "startup: app.http_threads $(sed -n 's/^  http_threads: //p' "$T/config.yaml"), PostgreSQL auth ${LL_PG_AUTH:-scram}"
    "$build/lablink-bench" startup --allocator "$build/lablink-allocator" \
        --config "$T/config.yaml" --log "${LL_BENCH_LOG:-$T/allocator.log}" "$@"
    exit
fi
# scaleout [claims options]: the claims scenario through the shipped Caddy
# snippet, first with one allocator behind it, then with two on the same
# PostgreSQL (a second allocator, second Caddy), in the same run; prints
# each phase's claims/s and the CPU each process took in it
scaleout() {
    local port2 c1 c2 phase url
    port2=$(ll_free_port)
    sed "s/^  listen: .*/  listen: 127.0.0.1:$port2/; s/^  zmq_endpoint: .*/  zmq_endpoint: ''/" \
        "$T/config.yaml" >"$T/config2.yaml"
    "$build/lablink-allocator" --config "$T/config2.yaml" >"$T/allocator2.log" 2>&1 &
    alloc2=$!
    c1=$(ll_free_port)
    c2=$(ll_free_port)
    for phase in 1 2; do
        mkdir -p "$T/caddy$phase"
        eval "url=http://127.0.0.1:\$c$phase"
        cat >"$T/caddy$phase/Caddyfile" <<CADDY
{
	admin off
	storage file_system $T/caddy$phase/data
}
import $src/packaging/caddy/lablink.caddy
$url {
	import lablink_proxy
}
CADDY
        if [ $phase = 1 ]; then upstreams=127.0.0.1:$port; else upstreams="127.0.0.1:$port 127.0.0.1:$port2"; fi
        HOME=$T/caddy$phase XDG_DATA_HOME=$T/caddy$phase XDG_CONFIG_HOME=$T/caddy$phase \
            LABLINK_UPSTREAM="$upstreams" caddy run --config "$T/caddy$phase/Caddyfile" \
            --adapter caddyfile </dev/null >"$T/caddy$phase.log" 2>&1 &
        eval "caddy$phase=\$!"
    done
    for u in "http://127.0.0.1:$port2" "http://127.0.0.1:$c1" "http://127.0.0.1:$c2"; do
        for _ in $(seq 1 100); do
            curl -s -o /dev/null "$u/api/health" && break
            sleep 0.1
        done
    done
    # CPU ticks of a process, and of the cluster's postgres processes
    ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
    pgticks() {
        local t=0 p pm
        pm=$(head -n1 "$T/pg/data/postmaster.pid")
        for p in $pm $(pgrep -P "$pm"); do t=$((t + $(ticks "$p"))); done
        echo $t
    }
    for phase in 1 2; do
        local caddy a0 b0 c0 p0
        eval "caddy=\$caddy$phase"
        eval "url=http://127.0.0.1:\$c$phase"
        a0=$(ticks "$alloc"); b0=$(ticks "$alloc2"); c0=$(ticks "$caddy"); p0=$(pgticks)
        echo "scaleout: $phase allocator(s) behind caddy ($url)"
        "$build/lablink-bench" claims --url "$url" --config "$T/config.yaml" \
            --prefix "scale$phase" "$@"
        echo "scaleout: $phase allocator(s): CPU ticks ($(getconf CLK_TCK)/s): allocator a $(($(ticks "$alloc") - a0)), allocator b $(($(ticks "$alloc2") - b0)), caddy $(($(ticks "$caddy") - c0)), postgres $(($(pgticks) - p0))"
    done
    kill "$caddy1" "$caddy2" 2>/dev/null || true
    kill -TERM "$alloc2" 2>/dev/null && wait "$alloc2" 2>/dev/null || true
}
"$build/lablink-allocator" --config "$T/config.yaml" >"${LL_BENCH_LOG:-$T/allocator.log}" 2>&1 &
alloc=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/api/health" && break
    sleep 0.1
done
case "$scenario" in
    deliver)
        "$build/lablink-bench" deliver --url "http://127.0.0.1:$port" \
            --zmq-endpoint "tcp://127.0.0.1:$zport" --server-key "$key" \
            --config "$T/config.yaml" --pid "$alloc" "$@" ;;
    logs|telemetry)
        "$build/lablink-bench" "$scenario" --url "http://127.0.0.1:$port" \
            --config "$T/config.yaml" --pid "$alloc" "$@" ;;
    scaleout)
        scaleout "$@" ;;
    *)
        "$build/lablink-bench" "$scenario" --url "http://127.0.0.1:$port" \
            --config "$T/config.yaml" "$@" ;;
esac
