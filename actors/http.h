/*  http: the edge actor. Owns the civetweb context and its worker threads
    (http/server.h); each worker keeps its own DEALER socket per actor it
    calls. Serves no inproc endpoint.
    Subscribes: SUB LL_ENDPOINT_EVENTS: VM-REVOKED hostname (that VM's
    cached agent tokens are forgotten), RESYNC (all are).
    Pipe: START -> OK | ERROR reason (cannot listen), PORT -> port number
          (first listening port, for tests using port 0), $TERM, VERBOSE
          (runtime/actor.h). */
#ifndef LL_ACTOR_HTTP_H
#define LL_ACTOR_HTTP_H

#include <czmq.h>

#define LL_CMD_PORT "PORT"

void http_actor (zsock_t *pipe, void *args);

#endif
