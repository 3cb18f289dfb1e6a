/*  The agent's GPU health probe against a real nvidia-smi. Built and run
    by tests/device/run.sh on a machine with an NVIDIA GPU (never in CI:
    CI has no GPU; tests/unit/test_agent_probe.c covers the same cases with
    stand-in scripts printing output captured on such a machine).

    Usage: gpu_probe_check SCRATCH_DIR. Prints one line per case and exits
    non-zero when any probe answer differs from what the case expects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/probe.h"
#include "agent/stop.h"
#include "runtime/clock.h"

static int s_failures;

//  Run the probe once, print its answer and time, compare with expected.
static void
s_case (const char *name,
        const char *program,
        int timeout_ms,
        const char *expected,
        int64_t max_ms)
{
    int64_t started = ll_now_ms ();
    const char *answer = agent_gpu_probe (program, timeout_ms, NULL);
    int64_t took = ll_now_ms () - started;
    bool ok = strcmp (answer, expected) == 0 && took <= max_ms;
    if (!ok)
        s_failures++;
    printf ("%-4s %-34s answer=%-9s expected=%-9s %5lld ms (limit %lld)\n",
            ok ? "ok" : "FAIL", name, answer, expected, (long long) took,
            (long long) max_ms);
}

//  Write an executable shell script holding body.
static void
s_script (const char *path, const char *body)
{
    FILE *file = fopen (path, "w");
    if (!file) {
        perror (path);
        exit (2);
    }
    fprintf (file, "#!/bin/sh\n%s\n", body);
    fclose (file);
    chmod (path, 0755);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char bad_field[512], hang[512];
    snprintf (bad_field, sizeof bad_field, "%s/nvidia-smi-bad-field", argv[1]);
    snprintf (hang, sizeof hang, "%s/nvidia-smi-hang", argv[1]);
    //  The real binary with a query it refuses (exit 2): a failing nvidia-smi
    s_script (bad_field,
              "exec nvidia-smi --query-gpu=bogus.field --format=csv");
    //  A wedged driver: nvidia-smi blocks; the agent's timeout must kill it
    s_script (hang, "nvidia-smi -L >/dev/null; exec sleep 60");

    //  The agent's default: "nvidia-smi" on PATH, 10 s timeout
    s_case ("real nvidia-smi on PATH", "nvidia-smi", 10000, AGENT_GPU_HEALTHY,
            10000);
    s_case ("real nvidia-smi, second run", "nvidia-smi", 10000,
            AGENT_GPU_HEALTHY, 10000);
    s_case ("real nvidia-smi, bad query", bad_field, 10000, AGENT_GPU_UNHEALTHY,
            10000);
    s_case ("nvidia-smi hangs, 2 s timeout", hang, 2000, AGENT_GPU_UNHEALTHY,
            3500);
    s_case ("no nvidia-smi installed", "/nonexistent/nvidia-smi", 10000,
            AGENT_GPU_NONE, 1000);
    s_case ("probing disabled (empty)", "", 10000, AGENT_GPU_NONE, 10);
    printf ("%d failure(s)\n", s_failures);
    return s_failures ? 1 : 0;
}
