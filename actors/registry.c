#include "actors/registry.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/token.h"

#include <sodium.h>

#define LL_REGISTRY_TICK_MS 500

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_REGISTRY
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  our PostgreSQL connection
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->router);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_REGISTRY) != 0)
        return "cannot bind " LL_ENDPOINT_REGISTRY;
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "registry");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("registry: postgresql unavailable, will retry: %s",
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

static void
s_handle_health (self_t *self, ll_request_t *req)
{
    PGresult *res = ll_db_exec (self->db, "health_ping", 0, NULL);
    if (res)
        ll_request_reply_ok (req, self->router, NULL);
    else
        ll_request_reply_error (req, self->router,
                                *ll_db_error (self->db) ? ll_db_error (self->db)
                                                        : "not connected");
    PQclear (res);
}

//  The server secret: created once (random), then always the same, so agent
//  tokens survive restarts and every allocator sharing the database agrees.
static void
s_handle_secret (self_t *self, ll_request_t *req)
{
    char fresh[65];
    ll_token_new_secret (fresh, sizeof fresh);
    const char *init[] = {"server_secret", fresh};
    const char *key[] = {"server_secret"};
    PGresult *res = ll_db_exec (self->db, "settings_init", 2, init);
    PQclear (res);
    res = res ? ll_db_exec (self->db, "settings_get", 1, key) : NULL;
    if (res && PQntuples (res) == 1) {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    else
        ll_request_reply_error (req, self->router, "database unavailable");
    PQclear (res);
    sodium_memzero (fresh, sizeof fresh);
}

static void
s_self_handle_router (self_t *self)
{
    ll_request_t *req = ll_request_recv (self->router);
    if (!req)
        return;
    if (streq (req->command, LL_CMD_HEALTH))
        s_handle_health (self, req);
    else if (streq (req->command, LL_CMD_SECRET))
        s_handle_secret (self, req);
    else
        ll_request_reply_error (req, self->router, "unknown command");
    ll_request_destroy (&req);
}

void
registry_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self->terminated) {
        void *which = zpoller_wait (poller, LL_REGISTRY_TICK_MS);
        if (which == pipe) {
            bool was_started = self->started;
            s_self_handle_pipe (self);
            if (!was_started && self->started)
                zpoller_add (poller, self->router);
        }
        else if (self->router && which == self->router)
            s_self_handle_router (self);
        else if (zpoller_terminated (poller))
            break;
        else if (self->started)
            ll_db_ensure (self->db);  //  idle tick: reconnect in the background
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
