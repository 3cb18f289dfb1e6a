/*  Request/reply helpers for the convention of runtime/protocol.h. */
#ifndef LL_MSG_H
#define LL_MSG_H

#include <czmq.h>

#include "runtime/clock.h"

//  A request as received on an actor's ROUTER socket.
typedef struct {
    zframe_t *routing;  //  peer identity (owned)
    char *command;      //  frame 0 (owned)
    char *request_id;   //  frame 1 (owned)
    zmsg_t *args;       //  remaining frames (owned, maybe empty)
    zsock_t *router;    //  where it came from, where answers go (not owned)
    const char *actor;  //  who serves it, for logs (not owned) or NULL
    bool answered;      //  a reply went out
    bool *kept;         //  set when its handler keeps it (the dispatcher's)
} ll_request_t;

//  Receive one request from a ROUTER socket. NULL when the message is
//  malformed (it is dropped) or the receive failed.
ll_request_t *ll_request_recv (zsock_t *router);

//  The next well-formed request waiting on a ROUTER socket (malformed ones
//  are dropped), or NULL when none is; never blocks. Drain loops call this
//  until NULL: asking ZMQ_EVENTS before each message costs a poll() each.
ll_request_t *ll_request_recv_nowait (zsock_t *router);

//  Reply OK with optional payload frames (payload is consumed).
int ll_request_reply_ok (ll_request_t *self, zsock_t *router, zmsg_t **payload);

//  Reply ERROR with a reason.
int ll_request_reply_error (ll_request_t *self,
                            zsock_t *router,
                            const char *reason);

void ll_request_destroy (ll_request_t **self_p);

//  Mark a request its handler keeps (parks) to answer later: whoever
//  dispatched it then leaves it alone (the keeper may answer and destroy it
//  at any time, even before its handler returns). Returns it.
ll_request_t *ll_request_keep (ll_request_t *self);

//  A client's view: send command + args on a DEALER and wait up to
//  timeout_ms for the reply with the same request id (stale replies of
//  earlier timed-out calls are dropped). Returns 0 with the payload frames
//  in *reply (caller destroys), or -1 with *error set to a new string
//  ("timeout", "interrupted" or the actor's reason). args may be NULL and
//  is consumed.
int ll_call (zsock_t *dealer,
             const char *command,
             zmsg_t **args,
             int timeout_ms,
             zmsg_t **reply,
             char **error);

//  ll_call that also watches watch_fd (a connected stream socket, or -1):
//  when its peer goes away the call ends at once with *error "hangup".
//  The request id used is written into id_out (may be NULL), so the caller
//  can tell the actor to forget the request.
int ll_call_watch (zsock_t *dealer,
                   const char *command,
                   zmsg_t **args,
                   int timeout_ms,
                   int watch_fd,
                   char *id_out,
                   size_t id_size,
                   zmsg_t **reply,
                   char **error);

//  Ask an actor pipe to START; returns 0 or -1 with *error (new string).
int ll_actor_start (zactor_t *actor, int timeout_ms, char **error);

//  The answer of an actor that was sent START; 0 or -1 with *error.
int ll_actor_start_wait (zactor_t *actor, int timeout_ms, char **error);

//  Actor side of START: answer on the pipe.
void ll_actor_started (zsock_t *pipe, const char *error_or_null);

#endif
