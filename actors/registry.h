/*  registry: VM telemetry writes and reads, and the database health check.

    Owns: one PostgreSQL connection (reconnects with backoff on its own
    timer, so health turns green again without a request).
    Serves: ROUTER LL_ENDPOINT_REGISTRY (runtime/protocol.h)
      HEALTH  -> OK | ERROR reason      a live "SELECT 1"
      SECRET  -> OK secret | ERROR      the server secret (made on first use)
    Pipe: START -> OK (the database may be down: health reports it),
          $TERM. */
#ifndef LL_ACTOR_REGISTRY_H
#define LL_ACTOR_REGISTRY_H

#include <czmq.h>

void registry_actor (zsock_t *pipe, void *args);

#endif
