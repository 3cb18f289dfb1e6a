/*  Scenario "deliver": agents waiting for their assignment.

    lablink-bench deliver --url URL --zmq-endpoint tcp://H:P --server-key Z85
                          [--zmq-agents 1000] [--http-agents 200]
                          [--procs 1] [--ready-timeout 60] [--pid PID]
                          [--prefix benchd] [--config FILE] [--post-acks]

    Seeds N+M free VMs (<prefix>-NNNNN), starts N agents over ZeroMQ
    (CURVE, HELLO + WAIT, one thread per 100 sockets) spread over --procs
    child processes (each agent socket costs the bench two descriptors:
    10,000 agents in one process would hit its own descriptor limit, not the
    allocator's) and M agents long-polling POST /vm_startup (one thread
    each), waits up to --ready-timeout seconds until every ZeroMQ agent has
    its HELLO-OK and every HTTP agent is parked (the allocator's waiters
    queue in /metrics), reports how many were, then claims every VM through
    POST /api/request_vm, one claim after the other. The latency of a VM is
    from sending the claim that gave it to the agent holding its
    assignment; percentiles are reported for the agents connected before
    the first claim (the others get theirs when they connect). Meanwhile it
    samples the allocator's PostgreSQL connections (pg_stat_activity,
    application_name lablink-allocator) and reports the largest count; with
    --pid, the allocator's peak RSS and CPU. ZeroMQ agents acknowledge with
    RESULT (with --post-acks every other one with POST
    /api/vm-startup-result through the gateway) and PING every 10 s; the
    round trip of each kind of acknowledgement is reported. The
    allocator needs agent.max_parked >= M, app.http_threads > M + 8 and
    agent.max_zmq_agents >= N. */
#include "bench/bench.h"
#include "runtime/config.h"
#include "runtime/token.h"

#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define LL_HOST_MAX 64
//  ZeroMQ agents per bench thread
#define S_ZMQ_PER_THREAD 100
#define S_PROCS_MAX      64

typedef struct {
    char host[LL_HOST_MAX];    //  its VM
    char token[LL_TOKEN_MAX];  //  its token
    int64_t claimed_us;        //  when its claim was sent (0 = not yet)
    _Atomic int64_t got_us;    //  when the agent had its assignment
    atomic_bool ready;         //  connected: HELLO-OK (zmq) or parked (http)
    _Atomic int64_t acked_us;  //  when its acknowledgement was answered OK
} s_vm_t;

//  What a ZeroMQ agents' process tells the bench, one record per event
//  (smaller than PIPE_BUF: the threads' writes never interleave)
typedef struct {
    int64_t index;  //  the agent's VM
    int64_t kind;   //  S_READY, S_GOT (value: when), S_ACKED
    int64_t value;  //  when: CLOCK_MONOTONIC microseconds
} s_record_t;

#define S_READY 1
#define S_GOT   2
#define S_ACKED 3

typedef struct {
    const char *url;            //  allocator base URL
    const char *endpoint;       //  gateway endpoint
    const char *server_key;     //  gateway public key (Z85)
    s_vm_t *vms;                //  N zmq agents first, then M http agents
    long nzmq, nhttp;           //  agents of each kind
    atomic_long zmq_ready;      //  HELLO-OK received and WAIT sent
    atomic_long http_polls;     //  /vm_startup requests sent
    atomic_bool stop;           //  end of the run
    atomic_long pg_max;         //  most allocator connections seen
    atomic_long acked;          //  zmq acknowledgements answered OK
    bool post_acks;             //  every other zmq agent acks with POST
    const ll_config_t *config;  //  for the sampler's connection
    int events_fd;              //  in an agents' process: to the bench
} s_run_t;

typedef struct {
    s_run_t *run;  //  the run
    long index;    //  which VM
} s_agent_t;

//  --- ZeroMQ agents (a few threads, each polling its share of sockets) ----

//  One thread's share: one zmq_poll over 1,000 CURVE sockets cost the
//  bench itself milliseconds per wake-up (every socket's events are read
//  on every call), which the latency then charged to the allocator
typedef struct {
    s_run_t *run;  //  the run
    long first;    //  its first agent
    long count;    //  its agents
} s_zmq_share_t;

static void *
s_zmq_agents (void *arg)
{
    s_zmq_share_t *share = arg;
    s_run_t *run = share->run;
    long n = share->count;
    s_vm_t *vms = run->vms + share->first;
    zsock_t **socks = calloc ((size_t) n, sizeof *socks);
    zmq_pollitem_t *items = calloc ((size_t) n, sizeof *items);
    for (long i = 0; i < n; i++) {
        zcert_t *cert = zcert_new ();
        socks[i] = zsock_new (ZMQ_DEALER);
        zcert_apply (cert, socks[i]);
        zcert_destroy (&cert);
        zsock_set_curve_serverkey (socks[i], run->server_key);
        zsock_set_linger (socks[i], 0);
        zsock_connect (socks[i], "%s", run->endpoint);
        zstr_sendf (socks[i], "HELLO %s %s", vms[i].host, vms[i].token);
        items[i].socket = zsock_resolve (socks[i]);
        items[i].events = ZMQ_POLLIN;
    }
    int64_t next_ping = ll_bench_now_us () + 10000000;
    while (!atomic_load (&run->stop)) {
        if (ll_bench_now_us () >= next_ping) {  //  as the agent: every 10 s
            for (long i = 0; i < n; i++)
                zstr_send (socks[i], "PING");
            next_ping = ll_bench_now_us () + 10000000;
        }
        if (zmq_poll (items, (int) n, 1000) <= 0)
            continue;
        for (long i = 0; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            char *text = zstr_recv (socks[i]);
            if (!text)
                continue;
            s_record_t record = {share->first + i, 0, ll_bench_now_us ()};
            if (streq (text, "HELLO-OK")) {
                zstr_send (socks[i], "WAIT");
                record.kind = S_READY;
            }
            else if (strncmp (text, "ASSIGN ", 7) == 0) {
                record.kind = S_GOT;
                //  Acknowledge: RESULT, or (every other agent) the agent
                //  API's POST through the gateway
                if (run->post_acks && i % 2)
                    zstr_sendf (socks[i],
                                "POST /api/vm-startup-result "
                                "{\"hostname\":\"%s\",\"success\":true}",
                                vms[i].host);
                else
                    zstr_sendf (socks[i], "RESULT %s 1 ", vms[i].host);
            }
            else if (streq (text, "RESULT-OK")
                     || strncmp (text, "REPLY 200 ", 10) == 0)
                record.kind = S_ACKED;
            else if (strncmp (text, "ERROR", 5) == 0)
                fprintf (stderr, "deliver: %s: %s\n", vms[i].host, text);
            if (record.kind
                && write (run->events_fd, &record, sizeof record)
                       != (ssize_t) sizeof record)
                atomic_store (&run->stop, true);  //  the bench is gone
            zstr_free (&text);
        }
    }
    for (long i = 0; i < n; i++)
        zsock_destroy (&socks[i]);
    free (socks);
    free (items);
    return NULL;
}

//  --- HTTP agents (one thread each) ----------------------------------------

static void *
s_http_agent (void *arg)
{
    s_agent_t *agent = arg;
    s_run_t *run = agent->run;
    s_vm_t *vm = &run->vms[agent->index];
    CURL *curl = curl_easy_init ();
    char url[512], result_url[512], body[256], auth[LL_TOKEN_MAX + 32];
    snprintf (url, sizeof url, "%s/vm_startup", run->url);
    snprintf (result_url, sizeof result_url, "%s/api/vm-startup-result",
              run->url);
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", vm->token);
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    headers = curl_slist_append (headers, "Content-Type: application/json");
    snprintf (body, sizeof body, "{\"hostname\":\"%s\"}", vm->host);
    while (!atomic_load (&run->stop)) {
        if (!atomic_exchange (&vm->ready, true))
            atomic_fetch_add (&run->http_polls, 1);
        ll_bench_response_t res;
        if (ll_bench_request (curl, url, body, headers, 60000, &res) != 0) {
            zclock_sleep (100);
            continue;
        }
        long status = res.status;
        ll_bench_response_clear (&res);
        if (status == 200) {
            atomic_store (&vm->got_us, ll_bench_now_us ());
            char done[300];
            snprintf (done, sizeof done,
                      "{\"hostname\":\"%s\",\"success\":true}", vm->host);
            ll_bench_request (curl, result_url, done, headers, 10000, &res);
            ll_bench_response_clear (&res);
            break;
        }
        //  204 with Retry-After: the allocator's parking is full; ask
        //  again when it says, as the agent does (agent/agent.c)
        curl_off_t retry_s = 0;
        if (status == 204
            && curl_easy_getinfo (curl, CURLINFO_RETRY_AFTER, &retry_s)
                   == CURLE_OK
            && retry_s > 0)
            zclock_sleep ((int) (retry_s < 60 ? retry_s : 60) * 1000);
        else if (status != 204)
            zclock_sleep (200);
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return NULL;
}

//  --- ZeroMQ agents' processes ------------------------------------------------

//  In a child: agents [first, first + count) in threads of 100, until the
//  bench closes control_fd; events go to events_fd. Never returns.
static void
s_zmq_process (s_run_t *run, long first, long count, int control_fd)
{
    //  Two descriptors per agent socket: take what the hard limit allows
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    zsys_set_max_sockets ((size_t) count + 64);
    zsys_init ();
    long threads = (count + S_ZMQ_PER_THREAD - 1) / S_ZMQ_PER_THREAD;
    pthread_t *thread = calloc ((size_t) threads + 1, sizeof *thread);
    s_zmq_share_t *shares = calloc ((size_t) threads + 1, sizeof *shares);
    for (long t = 0; t < threads; t++) {
        shares[t].run = run;
        shares[t].first = first + t * S_ZMQ_PER_THREAD;
        shares[t].count = count - t * S_ZMQ_PER_THREAD < S_ZMQ_PER_THREAD
                              ? count - t * S_ZMQ_PER_THREAD
                              : S_ZMQ_PER_THREAD;
        pthread_create (&thread[t], NULL, s_zmq_agents, &shares[t]);
    }
    char byte;
    while (read (control_fd, &byte, 1) > 0)
        ;  //  EOF: the run is over
    atomic_store (&run->stop, true);
    for (long t = 0; t < threads; t++)
        pthread_join (thread[t], NULL);
    zsys_shutdown ();
    _exit (0);
}

//  In the bench: one reader per agents' process, applying its events
typedef struct {
    s_run_t *run;  //  the run
    int fd;        //  the process's events
} s_reader_t;

static void *
s_reader (void *arg)
{
    s_reader_t *self = arg;
    s_run_t *run = self->run;
    s_record_t record;
    while (read (self->fd, &record, sizeof record) == (ssize_t) sizeof record) {
        if (record.index < 0 || record.index >= run->nzmq)
            continue;
        s_vm_t *vm = &run->vms[record.index];
        if (record.kind == S_READY && !atomic_exchange (&vm->ready, true))
            atomic_fetch_add (&run->zmq_ready, 1);
        else if (record.kind == S_GOT)
            atomic_store (&vm->got_us, record.value);
        else if (record.kind == S_ACKED) {
            atomic_store (&vm->acked_us, record.value);
            atomic_fetch_add (&run->acked, 1);
        }
    }
    return NULL;
}

//  --- the allocator's own figures ---------------------------------------------

//  HTTP agents parked now: calls waiting on the waiters in /metrics, or -1
static long
s_http_parked (CURL *curl, const char *base)
{
    char url[512];
    snprintf (url, sizeof url, "%s/metrics", base);
    ll_bench_response_t res;
    long parked = -1;
    if (ll_bench_request (curl, url, NULL, NULL, 5000, &res) == 0) {
        const char *at =
            strstr (res.body, "lablink_actor_queue_depth{actor=\"waiters\"} ");
        if (at)
            parked = strtol (strchr (at, '}') + 2, NULL, 10);
    }
    ll_bench_response_clear (&res);
    return parked;
}

//  --- PostgreSQL connections sampler ----------------------------------------

static void *
s_sampler (void *arg)
{
    s_run_t *run = arg;
    ll_db_t *db = ll_db_new (run->config, NULL, "bench-sampler");
    if (!db || ll_db_connect (db) != 0) {
        ll_db_destroy (&db);
        return NULL;
    }
    while (!atomic_load (&run->stop)) {
        PGresult *res = ll_db_exec (db, "bench_pg_connections", 0, NULL);
        if (res) {
            long n = strtol (PQgetvalue (res, 0, 0), NULL, 10);
            if (n > atomic_load (&run->pg_max))
                atomic_store (&run->pg_max, n);
        }
        PQclear (res);
        zclock_sleep (100);
    }
    ll_db_destroy (&db);
    return NULL;
}

static long
s_index_of (s_run_t *run, const char *host)
{
    //  Hostnames are <prefix>-NNNNN in index order
    const char *dash = strrchr (host, '-');
    long i = dash ? strtol (dash + 1, NULL, 10) - 1 : -1;
    long total = run->nzmq + run->nhttp;
    if (i >= 0 && i < total && streq (run->vms[i].host, host))
        return i;
    return -1;
}

int
ll_bench_deliver (int argc, char **argv)
{
    s_run_t run = {0};
    run.url = ll_bench_opt (argc, argv, "--url", NULL);
    run.endpoint = ll_bench_opt (argc, argv, "--zmq-endpoint", NULL);
    run.server_key = ll_bench_opt (argc, argv, "--server-key", NULL);
    run.nzmq = ll_bench_opt_long (argc, argv, "--zmq-agents", 1000);
    run.nhttp = ll_bench_opt_long (argc, argv, "--http-agents", 200);
    long procs = ll_bench_opt_long (argc, argv, "--procs", 1);
    long ready_s = ll_bench_opt_long (argc, argv, "--ready-timeout", 60);
    long pid = ll_bench_opt_long (argc, argv, "--pid", 0);
    const char *prefix = ll_bench_opt (argc, argv, "--prefix", "benchd");
    for (int a = 1; a < argc; a++)
        if (streq (argv[a], "--post-acks"))
            run.post_acks = true;
    long total = run.nzmq + run.nhttp;
    if (!run.url || (run.nzmq && (!run.endpoint || !run.server_key))
        || run.nzmq < 0 || run.nhttp < 0 || total < 1 || total > 99999
        || procs < 1 || procs > S_PROCS_MAX || ready_s < 1) {
        fprintf (stderr,
                 "usage: lablink-bench deliver --url URL --zmq-endpoint E "
                 "--server-key Z85 [--zmq-agents N] [--http-agents M] "
                 "[--procs P] [--ready-timeout S] [--pid PID] [--prefix P] "
                 "[--config FILE] [--post-acks]\n");
        return 2;
    }
    ll_config_t *config = NULL;
    ll_db_t *db = ll_bench_seeded (argc, argv, prefix, total, &config);
    if (!db)
        return 1;
    run.config = config;
    //  Each agent's token, minted here and registered in one statement
    run.vms = calloc ((size_t) total, sizeof *run.vms);
    const char **hosts = calloc ((size_t) total, sizeof *hosts);
    char (*tokens)[LL_TOKEN_MAX] = calloc ((size_t) total, LL_TOKEN_MAX);
    for (long i = 0; i < total; i++) {
        snprintf (run.vms[i].host, LL_HOST_MAX, "%s-%05ld", prefix, i + 1);
        hosts[i] = run.vms[i].host;
    }
    int registered = ll_bench_tokens (db, hosts, (size_t) total, tokens);
    for (long i = 0; i < total && registered == 0; i++)
        snprintf (run.vms[i].token, sizeof run.vms[i].token, "%s", tokens[i]);
    memset (tokens, 0, (size_t) total * LL_TOKEN_MAX);
    free (tokens);
    free (hosts);
    if (registered != 0) {
        free (run.vms);
        ll_db_destroy (&db);
        ll_config_destroy (&config);
        return 1;
    }

    //  The allocator's CPU and RSS before any agent connects: what the
    //  connecting costs it, per agent, is printed once all are ready
    long hwm0_kib = 0, rss0_kib = 0, hwm1_kib = 0, rss1_kib = 0;
    double cpu0_ms = 0, cpu1_ms = 0;
    ll_bench_usage (pid, &hwm0_kib, &rss0_kib, &cpu0_ms);

    //  The ZeroMQ agents' processes, forked before this one has a thread
    if (procs > run.nzmq)
        procs = run.nzmq ? run.nzmq : 1;
    pid_t children[S_PROCS_MAX];
    int controls[S_PROCS_MAX];
    s_reader_t readers[S_PROCS_MAX];
    pthread_t reader_threads[S_PROCS_MAX];
    long nprocs = run.nzmq ? procs : 0;
    for (long p = 0; p < nprocs; p++) {
        long first = run.nzmq * p / nprocs;
        long last = run.nzmq * (p + 1) / nprocs;
        int events[2], control[2];
        if (pipe (events) != 0 || pipe (control) != 0) {
            perror ("lablink-bench: pipe");
            return 1;
        }
        fflush (NULL);
        children[p] = fork ();
        if (children[p] == 0) {
            close (events[0]);
            close (control[1]);
            for (long q = 0; q < p; q++) {
                close (controls[q]);
                close (readers[q].fd);
            }
            run.events_fd = events[1];
            s_zmq_process (&run, first, last - first, control[0]);
        }
        close (events[1]);
        close (control[0]);
        controls[p] = control[1];
        readers[p] = (s_reader_t){&run, events[0]};
    }
    for (long p = 0; p < nprocs; p++)
        pthread_create (&reader_threads[p], NULL, s_reader, &readers[p]);

    curl_global_init (CURL_GLOBAL_DEFAULT);
    pthread_t sampler;
    pthread_create (&sampler, NULL, s_sampler, &run);
    pthread_t *http = calloc ((size_t) run.nhttp + 1, sizeof *http);
    s_agent_t *agents = calloc ((size_t) run.nhttp + 1, sizeof *agents);
    for (long i = 0; i < run.nhttp; i++) {
        agents[i].run = &run;
        agents[i].index = run.nzmq + i;
        pthread_create (&http[i], NULL, s_http_agent, &agents[i]);
    }
    //  Ready: every ZeroMQ agent said HELLO and every HTTP agent is parked
    CURL *curl = curl_easy_init ();
    int64_t t_ready = ll_bench_now_us ();
    int64_t ready_by = t_ready + ready_s * 1000000LL;
    long parked = 0;
    int64_t next_note = t_ready + 5000000;
    while (ll_bench_now_us () < ready_by) {
        parked = run.nhttp ? s_http_parked (curl, run.url) : 0;
        if (atomic_load (&run.zmq_ready) >= run.nzmq && parked >= run.nhttp)
            break;
        if (ll_bench_now_us () >= next_note) {
            printf ("deliver: %.0f s: %ld zmq agents connected, %ld http "
                    "agents parked\n",
                    (double) (ll_bench_now_us () - t_ready) / 1e6,
                    (long) atomic_load (&run.zmq_ready), parked);
            fflush (stdout);
            next_note += 5000000;
        }
        zclock_sleep (200);
    }
    long zmq_connected = atomic_load (&run.zmq_ready);
    printf ("deliver: before the first claim (%.1f s after the start, "
            "--ready-timeout %ld s): %ld of %ld zmq agents connected, %ld of "
            "%ld http agents parked\n",
            (double) (ll_bench_now_us () - t_ready) / 1e6, ready_s,
            zmq_connected, run.nzmq, parked < 0 ? 0 : parked, run.nhttp);
    long ready_agents = zmq_connected + (parked < 0 ? 0 : parked);
    ll_bench_usage (pid, &hwm1_kib, &rss1_kib, &cpu1_ms);
    if (pid > 0 && ready_agents > 0)
        printf ("deliver: while they connected the allocator used %.0f ms of "
                "CPU (%.0f us per agent) and its RSS went from %ld to %ld "
                "KiB (%.1f KiB per agent)\n",
                cpu1_ms - cpu0_ms,
                (cpu1_ms - cpu0_ms) * 1000.0 / (double) ready_agents, rss0_kib,
                rss1_kib,
                (double) (rss1_kib - rss0_kib) / (double) ready_agents);
    //  Who counts as connected: a zmq agent with HELLO-OK now, an HTTP
    //  agent polling (all of them, when the waiters' queue says so)
    bool *connected = calloc ((size_t) total + 1, sizeof *connected);
    for (long i = 0; i < total; i++)
        connected[i] = i < run.nzmq ? atomic_load (&run.vms[i].ready)
                                    : parked >= run.nhttp;

    //  Claim every VM, one after the other
    struct curl_slist *headers =
        curl_slist_append (NULL, "Accept: application/json");
    char url[512];
    snprintf (url, sizeof url, "%s/api/request_vm", run.url);
    long claimed = 0, run_id = (long) time (NULL);
    int64_t *claim_lat = calloc ((size_t) total, sizeof *claim_lat);
    int64_t c0 = ll_bench_now_us ();
    for (long i = 0; i < total; i++) {
        char body[256];
        snprintf (body, sizeof body,
                  "email=deliver-%ld-%ld%%40example.com&crd_command=--code%%"
                  "3D4%%2Fdeliver%ld",
                  run_id, i, i);
        int64_t t0 = ll_bench_now_us ();
        ll_bench_response_t answer;
        if (ll_bench_request (curl, url, body, headers, 30000, &answer) == 0
            && answer.status == 200) {
            const char *at = strstr (answer.body, "\"hostname\":\"");
            char host[LL_HOST_MAX] = "";
            if (at) {
                at += 12;
                size_t len = strcspn (at, "\"");
                if (len < sizeof host) {
                    memcpy (host, at, len);
                    host[len] = '\0';
                }
            }
            long index = s_index_of (&run, host);
            if (index >= 0) {
                run.vms[index].claimed_us = t0;
                claim_lat[claimed++] = ll_bench_now_us () - t0;
            }
        }
        ll_bench_response_clear (&answer);
    }
    double claim_s = (double) (ll_bench_now_us () - c0) / 1e6;
    curl_slist_free_all (headers);

    int64_t until = ll_bench_now_us () + 30 * 1000000LL;
    long delivered = 0;
    while (ll_bench_now_us () < until) {
        delivered = 0;
        for (long i = 0; i < total; i++)
            if (run.vms[i].claimed_us && atomic_load (&run.vms[i].got_us))
                delivered++;
        if (delivered >= claimed)
            break;
        zclock_sleep (50);
    }
    //  With --post-acks the acknowledgements too: each follows its ASSIGN,
    //  and stopping at the last delivery dropped the late ones
    while (run.post_acks && ll_bench_now_us () < until) {
        long zmq_delivered = 0;
        for (long i = 0; i < run.nzmq && i < total; i++)
            if (atomic_load (&run.vms[i].got_us))
                zmq_delivered++;
        if (atomic_load (&run.acked) >= zmq_delivered)
            break;
        zclock_sleep (50);
    }
    long hwm_kib = 0, rss_kib = 0;
    double cpu_ms = 0;
    ll_bench_usage (pid, &hwm_kib, &rss_kib, &cpu_ms);
    atomic_store (&run.stop, true);
    curl_easy_cleanup (curl);

    int64_t *lat = calloc ((size_t) total, sizeof *lat);
    int64_t *lat_zmq = calloc ((size_t) total, sizeof *lat_zmq);
    int64_t *lat_http = calloc ((size_t) total, sizeof *lat_http);
    int64_t *lat_late = calloc ((size_t) total, sizeof *lat_late);
    size_t n = 0, nz = 0, nh = 0, nl = 0;
    for (long i = 0; i < total; i++) {
        int64_t got = atomic_load (&run.vms[i].got_us);
        if (!run.vms[i].claimed_us || !got)
            continue;
        int64_t d = got - run.vms[i].claimed_us;
        if (!connected[i]) {
            lat_late[nl++] = d;
            continue;
        }
        lat[n++] = d;
        if (i < run.nzmq)
            lat_zmq[nz++] = d;
        else
            lat_http[nh++] = d;
    }
    printf ("deliver: %ld claims in %.2f s, %ld delivered\n", claimed, claim_s,
            delivered);
    char a[64], b[64];
    printf ("deliver: the claim's own HTTP round trip %s\n",
            ll_bench_p50_p99 (a, sizeof a, claim_lat, (size_t) claimed));
    free (claim_lat);
    printf ("deliver: claim-to-agent %s (all %zu connected before the first "
            "claim)\n",
            ll_bench_p50_p99 (a, sizeof a, lat, n), n);
    printf ("deliver: zmq %s (%zu); http %s (%zu)\n",
            ll_bench_p50_p99 (a, sizeof a, lat_zmq, nz), nz,
            ll_bench_p50_p99 (b, sizeof b, lat_http, nh), nh);
    if (nl)
        printf ("deliver: %zu agents connected after the first claim: "
                "claim-to-agent %s (not in the figures above)\n",
                nl, ll_bench_p50_p99 (a, sizeof a, lat_late, nl));
    for (long p = 0; p < nprocs; p++)
        close (controls[p]);
    for (long p = 0; p < nprocs; p++)
        waitpid (children[p], NULL, 0);
    for (long p = 0; p < nprocs; p++) {
        pthread_join (reader_threads[p], NULL);
        close (readers[p].fd);
    }
    for (long i = 0; i < run.nhttp; i++)
        pthread_join (http[i], NULL);
    pthread_join (sampler, NULL);
    printf ("deliver: allocator postgresql connections, most seen: %ld\n",
            (long) atomic_load (&run.pg_max));
    printf ("deliver: zmq acknowledgements answered OK: %ld\n",
            (long) atomic_load (&run.acked));
    if (pid > 0)
        printf ("deliver: allocator RSS peak %ld KiB, now %ld KiB; CPU %.0f ms "
                "in all\n",
                hwm_kib, rss_kib, cpu_ms);
    //  Acknowledgement round trips (sent as the ASSIGN came): RESULT, and
    //  with --post-acks POST /api/vm-startup-result through the gateway
    int64_t *ack_result = calloc ((size_t) total, sizeof *ack_result);
    int64_t *ack_post = calloc ((size_t) total, sizeof *ack_post);
    size_t nr = 0, np = 0;
    for (long i = 0; i < run.nzmq && i < total; i++) {
        int64_t got = atomic_load (&run.vms[i].got_us);
        int64_t acked = atomic_load (&run.vms[i].acked_us);
        if (!got || !acked)
            continue;
        if (run.post_acks && i % 2)
            ack_post[np++] = acked - got;
        else
            ack_result[nr++] = acked - got;
    }
    printf ("deliver: acknowledgement round trip RESULT %s (%zu); POST %s "
            "(%zu)\n",
            ll_bench_p50_p99 (a, sizeof a, ack_result, nr), nr,
            ll_bench_p50_p99 (b, sizeof b, ack_post, np), np);
    free (ack_result);
    free (ack_post);
    bool ok = claimed == total && delivered == claimed;
    printf ("verdict: %s\n", ok ? "every claim delivered" : "FAILED");
    free (lat);
    free (lat_zmq);
    free (lat_http);
    free (lat_late);
    free (connected);
    free (http);
    free (agents);
    for (long i = 0; i < total; i++)
        memset (run.vms[i].token, 0, sizeof run.vms[i].token);
    free (run.vms);
    curl_global_cleanup ();
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    return ok ? 0 : 1;
}
