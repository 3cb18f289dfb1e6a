/*  registry: VM telemetry writes and reads, and the database health check.

    Owns: one PostgreSQL connection (reconnects with backoff on its own
    timer, so health turns green again without a request), and the set of
    telemetry writes waiting for the next flush.
    Serves: ROUTER LL_ENDPOINT_REGISTRY (runtime/protocol.h)
      HEALTH  -> OK | ERROR reason      a live "SELECT 1"
      SECRET  -> OK secret | ERROR      the server secret (made on first use)
      VM-AUTH -> OK generation | ERROR "revoked" | "not found" | "invalid"
                 an agent token's hash checked against the VM's row; every
                 VM-AUTH waiting is answered by one query
      VM-STATUS-SET, VM-GPU-SET, VM-INUSE-SET, VM-HEARTBEAT, VM-TOUCH
              -> OK | ERROR "not found" | ERROR reason
                 coalesced: every write request waiting on the socket is
                 taken, merged per VM, and written by at most two statements
                 (a status UPDATE, an unnest UPDATE); each request is
                 answered after its statement committed
      VM-METRICS-SET -> OK total | ERROR    (at once)
      VM-STATUS-GET, VM-STATUS-ALL, VM-EXPORT -> reads (at once)
      VM-REGISTER -> OK created | ERROR "managed" | ERROR   (at once: the
                 admin's bring-your-own-VM registration)
    Pipe: START -> OK (the database may be down: health reports it),
          $TERM. */
#ifndef LL_ACTOR_REGISTRY_H
#define LL_ACTOR_REGISTRY_H

#include <czmq.h>

void registry_actor (zsock_t *pipe, void *args);

#endif
