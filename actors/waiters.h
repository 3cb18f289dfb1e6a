/*  waiters: VMs waiting for their assignment, parked by hostname.

    Owns: the table hostname -> parked requests (HTTP long-polls from
    /vm_startup and ZeroMQ agents from the gateway); one PostgreSQL
    connection to read the rows.
    Serves: ROUTER LL_ENDPOINT_WAITERS, the grammar in runtime/protocol.h:
      VM-WAIT (parked until answered; only with the generation of the VM's
      current token), VM-UNWAIT (the caller's client went away: its
      VM-WAIT is forgotten).
    Subscribes: SUB LL_ENDPOINT_EVENTS (the listener): VM-ASSIGNED answers
      that VM's waiters only (with the payload's assignment, or the row's;
      the PIN goes only to waiters of the assignment's token generation,
      the others are answered REVOKED); VM-REVOKED answers REVOKED to every
      waiter of another generation; RESYNC re-reads every undelivered
      assignment.
    Every VM-WAIT first reads the row (and touches last_seen_at), in this
    single thread, so an assignment committed before the VM asked, or while
    its notification raced the request, is never lost. Parked HTTP waiters
    are capped at agent.max_parked (then FULL) and answered TIMEOUT after
    their timeout; ZeroMQ waiters (timeout 0) wait until UNWAIT, and their
    VMs' last_polled_at is refreshed every 10 s by the registry (VM-POLLED,
    not awaited: this thread delivers).
    Pipe: START -> OK (the database may be down), $TERM, VERBOSE
          (runtime/actor.h). */
#ifndef LL_ACTOR_WAITERS_H
#define LL_ACTOR_WAITERS_H

#include <czmq.h>

void waiters_actor (zsock_t *pipe, void *args);

#endif
