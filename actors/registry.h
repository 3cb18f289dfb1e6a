/*  registry: VM telemetry writes and reads, and the database health check.

    Owns: one PostgreSQL connection (reconnects with backoff on its own
    timer, so health turns green again without a request), and the set of
    telemetry writes waiting for the next flush.
    Serves: ROUTER LL_ENDPOINT_REGISTRY, the grammar in runtime/protocol.h:
      HEALTH (a live "SELECT 1"), SECRET (made on first use);
      VM-AUTH: an agent token's hash checked against the VM's row; every
        VM-AUTH waiting on the socket is answered by one query;
      VM-STATUS-SET, VM-GPU-SET, VM-INUSE-SET, VM-HEARTBEAT, VM-TOUCH:
        coalesced: every write request waiting on the socket is taken,
        merged per VM, and written by at most two statements (a status
        UPDATE, an unnest UPDATE); each is answered after its statement
        committed;
      VM-METRICS-SET, VM-STATUS-GET, VM-STATUS-ALL, VM-EXPORT, VM-FLEET,
        VM-REGISTER (the admin's bring-your-own-VM registration), VM-SEEN
        and VM-POLLED (a fleet's last_seen_at / last_polled_at, for the
        gateway and the waiters, which must not wait on it): at once.
    Pipe: START -> OK (the database may be down: health reports it),
          $TERM, VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_REGISTRY_H
#define LL_ACTOR_REGISTRY_H

#include <czmq.h>

void registry_actor (zsock_t *pipe, void *args);

#endif
