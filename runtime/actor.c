#include "runtime/actor.h"
#include "runtime/log.h"

void
ll_actor_init (ll_actor_t *self,
               const char *name,
               zsock_t *pipe,
               ll_runtime_t *runtime)
{
    memset (self, 0, sizeof *self);
    self->name = name;
    self->pipe = pipe;
    self->runtime = runtime;
}

void
ll_actor_handle_pipe (ll_actor_t *self,
                      ll_start_fn *start,
                      ll_pipe_fn *other,
                      void *arg)
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
        const char *error = self->started ? "already started"
                            : start       ? start (arg)
                                          : NULL;
        if (!error && !self->started)
            self->started = true;
        ll_actor_started (self->pipe, error);
    }
    else if (command && streq (command, LL_CMD_VERBOSE)) {
        self->verbose = true;
        ll_info ("%s: verbose: every request is logged", self->name);
    }
    else if (!command || !other || !other (arg, command, msg)) {
        ll_warn ("%s: unknown pipe command %.40s refused", self->name,
                 command ? command : "(empty)");
        zstr_sendx (self->pipe, "ERROR", LL_REASON_UNKNOWN, NULL);
    }
    free (command);
    zmsg_destroy (&msg);
}

void
ll_actor_dispatch (ll_actor_t *self,
                   const ll_handler_t *handlers,
                   void *arg,
                   ll_request_t *req)
{
    req->actor = self->name;
    if (self->verbose)
        ll_info ("%s: %.40s %.24s", self->name, req->command, req->request_id);
    const ll_handler_t *handler = handlers;
    while (handler->command && !streq (handler->command, req->command))
        handler++;
    bool kept = false;
    req->kept = &kept;
    if (handler->fn)
        handler->fn (arg, req);
    else {
        ll_warn ("%s: unknown command %.40s refused", self->name, req->command);
        ll_request_fail (req, LL_REASON_UNKNOWN);
    }
    if (kept)
        return;  //  its keeper answers (and may have freed it already)
    req->kept = NULL;
    if (!req->answered) {
        ll_warn ("%s: %s was not answered", self->name, req->command);
        ll_request_fail (req, "not answered");
    }
    ll_request_destroy (&req);
}

bool
ll_actor_serve (ll_actor_t *self,
                const ll_handler_t *handlers,
                void *arg,
                bool nowait)
{
    ll_request_t *req = nowait ? ll_request_recv_nowait (self->router)
                               : ll_request_recv (self->router);
    if (!req)
        return false;
    ll_actor_dispatch (self, handlers, arg, req);
    return true;
}
