#include "actors/http.h"
#include "http/routes.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"

typedef struct {
    zsock_t *pipe;             //  to the supervisor
    ll_runtime_t *runtime;     //  config and stats (not owned)
    ll_http_server_t *server;  //  civetweb and the routes
    zsock_t *events;           //  SUB LL_ENDPOINT_EVENTS (revoked tokens)
    bool terminated;           //  $TERM received
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
    ll_http_server_destroy (&self->server);
    zsock_destroy (&self->events);
    free (self);
    *self_p = NULL;
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
    else if (command && streq (command, LL_CMD_START)) {
        char error[256] = "";
        size_t count = 0;
        const ll_route_t *routes = ll_routes (&count);
        self->server = ll_http_server_new (self->runtime, routes, count, error,
                                           sizeof error);
        //  Revoked tokens: subscribed before the first request is served
        self->events = zsock_new_sub (LL_ENDPOINT_EVENTS, LL_EVT_VM_REVOKED);
        if (self->events)
            zsock_set_subscribe (self->events, LL_EVT_RESYNC);
        else
            ll_http_server_destroy (&self->server);
        if (self->server)
            ll_info ("http: listening on %s (port %d)",
                     self->runtime->config->app.listen,
                     ll_http_server_port (self->server));
        ll_actor_started (self->pipe, self->server ? NULL
                                      : *error     ? error
                                                   : "cannot start civetweb");
    }
    else if (command && streq (command, LL_CMD_PORT))
        zstr_sendf (self->pipe, "%d",
                    self->server ? ll_http_server_port (self->server) : -1);
    free (command);
    zmsg_destroy (&msg);
}

//  A token was replaced or its VM removed (or notifications may have been
//  missed): the cached tokens concerned are verified again.
static void
s_self_handle_events (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->events);
    char *event = msg ? zmsg_popstr (msg) : NULL;
    char *host = msg ? zmsg_popstr (msg) : NULL;
    if (self->server && event && streq (event, LL_EVT_VM_REVOKED) && host)
        ll_http_server_forget (self->server, host);
    else if (self->server && event && streq (event, LL_EVT_RESYNC))
        ll_http_server_forget (self->server, NULL);
    free (event);
    free (host);
    zmsg_destroy (&msg);
}

void
http_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self->terminated) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            bool had_events = self->events != NULL;
            s_self_handle_pipe (self);
            if (!had_events && self->events)
                zpoller_add (poller, self->events);
        }
        else if (self->events && which == self->events)
            s_self_handle_events (self);
        else if (zpoller_terminated (poller))
            break;
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
