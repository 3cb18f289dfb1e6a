#include "actors/waiters.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"

#include <sodium.h>

#define LL_WAITERS_TICK_MS  250
#define LL_WAITERS_HOST_MAX 253
#define LL_WAITERS_ID_MAX   64

//  One parked request.
typedef struct {
    char *key;          //  "<routing hex>/<request id>" (owned)
    zframe_t *routing;  //  the caller's identity (owned)
    char *request_id;   //  its request id (owned)
    char *host;         //  the VM it waits for (owned)
    long long gen;      //  generation of the token it waits with
    int64_t deadline;   //  ll_now_ms () to answer TIMEOUT, 0 = never
    bool http;          //  counts against agent.max_parked
} s_waiter_t;

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_WAITERS
    zsock_t *sub;           //  LL_ENDPOINT_EVENTS
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  reads the rows
    zhashx_t *by_key;       //  key -> s_waiter_t (owns them)
    zhashx_t *by_host;      //  hostname -> zlistx_t of s_waiter_t
    size_t http_parked;     //  parked HTTP waiters
    bool resync;            //  a full re-read is due
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static void
s_waiter_free (void **item)
{
    s_waiter_t *self = *item;
    if (!self)
        return;
    free (self->key);
    zframe_destroy (&self->routing);
    free (self->request_id);
    free (self->host);
    free (self);
    *item = NULL;
}

static void
s_list_free (void **item)
{
    zlistx_destroy ((zlistx_t **) item);
}

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    self->by_key = zhashx_new ();
    zhashx_set_destructor (self->by_key, s_waiter_free);
    self->by_host = zhashx_new ();
    zhashx_set_destructor (self->by_host, s_list_free);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->by_host);
    zhashx_destroy (&self->by_key);
    zsock_destroy (&self->router);
    zsock_destroy (&self->sub);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_WAITERS) != 0)
        return "cannot bind " LL_ENDPOINT_WAITERS;
    zsock_set_sndhwm (self->router, 0);
    self->sub = zsock_new_sub (LL_ENDPOINT_EVENTS, "");
    if (!self->sub)
        return "cannot subscribe to " LL_ENDPOINT_EVENTS;
    zsock_set_rcvhwm (self->sub, 0);
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "waiters");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("waiters: postgresql unavailable, will retry: %s",
                 ll_db_error (self->db));
    self->started = true;
    return NULL;
}

static void
s_self_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, LL_CMD_TERM))
        self->terminated = true;
    else if (command && streq (command, LL_CMD_START))
        ll_actor_started (self->pipe, s_self_start (self));
    free (command);
    zmsg_destroy (&msg);
}

//  Run a statement; when it failed because the connection had broken
//  (PostgreSQL restarted), reconnect at once and try once more.
static PGresult *
s_exec (ll_db_t *db, const char *name, int n, const char *const *values)
{
    bool was_connected = ll_db_connected (db);
    PGresult *res = ll_db_exec (db, name, n, values);
    if (!res && was_connected && !ll_db_connected (db)
        && ll_db_connect (db) == 0)
        res = ll_db_exec (db, name, n, values);
    return res;
}

//  --- answering ------------------------------------------------------------

static void
s_answer (self_t *self,
          zframe_t *routing,
          const char *request_id,
          const char *a,
          const char *b,
          const char *c)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *){zframe_dup (routing)});
    zmsg_addstr (msg, LL_CMD_VM_WAIT);
    zmsg_addstr (msg, request_id);
    zmsg_addstr (msg, "OK");
    zmsg_addstr (msg, a);
    if (b)
        zmsg_addstr (msg, b);
    if (c)
        zmsg_addstr (msg, c);
    zmsg_send (&msg, self->router);
    zmsg_destroy (&msg);
}

static char *
s_key (zframe_t *routing, const char *request_id)
{
    char *hex = zframe_strhex (routing);
    size_t len = strlen (hex) + strlen (request_id) + 2;
    char *key = malloc (len);
    snprintf (key, len, "%s/%s", hex, request_id);
    free (hex);
    return key;
}

//  Forget a parked waiter (by_key owns it; this frees it).
static void
s_remove (self_t *self, s_waiter_t *waiter)
{
    zlistx_t *list = zhashx_lookup (self->by_host, waiter->host);
    if (list) {
        void *handle = zlistx_find (list, waiter);
        if (handle)
            zlistx_delete (list, handle);
        if (zlistx_size (list) == 0)
            zhashx_delete (self->by_host, waiter->host);
    }
    if (waiter->http)
        self->http_parked--;
    zhashx_delete (self->by_key, waiter->key);
}

//  A generation as text ("" = unknown) -> number, -1 when unknown.
static long long
s_generation (const char *text)
{
    return text && *text ? strtoll (text, NULL, 10) : -1;
}

//  Answer every waiter of host with its assignment, or with the reset it
//  must do first (reset not NULL nor ""; issue 15 section 3), made for the
//  agent of token generation gen (-1: unknown, every waiter gets it): a
//  waiter of another generation is told REVOKED instead, never the PIN.
static void
s_wake (self_t *self,
        const char *host,
        const char *pin,
        const char *command,
        long long gen,
        const char *reset)
{
    bool resetting = reset && *reset;
    zlistx_t *list = zhashx_lookup (self->by_host, host);
    while (list && zlistx_size (list)) {
        s_waiter_t *waiter = zlistx_first (list);
        if (gen >= 0 && waiter->gen != gen)
            s_answer (self, waiter->routing, waiter->request_id,
                      LL_WAIT_REVOKED, NULL, NULL);
        else if (resetting)
            s_answer (self, waiter->routing, waiter->request_id, LL_WAIT_RESET,
                      reset, NULL);
        else
            s_answer (self, waiter->routing, waiter->request_id, LL_WAIT_ASSIGN,
                      pin, command);
        s_remove (self, waiter);
        list = zhashx_lookup (self->by_host, host);
    }
}

//  The VM's token changed (gen: the new generation, 0 when the row is
//  gone): every waiter with another generation is told REVOKED.
static void
s_revoke (self_t *self, const char *host, long long gen)
{
    zlistx_t *list = zhashx_lookup (self->by_host, host);
    if (!list)
        return;
    zlistx_t *stale = zlistx_new ();
    for (s_waiter_t *w = zlistx_first (list); w; w = zlistx_next (list))
        if (w->gen != gen)
            zlistx_add_end (stale, w);
    for (s_waiter_t *w = zlistx_first (stale); w; w = zlistx_next (stale)) {
        s_answer (self, w->routing, w->request_id, LL_WAIT_REVOKED, NULL, NULL);
        s_remove (self, w);
    }
    zlistx_destroy (&stale);
}

//  --- requests ---------------------------------------------------------------

static void
s_handle_wait (self_t *self, ll_request_t *req)
{
    const ll_config_t *config = self->runtime->config;
    char *host = zmsg_popstr (req->args);
    char *timeout = zmsg_popstr (req->args);
    char *kind = zmsg_popstr (req->args);
    char *gen_text = zmsg_popstr (req->args);
    long long gen = s_generation (gen_text);
    if (!host || !timeout || !kind || !*host || gen < 0
        || strlen (host) > LL_WAITERS_HOST_MAX
        || strlen (req->request_id) > LL_WAITERS_ID_MAX
        || (!streq (kind, "http") && !streq (kind, "zmq"))) {
        ll_request_reply_error (req, self->router, "malformed wait");
        goto done;
    }
    //  The row first: a stored, unacknowledged assignment is answered now
    const char *values[] = {host};
    PGresult *res = s_exec (self->db, "wait_check", 1, values);
    if (res && PQntuples (res) == 0) {
        s_answer (self, req->routing, req->request_id, LL_WAIT_UNKNOWN, NULL,
                  NULL);
        PQclear (res);
        goto done;
    }
    //  Only the agent of the VM's current token waits here
    if (res && s_generation (PQgetvalue (res, 0, 3)) != gen) {
        s_answer (self, req->routing, req->request_id, LL_WAIT_REVOKED, NULL,
                  NULL);
        PQclear (res);
        goto done;
    }
    if (res && *PQgetvalue (res, 0, 4)) {
        s_answer (self, req->routing, req->request_id, LL_WAIT_RESET,
                  PQgetvalue (res, 0, 4), NULL);
        PQclear (res);
        goto done;
    }
    if (res && streq (PQgetvalue (res, 0, 0), "t")) {
        s_answer (self, req->routing, req->request_id, LL_WAIT_ASSIGN,
                  PQgetvalue (res, 0, 1), PQgetvalue (res, 0, 2));
        PQclear (res);
        goto done;
    }
    if (!res)  //  database down: park, the listener's RESYNC re-reads
        self->resync = true;
    PQclear (res);
    bool http = streq (kind, "http");
    if (http && self->http_parked >= (size_t) config->agent.max_parked) {
        char seconds[16];
        snprintf (seconds, sizeof seconds, "%u",
                  1 + (unsigned) randombytes_uniform (5));
        s_answer (self, req->routing, req->request_id, LL_WAIT_FULL, seconds,
                  NULL);
        goto done;
    }
    s_waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->key = s_key (req->routing, req->request_id);
    if (zhashx_lookup (self->by_key, waiter->key)) {
        s_waiter_free ((void **) &waiter);
        ll_request_reply_error (req, self->router, "duplicate request id");
        goto done;
    }
    waiter->routing = zframe_dup (req->routing);
    waiter->request_id = strdup (req->request_id);
    waiter->host = strdup (host);
    waiter->gen = gen;
    long ms = strtol (timeout, NULL, 10);
    waiter->deadline = ms > 0 ? ll_now_ms () + ms : 0;
    waiter->http = http;
    zhashx_insert (self->by_key, waiter->key, waiter);
    zlistx_t *list = zhashx_lookup (self->by_host, host);
    if (!list) {
        list = zlistx_new ();
        zhashx_insert (self->by_host, host, list);
    }
    zlistx_add_end (list, waiter);
    if (http)
        self->http_parked++;
done:
    free (host);
    free (timeout);
    free (kind);
    free (gen_text);
}

static void
s_handle_unwait (self_t *self, ll_request_t *req)
{
    char *id = zmsg_popstr (req->args);
    if (id) {
        char *key = s_key (req->routing, id);
        s_waiter_t *waiter = zhashx_lookup (self->by_key, key);
        if (waiter)
            s_remove (self, waiter);
        free (key);
    }
    free (id);
    ll_request_reply_ok (req, self->router, NULL);
}

static void
s_self_handle_router (self_t *self)
{
    ll_request_t *req = ll_request_recv (self->router);
    if (!req)
        return;
    if (streq (req->command, LL_CMD_VM_WAIT))
        s_handle_wait (self, req);
    else if (streq (req->command, LL_CMD_VM_UNWAIT))
        s_handle_unwait (self, req);
    else
        ll_request_reply_error (req, self->router, "unknown command");
    ll_request_destroy (&req);
}

//  --- events -------------------------------------------------------------

//  Re-read every undelivered assignment and wake the waiters concerned.
static void
s_resync (self_t *self)
{
    if (zhashx_size (self->by_host) == 0) {
        self->resync = false;
        return;
    }
    PGresult *res = s_exec (self->db, "wait_pending_all", 0, NULL);
    if (!res)
        return;  //  retried on the next tick
    self->resync = false;
    for (int r = 0; r < PQntuples (res); r++)
        s_wake (self, PQgetvalue (res, r, 0), PQgetvalue (res, r, 1),
                PQgetvalue (res, r, 2), s_generation (PQgetvalue (res, r, 3)),
                PQgetvalue (res, r, 4));
    PQclear (res);
}

static void
s_self_handle_sub (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sub);
    char *event = msg ? zmsg_popstr (msg) : NULL;
    if (event && streq (event, LL_EVT_VM_ASSIGNED)) {
        char *host = zmsg_popstr (msg);
        char *pin = zmsg_popstr (msg);
        char *command = zmsg_popstr (msg);
        char *gen = zmsg_popstr (msg);
        if (host && pin && command && gen && *gen
            && zhashx_lookup (self->by_host, host))
            s_wake (self, host, pin, command, s_generation (gen),
                    NULL);  //  from the NOTIFY payload
        else if (host && zhashx_lookup (self->by_host, host)) {
            const char *values[] = {host};
            PGresult *res = s_exec (self->db, "wait_pending", 1, values);
            if (!res)
                self->resync = true;
            else if (PQntuples (res) == 1)
                s_wake (self, host, PQgetvalue (res, 0, 0),
                        PQgetvalue (res, 0, 1),
                        s_generation (PQgetvalue (res, 0, 2)),
                        PQgetvalue (res, 0, 3));
            PQclear (res);
        }
        free (gen);
        if (pin)
            sodium_memzero (pin, strlen (pin));
        if (command)
            sodium_memzero (command, strlen (command));
        free (pin);
        free (command);
        free (host);
    }
    else if (event && streq (event, LL_EVT_VM_REVOKED)) {
        char *host = zmsg_popstr (msg);
        char *gen = zmsg_popstr (msg);
        if (host && gen)
            s_revoke (self, host, s_generation (gen));
        free (host);
        free (gen);
    }
    else if (event && streq (event, LL_EVT_RESYNC)) {
        self->resync = true;
        s_resync (self);
    }
    free (event);
    zmsg_destroy (&msg);
}

//  Answer TIMEOUT to the waiters whose time is up.
static void
s_expire (self_t *self)
{
    if (self->http_parked == 0)
        return;
    int64_t now = ll_now_ms ();
    zlistx_t *due = zlistx_new ();
    for (s_waiter_t *w = zhashx_first (self->by_key); w;
         w = zhashx_next (self->by_key))
        if (w->deadline && w->deadline <= now)
            zlistx_add_end (due, w);
    for (s_waiter_t *w = zlistx_first (due); w; w = zlistx_next (due)) {
        s_answer (self, w->routing, w->request_id, LL_WAIT_TIMEOUT, NULL, NULL);
        s_remove (self, w);
    }
    zlistx_destroy (&due);
}

void
waiters_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int64_t next_tick = ll_now_ms () + LL_WAITERS_TICK_MS;
    while (!self->terminated) {
        int64_t left = next_tick - ll_now_ms ();
        void *which = zpoller_wait (poller, left > 0 ? (int) left : 0);
        if (which == pipe) {
            bool was_started = self->started;
            s_self_handle_pipe (self);
            if (!was_started && self->started) {
                zpoller_add (poller, self->router);
                zpoller_add (poller, self->sub);
            }
        }
        else if (self->router && which == self->router)
            s_self_handle_router (self);
        else if (self->sub && which == self->sub)
            s_self_handle_sub (self);
        else if (zpoller_terminated (poller))
            break;
        if (ll_now_ms () >= next_tick) {
            if (self->started) {
                s_expire (self);
                if (self->resync)
                    s_resync (self);
                else
                    ll_db_ensure (self->db);
            }
            next_tick = ll_now_ms () + LL_WAITERS_TICK_MS;
        }
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
