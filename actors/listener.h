/*  listener: turns PostgreSQL NOTIFY on db.message_channel (assignments)
    and on lablink_vm_tokens (revoked agent tokens, migration 0012) into
    in-process events, with ONE dedicated connection however many VMs wait.

    Owns: one PostgreSQL connection in LISTEN (sql/queries/waiters.sql
    listen_channel; the channel is a bound value, see migration 0002).
    Publishes: PUB LL_ENDPOINT_EVENTS, the grammar in runtime/protocol.h:
      VM-ASSIGNED for every notification with a HostName and a non-null
      CrdCommand (payload capped at 8 KiB; pin, command and the token
      generation come from it); VM-REVOKED for every "hostname generation"
      of the token channel; RESYNC after each (re)connection once LISTEN
      is in place: notifications sent while it was down are lost, so
      subscribers re-read the rows.
    Reconnects with backoff (100 ms .. 2 s) when the connection breaks.
    Pipe: START -> OK (the database may be down), $TERM, VERBOSE
          (runtime/actor.h). */
#ifndef LL_ACTOR_LISTENER_H
#define LL_ACTOR_LISTENER_H

#include <czmq.h>

void listener_actor (zsock_t *pipe, void *args);

#endif
