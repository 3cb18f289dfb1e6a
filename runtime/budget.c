#include "runtime/budget.h"
#include "runtime/log.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

//  Sockets of the actors: two pipe ends per zactor (10 actors), their own
//  ROUTER/PUB/SUB sockets (registry 1, admin 1, listener 1, waiters 2,
//  assigner 1, ingest 2, terraform 2, exporter 1, http's SUB 1) and the
//  gateway's ROUTER with its 5 DEALERs and its SUB. Counted from actors/*.c;
//  the margin covers a new one.
#define S_ACTOR_SOCKETS (20 + 12 + 7)
#define S_SOCKET_MARGIN 32
//  civetweb's accept queue (its connection_queue option, default 20)
#define S_HTTP_QUEUE 20
//  Descriptors that no setting sizes: 8 PostgreSQL connections, libzmq's
//  I/O thread, reaper and context (5), terraform's pipes and files (8),
//  the gateway's listener and spares (4), stdio and
//  /dev/urandom (4), and a margin
#define S_FIXED_FDS (8 + 5 + 8 + 4 + 4 + 64)

//  Listening sockets of app.listen ("127.0.0.1:5000,8443s")
static int
s_listeners (const char *listen)
{
    int n = 1;
    for (const char *c = listen; *c; c++)
        n += *c == ',';
    return n;
}

void
ll_budget_compute (const ll_config_t *config, ll_budget_t *out)
{
    memset (out, 0, sizeof *out);
    int threads = config->app.http_threads;
    out->http_sockets = 2 * threads;
    out->actor_sockets = S_ACTOR_SOCKETS;
    out->export_sockets = 2 * config->export.parallel;
    out->zmq_sockets = out->http_sockets + out->actor_sockets
                       + out->export_sockets + S_SOCKET_MARGIN;
    out->http_fds =
        2 * threads + S_HTTP_QUEUE + s_listeners (config->app.listen);
    out->agent_fds =
        *config->agent.zmq_endpoint ? config->agent.max_zmq_agents : 0;
    out->fixed_fds = S_FIXED_FDS + config->export.parallel;
    out->descriptors =
        out->zmq_sockets + out->http_fds + out->agent_fds + out->fixed_fds;
}

int
ll_budget_check (const ll_budget_t *self, char *error, size_t errsize)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0) {
        snprintf (error, errsize, "cannot read RLIMIT_NOFILE: %s",
                  strerror (errno));
        return -1;
    }
    if (limit.rlim_max != RLIM_INFINITY
        && (rlim_t) self->descriptors > limit.rlim_max) {
        snprintf (error, errsize,
                  "the configuration needs %d file descriptors "
                  "(app.http_threads: %d, agent.max_zmq_agents: %d, "
                  "export.parallel and fixed: %d, libzmq sockets: %d) but this "
                  "process may open at most %llu (RLIMIT_NOFILE hard limit): "
                  "lower app.http_threads or agent.max_zmq_agents, or raise "
                  "the limit (systemd LimitNOFILE=, ulimit -Hn)",
                  self->descriptors, self->http_fds, self->agent_fds,
                  self->fixed_fds, self->zmq_sockets,
                  (unsigned long long) limit.rlim_max);
        return -1;
    }
    //  libzmq's own ceiling (its poller's), the same for every context
    void *probe = zmq_ctx_new ();
    int most = probe ? zmq_ctx_get (probe, ZMQ_SOCKET_LIMIT) : -1;
    if (probe)
        zmq_ctx_term (probe);
    if (most > 0 && self->zmq_sockets > most) {
        snprintf (error, errsize,
                  "the configuration needs %d libzmq sockets (2 per "
                  "app.http_threads: %d) but libzmq allows at most %d: lower "
                  "app.http_threads",
                  self->zmq_sockets, self->http_sockets, most);
        return -1;
    }
    return 0;
}

int
ll_budget_apply (const ll_budget_t *self, char *error, size_t errsize)
{
    if (ll_budget_check (self, error, errsize) != 0)
        return -1;
    struct rlimit limit;
    getrlimit (RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur != RLIM_INFINITY
        && limit.rlim_cur < (rlim_t) self->descriptors) {
        limit.rlim_cur = (rlim_t) self->descriptors;
        if (setrlimit (RLIMIT_NOFILE, &limit) != 0) {
            snprintf (error, errsize, "cannot raise RLIMIT_NOFILE to %d: %s",
                      self->descriptors, strerror (errno));
            return -1;
        }
    }
    //  czmq applies ZSYS_MAX_SOCKETS in zsys_init: kept when larger
    void *ctx = zsys_init ();
    if (zmq_ctx_get (ctx, ZMQ_MAX_SOCKETS) < self->zmq_sockets)
        zsys_set_max_sockets ((size_t) self->zmq_sockets);
    if (zmq_ctx_get (ctx, ZMQ_MAX_SOCKETS) < self->zmq_sockets) {
        snprintf (error, errsize, "libzmq refused a socket limit of %d",
                  self->zmq_sockets);
        return -1;
    }
    return 0;
}

void
ll_budget_describe (const ll_budget_t *self, char *out, size_t outsize)
{
    struct rlimit limit = {0, 0};
    getrlimit (RLIMIT_NOFILE, &limit);
    snprintf (out, outsize,
              "budget: %d libzmq sockets (http %d, actors %d, export %d), %d "
              "file descriptors (http %d, zmq agents %d, fixed %d); "
              "RLIMIT_NOFILE %llu/%llu",
              self->zmq_sockets, self->http_sockets, self->actor_sockets,
              self->export_sockets, self->descriptors, self->http_fds,
              self->agent_fds, self->fixed_fds,
              (unsigned long long) limit.rlim_cur,
              (unsigned long long) limit.rlim_max);
}

void *
ll_socket_new (int type)
{
    void *sock = zmq_socket (zsys_init (), type);
    if (!sock)
        return NULL;
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    return sock;
}

void
ll_socket_close (void **sock_p)
{
    if (sock_p && *sock_p) {
        zmq_close (*sock_p);
        *sock_p = NULL;
    }
}
