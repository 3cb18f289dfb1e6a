#include "actors/listener.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"

#include <jansson.h>

#define LL_LISTENER_TICK_MS     500
#define LL_LISTENER_PAYLOAD_MAX 8192
#define LL_LISTENER_HOST_MAX    253

typedef struct {
    ll_actor_t actor;  //  pipe, the LISTEN connection (no ROUTER)
    zsock_t *pub;      //  LL_ENDPOINT_EVENTS
    bool listening;    //  LISTEN in place on the current connection
} self_t;

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zsock_destroy (&self->pub);
}

//  Connect if needed and LISTEN; publishes RESYNC once listening.
static void
s_self_listen (self_t *self)
{
    if (self->listening && ll_db_connected (self->actor.db))
        return;
    self->listening = false;
    if (ll_db_ensure (self->actor.db) != 0)
        return;
    const ll_config_t *config = self->actor.runtime->config;
    const char *values[] = {config->db.message_channel};
    const char *tokens[] = {LL_TOKEN_CHANNEL};
    PGresult *res = ll_db_exec (self->actor.db, "listen_channel", 1, values);
    PQclear (res);
    res = res ? ll_db_exec (self->actor.db, "listen_channel", 1, tokens) : NULL;
    if (!res) {
        ll_warn ("listener: cannot listen: %s", ll_db_error (self->actor.db));
        return;
    }
    PQclear (res);
    PQsetnonblocking (ll_db_conn (self->actor.db), 1);
    self->listening = true;
    ll_info ("listener: listening on channel %s", config->db.message_channel);
    ll_proto_publish (self->pub, LL_EVT_RESYNC);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub || zsock_bind (self->pub, LL_ENDPOINT_EVENTS) != 0)
        return "cannot bind " LL_ENDPOINT_EVENTS;
    zsock_set_sndhwm (self->pub, 100000);
    s_self_listen (self);
    return NULL;
}

static void
s_publish (self_t *self, const char *payload)
{
    if (strlen (payload) > LL_LISTENER_PAYLOAD_MAX)
        return;
    json_error_t error;
    json_t *json = json_loads (payload, 0, &error);
    json_t *host = json_object_get (json, "HostName");
    json_t *command = json_object_get (json, "CrdCommand");
    json_t *pin = json_object_get (json, "Pin");
    json_t *gen = json_object_get (json, "Generation");
    //  A reset (issue 15) carries no command: the waiters read the row
    bool reset = json_is_string (json_object_get (json, "Reset"));
    if (json_is_string (host) && (json_is_string (command) || reset)
        && json_string_length (host) > 0
        && json_string_length (host) <= LL_LISTENER_HOST_MAX) {
        //  The trigger's payload carries the assignment and the token
        //  generation it is for: waiters need not read the row again
        //  (in-process only; never logged)
        char generation[24] = "";
        if (json_is_integer (gen))
            snprintf (generation, sizeof generation, "%lld",
                      (long long) json_integer_value (gen));
        bool full = !reset && json_is_string (pin) && *generation;
        ll_proto_publish (self->pub, LL_EVT_VM_ASSIGNED,
                          json_string_value (host),
                          full ? json_string_value (pin) : NULL,
                          json_string_value (command), generation);
    }
    json_decref (json);
}

//  The token trigger's "hostname generation": VM-REVOKED.
static void
s_publish_revoked (self_t *self, const char *payload)
{
    char host[LL_LISTENER_HOST_MAX + 1];
    long long generation = -1;
    int used = 0;
    if (strlen (payload) > LL_LISTENER_HOST_MAX + 24
        || sscanf (payload, "%253s %lld%n", host, &generation, &used) != 2
        || payload[used] || generation < 0)
        return;
    char text[24];
    snprintf (text, sizeof text, "%lld", generation);
    ll_proto_publish (self->pub, LL_EVT_VM_REVOKED, host, text);
}

//  The connection's socket is readable: collect notifications.
static void
s_self_handle_db (void *arg)
{
    self_t *self = arg;
    PGconn *conn = ll_db_conn (self->actor.db);
    if (!conn || !PQconsumeInput (conn) || PQstatus (conn) != CONNECTION_OK) {
        ll_warn ("listener: postgresql connection lost");
        ll_db_disconnect (self->actor.db);
        self->listening = false;
        return;
    }
    PGnotify *notify;
    while ((notify = PQnotifies (conn))) {
        if (streq (notify->relname, LL_TOKEN_CHANNEL))
            s_publish_revoked (self, notify->extra);
        else
            s_publish (self, notify->extra);
        PQfreemem (notify);
    }
}

//  The connection's socket while LISTEN is in place
static int
s_self_fd (void *arg)
{
    self_t *self = arg;
    PGconn *conn = self->listening ? ll_db_conn (self->actor.db) : NULL;
    return conn ? PQsocket (conn) : -1;
}

//  LISTEN again after the connection came back (no-op while listening)
static void
s_self_tick (void *arg)
{
    s_self_listen (arg);
}

static const ll_actor_kind_t s_kind = {
    .name = "listener",
    .size = sizeof (self_t),
    .fini = s_self_fini,
    .class =
        {
            .database = true,
            .start = s_self_start,
            .tick_ms = LL_LISTENER_TICK_MS,
            .tick = s_self_tick,
            .fd = s_self_fd,
            .fd_ready = s_self_handle_db,
        },
};

void
listener_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
