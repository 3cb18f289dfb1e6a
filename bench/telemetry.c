/*  lablink-bench telemetry: A simulated agents (--agents 10000), each
    posting a heartbeat once a second (--hz 1) over C keep-alive connections
    (--conns 32, each serving A/C agents on an even schedule). Latency is
    measured from each heartbeat's scheduled time (so a server that falls
    behind is charged for the wait, not hidden). Reports the sustained rate,
    p50/p99/max latency and failures. The agents' VMs are created first
    (bench-agent-<n>, POST /api/vm-status with their own tokens). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/tbench.h"
#include "runtime/token.h"

typedef struct {
    ll_tbench_opts_t *opts;  //  common options
    int first, count;        //  agents first .. first+count-1
    int agents;              //  all agents (for names)
    double hz;               //  reports per agent per second
    int64_t start_us;        //  schedule origin
    int64_t until_us;        //  end of the measured phase
    const char *secret;      //  server secret (tokens)
    bool create;             //  create the VMs instead of measuring
    double *lat_ms;          //  latencies
    size_t nlat, caplat;     //  used, allocated
    long failures;           //  not 200
} s_conn_t;

static void *
s_run (void *arg)
{
    s_conn_t *self = arg;
    ll_tbench_conn_t conn = {
        .host = self->opts->host, .port = self->opts->port, .fd = -1};
    char (*tokens)[LL_TOKEN_MAX] = calloc ((size_t) self->count, LL_TOKEN_MAX);
    for (int i = 0; i < self->count; i++) {
        char host[64];
        snprintf (host, sizeof host, "bench-agent-%d", self->first + i);
        ll_token_derive (self->secret, host, tokens[i], LL_TOKEN_MAX);
    }
    char body[256];
    if (self->create) {
        for (int i = 0; i < self->count; i++) {
            int n = snprintf (body, sizeof body,
                              "{\"hostname\":\"bench-agent-%d\",\"status\":"
                              "\"running\"}",
                              self->first + i);
            if (ll_tbench_request (&conn, "POST", "/api/vm-status", tokens[i],
                                   body, (size_t) n)
                != 200)
                self->failures++;
        }
    }
    else {
        //  Agent i of this connection reports at start + k/hz + i/(count*hz)
        double period_us = 1e6 / self->hz;
        for (long k = 0;; k++) {
            for (int i = 0; i < self->count; i++) {
                int64_t due = self->start_us
                              + (int64_t) ((double) k * period_us)
                              + (int64_t) (period_us * i / self->count);
                if (due >= self->until_us)
                    goto done;
                int64_t now = ll_tbench_now_us ();
                if (due > now)
                    usleep ((useconds_t) (due - now));
                int n = snprintf (
                    body, sizeof body,
                    "{\"vm_id\":\"bench-agent-%d\",\"boot_id\":\"bench\","
                    "\"timestamp\":\"2026-01-01T00:00:00Z\",\"crd_active\":"
                    "false,\"disk_free_pct\":50}",
                    self->first + i);
                int status = ll_tbench_request (&conn, "POST", "/api/heartbeat",
                                                tokens[i], body, (size_t) n);
                double ms = (double) (ll_tbench_now_us () - due) / 1000.0;
                if (status != 200)
                    self->failures++;
                if (self->nlat == self->caplat) {
                    self->caplat = self->caplat ? self->caplat * 2 : 4096;
                    self->lat_ms =
                        realloc (self->lat_ms, self->caplat * sizeof (double));
                }
                self->lat_ms[self->nlat++] = ms;
            }
        }
    }
done:
    ll_tbench_close (&conn);
    ll_textbuf_free (&conn.in);
    free (tokens);
    return NULL;
}

static void
s_run_all (s_conn_t *c, int conns)
{
    pthread_t *threads = calloc ((size_t) conns, sizeof *threads);
    for (int i = 0; i < conns; i++)
        pthread_create (&threads[i], NULL, s_run, &c[i]);
    for (int i = 0; i < conns; i++)
        pthread_join (threads[i], NULL);
    free (threads);
}

static int
s_telemetry (ll_tbench_opts_t *opts)
{
    int agents = (int) ll_tbench_opt (opts, "--agents", 10000);
    int conns = (int) ll_tbench_opt (opts, "--conns", 32);
    double hz = (double) ll_tbench_opt (opts, "--hz", 1);
    if (agents < conns)
        conns = agents;
    ll_config_t *config = NULL;
    ll_db_t *db = ll_tbench_db (opts, &config);
    char *secret = db ? ll_tbench_secret (opts, db) : NULL;
    ll_db_destroy (&db);
    if (!secret) {
        fprintf (stderr, "lablink-bench: cannot read the server secret\n");
        return 1;
    }
    s_conn_t *c = calloc ((size_t) conns, sizeof *c);
    int per = agents / conns, extra = agents % conns, first = 0;
    for (int i = 0; i < conns; i++) {
        c[i] = (s_conn_t){.opts = opts,
                          .first = first,
                          .count = per + (i < extra),
                          .agents = agents,
                          .hz = hz,
                          .secret = secret,
                          .create = true};
        first += c[i].count;
    }
    int64_t t0 = ll_tbench_now_us ();
    s_run_all (c, conns);
    long failures = 0;
    for (int i = 0; i < conns; i++)
        failures += c[i].failures;
    printf ("telemetry: created %d VMs in %.1f s (%ld failures)\n", agents,
            (double) (ll_tbench_now_us () - t0) / 1e6, failures);

    int64_t start = ll_tbench_now_us () + 200000;
    for (int i = 0; i < conns; i++) {
        c[i].create = false;
        c[i].failures = 0;
        c[i].start_us = start;
        c[i].until_us = start + (int64_t) opts->seconds * 1000000;
    }
    s_run_all (c, conns);
    size_t n = 0;
    failures = 0;
    for (int i = 0; i < conns; i++) {
        n += c[i].nlat;
        failures += c[i].failures;
    }
    double *all = malloc ((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy (all + k, c[i].lat_ms, c[i].nlat * sizeof *all);
        k += c[i].nlat;
        free (c[i].lat_ms);
    }
    ll_tbench_sort (all, n);
    double elapsed = (double) (ll_tbench_now_us () - start) / 1e6;
    double p99 = ll_tbench_percentile (all, n, 99);
    printf ("telemetry: %d agents at %.0f Hz over %d connections for %d s: "
            "%zu heartbeats, %.0f/s (target %.0f/s), %ld failures\n",
            agents, hz, conns, opts->seconds, n, (double) n / elapsed,
            agents * hz, failures);
    printf ("telemetry: latency from schedule: p50 %.2f ms, p99 %.2f ms, "
            "max %.2f ms\n",
            ll_tbench_percentile (all, n, 50), p99, n ? all[n - 1] : 0.0);
    long rss = 0, peak = 0;
    ll_tbench_rss (opts->pid, &rss, &peak);
    if (opts->pid)
        printf ("telemetry: allocator RSS %ld KiB, peak %ld KiB\n", rss, peak);
    free (all);
    free (c);
    free (secret);
    ll_config_destroy (&config);
    return failures == 0 && p99 < 50.0 ? 0 : 1;
}

int
ll_bench_telemetry (int argc, char **argv)
{
    ll_tbench_opts_t opts;
    ll_tbench_parse (argc, argv, &opts);
    int rc = s_telemetry (&opts);
    free (opts.argv);
    return rc;
}
