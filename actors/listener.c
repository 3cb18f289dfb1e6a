#include "actors/listener.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"

#include <jansson.h>

#define LL_LISTENER_TICK_MS     500
#define LL_LISTENER_PAYLOAD_MAX 8192
#define LL_LISTENER_HOST_MAX    253

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *pub;           //  LL_ENDPOINT_EVENTS
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  the LISTEN connection
    bool listening;         //  LISTEN in place on the current connection
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
    zsock_destroy (&self->pub);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

//  Connect if needed and LISTEN; publishes RESYNC once listening.
static void
s_self_listen (self_t *self)
{
    if (self->listening && ll_db_connected (self->db))
        return;
    self->listening = false;
    if (ll_db_ensure (self->db) != 0)
        return;
    const char *values[] = {self->runtime->config->db.message_channel};
    const char *tokens[] = {LL_TOKEN_CHANNEL};
    PGresult *res = ll_db_exec (self->db, "listen_channel", 1, values);
    PQclear (res);
    res = res ? ll_db_exec (self->db, "listen_channel", 1, tokens) : NULL;
    if (!res) {
        ll_warn ("listener: cannot listen: %s", ll_db_error (self->db));
        return;
    }
    PQclear (res);
    PQsetnonblocking (ll_db_conn (self->db), 1);
    self->listening = true;
    ll_info ("listener: listening on channel %s",
             self->runtime->config->db.message_channel);
    zstr_send (self->pub, LL_EVT_RESYNC);
}

static const char *
s_self_start (self_t *self)
{
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub || zsock_bind (self->pub, LL_ENDPOINT_EVENTS) != 0)
        return "cannot bind " LL_ENDPOINT_EVENTS;
    zsock_set_sndhwm (self->pub, 100000);
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "listener");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("listener: postgresql unavailable, will retry: %s",
                 ll_db_error (self->db));
    self->started = true;
    s_self_listen (self);
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
        if (!reset && json_is_string (pin) && *generation)
            zstr_sendx (self->pub, LL_EVT_VM_ASSIGNED, json_string_value (host),
                        json_string_value (pin), json_string_value (command),
                        generation, NULL);
        else
            zstr_sendx (self->pub, LL_EVT_VM_ASSIGNED, json_string_value (host),
                        NULL);
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
    zstr_sendx (self->pub, LL_EVT_VM_REVOKED, host, text, NULL);
}

//  The connection's socket is readable: collect notifications.
static void
s_self_handle_db (self_t *self)
{
    PGconn *conn = ll_db_conn (self->db);
    if (!conn || !PQconsumeInput (conn) || PQstatus (conn) != CONNECTION_OK) {
        ll_warn ("listener: postgresql connection lost");
        ll_db_disconnect (self->db);
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

void
listener_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    while (!self->terminated) {
        zmq_pollitem_t items[2] = {
            {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
            {NULL, -1, ZMQ_POLLIN, 0},
        };
        PGconn *conn = self->listening ? ll_db_conn (self->db) : NULL;
        items[1].fd = conn ? PQsocket (conn) : -1;
        int rc =
            zmq_poll (items, items[1].fd >= 0 ? 2 : 1, LL_LISTENER_TICK_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            s_self_handle_pipe (self);
        else if (items[1].fd >= 0 && (items[1].revents & ZMQ_POLLIN))
            s_self_handle_db (self);
        if (self->started && !self->terminated)
            s_self_listen (self);  //  no-op while listening
    }
    s_self_destroy (&self);
}
