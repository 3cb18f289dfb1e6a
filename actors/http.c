#include "actors/http.h"
#include "http/routes.h"
#include "runtime/actor.h"
#include "runtime/log.h"

typedef struct {
    ll_actor_t actor;          //  pipe, runtime (no ROUTER)
    ll_http_server_t *server;  //  civetweb and the routes
    zsock_t *events;           //  SUB LL_ENDPOINT_EVENTS (revoked tokens)
    char error[256];           //  why civetweb did not start
} self_t;

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    ll_http_server_destroy (&self->server);
    zsock_destroy (&self->events);
}

//  A token was replaced or its VM removed (or notifications may have been
//  missed): the cached tokens concerned are verified again.
static void
s_self_handle_events (void *arg)
{
    self_t *self = arg;
    char *host, *gen;
    if (ll_actor_event (self->events, &host, &gen) && self->server)
        ll_http_server_forget (self->server, host);  //  RESYNC: NULL, all
    free (host);
    free (gen);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    //  Revoked tokens: subscribed before the first request is served
    self->events = zsock_new_sub (LL_ENDPOINT_EVENTS, LL_EVT_VM_REVOKED);
    if (!self->events)
        return "cannot subscribe to " LL_ENDPOINT_EVENTS;
    zsock_set_subscribe (self->events, LL_EVT_RESYNC);
    ll_actor_reader (&self->actor, self->events, s_self_handle_events);
    size_t count = 0;
    const ll_route_t *routes = ll_routes (&count);
    const ll_runtime_t *runtime = self->actor.runtime;
    self->server = ll_http_server_new (runtime, routes, count, self->error,
                                       sizeof self->error);
    if (!self->server)
        return *self->error ? self->error : "cannot start civetweb";
    ll_info ("http: listening on %s (port %d)", runtime->config->app.listen,
             ll_http_server_port (self->server));
    return NULL;
}

//  PORT -> the first listening port (tests listening on port 0);
//  $STOPPING: streams end and idle connections close (no answer)
static bool
s_self_pipe (void *arg, const char *command, zmsg_t *msg)
{
    self_t *self = arg;
    if (streq (command, LL_CMD_STOPPING)) {
        if (self->server)
            ll_http_server_stopping (self->server);
        return true;
    }
    if (!streq (command, LL_CMD_PORT))
        return false;
    zstr_sendf (self->actor.pipe, "%d",
                self->server ? ll_http_server_port (self->server) : -1);
    return true;
}

static const ll_actor_kind_t s_kind = {
    .name = "http",
    .size = sizeof (self_t),
    .fini = s_self_fini,
    .class =
        {
            .start = s_self_start,
            .pipe = s_self_pipe,
        },
};

void
http_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
