#include "actors/waiters.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/secret.h"
#include "runtime/textbuf.h"

#include <sodium.h>

#define LL_WAITERS_TICK_MS   250
#define LL_WAITERS_POLLED_MS 10000  //  refresh of waiting ZeroMQ VMs
#define LL_WAITERS_HOST_MAX  253
#define LL_WAITERS_ID_MAX    64

//  One parked request.
typedef struct {
    char *key;          //  "<routing hex>/<request id>" (owned)
    ll_request_t *req;  //  the VM-WAIT (kept, owned)
    char *host;         //  the VM it waits for (owned)
    long long gen;      //  generation of the token it waits with
    int64_t deadline;   //  ll_now_ms () to answer TIMEOUT, 0 = never
    bool http;          //  counts against agent.max_parked
} s_waiter_t;

typedef struct {
    ll_actor_t actor;    //  pipe, ROUTER LL_ENDPOINT_WAITERS, database
    zsock_t *sub;        //  LL_ENDPOINT_EVENTS
    zsock_t *registry;   //  DEALER to LL_ENDPOINT_REGISTRY (VM-POLLED)
    zhashx_t *by_key;    //  key -> s_waiter_t (owns them)
    zhashx_t *by_host;   //  hostname -> zlistx_t of s_waiter_t
    size_t http_parked;  //  parked HTTP waiters
    bool resync;         //  a full re-read is due
    bool stopping;       //  $STOPPING: answer every wait at once
    PGresult *rows;      //  the drained VM-WAITs' VM rows (NULL: database
                         //  down), read by s_self_drain
    zhashx_t *row_of;    //  hostname -> its row + 1 in rows
    int64_t polled_ms;   //  next refresh of last_polled_at
} self_t;

static void
s_waiter_free (void **item)
{
    s_waiter_t *self = *item;
    if (!self)
        return;
    free (self->key);
    ll_request_destroy (&self->req);
    free (self->host);
    free (self);
    *item = NULL;
}

static void
s_list_free (void **item)
{
    zlistx_destroy ((zlistx_t **) item);
}

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->by_key = zhashx_new ();
    zhashx_set_destructor (self->by_key, s_waiter_free);
    self->by_host = zhashx_new ();
    zhashx_set_destructor (self->by_host, s_list_free);
}

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zhashx_destroy (&self->by_host);
    zhashx_destroy (&self->by_key);
    zsock_destroy (&self->sub);
    zsock_destroy (&self->registry);
}

static void s_self_handle_sub (void *arg);
static void s_self_handle_registry (void *arg);

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    zsock_set_sndhwm (self->actor.router, 0);
    self->sub = zsock_new_sub (LL_ENDPOINT_EVENTS, "");
    if (!self->sub)
        return "cannot subscribe to " LL_ENDPOINT_EVENTS;
    zsock_set_rcvhwm (self->sub, 0);
    ll_actor_reader (&self->actor, self->sub, s_self_handle_sub);
    self->registry = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    if (!self->registry)
        return "cannot connect to " LL_ENDPOINT_REGISTRY;
    zsock_set_sndhwm (self->registry, 0);
    ll_actor_reader (&self->actor, self->registry, s_self_handle_registry);
    return NULL;
}

//  --- answering ------------------------------------------------------------

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

//  Answer every waiter of picked (then destroyed) with status, and forget
//  it.
static void
s_answer_all (self_t *self, zlistx_t **picked, const char *status)
{
    for (s_waiter_t *w = zlistx_first (*picked); w; w = zlistx_next (*picked)) {
        ll_request_answer (w->req, status, NULL, NULL);
        s_remove (self, w);
    }
    zlistx_destroy (picked);
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
            ll_request_answer (waiter->req, LL_WAIT_REVOKED, NULL, NULL);
        else if (resetting)
            ll_request_answer (waiter->req, LL_WAIT_RESET, reset, NULL);
        else
            ll_request_answer (waiter->req, LL_WAIT_ASSIGN, pin, command);
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
    s_answer_all (self, &stale, LL_WAIT_REVOKED);
}

//  --- requests ---------------------------------------------------------------

static void
s_handle_wait (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char *host = NULL, *timeout = NULL, *kind = NULL, *gen_text = NULL;
    if (ll_request_take (req, &host, &timeout, &kind, &gen_text) != 0)
        return;
    long long gen = s_generation (gen_text);
    if (!*host || gen < 0 || strlen (host) > LL_WAITERS_HOST_MAX
        || strlen (req->request_id) > LL_WAITERS_ID_MAX
        || (!streq (kind, "http") && !streq (kind, "zmq"))) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        goto done;
    }
    if (self->stopping) {  //  the caller asks again, maybe elsewhere
        ll_request_answer (req, LL_WAIT_TIMEOUT, NULL, NULL);
        goto done;
    }
    //  The row first (read with the batch's, s_self_drain): a stored,
    //  unacknowledged assignment is answered now
    PGresult *res = self->rows;
    int row = self->row_of
                  ? (int) (intptr_t) zhashx_lookup (self->row_of, host) - 1
                  : -1;
    if (res && row < 0) {
        ll_request_answer (req, LL_WAIT_UNKNOWN, NULL, NULL);
        goto done;
    }
    //  Only the agent of the VM's current token waits here
    if (res && s_generation (PQgetvalue (res, row, 4)) != gen) {
        ll_request_answer (req, LL_WAIT_REVOKED, NULL, NULL);
        goto done;
    }
    if (res && *PQgetvalue (res, row, 5)) {
        ll_request_answer (req, LL_WAIT_RESET, PQgetvalue (res, row, 5), NULL);
        goto done;
    }
    if (res && streq (PQgetvalue (res, row, 1), "t")) {
        ll_request_answer (req, LL_WAIT_ASSIGN, PQgetvalue (res, row, 2),
                           PQgetvalue (res, row, 3));
        goto done;
    }
    if (!res)  //  database down: park, the listener's RESYNC re-reads
        self->resync = true;
    bool http = streq (kind, "http");
    if (http && self->http_parked >= (size_t) config->agent.max_parked) {
        char seconds[16];
        snprintf (seconds, sizeof seconds, "%u",
                  1 + (unsigned) randombytes_uniform (5));
        ll_request_answer (req, LL_WAIT_FULL, seconds, NULL);
        goto done;
    }
    char *key = s_key (req->routing, req->request_id);
    if (zhashx_lookup (self->by_key, key)) {
        free (key);
        ll_request_fail (req, LL_REASON_DUPLICATE);
        goto done;
    }
    s_waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->key = key;
    waiter->req = ll_request_keep (req);
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

//  The caller's parked VM-WAIT is forgotten, never answered
static void
s_handle_unwait (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *id = NULL;
    if (ll_request_take (req, &id) != 0)
        return;
    char *key = s_key (req->routing, id);
    s_waiter_t *waiter = zhashx_lookup (self->by_key, key);
    if (waiter)
        s_remove (self, waiter);
    free (key);
    free (id);
    ll_request_answer (req);
}

//  Served on LL_ENDPOINT_WAITERS
static const ll_handler_t s_handlers[] = {
    {LL_CMD_VM_WAIT, s_handle_wait},
    {LL_CMD_VM_UNWAIT, s_handle_unwait},
    {NULL, NULL},
};

//  Every request waiting on the ROUTER (up to S_BATCH_MAX), served in
//  order. The rows of all the VM-WAITs are read and touched by ONE
//  statement: a fleet reconnecting at once (10,000 agents after a restart)
//  sent one commit per agent, and the claims' deliveries queued behind them
//  for seconds.
#define S_BATCH_MAX 2000

static void
s_self_drain (void *arg)
{
    self_t *self = arg;
    ll_request_t *batch[S_BATCH_MAX];
    size_t count = 0;
    ll_request_t *req = ll_request_recv_nowait (self->actor.router);
    while (req) {
        batch[count++] = req;
        req = count < S_BATCH_MAX ? ll_request_recv_nowait (self->actor.router)
                                  : NULL;
    }
    //  The hostnames are peeked at; each handler takes and checks its own
    ll_textbuf_t hosts = {0};
    ll_pgarray_begin (&hosts);
    size_t waits = 0;
    for (size_t i = 0; i < count; i++) {
        zframe_t *frame = zmsg_first (batch[i]->args);
        if (streq (batch[i]->command, LL_CMD_VM_WAIT) && frame
            && zframe_size (frame) <= LL_WAITERS_HOST_MAX) {
            char *host = zframe_strdup (frame);
            ll_pgarray_add (&hosts, host);
            free (host);
            waits++;
        }
    }
    ll_pgarray_end (&hosts);
    self->row_of = zhashx_new ();
    if (waits && !self->stopping) {
        const char *values[] = {ll_textbuf_text (&hosts)};
        self->rows = ll_db_exec_retry (self->actor.db, "wait_check", 1, values);
        for (int r = 0; self->rows && r < PQntuples (self->rows); r++)
            zhashx_update (self->row_of, PQgetvalue (self->rows, r, 0),
                           (void *) (intptr_t) (r + 1));
    }
    ll_textbuf_free (&hosts);
    for (size_t i = 0; i < count; i++)
        ll_actor_dispatch (&self->actor, s_handlers, self, batch[i]);
    zhashx_destroy (&self->row_of);
    PQclear (self->rows);
    self->rows = NULL;
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
    PGresult *res =
        ll_db_exec_retry (self->actor.db, "wait_pending_all", 0, NULL);
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
s_self_handle_sub (void *arg)
{
    self_t *self = arg;
    zmsg_t *msg = zmsg_recv (self->sub);
    char *event = msg ? zmsg_popstr (msg) : NULL;
    char *host = NULL, *pin = NULL, *command = NULL, *gen = NULL;
    int rc = -1;
    if (event && streq (event, LL_EVT_VM_REVOKED))
        rc = ll_proto_decode (event, msg, &host, &gen);
    else if (event)
        rc = ll_proto_decode (event, msg, &host, &pin, &command, &gen);
    if (event && rc != 0)
        ll_warn ("waiters: malformed %.40s event dropped", event);
    else if (event && streq (event, LL_EVT_VM_ASSIGNED)) {
        if (pin && command && gen && *gen
            && zhashx_lookup (self->by_host, host))
            s_wake (self, host, pin, command, s_generation (gen),
                    NULL);  //  from the NOTIFY payload
        else if (host && zhashx_lookup (self->by_host, host)) {
            const char *values[] = {host};
            PGresult *res =
                ll_db_exec_retry (self->actor.db, "wait_pending", 1, values);
            if (!res)
                self->resync = true;
            else if (PQntuples (res) == 1)
                s_wake (self, host, PQgetvalue (res, 0, 0),
                        PQgetvalue (res, 0, 1),
                        s_generation (PQgetvalue (res, 0, 2)),
                        PQgetvalue (res, 0, 3));
            PQclear (res);
        }
    }
    else if (event && streq (event, LL_EVT_VM_REVOKED))
        s_revoke (self, host, s_generation (gen));
    else if (event && streq (event, LL_EVT_RESYNC)) {
        self->resync = true;
        s_resync (self);
    }
    ll_secret_free (&pin);
    ll_secret_free (&command);
    free (host);
    free (gen);
    free (event);
    zmsg_destroy (&msg);
}

//  A waiter without a deadline (ZeroMQ) is one long poll: keep its VM's
//  last_polled_at fresh so the VM stays offered (claim_free) while it waits.
//  The registry writes it: this thread delivers, and a fleet's 10,000 rows
//  are half a second.
static void
s_refresh_polled (self_t *self)
{
    int64_t now = ll_now_ms ();
    if (now < self->polled_ms)
        return;
    self->polled_ms = now + LL_WAITERS_POLLED_MS;
    zmsg_t *hosts = zmsg_new ();
    for (s_waiter_t *w = zhashx_first (self->by_key); w;
         w = zhashx_next (self->by_key))
        if (!w->deadline)
            zmsg_addstr (hosts, w->host);
    if (zmsg_size (hosts))
        ll_proto_send (self->registry, LL_CMD_VM_POLLED, "p", &hosts);
    zmsg_destroy (&hosts);
}

//  The registry's answers to VM-POLLED: nothing waits for them
static void
s_self_handle_registry (void *arg)
{
    self_t *self = arg;
    ll_answer_t a;
    if (ll_answer_recv (&a, self->registry) != 0)
        ll_warn ("waiters: last_polled_at not refreshed: %s", a.error);
    ll_answer_free (&a);
}

//  Answer TIMEOUT to the waiters whose time is up; to all of them when the
//  process stops.
static void
s_expire (self_t *self)
{
    if (self->http_parked == 0 && !self->stopping)
        return;
    int64_t now = ll_now_ms ();
    zlistx_t *due = zlistx_new ();
    for (s_waiter_t *w = zhashx_first (self->by_key); w;
         w = zhashx_next (self->by_key))
        if (self->stopping || (w->deadline && w->deadline <= now))
            zlistx_add_end (due, w);
    s_answer_all (self, &due, LL_WAIT_TIMEOUT);
}

//  Answer TIMEOUT to the waiters whose time is up; re-read the rows when
//  an event may have been missed
static void
s_self_tick (void *arg)
{
    self_t *self = arg;
    s_expire (self);
    s_refresh_polled (self);
    if (self->resync)
        s_resync (self);
}

//  $STOPPING: every parked wait is answered now (the HTTP workers they
//  hold are free to stop), and the ones still coming at once
static bool
s_self_pipe (void *arg, const char *command, zmsg_t *msg)
{
    self_t *self = arg;
    if (!streq (command, LL_CMD_STOPPING))
        return false;
    self->stopping = true;
    s_expire (self);
    return true;
}

static const ll_actor_kind_t s_kind = {
    .name = "waiters",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .class =
        {
            .endpoint = LL_ENDPOINT_WAITERS,
            .database = true,
            .handlers = s_handlers,
            .start = s_self_start,
            .tick_ms = LL_WAITERS_TICK_MS,
            .tick = s_self_tick,
            .drain = s_self_drain,
            .pipe = s_self_pipe,
        },
};

void
waiters_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
