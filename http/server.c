#include "http/server.h"
#include "http/auth.h"
#include "http/client_fds.h"
#include "http/sse.h"
#include "runtime/budget.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/protocol.h"
#include "runtime/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sodium.h>
#include <stdatomic.h>

//  Status codes counted one by one in /metrics; others count as "other".
static const int s_codes[] = {200, 201, 202, 204, 302, 303, 304, 400, 401, 403,
                              404, 405, 409, 413, 429, 500, 502, 503, 504};
#define S_CODE_COUNT    (sizeof s_codes / sizeof s_codes[0])
#define S_CODE_OTHER    S_CODE_COUNT
#define S_MAX_ENDPOINTS 16
//  Per-worker-thread state
typedef struct {
    int client_fd;  //  the descriptor s_client_fd found last, or -1
} s_worker_t;

struct ll_http_server {
    const ll_runtime_t *runtime;  //  config and stats (not owned)
    const ll_route_t *routes;     //  route table (not owned)
    size_t route_count;           //  entries in routes
    struct mg_context *ctx;       //  civetweb
    size_t body_max;              //  request body cap
    //  counts[route][code]; the last row is "no route matched"
    atomic_uint_fast64_t (*counts)[S_CODE_COUNT + 1];
    ll_histogram_t *durations;  //  per route (+ unmatched): request time
    atomic_int inflight;        //  requests being handled now
    //  Per endpoint: calls awaiting the actor's reply (its queue), and the
    //  pool of DEALERs connected to it that no worker holds now
    struct {
        char endpoint[64];              //  "" = free slot
        atomic_int waiting;             //  calls in flight now
        atomic_uint_fast64_t calls;     //  calls made
        atomic_uint_fast64_t failures;  //  timeouts and ERROR replies
        void **idle;                    //  idle sockets (socket_cap slots)
        int idle_count;                 //  entries in idle
    } queues[S_MAX_ENDPOINTS];
    pthread_mutex_t queues_lock;  //  guards slots, idle stacks, open_sockets
    int open_sockets;             //  pooled DEALERs open, idle or lent
    int socket_cap;               //  most open at once: one per worker
    atomic_uint_fast64_t socket_failures;  //  sockets that could not be made
    atomic_bool stopping;                  //  set before mg_stop: streams end
    ll_admin_auth_t *auth;        //  the admin credential (http/auth.h)
    ll_agent_auth_t *agents;      //  verified agent tokens (http/auth.h)
    ll_proxies_t proxies;         //  app.trusted_proxies
    ll_sse_slots_t *streams;      //  live streams' caps (http/sse.h)
    ll_client_fds_t *client_fds;  //  requests' client sockets
    int capture_fd;               //  tests: answers recorded here, or -1
};

static int
s_code_index (int status)
{
    for (size_t i = 0; i < S_CODE_COUNT; i++)
        if (s_codes[i] == status)
            return (int) i;
    return S_CODE_OTHER;
}

//  --- pattern matching --------------------------------------------------

static void
s_free_params (char **params, int count)
{
    for (int i = 0; i < count; i++) {
        free (params[i]);
        params[i] = NULL;
    }
}

bool
ll_http_match (const char *pattern, const char *path, char **params, int *count)
{
    *count = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr (s, '/');
            size_t len = end ? (size_t) (end - s) : strlen (s);
            if (len == 0 || *count == LL_HTTP_MAX_PARAMS) {
                s_free_params (params, *count);
                *count = 0;
                return false;
            }
            char *raw = strndup (s, len);
            char *decoded = malloc (len + 1);
            mg_url_decode (raw, (int) len, decoded, (int) len + 1, 0);
            free (raw);
            params[(*count)++] = decoded;
            s += len;
            p += 2;
        }
        else if (*p == *s) {
            p++;
            s++;
        }
        else
            break;
    }
    if (*p || *s) {
        s_free_params (params, *count);
        *count = 0;
        return false;
    }
    return true;
}

int
ll_http_routes_check (const ll_route_t *routes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const ll_route_t *r = &routes[i];
        if (!r->method || !r->pattern || r->pattern[0] != '/' || !r->fn)
            return (int) i;
        for (size_t j = 0; j < i; j++)
            if (strcmp (routes[j].method, r->method) == 0
                && strcmp (routes[j].pattern, r->pattern) == 0)
                return (int) i;
    }
    return -1;
}

//  --- worker sockets ----------------------------------------------------
//  A worker borrows a DEALER for the endpoint of each call from the
//  server's pool and gives it back after the reply, so the sockets open are
//  the calls in flight at the busiest moment, at most one per worker, not
//  one per worker and actor (docs/architecture.md, "HTTP workers' sockets").
//  A late reply to an earlier, timed-out call on a pooled socket is
//  recognised by its request id and dropped by the next borrower's call.

static void *
s_init_thread (const struct mg_context *ctx, int thread_type)
{
    if (thread_type != 1)  //  1 = worker thread
        return NULL;
    s_worker_t *worker = calloc (1, sizeof (s_worker_t));
    if (worker)
        worker->client_fd = -1;
    return worker;
}

static void
s_exit_thread (const struct mg_context *ctx, int thread_type, void *pointer)
{
    if (thread_type == 1)
        free (pointer);
}

//  The slot of an endpoint, claimed on first use; -1 when all are taken.
//  Call with queues_lock held.
static int
s_queue_slot_locked (ll_http_server_t *self, const char *endpoint)
{
    for (int i = 0; i < S_MAX_ENDPOINTS; i++) {
        if (strcmp (self->queues[i].endpoint, endpoint) == 0)
            return i;
        if (!self->queues[i].endpoint[0]) {
            self->queues[i].idle =
                calloc ((size_t) self->socket_cap, sizeof (void *));
            if (!self->queues[i].idle
                || strlen (endpoint) >= sizeof self->queues[i].endpoint) {
                free (self->queues[i].idle);
                self->queues[i].idle = NULL;
                return -1;
            }
            snprintf (self->queues[i].endpoint, sizeof self->queues[i].endpoint,
                      "%s", endpoint);
            return i;
        }
    }
    return -1;
}

//  Borrow a DEALER connected to endpoint: an idle one, or a new one (the
//  pool closes an idle socket of another endpoint first when it is at its
//  cap). NULL with errno set when none can be made. *slot receives the
//  endpoint's slot for s_socket_return.
static void *
s_socket_borrow (ll_http_server_t *self, const char *endpoint, int *slot)
{
    void *sock = NULL, *evicted = NULL;
    bool reserved = false;
    pthread_mutex_lock (&self->queues_lock);
    int q = *slot = s_queue_slot_locked (self, endpoint);
    if (q >= 0 && self->queues[q].idle_count)
        sock = self->queues[q].idle[--self->queues[q].idle_count];
    else if (q >= 0) {
        //  Lent sockets are fewer than the cap (this worker holds none), so
        //  at the cap some other endpoint has an idle one
        for (int i = 0; i < S_MAX_ENDPOINTS && !evicted
                        && self->open_sockets >= self->socket_cap;
             i++)
            if (self->queues[i].idle_count) {
                evicted = self->queues[i].idle[--self->queues[i].idle_count];
                self->open_sockets--;
            }
        if (self->open_sockets < self->socket_cap) {
            self->open_sockets++;
            reserved = true;
        }
    }
    pthread_mutex_unlock (&self->queues_lock);
    ll_socket_close (&evicted);
    if (sock || !reserved) {
        if (!sock)
            errno = EMFILE;
        return sock;
    }
    sock = ll_socket_new (ZMQ_DEALER);
    if (sock && zmq_connect (sock, endpoint) != 0)
        ll_socket_close (&sock);
    if (!sock) {
        int saved = errno;
        pthread_mutex_lock (&self->queues_lock);
        self->open_sockets--;
        pthread_mutex_unlock (&self->queues_lock);
        errno = saved;
    }
    return sock;
}

static void
s_socket_return (ll_http_server_t *self, int slot, void *sock)
{
    pthread_mutex_lock (&self->queues_lock);
    self->queues[slot].idle[self->queues[slot].idle_count++] = sock;
    pthread_mutex_unlock (&self->queues_lock);
}

//  No socket could be made: count it and log the first failures, then
//  every power of two (a flood must not flood the log).
static void
s_socket_failed (ll_http_server_t *self, const char *endpoint, int error)
{
    uint64_t n = atomic_fetch_add (&self->socket_failures, 1) + 1;
    if ((n & (n - 1)) == 0)
        ll_warn ("http: no socket to %s: %s (%llu failures so far)", endpoint,
                 strerror (error), (unsigned long long) n);
}

void *
ll_http_subscribe (ll_http_req_t *req, const char *endpoint, const char *topic)
{
    void *sub = ll_socket_new (ZMQ_SUB);
    if (sub
        && (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, topic, strlen (topic)) != 0
            || zmq_connect (sub, endpoint) != 0))
        ll_socket_close (&sub);
    if (!sub)
        s_socket_failed (req->server, endpoint, errno);
    return sub;
}

//  The call of req->client and ll_http_call_watch (watched: a long wait,
//  whose timeout or hangup is no failure; watch_fd -1: none found)
static int
s_call (ll_http_req_t *req,
        const char *endpoint,
        const char *command,
        zmsg_t **args,
        int timeout_ms,
        int watch_fd,
        bool watched,
        char *id_out,
        size_t id_size,
        zmsg_t **reply,
        char **error)
{
    ll_http_server_t *self = req->server;
    int q = -1;
    void *sock = s_socket_borrow (self, endpoint, &q);
    if (!sock) {
        int saved = errno;
        zmsg_destroy (args);
        *reply = NULL;
        *error = strdup ("no socket");
        if (id_out && id_size)
            id_out[0] = '\0';
        s_socket_failed (self, endpoint, saved);
        static const char busy[] = "{\"error\":\"Server busy: try again.\"}";
        if (!req->degrade_busy)
            ll_http_send (req, 503, "application/json", busy, sizeof busy - 1,
                          "Retry-After: 1\r\n");
        return -1;
    }
    atomic_fetch_add (&self->queues[q].waiting, 1);
    atomic_fetch_add (&self->queues[q].calls, 1);
    int rc = ll_call_watch (sock, command, args, timeout_ms, watch_fd, id_out,
                            id_size, reply, error);
    atomic_fetch_sub (&self->queues[q].waiting, 1);
    if (rc != 0 && !watched)
        atomic_fetch_add (&self->queues[q].failures, 1);
    s_socket_return (self, q, sock);
    return rc;
}

//  ll_client_t's call for handlers (req->client): a call over a pooled
//  socket for the request
static int
s_client_call (ll_client_t *self,
               const char *endpoint,
               const char *command,
               zmsg_t **args,
               int timeout_ms,
               zmsg_t **reply,
               char **error)
{
    return s_call (self->handle, endpoint, command, args, timeout_ms, -1, false,
                   NULL, 0, reply, error);
}

//  The socket of this request's client (http/client_fds.h), the worker's
//  last one tried first. -1 when not found.
static int
s_client_fd (ll_http_req_t *req)
{
    s_worker_t *worker = mg_get_thread_pointer (req->conn);
    ll_http_server_t *self = req->server;
    int fd = ll_client_fds_find (self->client_fds, mg_get_context (req->conn),
                                 req->info->remote_addr, req->info->remote_port,
                                 worker ? worker->client_fd : -1);
    if (worker)
        worker->client_fd = fd;
    return fd;
}

int
ll_http_call_watch (ll_http_req_t *req,
                    const char *endpoint,
                    const char *command,
                    zmsg_t **args,
                    int timeout_ms,
                    char *id_out,
                    size_t id_size,
                    zmsg_t **reply,
                    char **error)
{
    return s_call (req, endpoint, command, args, timeout_ms, s_client_fd (req),
                   true, id_out, id_size, reply, error);
}

//  --- dispatch ------------------------------------------------------------

static int
s_read_body (ll_http_server_t *self, ll_http_req_t *req)
{
    long long declared = req->info->content_length;
    if (declared > (long long) self->body_max) {
        ll_http_error (req, 413, "Request body too large.");
        return -1;
    }
    size_t cap = declared >= 0 ? (size_t) declared : self->body_max + 1;
    if (cap == 0)
        return 0;
    req->body = malloc (cap + 1);
    size_t got = 0;
    while (got < cap) {
        int n = mg_read (req->conn, req->body + got, cap - got);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    if (got > self->body_max) {
        ll_http_error (req, 413, "Request body too large.");
        return -1;
    }
    req->body[got] = '\0';
    req->body_len = got;
    return 0;
}

//  Every line of header name joined with commas, as RFC 9110 reads
//  repeated fields (new string), or NULL when there is none.
static char *
s_header_joined (const struct mg_request_info *info, const char *name)
{
    size_t len = 0;
    for (int i = 0; i < info->num_headers; i++)
        if (strcasecmp (info->http_headers[i].name, name) == 0)
            len += strlen (info->http_headers[i].value) + 1;
    if (!len)
        return NULL;
    char *out = malloc (len);
    size_t used = 0;
    for (int i = 0; i < info->num_headers; i++)
        if (strcasecmp (info->http_headers[i].name, name) == 0) {
            size_t n = strlen (info->http_headers[i].value);
            if (used)
                out[used++] = ',';
            memcpy (out + used, info->http_headers[i].value, n);
            used += n;
        }
    out[used] = '\0';
    return out;
}

//  The client's address (issue 15 section 4): the peer, or what trusted
//  proxies say it is.
static void
s_client_address (ll_http_server_t *self, ll_http_req_t *req)
{
    char *xff = s_header_joined (req->info, "X-Forwarded-For");
    char *forwarded = xff ? NULL : s_header_joined (req->info, "Forwarded");
    ll_proxies_client (&self->proxies, req->info->remote_addr, xff, forwarded,
                       req->address);
    free (xff);
    free (forwarded);
}

//  The request's id: the proxy's X-Request-Id when it is a plain token,
//  else 16 random hex digits. Every log line of this worker carries it
//  until the request ends.
static void
s_request_id (struct mg_connection *conn, char *out, size_t size)
{
    const char *given = mg_get_header (conn, "X-Request-Id");
    size_t len = given ? strlen (given) : 0;
    if (len && len < size && len <= 64
        && strspn (given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789._-")
               == len) {
        snprintf (out, size, "%s", given);
        return;
    }
    unsigned char bytes[8];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2hex (out, size, bytes, sizeof bytes);
}

static int
s_begin_request (struct mg_connection *conn)
{
    double t0 = ll_metrics_clock ();
    const struct mg_request_info *info = mg_get_request_info (conn);
    ll_http_server_t *self = mg_get_user_data (mg_get_context (conn));
    ll_http_req_t req = {.conn = conn, .info = info, .server = self};
    req.client = (ll_client_t){.call = s_client_call, .handle = &req};
    atomic_fetch_add (&self->inflight, 1);
    s_client_address (self, &req);
    char request_id[72];
    s_request_id (conn, request_id, sizeof request_id);
    ll_log_context_set ("request_id", request_id);

    const char *path = info->local_uri ? info->local_uri : "/";
    bool path_known = false;
    size_t route_index = self->route_count;  //  "unmatched" row
    for (size_t i = 0; i < self->route_count; i++) {
        char *params[LL_HTTP_MAX_PARAMS];
        int count = 0;
        if (!ll_http_match (self->routes[i].pattern, path, params, &count))
            continue;
        path_known = true;
        const char *method = info->request_method;
        bool same = strcmp (self->routes[i].method, method) == 0
                    || (strcmp (method, "HEAD") == 0
                        && strcmp (self->routes[i].method, "GET") == 0);
        if (!same) {
            s_free_params (params, count);
            continue;
        }
        memcpy (req.params, params, sizeof params);
        req.param_count = count;
        req.route = &self->routes[i];
        route_index = i;
        break;
    }
    if (info->content_length > (long long) self->body_max)
        ll_http_error (&req, 413,
                       "Request body too large.");  //  before anything else
    else if (!req.route) {
        if (path_known)
            ll_http_error (&req, 405, "Method not allowed.");
        else
            ll_http_error (&req, 404, "Not found.");
    }
    else if (ll_http_authorize (&req) == 0 && s_read_body (self, &req) == 0
             && ll_http_check_nul (&req) == 0 && ll_http_check_csrf (&req) == 0
             && ll_sse_take (self->streams, &req) == 0)
        req.route->fn (&req);
    ll_sse_give (self->streams, &req);
    if (req.audit) {
        //  Every admin action: who, what, on which target, and the outcome
        char action[160], detail[160];
        snprintf (action, sizeof action, "%s %s", info->request_method,
                  req.route->pattern);
        snprintf (detail, sizeof detail, "HTTP %d via %s from %s", req.status,
                  req.via_session ? "session" : "basic", req.address);
        ll_http_audit (&req, action, req.param_count ? req.params[0] : NULL,
                       req.status >= 200 && req.status < 400 ? "success"
                                                             : "failure",
                       detail);
    }

    atomic_fetch_add (&self->counts[route_index][s_code_index (req.status)], 1);
    double seconds = ll_metrics_clock () - t0;
    ll_histogram_observe (&self->durations[route_index], seconds);
    if (self->runtime->config->app.access_log && ll_log_enabled (LL_LOG_INFO)) {
        //  The route's pattern, never the path: no hostname or token
        //  from the URL reaches the log, and lines group by route
        const ll_log_field_t fields[] = {
            LL_LOG_STR ("method", info->request_method),
            LL_LOG_STR ("route", req.route ? req.route->pattern : "unmatched"),
            LL_LOG_NUM ("status", req.status ? req.status : 500),
            LL_LOG_NUM ("duration_ms", (double) (long) (seconds * 1e4) / 10),
            LL_LOG_STR ("client", req.address),
        };
        ll_log_fields (LL_LOG_INFO, fields, sizeof fields / sizeof fields[0],
                       "http: access");
    }
    ll_log_context_clear ();
    s_free_params (req.params, req.param_count);
    free (req.body);
    atomic_fetch_sub (&self->inflight, 1);
    return req.status ? req.status : 500;
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    ll_warn ("http: civetweb: %s", message);
    return 1;
}

ll_http_server_t *
ll_http_server_new (const ll_runtime_t *runtime,
                    const ll_route_t *routes,
                    size_t route_count,
                    char *error,
                    size_t errsize)
{
    if (sodium_init () < 0) {
        snprintf (error, errsize, "libsodium cannot start");
        return NULL;
    }
    int bad = ll_http_routes_check (routes, route_count);
    if (bad >= 0) {
        snprintf (error, errsize, "route %d is invalid or duplicated", bad);
        return NULL;
    }
    const ll_config_t *config = runtime->config;
    ll_http_server_t *self = calloc (1, sizeof *self);
    self->runtime = runtime;
    self->routes = routes;
    self->route_count = route_count;
    self->body_max = (size_t) config->app.request_body_max;
    self->capture_fd = -1;
    const char *capture = getenv ("LABLINK_API_CAPTURE_DIR");
    if (capture && *capture) {
        char path[PATH_MAX];
        snprintf (path, sizeof path, "%s/answers-%d-%u.jsonl", capture,
                  (int) getpid (), randombytes_random ());
        self->capture_fd =
            open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    self->counts = calloc (route_count + 1, sizeof *self->counts);
    self->durations = calloc (route_count + 1, sizeof *self->durations);
    for (size_t i = 0; i <= route_count; i++) {
        self->durations[i].bounds = ll_buckets_request;
        self->durations[i].count = LL_BUCKETS_REQUEST;
    }
    pthread_mutex_init (&self->queues_lock, NULL);
    self->socket_cap = config->app.http_threads;
    self->agents = ll_agent_auth_new ();
    self->streams = ll_sse_slots_new (config->app.max_streams,
                                      config->app.max_streams_per_token);
    self->auth = ll_admin_auth_new (config);
    self->client_fds = ll_client_fds_new ();
    if (!self->auth || !self->agents || !self->streams || !self->client_fds) {
        snprintf (error, errsize, "libsodium cannot start");
        ll_http_server_destroy (&self);
        return NULL;
    }
    if (ll_proxies_init (&self->proxies, &config->app.trusted_proxies, error,
                         errsize)
        != 0) {
        ll_http_server_destroy (&self);
        return NULL;
    }

    char threads[16], request_ms[16], backlog[16];
    snprintf (threads, sizeof threads, "%d", config->app.http_threads);
    //  As many waiting connections as workers (agents polling again all at
    //  once); the kernel caps it (net.core.somaxconn)
    snprintf (backlog, sizeof backlog, "%d",
              config->app.http_threads > 128 ? config->app.http_threads : 128);
    //  A client that trickles its headers (slowloris) holds a worker until
    //  this deadline: keep it short so a few sockets cannot starve the pool
    snprintf (request_ms, sizeof request_ms, "%d",
              config->app.request_timeout_s * 1000);
    const char *options[] = {"listening_ports", config->app.listen,
                             "num_threads", threads, "request_timeout_ms",
                             request_ms, "enable_keep_alive", "yes",
                             //  An idle keep-alive connection holds a worker:
                             //  keep it short so a classroom of browsers
                             //  polling the count cannot starve the pool
                             "keep_alive_timeout_ms", "5000", "tcp_nodelay",
                             "1", "listen_backlog", backlog, NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.begin_request = s_begin_request;
    callbacks.init_thread = s_init_thread;
    callbacks.exit_thread = s_exit_thread;
    callbacks.log_message = s_log_message;
    struct mg_init_data init = {.callbacks = &callbacks,
                                .user_data = self,
                                .configuration_options = options};
    struct mg_error_data err = {.text = error, .text_buffer_size = errsize};
    self->ctx = mg_start2 (&init, &err);
    if (!self->ctx) {
        ll_http_server_destroy (&self);
        return NULL;
    }
    return self;
}

int
ll_http_server_port (ll_http_server_t *self)
{
    struct mg_server_port ports[4];
    int n = mg_get_server_ports (self->ctx, 4, ports);
    return n > 0 ? ports[0].port : -1;
}

void
ll_http_server_stopping (ll_http_server_t *self)
{
    atomic_store (&self->stopping, true);
}

bool
ll_http_client_gone (ll_http_req_t *req)
{
    if (!req->client_fd) {
        int fd = s_client_fd (req);
        req->client_fd = fd >= 0 ? fd + 1 : -1;
    }
    if (req->client_fd < 0)
        return false;
    struct pollfd p = {req->client_fd - 1, POLLIN, 0};
    if (poll (&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
        return true;
    char byte;
    return recv (req->client_fd - 1, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool
ll_http_stopping (ll_http_req_t *req)
{
    return atomic_load (&req->server->stopping);
}

struct ll_admin_auth *
ll_http_server_auth (ll_http_server_t *self)
{
    return self->auth;
}

struct ll_agent_auth *
ll_http_server_agents (ll_http_server_t *self)
{
    return self->agents;
}

void
ll_http_server_forget (ll_http_server_t *self, const char *host)
{
    ll_agent_auth_forget (self->agents, host);
}

int
ll_http_server_capture_fd (ll_http_server_t *self)
{
    return self->capture_fd;
}

const ll_runtime_t *
ll_http_server_runtime (ll_http_server_t *self)
{
    return self->runtime;
}

//  The actor behind an endpoint, for the {actor} label.
static const char *
s_actor_of (const char *endpoint)
{
    if (strcmp (endpoint, LL_ENDPOINT_LOGS) == 0)
        return "ingest";
    const char *name = strstr (endpoint, "://");
    return name ? name + 3 : endpoint;
}

char *
ll_http_server_metrics (ll_http_server_t *self)
{
    ll_textbuf_t buf = {0};
#define APPEND(...) ll_textbuf_printf (&buf, __VA_ARGS__)
    ll_metrics_build_info (&buf);
    ll_metrics_process (&buf);
    APPEND ("# HELP lablink_http_requests_total HTTP requests by route and "
            "status.\n"
            "# TYPE lablink_http_requests_total counter\n");
    for (size_t r = 0; r <= self->route_count; r++)
        for (size_t c = 0; c <= S_CODE_COUNT; c++) {
            uint64_t n = atomic_load (&self->counts[r][c]);
            if (!n)
                continue;
            char code[8];
            if (c < S_CODE_COUNT)
                snprintf (code, sizeof code, "%d", s_codes[c]);
            else
                snprintf (code, sizeof code, "other");
            APPEND ("lablink_http_requests_total{method=\"%s\",route=\"%s\","
                    "status=\"%s\"} %llu\n",
                    r < self->route_count ? self->routes[r].method : "",
                    r < self->route_count ? self->routes[r].pattern
                                          : "unmatched",
                    code, (unsigned long long) n);
        }
    ll_metrics_family (&buf, "lablink_http_request_duration_seconds",
                       "histogram",
                       "Time from a request's arrival to the end of its "
                       "answer, by route (long polls included).");
    for (size_t r = 0; r <= self->route_count; r++) {
        if (!atomic_load (&self->durations[r].observations))
            continue;
        char labels[300];
        snprintf (labels, sizeof labels, "method=\"%s\",route=\"%s\"",
                  r < self->route_count ? self->routes[r].method : "",
                  r < self->route_count ? self->routes[r].pattern
                                        : "unmatched");
        ll_histogram_render (&buf, "lablink_http_request_duration_seconds",
                             labels, &self->durations[r]);
    }
    APPEND ("# HELP lablink_http_requests_in_flight Requests being handled "
            "now.\n"
            "# TYPE lablink_http_requests_in_flight gauge\n"
            "lablink_http_requests_in_flight %d\n",
            atomic_load (&self->inflight));
    int streams = ll_sse_slots_open (self->streams);
    APPEND ("# HELP lablink_http_streams Live streams (SSE) open now.\n"
            "# TYPE lablink_http_streams gauge\n"
            "lablink_http_streams %d\n",
            streams);
    APPEND (
        "# HELP lablink_actor_queue_depth Calls waiting for an actor's reply.\n"
        "# TYPE lablink_actor_queue_depth gauge\n");
    pthread_mutex_lock (&self->queues_lock);
    for (int i = 0; i < S_MAX_ENDPOINTS && self->queues[i].endpoint[0]; i++)
        APPEND ("lablink_actor_queue_depth{actor=\"%s\"} %d\n",
                s_actor_of (self->queues[i].endpoint),
                atomic_load (&self->queues[i].waiting));
    APPEND (
        "# HELP lablink_actor_calls_total Calls to actors, and failed ones.\n"
        "# TYPE lablink_actor_calls_total counter\n");
    for (int i = 0; i < S_MAX_ENDPOINTS && self->queues[i].endpoint[0]; i++) {
        uint64_t calls = atomic_load (&self->queues[i].calls);
        uint64_t failures = atomic_load (&self->queues[i].failures);
        const char *actor = s_actor_of (self->queues[i].endpoint);
        APPEND ("lablink_actor_calls_total{actor=\"%s\",outcome=\"ok\"} "
                "%llu\n"
                "lablink_actor_calls_total{actor=\"%s\",outcome=\"failed\"} "
                "%llu\n",
                actor, (unsigned long long) (calls - failures), actor,
                (unsigned long long) failures);
    }
    APPEND ("# HELP lablink_http_actor_sockets HTTP workers' DEALER sockets "
            "open (pooled).\n"
            "# TYPE lablink_http_actor_sockets gauge\n"
            "lablink_http_actor_sockets %d\n",
            self->open_sockets);
    pthread_mutex_unlock (&self->queues_lock);
    APPEND ("# HELP lablink_http_socket_failures_total Requests answered 503 "
            "because no socket could be made (socket or descriptor limit).\n"
            "# TYPE lablink_http_socket_failures_total counter\n"
            "lablink_http_socket_failures_total %llu\n",
            (unsigned long long) atomic_load (&self->socket_failures));
    ll_stats_t *stats = self->runtime->stats;
    APPEND ("# HELP lablink_pg_reconnects_total PostgreSQL reconnections.\n"
            "# TYPE lablink_pg_reconnects_total counter\n"
            "lablink_pg_reconnects_total %llu\n"
            "# HELP lablink_pg_connect_failures_total Failed PostgreSQL "
            "connection attempts.\n"
            "# TYPE lablink_pg_connect_failures_total counter\n"
            "lablink_pg_connect_failures_total %llu\n",
            (unsigned long long) atomic_load (&stats->pg_reconnects),
            (unsigned long long) atomic_load (&stats->pg_failures));
    if (self->runtime->metrics)
        ll_metrics_render (self->runtime->metrics, &buf);
#undef APPEND
    char *out = buf.data ? buf.data : strdup ("");
    return out;
}

void
ll_http_server_destroy (ll_http_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_http_server_t *self = *self_p;
    atomic_store (&self->stopping, true);
    //  civetweb's master thread (waiting for connections) and a worker
    //  waiting for a keep-alive client's next request notice the stop only
    //  every 2 s (its poll quantum): the listening sockets and the
    //  connections are cut for reading first. New connections are refused
    //  from here; a request in flight can still be answered.
    if (self->ctx)
        ll_client_fds_cut_all (self->ctx);
    if (self->ctx)
        mg_stop (self->ctx);
    //  Every worker has ended: every socket is back in its pool
    for (int i = 0; i < S_MAX_ENDPOINTS; i++) {
        for (int k = 0; k < self->queues[i].idle_count; k++)
            ll_socket_close (&self->queues[i].idle[k]);
        free (self->queues[i].idle);
    }
    if (self->capture_fd >= 0)
        close (self->capture_fd);
    free (self->counts);
    free (self->durations);
    pthread_mutex_destroy (&self->queues_lock);
    ll_agent_auth_destroy (&self->agents);
    ll_sse_slots_destroy (&self->streams);
    ll_client_fds_destroy (&self->client_fds);
    ll_admin_auth_destroy (&self->auth);
    ll_proxies_free (&self->proxies);
    free (self);
    *self_p = NULL;
}
