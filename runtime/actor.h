/*  What every actor shares: its name, pipe and ROUTER, the pipe's commands
    (START, $TERM, VERBOSE) and the dispatch of requests to handlers by
    command. An actor's self_t holds one ll_actor_t; its handlers are a
    table of {command, function}.

    Pipe: START -> OK | ERROR reason (the actor's own start function),
          $TERM (ends the actor's loop), VERBOSE (every request is logged:
          command and request id, never arguments). Anything else is logged
          and answered ERROR LL_REASON_UNKNOWN.
    ROUTER: a command without handler is logged and answered ERROR
          LL_REASON_UNKNOWN; a handler that neither answers nor keeps its
          request (ll_request_keep) gets it answered ERROR, logged. */
#ifndef LL_ACTOR_H
#define LL_ACTOR_H

#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"

typedef struct {
    const char *name;       //  for logs: "registry"
    zsock_t *pipe;          //  to the supervisor
    ll_runtime_t *runtime;  //  config and stats (not owned)
    zsock_t *router;        //  where requests come from, or NULL
    bool started;           //  START answered OK
    bool terminated;        //  $TERM received (or the pipe failed)
    bool verbose;           //  VERBOSE received: log every request
} ll_actor_t;

//  A request's handler: answers it (ll_request_answer, ll_request_fail)
//  or keeps it to answer later (ll_request_keep).
typedef void (ll_handler_fn) (void *self, ll_request_t *req);

typedef struct {
    const char *command;  //  served command (runtime/protocol.h)
    ll_handler_fn *fn;    //  its handler
} ll_handler_t;

//  The actor's own START work: NULL when it may serve, else the reason.
typedef const char *(ll_start_fn) (void *self);

//  Another pipe command (the http actor's PORT): true when handled.
typedef bool (ll_pipe_fn) (void *self, const char *command, zmsg_t *msg);

void ll_actor_init (ll_actor_t *self,
                    const char *name,
                    zsock_t *pipe,
                    ll_runtime_t *runtime);

//  Read one message of the pipe and act on it (see above); other may be
//  NULL. START runs start once and answers; started is set on success.
void ll_actor_handle_pipe (ll_actor_t *self,
                           ll_start_fn *start,
                           ll_pipe_fn *other,
                           void *arg);

//  Serve req (taken) with the handler of its command from handlers (ended
//  by {NULL, NULL}).
void ll_actor_dispatch (ll_actor_t *self,
                        const ll_handler_t *handlers,
                        void *arg,
                        ll_request_t *req);

//  Receive one request from the ROUTER (waiting when nothing is there, or
//  not when nowait) and dispatch it. False when none was there.
bool ll_actor_serve (ll_actor_t *self,
                     const ll_handler_t *handlers,
                     void *arg,
                     bool nowait);

#endif
