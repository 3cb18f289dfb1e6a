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
