/*  lablink-bench logs: S senders (default 16), each its own VM, posting
    batches of B lines (500) of L bytes (100) as fast as acknowledged for
    the duration. Reports acknowledged lines/s, stored == acknowledged
    (counted in PostgreSQL: needs logs.retain_lines above the lines one VM
    receives), and the allocator's RSS (--pid).

    lablink-bench logs-read: the newest 1,000 lines of a VM holding N lines
    (--lines, 1,000,000; needs logs.retain_lines >= N): filled once, then
    GET /api/vm-logs/<vm>?lines=1000 timed R times (--reads 50). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/tbench.h"
#include "runtime/token.h"

typedef struct {
    ll_tbench_opts_t *opts;  //  common options
    char host[64];           //  the VM this sender posts for
    char token[LL_TOKEN_MAX];
    int batch;         //  lines per post
    int line_bytes;    //  bytes per line
    int64_t until_us;  //  stop time
    long posts;        //  to send at most (0 = until the time is up)
    long acked_lines;  //  acknowledged lines
    long failures;     //  posts not acknowledged
} s_sender_t;

static int
s_make_vm (ll_tbench_opts_t *opts, const char *host, const char *token)
{
    ll_tbench_conn_t conn = {.host = opts->host, .port = opts->port, .fd = -1};
    char body[256];
    int n = snprintf (body, sizeof body,
                      "{\"hostname\":\"%s\",\"status\":\"running\"}", host);
    int status = ll_tbench_request (&conn, "POST", "/api/vm-status", token,
                                    body, (size_t) n);
    ll_tbench_close (&conn);
    ll_textbuf_free (&conn.in);
    return status == 200 ? 0 : -1;
}

static void *
s_sender (void *arg)
{
    s_sender_t *self = arg;
    ll_tbench_conn_t conn = {
        .host = self->opts->host, .port = self->opts->port, .fd = -1};
    ll_textbuf_t body = {0};
    long seq = 0;
    for (long post = 0; self->posts == 0 || post < self->posts; post++) {
        if (self->posts == 0 && ll_bench_now_us () >= self->until_us)
            break;
        ll_textbuf_reset (&body);
        char head[256];
        snprintf (head, sizeof head,
                  "{\"log_group\":\"bench\",\"log_stream\":\"%s\","
                  "\"messages\":[",
                  self->host);
        ll_textbuf_puts (&body, head);
        for (int i = 0; i < self->batch; i++) {
            char prefix[64];
            int n = snprintf (prefix, sizeof prefix, "%s\"%ld %d ",
                              i ? "," : "", seq, i);
            ll_textbuf_append (&body, prefix, (size_t) n);
            for (int k = n - (i ? 2 : 1); k < self->line_bytes; k++)
                ll_textbuf_putc (&body, 'x');
            ll_textbuf_putc (&body, '"');
        }
        ll_textbuf_puts (&body, "]}");
        seq++;
        int status = ll_tbench_request (&conn, "POST", "/api/vm-logs",
                                        self->token, body.data, body.len);
        if (status == 200)
            self->acked_lines += self->batch;
        else {
            self->failures++;
            if (self->posts)
                post--;  //  retry until stored
        }
    }
    ll_tbench_close (&conn);
    ll_textbuf_free (&conn.in);
    ll_textbuf_free (&body);
    return NULL;
}

static long
s_stored (ll_db_t *db, const char *prefix)
{
    const char *values[] = {prefix};
    PGresult *res = ll_db_exec (db, "vm_logs_count", 1, values);
    long n = res ? strtol (PQgetvalue (res, 0, 0), NULL, 10) : -1;
    PQclear (res);
    return n;
}

static int
s_logs (ll_tbench_opts_t *opts)
{
    int senders = (int) ll_tbench_opt (opts, "--senders", 16);
    int batch = (int) ll_tbench_opt (opts, "--batch", 500);
    int line_bytes = (int) ll_tbench_opt (opts, "--line-bytes", 100);
    ll_config_t *config = NULL;
    ll_db_t *db = ll_bench_db (opts->config, &config);
    if (!db)
        return 1;
    //  A fresh prefix per run: stored counts only this run's lines
    char prefix[40];
    snprintf (prefix, sizeof prefix, "bench-log-%lld-",
              (long long) (ll_bench_now_us () % 1000000000));
    s_sender_t *s = calloc ((size_t) senders, sizeof *s);
    pthread_t *threads = calloc ((size_t) senders, sizeof *threads);
    const char **hosts = calloc ((size_t) senders, sizeof *hosts);
    char (*tokens)[LL_TOKEN_MAX] = calloc ((size_t) senders, LL_TOKEN_MAX);
    for (int i = 0; i < senders; i++) {
        snprintf (s[i].host, sizeof s[i].host, "%s%d", prefix, i);
        hosts[i] = s[i].host;
    }
    int registered = ll_bench_tokens (db, hosts, (size_t) senders, tokens);
    for (int i = 0; i < senders && registered == 0; i++)
        snprintf (s[i].token, sizeof s[i].token, "%s", tokens[i]);
    free (hosts);
    free (tokens);
    if (registered != 0)
        return 1;
    for (int i = 0; i < senders; i++) {
        s[i].opts = opts;
        s[i].batch = batch;
        s[i].line_bytes = line_bytes;
        if (s_make_vm (opts, s[i].host, s[i].token) != 0) {
            fprintf (stderr, "lablink-bench: cannot create %s\n", s[i].host);
            return 1;
        }
    }
    int64_t t0 = ll_bench_now_us ();
    for (int i = 0; i < senders; i++) {
        s[i].until_us = t0 + (int64_t) opts->seconds * 1000000;
        pthread_create (&threads[i], NULL, s_sender, &s[i]);
    }
    long peak_rss = 0;
    for (int i = 0; i < senders; i++)
        pthread_join (threads[i], NULL);
    double elapsed = (double) (ll_bench_now_us () - t0) / 1e6;
    long acked = 0, failures = 0;
    for (int i = 0; i < senders; i++) {
        acked += s[i].acked_lines;
        failures += s[i].failures;
    }
    long rss = 0;
    ll_bench_usage (opts->pid, &peak_rss, &rss, NULL);
    long stored = s_stored (db, prefix);
    double rate = (double) acked / elapsed;
    printf ("logs: %d senders x %d-line batches of %d-byte lines, %.1f s\n",
            senders, batch, line_bytes, elapsed);
    printf ("logs: acknowledged %ld lines (%.0f lines/s), %ld posts refused\n",
            acked, rate, failures);
    printf ("logs: stored %ld lines: %s\n", stored,
            stored == acked ? "stored == acknowledged" : "MISMATCH");
    if (opts->pid)
        printf ("logs: allocator RSS %ld KiB, peak %ld KiB\n", rss, peak_rss);
    free (s);
    free (threads);
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    return stored == acked ? 0 : 1;
}

static int
s_logs_read (ll_tbench_opts_t *opts)
{
    long lines = ll_tbench_opt (opts, "--lines", 1000000);
    int reads = (int) ll_tbench_opt (opts, "--reads", 50);
    ll_config_t *config = NULL;
    ll_db_t *db = ll_bench_db (opts->config, &config);
    char host[64];
    snprintf (host, sizeof host, "bench-read-%ld", lines);
    const char *hosts[] = {host};
    char token[1][LL_TOKEN_MAX];
    if (!db || ll_bench_tokens (db, hosts, 1, token) != 0)
        return 1;
    s_make_vm (opts, host, token[0]);
    long have = s_stored (db, host);
    if (have < lines) {
        //  Fill with 4 senders of 5,000-line batches
        int senders = 4, batch = 5000;
        long posts = (lines - have + (long) senders * batch - 1)
                     / ((long) senders * batch);
        s_sender_t s[4];
        pthread_t threads[4];
        int64_t t0 = ll_bench_now_us ();
        for (int i = 0; i < senders; i++) {
            s[i] = (s_sender_t){.opts = opts,
                                .batch = batch,
                                .line_bytes = 100,
                                .posts = posts};
            snprintf (s[i].host, sizeof s[i].host, "%s", host);
            snprintf (s[i].token, sizeof s[i].token, "%s", token[0]);
            pthread_create (&threads[i], NULL, s_sender, &s[i]);
        }
        for (int i = 0; i < senders; i++)
            pthread_join (threads[i], NULL);
        have = s_stored (db, host);
        printf ("logs-read: filled %s to %ld lines in %.1f s\n", host, have,
                (double) (ll_bench_now_us () - t0) / 1e6);
    }
    ll_tbench_conn_t conn = {.host = opts->host, .port = opts->port, .fd = -1};
    char path[128];
    snprintf (path, sizeof path, "/api/vm-logs/%s?lines=1000", host);
    double *ms = calloc ((size_t) reads, sizeof *ms);
    int ok = 0;
    for (int i = 0; i < reads; i++) {
        int64_t t = ll_bench_now_us ();
        int status = ll_tbench_request (&conn, "GET", path, token[0], NULL, 0);
        ms[i] = (double) (ll_bench_now_us () - t) / 1000.0;
        ok += status == 200 && strstr (conn.in.data, "\"last_id\"") != NULL;
    }
    ll_tbench_sort (ms, (size_t) reads);
    printf ("logs-read: %s holds %ld lines; newest 1,000 lines over HTTP: "
            "median %.2f ms, p99 %.2f ms, max %.2f ms (%d/%d ok)\n",
            host, have, ll_tbench_percentile (ms, (size_t) reads, 50),
            ll_tbench_percentile (ms, (size_t) reads, 99), ms[reads - 1], ok,
            reads);
    ll_tbench_close (&conn);
    ll_textbuf_free (&conn.in);
    free (ms);
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    return ok == reads ? 0 : 1;
}

int
ll_bench_logs (int argc, char **argv)
{
    return ll_tbench_run (argc, argv, s_logs);
}

int
ll_bench_logs_read (int argc, char **argv)
{
    return ll_tbench_run (argc, argv, s_logs_read);
}
