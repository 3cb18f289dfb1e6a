/*  lablink-bench <scenario> [options]: see bench/bench.h. Every scenario
    prints what it measured and exits non-zero when a check failed. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

typedef struct {
    const char *name;  //  scenario name on the command line
    ll_bench_fn *fn;   //  its entry point
    const char *help;  //  one line
} s_scenario_t;

static const s_scenario_t s_scenarios[] = {
    {"claims", ll_bench_claims,
     "M free VMs, C concurrent HTTP clients claiming; claims/s, p50/p99, "
     "double bookings; GET /api/health rate"},
    {"burst", ll_bench_burst,
     "N barrier-synchronised claims; prints one outcome per claim"},
    {"deliver", ll_bench_deliver,
     "N agents over ZeroMQ and M over HTTP waiting; claim-to-agent "
     "latency; allocator's PostgreSQL connections"},
    {"export", ll_bench_export,
     "N local sshd VMs x F files of S bytes through GET /api/scp-client; "
     "MB/s and the allocator's peak RSS"},
    {"logs", ll_bench_logs,
     "16 senders, 500-line batches of 100-byte lines: lines/s, stored == "
     "acknowledged, RSS"},
    {"logs-read", ll_bench_logs_read,
     "newest 1,000 lines of a VM holding 1,000,000 lines: read time"},
    {"telemetry", ll_bench_telemetry,
     "10,000 simulated agents at 1 Hz: sustained rate and p99 latency"},
    {"startup", ll_bench_startup,
     "exec the allocator N times: time to the first 200 on /api/health"},
};

int
main (int argc, char **argv)
{
    size_t count = sizeof s_scenarios / sizeof s_scenarios[0];
    if (argc >= 2)
        for (size_t i = 0; i < count; i++)
            if (strcmp (argv[1], s_scenarios[i].name) == 0)
                return s_scenarios[i].fn (argc - 1, argv + 1);
    fprintf (stderr, "usage: lablink-bench <scenario> [options]\n");
    for (size_t i = 0; i < count; i++)
        fprintf (stderr, "  %-10s %s\n", s_scenarios[i].name,
                 s_scenarios[i].help);
    return 2;
}
