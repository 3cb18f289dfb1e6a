#include "bench/bench.h"
#include "runtime/config.h"
#include "runtime/msg.h"
#include "runtime/textbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LL_BENCH_BODY_MAX (64 * 1024)

ll_db_t *
ll_bench_db (const char *config_path, ll_config_t **config_p)
{
    char error[512];
    ll_config_t *config = NULL;
    if (config_path) {
        config = ll_config_load (config_path, error, sizeof error);
        if (!config)
            fprintf (stderr, "lablink-bench: %s\n", error);
    }
    else {
        config = ll_config_new_defaults ();
        if (config)
            ll_config_apply_env (config);
    }
    if (!config)
        return NULL;
    ll_db_t *db = ll_db_new (config, NULL, "bench");
    if (!db || ll_db_connect (db) != 0) {
        fprintf (stderr, "lablink-bench: cannot connect to postgresql: %s\n",
                 db ? ll_db_error (db) : "embedded SQL");
        ll_db_destroy (&db);
        ll_config_destroy (&config);
        return NULL;
    }
    *config_p = config;
    return db;
}

ll_db_t *
ll_bench_seeded (int argc,
                 char **argv,
                 const char *prefix,
                 long count,
                 ll_config_t **config_p)
{
    ll_config_t *config = NULL;
    ll_db_t *db =
        ll_bench_db (ll_bench_opt (argc, argv, "--config", NULL), &config);
    if (!db)
        return NULL;
    char text[24];
    snprintf (text, sizeof text, "%ld", count);
    const char *seed[] = {prefix, text};
    PGresult *res = ll_db_exec (db, "bench_clear", 1, seed);
    PQclear (res);
    res = res ? ll_db_exec (db, "bench_seed", 2, seed) : NULL;
    if (!res) {
        fprintf (stderr,
                 "lablink-bench: cannot seed the VMs (is the allocator "
                 "running on this database?): %s\n",
                 ll_db_error (db));
        ll_db_destroy (&db);
        ll_config_destroy (&config);
        return NULL;
    }
    PQclear (res);
    *config_p = config;
    return db;
}

int64_t
ll_bench_now_us (void)
{
    return ll_now_us ();
}

void
ll_bench_usage (long pid, long *peak_kib, long *rss_kib, double *cpu_ms)
{
    char path[64], text[1024];
    long peak = 0, rss = 0;
    snprintf (path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = pid > 0 ? fopen (path, "r") : NULL;
    while (f && fgets (text, sizeof text, f)) {
        if (strncmp (text, "VmHWM:", 6) == 0)
            peak = strtol (text + 6, NULL, 10);
        else if (strncmp (text, "VmRSS:", 6) == 0)
            rss = strtol (text + 6, NULL, 10);
    }
    if (f)
        fclose (f);
    snprintf (path, sizeof path, "/proc/%ld/stat", pid);
    f = pid > 0 ? fopen (path, "r") : NULL;
    size_t n = f ? fread (text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose (f);
    text[n] = '\0';
    //  utime and stime: fields 14 and 15, after the ")" of the name (which
    //  may hold spaces)
    const char *at = strrchr (text, ')');
    unsigned long long utime = 0, stime = 0;
    if (!at
        || sscanf (at + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &utime, &stime)
               != 2)
        utime = stime = 0;
    if (peak_kib)
        *peak_kib = peak;
    if (rss_kib)
        *rss_kib = rss;
    if (cpu_ms)
        *cpu_ms =
            (double) (utime + stime) * 1000.0 / (double) sysconf (_SC_CLK_TCK);
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

double
ll_bench_percentile (int64_t *values, size_t count, double p)
{
    if (count == 0)
        return 0;
    qsort (values, count, sizeof *values, s_compare);
    size_t i = (size_t) ((p / 100.0) * (double) (count - 1) + 0.5);
    return (double) values[i < count ? i : count - 1];
}

const char *
ll_bench_p50_p99 (char *text, size_t size, int64_t *values, size_t count)
{
    snprintf (text, size, "p50 %.2f ms, p99 %.2f ms",
              ll_bench_percentile (values, count, 50) / 1000.0,
              ll_bench_percentile (values, count, 99) / 1000.0);
    return text;
}

static size_t
s_write (char *data, size_t size, size_t nmemb, void *arg)
{
    ll_bench_response_t *out = arg;
    size_t n = size * nmemb;
    if (out->len + n > LL_BENCH_BODY_MAX)
        return 0;
    out->body = realloc (out->body, out->len + n + 1);
    memcpy (out->body + out->len, data, n);
    out->len += n;
    out->body[out->len] = '\0';
    return n;
}

int
ll_bench_request (CURL *curl,
                  const char *url,
                  const char *body,
                  struct curl_slist *headers,
                  long timeout_ms,
                  ll_bench_response_t *out)
{
    memset (out, 0, sizeof *out);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
    }
    else
        curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
    CURLcode rc = curl_easy_perform (curl);
    if (rc != CURLE_OK)
        return -1;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body)
        out->body = calloc (1, 1);
    return 0;
}

void
ll_bench_response_clear (ll_bench_response_t *self)
{
    free (self->body);
    memset (self, 0, sizeof *self);
}

const char *
ll_bench_opt (int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp (argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

long
ll_bench_opt_long (int argc, char **argv, const char *name, long dflt)
{
    const char *v = ll_bench_opt (argc, argv, name, NULL);
    return v ? strtol (v, NULL, 10) : dflt;
}

int
ll_bench_tokens (ll_db_t *db,
                 const char *const *hosts,
                 size_t n,
                 char (*tokens)[LL_TOKEN_MAX])
{
    ll_textbuf_t names = {0}, hashes = {0};
    ll_pgarray_begin (&names);
    ll_pgarray_begin (&hashes);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char hash[LL_TOKEN_HASH_HEX];
        rc = ll_token_mint (hosts[i], tokens[i], LL_TOKEN_MAX);
        ll_token_hash (tokens[i], hash);
        ll_pgarray_add (&names, hosts[i]);
        ll_pgarray_add (&hashes, hash);
    }
    ll_pgarray_end (&names);
    ll_pgarray_end (&hashes);
    const char *values[] = {names.data, hashes.data};
    PGresult *res = rc == 0 ? ll_db_exec (db, "bench_tokens", 2, values) : NULL;
    if (!res) {
        fprintf (stderr, "lablink-bench: cannot register the agents: %s\n",
                 rc == 0 ? ll_db_error (db) : "not a VM name");
        rc = -1;
    }
    PQclear (res);
    ll_textbuf_free (&names);
    ll_textbuf_free (&hashes);
    return rc;
}
