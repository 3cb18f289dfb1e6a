/*  waiters: VMs waiting for their assignment, parked by hostname.

    Owns: the table hostname -> parked requests (HTTP long-polls from
    /vm_startup and ZeroMQ agents from the gateway); one PostgreSQL
    connection to read the rows.
    Serves: ROUTER LL_ENDPOINT_WAITERS (runtime/protocol.h)
      VM-WAIT hostname timeout-ms http|zmq generation
          -> OK ASSIGN pin command | OK TIMEOUT | OK FULL seconds
           | OK UNKNOWN | OK REVOKED
      VM-UNWAIT wait-request-id -> OK   (the caller's client went away)
    Subscribes: SUB LL_ENDPOINT_EVENTS (the listener)
      VM-ASSIGNED hostname [pin command generation]  answer that VM's
                             waiters only (with the payload's assignment, or
                             the row's); the PIN goes only to waiters of
                             the assignment's token generation
      VM-REVOKED hostname generation   every waiter of another generation
                             is answered REVOKED (dropped)
      RESYNC                 re-read every undelivered assignment
    A waiter is parked with the generation of the token its agent
    authenticated with, and only when that is the VM's current one.
    Every VM-WAIT first reads the row (and touches last_seen_at), in this
    single thread, so an assignment committed before the VM asked, or while
    its notification raced the request, is never lost. Parked HTTP waiters
    are capped at agent.max_parked (then FULL) and answered TIMEOUT after
    their timeout; ZeroMQ waiters (timeout 0) wait until UNWAIT.
    Pipe: START -> OK (the database may be down), $TERM. */
#ifndef LL_ACTOR_WAITERS_H
#define LL_ACTOR_WAITERS_H

#include <czmq.h>

void waiters_actor (zsock_t *pipe, void *args);

#endif
