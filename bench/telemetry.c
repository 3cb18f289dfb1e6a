/*  lablink-bench telemetry: A simulated agents (--agents 10000), each
    posting a heartbeat once a second (--hz 1). The agents' VMs are created
    first (bench-agent-<n>: registered with one statement, bench_tokens,
    then POST /api/vm-status running with their own tokens).

    The measured phase is open-loop, as real agents are: heartbeat n is due
    at start + n / (A * hz) (agent n mod A), whatever happened before, and
    leaves on the first idle connection of a pool of keep-alive connections
    (--conns 64, as a reverse proxy in front of the allocator keeps one). A
    heartbeat that finds every connection busy waits for one. Latency runs
    from the due time, so waiting for a connection or for a slow server is
    charged, never hidden. The first --warmup seconds (2) run at the full
    rate but are reported apart: each VM's first heartbeat after its
    creation is the first write to its new row. One thread drives the pool with epoll, so the
    bench, which shares this machine's cores with the allocator and
    PostgreSQL, costs little itself: it prints its own CPU time. Reports the
    rate, p50/p99/max latency, failures and the pool's busiest moment. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/tbench.h"
#include "runtime/token.h"

//  --- creating the VMs (one blocking connection per thread) -------------

typedef struct {
    ll_tbench_opts_t *opts;        //  common options
    int first, count;              //  agents first .. first+count-1
    char (*tokens)[LL_TOKEN_MAX];  //  every agent's token
    long failures;                 //  not 200
} s_creator_t;

static void *
s_create (void *arg)
{
    s_creator_t *self = arg;
    ll_tbench_conn_t conn = {
        .host = self->opts->host, .port = self->opts->port, .fd = -1};
    for (int i = 0; i < self->count; i++) {
        char host[64], body[256];
        snprintf (host, sizeof host, "bench-agent-%d", self->first + i);
        int n = snprintf (body, sizeof body,
                          "{\"hostname\":\"%s\",\"status\":\"running\"}", host);
        if (ll_tbench_request (&conn, "POST", "/api/vm-status",
                               self->tokens[self->first + i], body, (size_t) n)
            != 200)
            self->failures++;
    }
    ll_tbench_close (&conn);
    ll_textbuf_free (&conn.in);
    return NULL;
}

static long
s_create_all (ll_tbench_opts_t *opts, int agents, char (*tokens)[LL_TOKEN_MAX])
{
    enum { THREADS = 32 };
    s_creator_t c[THREADS];
    pthread_t threads[THREADS];
    int first = 0;
    for (int i = 0; i < THREADS; i++) {
        int count = agents / THREADS + (i < agents % THREADS);
        c[i] = (s_creator_t){
            .opts = opts, .first = first, .count = count, .tokens = tokens};
        first += count;
        pthread_create (&threads[i], NULL, s_create, &c[i]);
    }
    long failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join (threads[i], NULL);
        failures += c[i].failures;
    }
    return failures;
}

//  --- the measured phase: open-loop heartbeats over a connection pool ----

#define S_RESPONSE_MAX 8192

typedef struct {
    int fd;                   //  socket, -1 when closed
    bool busy;                //  a heartbeat is in flight
    int64_t due_us;           //  that heartbeat's due time
    char in[S_RESPONSE_MAX];  //  response bytes so far
    size_t in_len;            //  bytes in in
} s_pconn_t;

typedef struct {
    ll_tbench_opts_t *opts;  //  common options
    int epoll;               //  every connection's socket
    s_pconn_t *conns;        //  the pool
    int nconns;              //  its size
    int *idle;               //  stack of idle connection indexes
    int nidle;               //  entries in idle
    int max_busy;            //  most connections in flight at once
    int64_t measure_from;    //  heartbeats due before are the warm-up
    double server_cpu_ms;    //  the allocator's CPU ms at measure_from
    double *lat_ms;          //  measured latencies, one per answer
    size_t nlat;             //  entries in lat_ms
    double *warm_ms;         //  warm-up latencies
    size_t nwarm;            //  entries in warm_ms
    long failures;           //  not 200, or the connection failed
} s_pool_t;

static int
s_pconn_open (s_pool_t *pool, int i)
{
    s_pconn_t *c = &pool->conns[i];
    c->fd = socket (AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) pool->opts->port)};
    inet_pton (AF_INET, pool->opts->host, &addr.sin_addr);
    int one = 1;
    setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (c->fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close (c->fd);
        c->fd = -1;
        return -1;
    }
    fcntl (c->fd, F_SETFL, fcntl (c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t) i};
    epoll_ctl (pool->epoll, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

//  Close a connection whose heartbeat failed; it reconnects when next used.
static void
s_pconn_fail (s_pool_t *pool, int i)
{
    s_pconn_t *c = &pool->conns[i];
    if (c->fd >= 0)
        close (c->fd);
    c->fd = -1;
    c->in_len = 0;
    if (c->busy) {  //  an idle one is on the idle stack already
        pool->failures++;
        c->busy = false;
        pool->idle[pool->nidle++] = i;
    }
}

static void
s_send_heartbeat (s_pool_t *pool, int agent, const char *token, int64_t due)
{
    int i = pool->idle[--pool->nidle];
    s_pconn_t *c = &pool->conns[i];
    c->busy = true;
    c->due_us = due;
    c->in_len = 0;
    int busy = pool->nconns - pool->nidle;
    if (busy > pool->max_busy)
        pool->max_busy = busy;
    if (c->fd < 0 && s_pconn_open (pool, i) != 0) {
        s_pconn_fail (pool, i);
        return;
    }
    char body[256], request[1024];
    int body_len = snprintf (
        body, sizeof body,
        "{\"vm_id\":\"bench-agent-%d\",\"boot_id\":\"bench\",\"timestamp\":"
        "\"2026-01-01T00:00:00Z\",\"crd_active\":false,\"disk_free_pct\":50}",
        agent);
    int len = snprintf (request, sizeof request,
                        "POST /api/heartbeat HTTP/1.1\r\nHost: %s\r\n"
                        "Authorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: %d\r\n\r\n%s",
                        pool->opts->host, token, body_len, body);
    //  An idle keep-alive socket has an empty send buffer: one send fits
    if (send (c->fd, request, (size_t) len, MSG_NOSIGNAL) != len)
        s_pconn_fail (pool, i);
}

//  Read what the server sent on connection i; a complete response ends its
//  heartbeat.
static void
s_receive (s_pool_t *pool, int i)
{
    s_pconn_t *c = &pool->conns[i];
    ssize_t got =
        recv (c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0 || !c->busy) {  //  closed, failed, or unasked bytes
        s_pconn_fail (pool, i);
        return;
    }
    c->in_len += (size_t) got;
    c->in[c->in_len] = '\0';
    char *end = strstr (c->in, "\r\n\r\n");
    if (!end) {
        if (c->in_len == sizeof c->in - 1)
            s_pconn_fail (pool, i);
        return;
    }
    const char *length = strstr (c->in, "Content-Length: ");
    size_t body = length && length < end ? strtoul (length + 16, NULL, 10) : 0;
    size_t head = (size_t) (end - c->in) + 4;
    if (c->in_len < head + body)
        return;
    int status = 0;
    sscanf (c->in, "HTTP/1.1 %d", &status);
    double ms = (double) (ll_bench_now_us () - c->due_us) / 1000.0;
    if (pool->server_cpu_ms < 0 && c->due_us >= pool->measure_from)
        ll_bench_usage (pool->opts->pid, NULL, NULL, &pool->server_cpu_ms);
    if (c->due_us < pool->measure_from)
        pool->warm_ms[pool->nwarm++] = ms;
    else
        pool->lat_ms[pool->nlat++] = ms;
    if (status != 200)
        pool->failures++;
    bool closing = strstr (c->in, "Connection: close") != NULL;
    c->busy = false;
    c->in_len = 0;
    if (closing) {
        close (c->fd);
        c->fd = -1;
    }
    pool->idle[pool->nidle++] = i;
}

//  Wait for responses until `until` (monotonic us; 0: until one arrives).
static void
s_wait (s_pool_t *pool, int64_t until)
{
    struct epoll_event events[256];
    int64_t left = until ? until - ll_bench_now_us () : 1000000;
    if (left < 0)
        left = 0;
    struct timespec ts = {.tv_sec = left / 1000000,
                          .tv_nsec = (left % 1000000) * 1000};
    int n = epoll_pwait2 (pool->epoll, events, 256, &ts, NULL);
    if (n < 0 && errno == ENOSYS)  //  kernels before 5.11: milliseconds
        n = epoll_wait (pool->epoll, events, 256, (int) ((left + 999) / 1000));
    for (int k = 0; k < n; k++)
        s_receive (pool, (int) events[k].data.u32);
}

static void
s_measure (s_pool_t *pool,
           int agents,
           double hz,
           char (*tokens)[LL_TOKEN_MAX],
           int64_t start,
           long total)
{
    double spacing_us = 1e6 / (hz * agents);
    long next = 0;
    //  Responses still out this long after the last heartbeat was due fail
    int64_t give_up =
        start + (int64_t) ((double) total * spacing_us) + 30000000;
    while (ll_bench_now_us () < give_up) {
        int64_t now = ll_bench_now_us ();
        while (next < total && pool->nidle > 0) {
            int64_t due = start + (int64_t) ((double) next * spacing_us);
            if (due > now)
                break;
            int agent = (int) (next % agents);
            s_send_heartbeat (pool, agent, tokens[agent], due);
            next++;
        }
        if (next == total && pool->nidle == pool->nconns)
            break;
        int64_t wake = next < total && pool->nidle > 0
                           ? start + (int64_t) ((double) next * spacing_us)
                           : 0;
        s_wait (pool, wake);
    }
    for (int i = 0; i < pool->nconns; i++)
        if (pool->conns[i].busy)
            s_pconn_fail (pool, i);  //  never answered
    pool->failures += total - next;  //  never sent
}

static double
s_cpu_seconds (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
           + (double) usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
}

static int
s_telemetry (ll_tbench_opts_t *opts)
{
    int agents = (int) ll_tbench_opt (opts, "--agents", 10000);
    int conns = (int) ll_tbench_opt (opts, "--conns", 64);
    int warmup = (int) ll_tbench_opt (opts, "--warmup", 2);
    double hz = (double) ll_tbench_opt (opts, "--hz", 1);
    if (agents < 1 || conns < 1 || hz <= 0 || warmup < 0) {
        fprintf (stderr, "lablink-bench: --agents, --conns, --hz must be > 0, "
                         "--warmup >= 0\n");
        return 1;
    }
    ll_config_t *config = NULL;
    ll_db_t *db = ll_bench_db (opts->config, &config);
    //  The agents are registered VMs, each with its own token
    char (*tokens)[LL_TOKEN_MAX] = calloc ((size_t) agents, LL_TOKEN_MAX);
    char (*names)[64] = calloc ((size_t) agents, 64);
    const char **hosts = calloc ((size_t) agents, sizeof *hosts);
    for (int i = 0; i < agents; i++) {
        snprintf (names[i], 64, "bench-agent-%d", i);
        hosts[i] = names[i];
    }
    int registered =
        db ? ll_bench_tokens (db, hosts, (size_t) agents, tokens) : -1;
    ll_db_destroy (&db);
    free (hosts);
    free (names);
    if (registered != 0) {
        free (tokens);
        ll_config_destroy (&config);
        return 1;
    }
    int64_t t0 = ll_bench_now_us ();
    long failures = s_create_all (opts, agents, tokens);
    printf ("telemetry: created %d VMs in %.1f s (%ld failures)\n", agents,
            (double) (ll_bench_now_us () - t0) / 1e6, failures);

    long warm_total = (long) ((double) warmup * hz * agents);
    long total = warm_total + (long) ((double) opts->seconds * hz * agents);
    s_pool_t pool = {.opts = opts,
                     .epoll = epoll_create1 (EPOLL_CLOEXEC),
                     .conns = calloc ((size_t) conns, sizeof (s_pconn_t)),
                     .nconns = conns,
                     .idle = calloc ((size_t) conns, sizeof (int)),
                     .lat_ms = calloc ((size_t) total + 1, sizeof (double)),
                     .warm_ms = calloc ((size_t) total + 1, sizeof (double))};
    for (int i = conns - 1; i >= 0; i--) {
        pool.conns[i].fd = -1;
        pool.idle[pool.nidle++] = i;
        if (s_pconn_open (&pool, i) != 0) {
            fprintf (stderr, "lablink-bench: cannot connect\n");
            return 1;
        }
    }
    double cpu0 = s_cpu_seconds ();
    int64_t start = ll_bench_now_us () + 200000;
    pool.measure_from = start + (int64_t) warmup * 1000000;
    pool.server_cpu_ms = -1;
    s_measure (&pool, agents, hz, tokens, start, total);
    double elapsed = (double) (ll_bench_now_us () - start) / 1e6;
    double measured = (double) (ll_bench_now_us () - pool.measure_from) / 1e6;
    double cpu = s_cpu_seconds () - cpu0;
    double server_cpu_ms = 0;
    ll_bench_usage (opts->pid, NULL, NULL, &server_cpu_ms);
    double server_cpu = (server_cpu_ms - pool.server_cpu_ms) / 1000.0;
    ll_tbench_sort (pool.warm_ms, pool.nwarm);
    if (warmup)
        printf ("telemetry: warm-up, %d s (not measured): %zu heartbeats, "
                "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                warmup, pool.nwarm,
                ll_tbench_percentile (pool.warm_ms, pool.nwarm, 50),
                ll_tbench_percentile (pool.warm_ms, pool.nwarm, 99),
                pool.nwarm ? pool.warm_ms[pool.nwarm - 1] : 0.0);

    size_t n = pool.nlat;
    ll_tbench_sort (pool.lat_ms, n);
    double p99 = ll_tbench_percentile (pool.lat_ms, n, 99);
    printf ("telemetry: %d agents at %.0f Hz for %d s over a pool of %d "
            "connections (at most %d busy): %zu heartbeats, %.0f/s (target "
            "%.0f/s), %ld failures\n",
            agents, hz, opts->seconds, conns, pool.max_busy, n,
            (double) n / measured, agents * hz, pool.failures);
    printf ("telemetry: latency from the due time: p50 %.2f ms, p99 %.2f ms, "
            "max %.2f ms\n",
            ll_tbench_percentile (pool.lat_ms, n, 50), p99,
            n ? pool.lat_ms[n - 1] : 0.0);
    printf ("telemetry: the bench itself used %.0f%% of one core\n",
            100.0 * cpu / elapsed);
    if (opts->pid && n)
        printf ("telemetry: the allocator used %.0f%% of one core, %.0f us of "
                "CPU per heartbeat\n",
                100.0 * server_cpu / measured, server_cpu * 1e6 / (double) n);
    long rss = 0, peak = 0;
    ll_bench_usage (opts->pid, &peak, &rss, NULL);
    if (opts->pid)
        printf ("telemetry: allocator RSS %ld KiB, peak %ld KiB\n", rss, peak);
    int rc = failures == 0 && pool.failures == 0 && p99 < 50.0 ? 0 : 1;
    for (int i = 0; i < conns; i++)
        if (pool.conns[i].fd >= 0)
            close (pool.conns[i].fd);
    close (pool.epoll);
    free (pool.conns);
    free (pool.idle);
    free (pool.lat_ms);
    free (pool.warm_ms);
    free (tokens);
    ll_config_destroy (&config);
    return rc;
}

int
ll_bench_telemetry (int argc, char **argv)
{
    return ll_tbench_run (argc, argv, s_telemetry);
}
