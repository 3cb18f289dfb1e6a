/*  Scenarios "claims" and "burst": students claiming VMs over HTTP.

    lablink-bench claims --url URL [--vms 2000] [--clients 64]
                         [--prefix benchc] [--health-seconds 3]
                         [--config FILE]
    lablink-bench burst --url URL [--clients 200] [--email-prefix burst]

    claims seeds M free VMs named <prefix>-NNNNN in the database (config
    file or LABLINK_DB_* environment), lets C clients (keep-alive) claim
    until M claims were sent, reports claims/s and latency percentiles,
    verifies in the database that no VM and no student was booked twice,
    then measures GET /api/health with the same clients for comparison.
    burst starts C threads that meet at a barrier and then each send one
    claim; it prints one line per claim: "OK <hostname>", "NONE" or
    "HTTP <status>" (tests count them). */
#include "bench/bench.h"
#include "runtime/config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LL_HOST_MAX 64

typedef struct {
    const char *url;              //  base URL
    const char *prefix;           //  hostname prefix of the seeded VMs
    long total;                   //  claims to send
    long run;                     //  run id (distinct emails per run)
    atomic_long next;             //  next claim index
    int64_t *latency_us;          //  per claim
    char (*hosts)[LL_HOST_MAX];   //  hostname won, "" when none
    long *status;                 //  per claim HTTP status
    int64_t health_until;         //  end of the health phase (us)
    atomic_long health;           //  health requests answered 200
    pthread_barrier_t *barrier;   //  burst: start together
    pthread_mutex_t *print_lock;  //  burst: one line at a time
    const char *email_prefix;     //  burst: emails
} s_shared_t;

typedef struct {
    s_shared_t *shared;  //  the run
    CURL *curl;          //  this client's handle (keep-alive)
} s_client_t;

//  Pull "hostname":"..." out of a JSON answer.
static void
s_hostname (const char *body, char *out, size_t size)
{
    out[0] = '\0';
    const char *at = body ? strstr (body, "\"hostname\":\"") : NULL;
    if (!at)
        return;
    at += 12;
    size_t len = strcspn (at, "\"");
    if (len >= size)
        len = size - 1;
    memcpy (out, at, len);
    out[len] = '\0';
}

static void
s_claim (s_shared_t *shared,
         CURL *curl,
         const char *email_prefix,
         long i,
         char *host,
         size_t host_size,
         long *status,
         int64_t *latency)
{
    char url[512], body[256];
    snprintf (url, sizeof url, "%s/api/request_vm", shared->url);
    snprintf (body, sizeof body,
              "email=%s-%ld-%ld%%40example.com&crd_command=--code%%3D4%%2F"
              "bench%ld",
              email_prefix, shared->run, i, i);
    struct curl_slist *headers =
        curl_slist_append (NULL, "Accept: application/json");
    ll_bench_response_t res;
    int64_t t0 = ll_bench_now_us ();
    int rc = ll_bench_request (curl, url, body, headers, 30000, &res);
    *latency = ll_bench_now_us () - t0;
    *status = rc == 0 ? res.status : 0;
    host[0] = '\0';
    if (rc == 0 && res.status == 200)
        s_hostname (res.body, host, host_size);
    ll_bench_response_clear (&res);
    curl_slist_free_all (headers);
}

static void *
s_claims_client (void *arg)
{
    s_client_t *client = arg;
    s_shared_t *shared = client->shared;
    while (true) {
        long i = atomic_fetch_add (&shared->next, 1);
        if (i >= shared->total)
            break;
        s_claim (shared, client->curl, "bench", i, shared->hosts[i],
                 LL_HOST_MAX, &shared->status[i], &shared->latency_us[i]);
    }
    return NULL;
}

static void *
s_health_client (void *arg)
{
    s_client_t *client = arg;
    s_shared_t *shared = client->shared;
    char url[512];
    snprintf (url, sizeof url, "%s/api/health", shared->url);
    while (ll_bench_now_us () < shared->health_until) {
        ll_bench_response_t res;
        if (ll_bench_request (client->curl, url, NULL, NULL, 10000, &res) == 0
            && res.status == 200)
            atomic_fetch_add (&shared->health, 1);
        ll_bench_response_clear (&res);
    }
    return NULL;
}

static int
s_compare_hosts (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

static void
s_run_clients (s_client_t *clients, long n, void *(*fn) (void *) )
{
    pthread_t *threads = calloc ((size_t) n, sizeof *threads);
    for (long c = 0; c < n; c++)
        pthread_create (&threads[c], NULL, fn, &clients[c]);
    for (long c = 0; c < n; c++)
        pthread_join (threads[c], NULL);
    free (threads);
}

int
ll_bench_claims (int argc, char **argv)
{
    const char *url = ll_bench_opt (argc, argv, "--url", NULL);
    long vms = ll_bench_opt_long (argc, argv, "--vms", 2000);
    long nclients = ll_bench_opt_long (argc, argv, "--clients", 64);
    long health_s = ll_bench_opt_long (argc, argv, "--health-seconds", 3);
    const char *prefix = ll_bench_opt (argc, argv, "--prefix", "benchc");
    if (!url || vms < 1 || nclients < 1 || nclients > 4096) {
        fprintf (stderr, "usage: lablink-bench claims --url URL [--vms M] "
                         "[--clients C] [--prefix P] [--health-seconds S] "
                         "[--config FILE]\n");
        return 2;
    }
    ll_config_t *config = NULL;
    ll_db_t *db = ll_bench_seeded (argc, argv, prefix, vms, &config);
    if (!db)
        return 1;

    curl_global_init (CURL_GLOBAL_DEFAULT);
    s_shared_t shared = {
        .url = url, .prefix = prefix, .total = vms, .run = (long) time (NULL)};
    shared.latency_us = calloc ((size_t) vms, sizeof *shared.latency_us);
    shared.hosts = calloc ((size_t) vms, sizeof *shared.hosts);
    shared.status = calloc ((size_t) vms, sizeof *shared.status);
    s_client_t *clients = calloc ((size_t) nclients, sizeof *clients);
    for (long c = 0; c < nclients; c++) {
        clients[c].shared = &shared;
        clients[c].curl = curl_easy_init ();
    }
    int64_t t0 = ll_bench_now_us ();
    s_run_clients (clients, nclients, s_claims_client);
    double seconds = (double) (ll_bench_now_us () - t0) / 1e6;

    long won = 0, none = 0, other = 0;
    for (long i = 0; i < vms; i++) {
        if (shared.status[i] == 200 && shared.hosts[i][0])
            won++;
        else if (shared.status[i] == 503)
            none++;
        else
            other++;
    }
    double p50 = ll_bench_percentile (shared.latency_us, (size_t) vms, 50);
    double p99 = ll_bench_percentile (shared.latency_us, (size_t) vms, 99);
    qsort (shared.hosts, (size_t) vms, LL_HOST_MAX, s_compare_hosts);
    long twice = 0;
    for (long i = 1; i < vms; i++)
        if (shared.hosts[i][0]
            && strcmp (shared.hosts[i], shared.hosts[i - 1]) == 0)
            twice++;
    const char *check[] = {prefix};
    PGresult *res = ll_db_exec (db, "bench_check", 1, check);
    long db_assigned = res ? strtol (PQgetvalue (res, 0, 0), NULL, 10) : -1;
    long db_students = res ? strtol (PQgetvalue (res, 0, 1), NULL, 10) : -1;
    long db_multi = res ? strtol (PQgetvalue (res, 0, 2), NULL, 10) : -1;
    PQclear (res);

    shared.health_until = ll_bench_now_us () + health_s * 1000000;
    int64_t h0 = ll_bench_now_us ();
    s_run_clients (clients, nclients, s_health_client);
    double health_seconds = (double) (ll_bench_now_us () - h0) / 1e6;
    double health_rate = (double) atomic_load (&shared.health) / health_seconds;
    double claim_rate = (double) won / seconds;

    printf ("claims: %ld VMs, %ld clients\n", vms, nclients);
    printf ("claims: %ld won, %ld 'No available VMs', %ld other, in %.3f s\n",
            won, none, other, seconds);
    printf ("claims: %.0f claims/s, latency p50 %.2f ms, p99 %.2f ms\n",
            claim_rate, p50 / 1000.0, p99 / 1000.0);
    printf ("claims: database: %ld VMs assigned, %ld students, %ld students "
            "with two VMs; hostnames given twice in answers: %ld\n",
            db_assigned, db_students, db_multi, twice);
    printf ("health: %.0f req/s over %.1f s with the same clients\n",
            health_rate, health_seconds);
    printf ("ratio: claims/s = %.1f %% of GET /api/health req/s\n",
            health_rate > 0 ? 100.0 * claim_rate / health_rate : 0.0);
    bool ok = db_assigned == won && db_students == won && db_multi == 0
              && twice == 0 && other == 0;
    printf ("verdict: %s\n", ok ? "no double booking" : "FAILED");

    for (long c = 0; c < nclients; c++)
        curl_easy_cleanup (clients[c].curl);
    free (clients);
    free (shared.latency_us);
    free (shared.hosts);
    free (shared.status);
    curl_global_cleanup ();
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    return ok ? 0 : 1;
}

static void *
s_burst_client (void *arg)
{
    s_client_t *client = arg;
    s_shared_t *shared = client->shared;
    long i = atomic_fetch_add (&shared->next, 1);
    char host[LL_HOST_MAX];
    long status = 0;
    int64_t latency = 0;
    pthread_barrier_wait (shared->barrier);
    s_claim (shared, client->curl, shared->email_prefix, i, host, sizeof host,
             &status, &latency);
    pthread_mutex_lock (shared->print_lock);
    if (status == 200 && host[0])
        printf ("OK %s\n", host);
    else if (status == 503)
        printf ("NONE\n");
    else
        printf ("HTTP %ld\n", status);
    pthread_mutex_unlock (shared->print_lock);
    return NULL;
}

int
ll_bench_burst (int argc, char **argv)
{
    const char *url = ll_bench_opt (argc, argv, "--url", NULL);
    long n = ll_bench_opt_long (argc, argv, "--clients", 200);
    if (!url || n < 1 || n > 4096) {
        fprintf (stderr, "usage: lablink-bench burst --url URL [--clients N] "
                         "[--email-prefix P]\n");
        return 2;
    }
    curl_global_init (CURL_GLOBAL_DEFAULT);
    pthread_barrier_t barrier;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_barrier_init (&barrier, NULL, (unsigned) n);
    s_shared_t shared = {
        .url = url,
        .run = (long) time (NULL),
        .barrier = &barrier,
        .print_lock = &lock,
        .email_prefix = ll_bench_opt (argc, argv, "--email-prefix", "burst")};
    s_client_t *clients = calloc ((size_t) n, sizeof *clients);
    for (long c = 0; c < n; c++) {
        clients[c].shared = &shared;
        clients[c].curl = curl_easy_init ();
        //  One claim each: close at once, so finished clients do not keep
        //  server workers on idle keep-alive connections
        curl_easy_setopt (clients[c].curl, CURLOPT_FORBID_REUSE, 1L);
    }
    s_run_clients (clients, n, s_burst_client);
    for (long c = 0; c < n; c++)
        curl_easy_cleanup (clients[c].curl);
    free (clients);
    pthread_barrier_destroy (&barrier);
    curl_global_cleanup ();
    return 0;
}
