/*  lablink-bench <scenario> [--url URL] [--config FILE] [--pid N]
                             [--seconds N] [scenario options]

    A load generator against a running allocator. Each scenario is one row
    of the table below and one file bench/<scenario>.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"

static const struct {
    const char *name;  //  scenario
    ll_bench_fn *fn;   //  runs it; 0 when its goal holds
    const char *what;  //  one line of help
} s_scenarios[] = {
    {"logs", ll_bench_logs,
     "16 senders, 500-line batches of 100-byte lines: lines/s, stored == "
     "acknowledged, RSS"},
    {"logs-read", ll_bench_logs_read,
     "newest 1,000 lines of a VM holding 1,000,000 lines: read time"},
    {"telemetry", ll_bench_telemetry,
     "10,000 simulated agents at 1 Hz: sustained rate and p99 latency"},
};
#define S_COUNT (sizeof s_scenarios / sizeof s_scenarios[0])

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lablink-bench <scenario> [--url URL] [--config FILE] "
                  "[--pid N] [--seconds N] [options]\nscenarios:\n");
    for (size_t i = 0; i < S_COUNT; i++)
        fprintf (out, "  %-10s %s\n", s_scenarios[i].name, s_scenarios[i].what);
}

int
main (int argc, char *argv[])
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    ll_bench_opts_t opts = {.host = "127.0.0.1",
                            .port = 5000,
                            .config = "config.yaml",
                            .seconds = 10};
    char **rest = calloc ((size_t) argc, sizeof *rest);
    int nrest = 0;
    char host[64];
    for (int i = 2; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp (argv[i], "--url") == 0 && next) {
            //  http://HOST:PORT
            const char *h =
                strstr (next, "://") ? strstr (next, "://") + 3 : next;
            const char *colon = strchr (h, ':');
            snprintf (host, sizeof host, "%.*s",
                      (int) (colon ? colon - h : (long) strlen (h)), h);
            opts.host = host;
            if (colon)
                opts.port = (int) strtol (colon + 1, NULL, 10);
            i++;
        }
        else if (strcmp (argv[i], "--config") == 0 && next) {
            opts.config = next;
            i++;
        }
        else if (strcmp (argv[i], "--pid") == 0 && next) {
            opts.pid = (int) strtol (next, NULL, 10);
            i++;
        }
        else if (strcmp (argv[i], "--seconds") == 0 && next) {
            opts.seconds = (int) strtol (next, NULL, 10);
            i++;
        }
        else
            rest[nrest++] = argv[i];
    }
    opts.argc = nrest;
    opts.argv = rest;
    for (size_t i = 0; i < S_COUNT; i++)
        if (strcmp (argv[1], s_scenarios[i].name) == 0) {
            int rc = s_scenarios[i].fn (&opts);
            free (rest);
            return rc;
        }
    free (rest);
    fprintf (stderr, "lablink-bench: unknown scenario %s\n", argv[1]);
    s_usage (stderr);
    return 2;
}
