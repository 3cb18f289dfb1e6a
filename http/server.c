#include "http/server.h"
#include "http/auth.h"
#include "runtime/budget.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/protocol.h"
#include "runtime/proxy.h"
#include "runtime/token.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <netinet/in.h>
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
//  Verified agent tokens kept: a backstop lifetime (revocations arrive as
//  events at once) and a bound on the table
#define S_TOKEN_CACHE_MS  60000
#define S_TOKEN_CACHE_MAX 100000

//  One verified agent token (the key is its hash).
typedef struct {
    char host[LL_TOKEN_SCOPE_MAX + 1];  //  the VM
    long long generation;               //  its token's generation
    int64_t expires_ms;                 //  verify again after this
} s_cached_token_t;

static void
s_cached_token_free (void **item)
{
    free (*item);
    *item = NULL;
}

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
    pthread_mutex_t secret_lock;           //  guards secret
    char secret[129];                      //  server secret, "" until fetched
    pthread_mutex_t tokens_lock;           //  guards tokens
    zhashx_t *tokens;                      //  token hash -> s_cached_token_t
    atomic_uint_fast64_t tokens_epoch;     //  bumped by every forget
    ll_admin_auth_t *auth;  //  the admin credential (http/auth.h)
    ll_proxies_t proxies;   //  app.trusted_proxies
    //  Live streams now: in total and per credential (issue 15 section 5)
    pthread_mutex_t streams_lock;  //  guards the three below
    int streams;                   //  streams open
    struct {
        char key[264];  //  the credential ("" = free entry)
        int count;      //  its streams
    } * stream_owners;  //  app.max_streams entries
    int capture_fd;     //  tests: answers recorded here, or -1
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

//  The call of ll_http_call and ll_http_call_watch (watched: a long wait,
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

int
ll_http_call (ll_http_req_t *req,
              const char *endpoint,
              const char *command,
              zmsg_t **args,
              int timeout_ms,
              zmsg_t **reply,
              char **error)
{
    return s_call (req, endpoint, command, args, timeout_ms, -1, false, NULL, 0,
                   reply, error);
}

//  ll_client_t's call for handlers: ll_http_call with the request
static int
s_client_call (ll_client_t *self,
               const char *endpoint,
               const char *command,
               zmsg_t **args,
               int timeout_ms,
               zmsg_t **reply,
               char **error)
{
    return ll_http_call (self->handle, endpoint, command, args, timeout_ms,
                         reply, error);
}

//  True when fd is a client's TCP connection to one of our ports; with req,
//  that request's client's: its peer is the request's remote address (a
//  TCP 4-tuple is unique).
static bool
s_is_client_fd (ll_http_req_t *req,
                int fd,
                const struct mg_server_port *ports,
                int nports)
{
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof peer, llen = sizeof local;
    if (getpeername (fd, (struct sockaddr *) &peer, &plen) != 0
        || getsockname (fd, (struct sockaddr *) &local, &llen) != 0)
        return false;
    char addr[64] = "";
    int pport = 0, lport = 0;
    if (peer.ss_family == AF_INET) {
        struct sockaddr_in *p = (struct sockaddr_in *) &peer;
        inet_ntop (AF_INET, &p->sin_addr, addr, sizeof addr);
        pport = ntohs (p->sin_port);
        lport = ntohs (((struct sockaddr_in *) &local)->sin_port);
    }
    else if (peer.ss_family == AF_INET6) {
        struct sockaddr_in6 *p = (struct sockaddr_in6 *) &peer;
        inet_ntop (AF_INET6, &p->sin6_addr, addr, sizeof addr);
        pport = ntohs (p->sin6_port);
        lport = ntohs (((struct sockaddr_in6 *) &local)->sin6_port);
    }
    else
        return false;
    if (req
        && (pport != req->info->remote_port
            || strcmp (addr, req->info->remote_addr) != 0))
        return false;
    for (int i = 0; i < nports; i++)
        if (ports[i].port == lport)
            return true;
    return false;
}

//  True when fd is one of our listening sockets.
static bool
s_is_listener (int fd, const struct mg_server_port *ports, int nports)
{
    int listening = 0;
    socklen_t len = sizeof listening;
    struct sockaddr_storage local;
    socklen_t llen = sizeof local;
    if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0
        || !listening
        || getsockname (fd, (struct sockaddr *) &local, &llen) != 0)
        return false;
    int port = local.ss_family == AF_INET
                   ? ntohs (((struct sockaddr_in *) &local)->sin_port)
               : local.ss_family == AF_INET6
                   ? ntohs (((struct sockaddr_in6 *) &local)->sin6_port)
                   : -1;
    for (int i = 0; i < nports; i++)
        if (ports[i].port == port)
            return true;
    return false;
}

//  Every descriptor of the process is looked at (two system calls each):
//  with req, the first that is its client's connection is returned;
//  without, every client connection and listening socket of ours is cut
//  for reading (-1).
static int
s_scan_fds (struct mg_context *ctx, ll_http_req_t *req)
{
    struct mg_server_port ports[8];
    int nports = mg_get_server_ports (ctx, 8, ports);
    DIR *dir = nports > 0 ? opendir ("/proc/self/fd") : NULL;
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir (dir))) {
        char *end = NULL;
        long fd = strtol (entry->d_name, &end, 10);
        if (!end || *end || fd < 0 || fd == dirfd (dir))
            continue;
        if (s_is_client_fd (req, (int) fd, ports, nports)) {
            if (req)
                found = (int) fd;
            else
                shutdown ((int) fd, SHUT_RD);
        }
        else if (!req && s_is_listener ((int) fd, ports, nports))
            shutdown ((int) fd, SHUT_RD);
    }
    closedir (dir);
    return found;
}

//  The socket of this request's client: civetweb does not expose it. The
//  worker's last one is tried first (a keep-alive agent polls again on the
//  same connection), then every descriptor: with 10,000 agents' connections
//  open that was milliseconds per long-poll. -1 when not found.
static int
s_client_fd (ll_http_req_t *req)
{
    s_worker_t *worker = mg_get_thread_pointer (req->conn);
    struct mg_server_port ports[8];
    int nports = mg_get_server_ports (mg_get_context (req->conn), 8, ports);
    if (worker && worker->client_fd >= 0 && nports > 0
        && s_is_client_fd (req, worker->client_fd, ports, nports))
        return worker->client_fd;
    int found = s_scan_fds (mg_get_context (req->conn), req);
    if (worker)
        worker->client_fd = found;
    return found;
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

//  --- responses ---------------------------------------------------------

//  Answers under this size (headers and body) are built on the stack
#define S_SMALL_ANSWER 8192

static const char s_security_headers[] =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: same-origin\r\n"
    "X-Frame-Options: DENY\r\n";

//  The status line and headers of an answer into out (snprintf's result)
static int
s_format_head (char *out,
               size_t size,
               ll_http_req_t *req,
               int status,
               const char *content_type,
               size_t len,
               const char *extra_headers)
{
    return snprintf (out, size,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "%s%s\r\n",
                     status, mg_get_response_code_text (req->conn, status),
                     content_type, len, s_security_headers,
                     extra_headers ? extra_headers : "");
}

//  Tests only (LABLINK_API_CAPTURE_DIR, docs/testing.md): one JSON line
//  per answer, for the OpenAPI check: route, method, status, content type
//  and, when it is JSON and under 256 KiB, the body. One write() per line
//  (O_APPEND), so workers never interleave.
#define S_CAPTURE_BODY_MAX (256 * 1024)
static void
s_capture (ll_http_req_t *req,
           int status,
           const char *content_type,
           const void *body,
           size_t len)
{
    if (req->server->capture_fd < 0
        || strcmp (req->info->request_method, "HEAD") == 0)
        return;
    json_t *line = json_pack (
        "{s:s, s:s?, s:s, s:i, s:s}", "method", req->info->request_method,
        "route", req->route ? req->route->pattern : NULL, "path",
        req->info->local_uri ? req->info->local_uri : "", "status", status,
        "content_type", content_type ? content_type : "");
    if (!line)
        return;
    bool json =
        content_type && strncmp (content_type, "application/json", 16) == 0;
    if (json && body && len && len <= S_CAPTURE_BODY_MAX) {
        json_t *parsed = json_loadb (body, len, 0, NULL);
        json_object_set_new (line, "body",
                             parsed ? parsed : json_string ("(not JSON)"));
    }
    json_object_set_new (line, "body_len", json_integer ((json_int_t) len));
    char *text = json_dumps (line, JSON_COMPACT);
    json_decref (line);
    if (text) {
        size_t n = strlen (text);
        text[n] = '\n';  //  replaces the terminator: written by length
        if (write (req->server->capture_fd, text, n + 1) < 0)
            ll_warn ("http: capture: %s", strerror (errno));
        free (text);
    }
}

int
ll_http_send (ll_http_req_t *req,
              int status,
              const char *content_type,
              const void *body,
              size_t len,
              const char *extra_headers)
{
    if (req->answered)  //  e.g. 503 for want of a socket, then the handler's
        return req->status;
    req->answered = true;
    req->status = status;
    s_capture (req, status, content_type, body, len);
    //  HEAD: the headers of the answer (its Content-Length too), no body
    size_t send_len = strcmp (req->info->request_method, "HEAD") == 0 ? 0 : len;
    //  Headers and body leave in one write: one system call and one TCP
    //  segment for the common small answer
    char small[S_SMALL_ANSWER];
    int n = s_format_head (small, sizeof small, req, status, content_type, len,
                           extra_headers);
    if (n < 0)
        return status;
    if ((size_t) n + send_len < sizeof small) {
        if (send_len)
            memcpy (small + n, body, send_len);
        mg_write (req->conn, small, (size_t) n + send_len);
        return status;
    }
    //  A large answer: headers (on the heap when they alone do not fit),
    //  then the body without copying it
    char *head = (size_t) n < sizeof small ? small : malloc ((size_t) n + 1);
    if (!head)
        return status;
    if (head != small)
        s_format_head (head, (size_t) n + 1, req, status, content_type, len,
                       extra_headers);
    mg_write (req->conn, head, (size_t) n);
    if (head != small)
        free (head);
    if (send_len)
        mg_write (req->conn, body, send_len);
    return status;
}

int
ll_http_head (ll_http_req_t *req,
              int status,
              const char *content_type,
              size_t len,
              const char *extra_headers)
{
    req->status = status;
    char head[S_SMALL_ANSWER];
    int n = s_format_head (head, sizeof head, req, status, content_type, len,
                           extra_headers);
    if (n < 0 || (size_t) n >= sizeof head)
        return -1;
    return mg_write (req->conn, head, (size_t) n) == n ? 0 : -1;
}

int
ll_http_chunked_begin (ll_http_req_t *req,
                       int status,
                       const char *content_type,
                       const char *extra_headers)
{
    if (req->answered)
        return -1;
    req->answered = true;
    req->status = status;
    s_capture (req, status, content_type, NULL, 0);
    int n = mg_printf (req->conn,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: %s\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "Cache-Control: no-store\r\n"
                       "%s%s\r\n",
                       status, mg_get_response_code_text (req->conn, status),
                       content_type, s_security_headers,
                       extra_headers ? extra_headers : "");
    return n > 0 ? 0 : -1;
}

int
ll_http_chunk (ll_http_req_t *req, const void *data, size_t len)
{
    char head[32];
    int n = snprintf (head, sizeof head, "%zx\r\n", len);
    if (mg_write (req->conn, head, (size_t) n) != n)
        return -1;
    if (len && mg_write (req->conn, data, len) != (int) len)
        return -1;
    //  The last chunk is followed by an empty trailer
    return mg_write (req->conn, len ? "\r\n" : "\r\n", 2) == 2 ? 0 : -1;
}

void
ll_http_chunk_abort (ll_http_req_t *req)
{
    //  Not a chunk size: the client's decoder fails instead of taking a
    //  truncated body for a whole one
    mg_write (req->conn, "abort\r\n\r\n", 9);
}

int
ll_http_json (ll_http_req_t *req, int status, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_REAL_PRECISION (12));
    json_decref (json);
    if (!text)
        return ll_http_send (req, 500, "application/json",
                             "{\"error\":\"encoding failed\"}", 27, NULL);
    int rc = ll_http_send (req, status, "application/json", text, strlen (text),
                           NULL);
    free (text);
    return rc;
}

int
ll_http_error (ll_http_req_t *req, int status, const char *message)
{
    const char *extra =
        status == 401 && req->route && req->route->auth == LL_AUTH_ADMIN
            ? "WWW-Authenticate: Basic realm=\"Authentication Required\"\r\n"
            : NULL;
    json_t *json = json_pack ("{s:s}", "error", message);
    char *text = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    int rc;
    if (text) {
        rc = ll_http_send (req, status, "application/json", text, strlen (text),
                           extra);
        free (text);
    }
    else
        rc = ll_http_send (req, status, "application/json", "{}", 2, extra);
    return rc;
}

json_t *
ll_http_json_parse (const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    json_error_t err;
    json_t *json = json_loadb (body, len, JSON_REJECT_DUPLICATES, &err);
    if (!json || !json_is_object (json)) {
        json_decref (json);
        return NULL;
    }
    return json;
}

json_t *
ll_http_json_body (ll_http_req_t *req)
{
    json_t *json = ll_http_json_parse (req->body, req->body_len);
    if (!json)
        ll_http_error (req, 400, LL_HTTP_NOT_JSON);
    return json;
}

//  mg_get_var's answer, refused (-2) when the value decoded to a NUL byte:
//  every C string would end there, silently.
static int
s_var (const char *data, size_t len, const char *name, char *out, size_t size)
{
    int rc = mg_get_var (data, len, name, out, size);
    if (rc > 0 && memchr (out, '\0', (size_t) rc)) {
        out[0] = '\0';
        return -2;
    }
    return rc;
}

int
ll_http_form_field (ll_http_req_t *req,
                    const char *name,
                    char *out,
                    size_t outsize)
{
    if (!req->body || outsize == 0)
        return -1;
    return s_var (req->body, req->body_len, name, out, outsize);
}

int
ll_http_query_field (ll_http_req_t *req,
                     const char *name,
                     char *out,
                     size_t outsize)
{
    const char *qs = req->info->query_string;
    if (!qs || outsize == 0)
        return -1;
    return s_var (qs, strlen (qs), name, out, outsize);
}

//  True when urlencoded text decodes to a NUL byte somewhere ("%00").
static bool
s_encodes_nul (const char *text, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (text[i] == '%' && text[i + 1] == '0' && text[i + 2] == '0')
            return true;
    return false;
}

//  A query string or form body holding a NUL byte (%00, or a raw NUL in a
//  form body) is refused before any handler reads a field: 400, never a
//  value silently cut at the NUL. Any body but JSON may be read as a form
//  (mg_get_var does not look at Content-Type); the agents' routes take
//  JSON only. 0, or -1 after answering.
static int
s_check_nul (ll_http_req_t *req)
{
    const char *qs = req->info->query_string;
    bool bad = qs && s_encodes_nul (qs, strlen (qs));
    const char *type = ll_http_header (req, "Content-Type");
    bool json = type && strncasecmp (type, "application/json", 16) == 0;
    if (!bad && req->body && !json && req->route->auth != LL_AUTH_AGENT)
        bad = memchr (req->body, '\0', req->body_len)
              || s_encodes_nul (req->body, req->body_len);
    if (!bad)
        return 0;
    ll_http_error (req, 400, "A form field holds a NUL byte (%00).");
    return -1;
}

const char *
ll_http_header (ll_http_req_t *req, const char *name)
{
    return mg_get_header (req->conn, name);
}

bool
ll_http_wants_json (ll_http_req_t *req)
{
    const char *accept = ll_http_header (req, "Accept");
    return accept && strstr (accept, "application/json")
           && !strstr (accept, "text/html");
}

//  --- live streams ----------------------------------------------------------

#define S_STREAM_RETRY_S 5  //  Retry-After past a stream cap

//  Whose stream this is: the admin's session or user, else the VM (or
//  service) its Bearer token proved, else the address.
static void
s_stream_key (ll_http_req_t *req, char *out, size_t size)
{
    if (req->via_session)
        snprintf (out, size, "session:%.64s", req->session_hash);
    else if (req->is_admin)
        snprintf (out, size, "basic:%.60s", req->actor);
    else if (req->agent[0])
        snprintf (out, size, "agent:%s", req->agent);
    else
        snprintf (out, size, "address:%s", req->address);
}

//  A stream route takes a slot before its handler runs: 0, or -1 after
//  429 (this credential's cap) or 503 (the server's), with Retry-After.
bool
ll_http_route_is_stream (const ll_route_t *route)
{
    size_t len = strlen (route->pattern);
    return len >= 7 && strcmp (route->pattern + len - 7, "/events") == 0;
}

static int
s_stream_take (ll_http_server_t *self, ll_http_req_t *req)
{
    if (!ll_http_route_is_stream (req->route))
        return 0;
    const ll_config_t *config = self->runtime->config;
    char key[sizeof req->stream_key];
    s_stream_key (req, key, sizeof key);
    int status = 0;
    pthread_mutex_lock (&self->streams_lock);
    int mine = -1, free_slot = -1;
    for (int i = 0; i < config->app.max_streams; i++) {
        if (strcmp (self->stream_owners[i].key, key) == 0)
            mine = i;
        else if (!self->stream_owners[i].key[0] && free_slot < 0)
            free_slot = i;
    }
    if (self->streams >= config->app.max_streams)
        status = 503;
    else if (mine >= 0
             && self->stream_owners[mine].count
                    >= config->app.max_streams_per_token)
        status = 429;
    else {
        if (mine < 0) {
            mine = free_slot;  //  fewer streams than entries: one is free
            snprintf (self->stream_owners[mine].key,
                      sizeof self->stream_owners[mine].key, "%s", key);
        }
        self->stream_owners[mine].count++;
        self->streams++;
        snprintf (req->stream_key, sizeof req->stream_key, "%s", key);
    }
    pthread_mutex_unlock (&self->streams_lock);
    if (!status)
        return 0;
    char headers[64];
    snprintf (headers, sizeof headers, "Retry-After: %d\r\n", S_STREAM_RETRY_S);
    const char *body =
        status == 429
            ? "{\"error\":\"Too many live streams for this client. Close "
              "one and try again.\"}"
            : "{\"error\":\"Too many live streams on this server. Try "
              "again later.\"}";
    ll_http_send (req, status, "application/json", body, strlen (body),
                  headers);
    return -1;
}

static void
s_stream_give (ll_http_server_t *self, ll_http_req_t *req)
{
    if (!req->stream_key[0])
        return;
    pthread_mutex_lock (&self->streams_lock);
    for (int i = 0; i < self->runtime->config->app.max_streams; i++)
        if (strcmp (self->stream_owners[i].key, req->stream_key) == 0) {
            if (--self->stream_owners[i].count == 0)
                self->stream_owners[i].key[0] = '\0';
            self->streams--;
            break;
        }
    pthread_mutex_unlock (&self->streams_lock);
    req->stream_key[0] = '\0';
}

bool
ll_http_behind_tls (ll_http_req_t *req)
{
    const char *proto = ll_http_header (req, "X-Forwarded-Proto");
    return req->server->runtime->config->app.secure_cookies
           || (proto && strcasecmp (proto, "https") == 0);
}

//  --- authentication -----------------------------------------------------

struct ll_admin_auth *
ll_http_server_auth (ll_http_server_t *self)
{
    return self->auth;
}

bool
ll_http_state_changing (ll_http_req_t *req)
{
    const char *m = req->info->request_method;
    return strcmp (m, "GET") != 0 && strcmp (m, "HEAD") != 0
           && strcmp (m, "OPTIONS") != 0;
}

//  A failed call to the admin actor is logged (an expired session is not
//  a failure); returns rc.
static int
s_admin_failed (const char *command, int rc, char *error)
{
    if (rc != 0 && error && !streq (error, LL_REASON_EXPIRED))
        ll_warn ("http: admin %s failed: %s", command, error);
    free (error);
    return rc;
}

int
ll_http_audit (ll_http_req_t *req,
               const char *action,
               const char *target,
               const char *outcome,
               const char *detail)
{
    char *error = NULL;
    int rc = ll_ask_audit (&req->client, *req->actor ? req->actor : "anonymous",
                           action, target, outcome, detail, &error);
    return s_admin_failed (LL_CMD_AUDIT, rc, error);
}

int
ll_http_login_throttled (ll_http_req_t *req, int *retry_after)
{
    char *failures = NULL, *retry = NULL, *error = NULL;
    *retry_after = 0;
    int rc = ll_ask_login_check (&req->client, req->address, LL_LOGIN_WINDOW_S,
                                 &failures, &retry, &error);
    if (s_admin_failed (LL_CMD_LOGIN_CHECK, rc, error) != 0)
        return 0;  //  database down: the serialised pwhash still bounds cost
    long count = strtol (failures, NULL, 10);
    long seconds = strtol (retry, NULL, 10);
    free (failures);
    free (retry);
    if (count < LL_LOGIN_MAX_FAILURES)
        return 0;
    *retry_after = seconds > 0 ? (int) seconds : 1;
    return 1;
}

void
ll_http_login_result (ll_http_req_t *req, bool ok)
{
    const char *command = ok ? LL_CMD_LOGIN_OK : LL_CMD_LOGIN_FAILED;
    char *error = NULL;
    int rc = ll_ask_login_result (&req->client, command, req->address, &error);
    s_admin_failed (command, rc, error);
}

//  Fetch the server secret once from the registry; 0 or -1.
static int
s_secret (ll_http_req_t *req, char *out, size_t size)
{
    ll_http_server_t *self = req->server;
    pthread_mutex_lock (&self->secret_lock);
    bool have = self->secret[0] != '\0';
    if (have)
        snprintf (out, size, "%s", self->secret);
    pthread_mutex_unlock (&self->secret_lock);
    if (have)
        return 0;
    char *secret = NULL, *error = NULL;
    ll_ask_secret (&req->client, &secret, &error);
    free (error);
    if (!secret || strlen (secret) >= sizeof self->secret) {
        free (secret);
        return -1;
    }
    pthread_mutex_lock (&self->secret_lock);
    snprintf (self->secret, sizeof self->secret, "%s", secret);
    pthread_mutex_unlock (&self->secret_lock);
    snprintf (out, size, "%s", secret);
    sodium_memzero (secret, strlen (secret));
    free (secret);
    return 0;
}

int
ll_http_secret_mac (ll_http_req_t *req,
                    const char *message,
                    char *hex,
                    size_t size)
{
    char secret[129];
    if (size < 2 * crypto_auth_hmacsha256_BYTES + 1
        || s_secret (req, secret, sizeof secret) != 0)
        return -1;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, (const unsigned char *) secret,
                                 strlen (secret));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) message,
                                   strlen (message));
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_memzero (secret, sizeof secret);
    sodium_memzero (&state, sizeof state);
    sodium_bin2hex (hex, size, mac, sizeof mac);
    return 0;
}

//  --- agent tokens ------------------------------------------------------

void
ll_http_server_forget (ll_http_server_t *self, const char *host)
{
    pthread_mutex_lock (&self->tokens_lock);
    atomic_fetch_add (&self->tokens_epoch, 1);
    if (!host)
        zhashx_purge (self->tokens);
    else {
        zlistx_t *gone = zlistx_new ();
        zlistx_set_duplicator (gone, (czmq_duplicator *) strdup);
        zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
        for (s_cached_token_t *t = zhashx_first (self->tokens); t;
             t = zhashx_next (self->tokens))
            if (streq (t->host, host))
                zlistx_add_end (gone, (void *) zhashx_cursor (self->tokens));
        for (const char *key = zlistx_first (gone); key;
             key = zlistx_next (gone))
            zhashx_delete (self->tokens, key);
        zlistx_destroy (&gone);
    }
    pthread_mutex_unlock (&self->tokens_lock);
}

//  The cached generation of the token with this hash for host: 0, or -1
//  when not cached (or expired).
static int
s_token_cached (ll_http_server_t *self,
                const char *hash,
                const char *host,
                long long *generation)
{
    int rc = -1;
    pthread_mutex_lock (&self->tokens_lock);
    s_cached_token_t *t = zhashx_lookup (self->tokens, hash);
    if (t && streq (t->host, host) && t->expires_ms > ll_now_ms ()) {
        *generation = t->generation;
        rc = 0;
    }
    pthread_mutex_unlock (&self->tokens_lock);
    return rc;
}

//  Remember a verified token, unless a forget happened since epoch (the
//  check may predate a revocation: better to verify again next time).
static void
s_token_remember (ll_http_server_t *self,
                  const char *hash,
                  const char *host,
                  long long generation,
                  uint64_t epoch)
{
    pthread_mutex_lock (&self->tokens_lock);
    if (atomic_load (&self->tokens_epoch) == epoch) {
        if (zhashx_size (self->tokens) >= S_TOKEN_CACHE_MAX)
            zhashx_purge (self->tokens);
        s_cached_token_t *t = calloc (1, sizeof *t);
        snprintf (t->host, sizeof t->host, "%s", host);
        t->generation = generation;
        t->expires_ms = ll_now_ms () + S_TOKEN_CACHE_MS;
        zhashx_update (self->tokens, hash, t);
    }
    pthread_mutex_unlock (&self->tokens_lock);
}

//  Check the Bearer token (see server.h); 0 with req->agent set, or -1
//  after answering.
static int
s_agent_authenticate (ll_http_server_t *self,
                      ll_http_req_t *req,
                      const char *token)
{
    char scope[LL_TOKEN_SCOPE_MAX + 1];
    if (ll_token_scope (token, scope, sizeof scope) != 0) {
        ll_http_error (req, 401, "Invalid API token.");
        return -1;
    }
    if (scope[0] == '_') {
        //  A service's token, derived from the server secret
        char secret[129];
        if (s_secret (req, secret, sizeof secret) != 0) {
            ll_http_error (req, 503,
                           "Cannot verify the token now: database "
                           "unavailable.");
            return -1;
        }
        ll_token_check_t check = ll_token_check (secret, token, scope);
        sodium_memzero (secret, sizeof secret);
        if (check != LL_TOKEN_OK) {
            ll_http_error (req, 401, "Invalid API token.");
            return -1;
        }
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        return 0;
    }
    char hash[LL_TOKEN_HASH_HEX];
    ll_token_hash (token, hash);
    long long generation = 0;
    if (s_token_cached (self, hash, scope, &generation) == 0) {
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        req->agent_generation = generation;
        return 0;
    }
    uint64_t epoch = atomic_load (&self->tokens_epoch);
    char *text = NULL, *error = NULL;
    int rc = ll_ask_vm_auth (&req->client, scope, hash, &text, &error);
    if (rc == 0) {
        generation = strtoll (text, NULL, 10);
        s_token_remember (self, hash, scope, generation, epoch);
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        req->agent_generation = generation;
    }
    else if (streq (error, LL_REASON_REVOKED))
        ll_http_error (req, 401, "token revoked");
    else if (streq (error, LL_REASON_NOT_FOUND))
        ll_http_error (req, 404, "VM not found.");
    else if (streq (error, LL_REASON_INVALID))
        ll_http_error (req, 401, "Invalid API token.");
    else
        ll_http_error (req, 503,
                       "Cannot verify the token now: database unavailable.");
    int result = rc == 0 ? 0 : -1;
    free (text);
    free (error);
    return result;
}

int
ll_http_agent_check (ll_http_req_t *req, const char *scope)
{
    if (req->is_admin)
        return 0;
    if (!req->agent[0]) {
        ll_http_error (req, 401, "Missing or invalid Authorization header.");
        return -1;
    }
    //  The VM this request is about, on every line logged for it
    if (scope)
        ll_log_context_set ("hostname", scope);
    if (req->agent[0] != '_' && scope && streq (req->agent, scope))
        return 0;
    ll_http_error (req, 403, "This token belongs to another VM.");
    return -1;
}

bool
ll_http_agent_service (ll_http_req_t *req, const char *scope)
{
    return scope && scope[0] == '_' && streq (req->agent, scope);
}

typedef enum {
    S_BASIC_NONE,       //  no Basic header
    S_BASIC_OK,         //  the admin
    S_BASIC_BAD,        //  wrong or malformed
    S_BASIC_THROTTLED,  //  too many failures from this address
} s_basic_t;

static s_basic_t
s_admin_basic (ll_http_server_t *self, ll_http_req_t *req, int *retry_after)
{
    const char *auth = ll_http_header (req, "Authorization");
    if (!auth || strncasecmp (auth, "Basic ", 6) != 0)
        return S_BASIC_NONE;
    if (!ll_admin_auth_configured (self->auth))
        return S_BASIC_BAD;
    unsigned char decoded[512];
    size_t len = 0;
    const char *b64 = auth + 6;
    if (strlen (b64) > 680
        || sodium_base642bin (decoded, sizeof decoded - 1, b64, strlen (b64),
                              " ", &len, NULL, sodium_base64_VARIANT_ORIGINAL)
               != 0)
        return S_BASIC_BAD;
    decoded[len] = '\0';
    s_basic_t result = S_BASIC_BAD;
    if (ll_admin_auth_cached (self->auth, (char *) decoded, len))
        result = S_BASIC_OK;
    else if (ll_http_login_throttled (req, retry_after))
        result = S_BASIC_THROTTLED;
    else {
        bool cached = false;
        bool ok =
            ll_admin_auth_basic (self->auth, (char *) decoded, len, &cached);
        ll_http_login_result (req, ok);
        result = ok ? S_BASIC_OK : S_BASIC_BAD;
    }
    if (result == S_BASIC_OK) {
        char *colon = memchr (decoded, ':', len);
        size_t user_len = colon ? (size_t) (colon - (char *) decoded) : 0;
        if (user_len >= sizeof req->actor)
            user_len = sizeof req->actor - 1;
        memcpy (req->actor, decoded, user_len);
        req->actor[user_len] = '\0';
    }
    sodium_memzero (decoded, sizeof decoded);
    return result;
}

//  The session cookie: 1 valid (req filled), 0 none or expired, -1 when the
//  database cannot tell. *had_cookie tells whether one was sent.
static int
s_admin_session (ll_http_server_t *self, ll_http_req_t *req, bool *had_cookie)
{
    char id[LL_SESSION_ID_HEX + 2];
    *had_cookie = false;
    if (ll_cookie_get (ll_http_header (req, "Cookie"), LL_SESSION_COOKIE, id,
                       sizeof id)
        < 0)
        return 0;
    *had_cookie = true;
    if (!ll_session_id_valid (id))
        return 0;
    char hash[LL_SESSION_HASH_HEX + 1];
    ll_session_hash (id, hash);
    char *actor = NULL, *error = NULL;
    int rc = ll_ask_session_check (&req->client, hash,
                                   self->runtime->config->app.session_idle_s,
                                   LL_ADMIN_SESSION_MAX_S, &actor, &error);
    bool expired = rc != 0 && streq (error, LL_REASON_EXPIRED);
    s_admin_failed (LL_CMD_SESSION_CHECK, rc, error);
    if (rc == 0) {
        snprintf (req->actor, sizeof req->actor, "%s", actor);
        free (actor);
        snprintf (req->session_hash, sizeof req->session_hash, "%s", hash);
        ll_session_csrf (id, req->csrf);
    }
    sodium_memzero (id, sizeof id);
    return rc == 0 ? 1 : expired ? 0 : -1;
}

static void
s_send_basic_challenge (ll_http_req_t *req)
{
    if (req->answered)
        return;
    req->answered = true;
    req->status = 401;
    s_capture (req, 401, "text/html", "Unauthorized Access", 19);
    mg_printf (req->conn,
               "HTTP/1.1 401 Unauthorized\r\n"
               "Content-Type: text/html\r\nContent-Length: 19\r\n"
               "Cache-Control: no-store\r\n"
               "WWW-Authenticate: Basic realm=\"Authentication Required\"\r\n"
               "%s\r\nUnauthorized Access",
               s_security_headers);
}

//  A browser navigation (not a script, not fetch()).
static bool
s_is_navigation (ll_http_req_t *req)
{
    const char *accept = ll_http_header (req, "Accept");
    const char *mode = ll_http_header (req, "Sec-Fetch-Mode");
    return strcmp (req->info->request_method, "GET") == 0 && accept
           && strstr (accept, "text/html")
           && (!mode || strcmp (mode, "navigate") == 0);
}

//  The admin is not authenticated: a login page for browsers, the upstream
//  401 for scripts, a JSON 401 without a Basic challenge for pages whose
//  session ended (so no browser password dialog pops up).
static void
s_send_unauthenticated (ll_http_req_t *req, bool had_cookie)
{
    const char *clear = had_cookie ? "Set-Cookie: " LL_SESSION_COOKIE
                                     "=; Path=/; Max-Age=0; HttpOnly; "
                                     "SameSite=Strict\r\n"
                                   : "";
    if (s_is_navigation (req)) {
        char next[600] = "/admin";
        const char *uri = req->info->local_uri;
        if (uri && ll_safe_next (uri) && strlen (uri) < 500)
            snprintf (next, sizeof next, "%s", uri);
        char encoded[1800];
        mg_url_encode (next, encoded, sizeof encoded);
        char headers[2100];
        snprintf (headers, sizeof headers,
                  "Location: /admin/login?next=%s\r\n%s", encoded, clear);
        ll_http_send (req, 303, "text/plain; charset=utf-8", "", 0, headers);
    }
    else if (had_cookie) {
        static const char body[] =
            "{\"error\":\"Session expired. Please log in again.\"}";
        ll_http_send (req, 401, "application/json", body, sizeof body - 1,
                      clear);
    }
    else
        s_send_basic_challenge (req);
}

static bool
s_audited_get (const ll_route_t *route)
{
    //  Reads that hand data out count as actions
    return strcmp (route->pattern, "/api/scp-client") == 0
           || strcmp (route->pattern, "/api/exports/{}") == 0;
}

bool
ll_http_try_admin (ll_http_req_t *req)
{
    int retry = 0;
    s_basic_t basic = s_admin_basic (req->server, req, &retry);
    bool had_cookie = false;
    if (basic == S_BASIC_OK)
        req->is_admin = true;
    else if (basic == S_BASIC_NONE
             && s_admin_session (req->server, req, &had_cookie) > 0)
        req->is_admin = req->via_session = true;
    return req->is_admin;
}

//  0 when the request may proceed; else the response was sent.
static int
s_authorize (ll_http_server_t *self, ll_http_req_t *req)
{
    ll_auth_t auth = req->route->auth;
    if (auth == LL_AUTH_PUBLIC)
        return 0;
    if (auth == LL_AUTH_ADMIN || auth == LL_AUTH_ADMIN_OR_AGENT) {
        int retry = 0;
        s_basic_t basic = s_admin_basic (self, req, &retry);
        if (basic == S_BASIC_THROTTLED) {
            char headers[64];
            snprintf (headers, sizeof headers, "Retry-After: %d\r\n", retry);
            static const char body[] = "{\"error\":\"Too many failed logins. "
                                       "Try again later.\"}";
            ll_http_send (req, 429, "application/json", body, sizeof body - 1,
                          headers);
            return -1;
        }
        if (basic == S_BASIC_BAD) {
            ll_http_audit (req, "login (basic)", NULL, "failure", req->address);
            s_send_basic_challenge (req);
            return -1;
        }
        bool had_cookie = false;
        int session = 0;
        if (basic == S_BASIC_NONE) {
            const char *bearer = ll_http_header (req, "Authorization");
            if (auth == LL_AUTH_ADMIN_OR_AGENT && bearer
                && strncasecmp (bearer, "Bearer ", 7) == 0)
                return s_agent_authenticate (self, req, bearer + 7);
            session = s_admin_session (self, req, &had_cookie);
            if (session < 0) {
                ll_http_error (req, 503,
                               "Cannot check the session now: database "
                               "unavailable.");
                return -1;
            }
        }
        if (basic == S_BASIC_OK || session > 0) {
            req->is_admin = true;
            req->via_session = session > 0;
            req->audit =
                ll_http_state_changing (req) || s_audited_get (req->route);
            return 0;
        }
        if (auth == LL_AUTH_ADMIN_OR_AGENT && !had_cookie) {
            ll_http_error (req, 401,
                           "Missing or invalid Authorization header.");
            return -1;
        }
        s_send_unauthenticated (req, had_cookie);
        return -1;
    }
    //  LL_AUTH_AGENT: the token names its VM and is checked here, before
    //  the body is read; handlers compare that VM with the one the request
    //  is about (ll_http_agent_check).
    const char *bearer = ll_http_header (req, "Authorization");
    if (!bearer || strncasecmp (bearer, "Bearer ", 7) != 0 || !bearer[7]) {
        ll_http_error (req, 401, "Missing or invalid Authorization header.");
        return -1;
    }
    return s_agent_authenticate (self, req, bearer + 7);
}

//  Cross-site request forgery: a state-changing admin request must come
//  from our own pages (Origin / Sec-Fetch-Site, when the client sends them)
//  and, when the session cookie authenticated it, carry the session's token
//  in X-CSRF-Token or the form field csrf_token. 0, or -1 after a 403.
static int
s_check_csrf (ll_http_req_t *req)
{
    if (!req->is_admin || !ll_http_state_changing (req))
        return 0;
    const char *site = ll_http_header (req, "Sec-Fetch-Site");
    bool ok = !site || strcmp (site, "same-origin") == 0
              || strcmp (site, "none") == 0;
    ok = ok
         && ll_same_origin (ll_http_header (req, "Origin"),
                            ll_http_header (req, "Host"));
    if (ok && req->via_session) {
        char token[LL_CSRF_HEX + 2] = "";
        const char *header = ll_http_header (req, "X-CSRF-Token");
        if (header && strlen (header) < sizeof token)
            snprintf (token, sizeof token, "%s", header);
        else if (!header) {
            const char *type = ll_http_header (req, "Content-Type");
            if (type
                && strncasecmp (type, "application/x-www-form-urlencoded", 33)
                       == 0
                && ll_http_form_field (req, "csrf_token", token, sizeof token)
                       < 0)
                token[0] = '\0';
        }
        ok = ll_auth_equal (token, req->csrf);
    }
    if (ok)
        return 0;
    ll_http_error (req, 403, "CSRF token missing or invalid.");
    return -1;
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
    else if (s_authorize (self, &req) == 0 && s_read_body (self, &req) == 0
             && s_check_nul (&req) == 0 && s_check_csrf (&req) == 0
             && s_stream_take (self, &req) == 0)
        req.route->fn (&req);
    s_stream_give (self, &req);
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
    pthread_mutex_init (&self->secret_lock, NULL);
    pthread_mutex_init (&self->queues_lock, NULL);
    self->socket_cap = config->app.http_threads;
    pthread_mutex_init (&self->tokens_lock, NULL);
    self->tokens = zhashx_new ();
    zhashx_set_destructor (self->tokens, s_cached_token_free);
    pthread_mutex_init (&self->streams_lock, NULL);
    self->stream_owners =
        calloc ((size_t) config->app.max_streams, sizeof *self->stream_owners);
    self->auth = ll_admin_auth_new (config);
    if (!self->auth) {
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
    pthread_mutex_lock (&self->streams_lock);
    int streams = self->streams;
    pthread_mutex_unlock (&self->streams_lock);
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
        s_scan_fds (self->ctx, NULL);
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
    pthread_mutex_destroy (&self->secret_lock);
    pthread_mutex_destroy (&self->queues_lock);
    zhashx_destroy (&self->tokens);
    pthread_mutex_destroy (&self->tokens_lock);
    pthread_mutex_destroy (&self->streams_lock);
    free (self->stream_owners);
    sodium_memzero (self->secret, sizeof self->secret);
    ll_admin_auth_destroy (&self->auth);
    ll_proxies_free (&self->proxies);
    free (self);
    *self_p = NULL;
}
