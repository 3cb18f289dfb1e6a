/*  admin: what the admin console keeps in PostgreSQL: browser sessions,
    failed-login counts per address, the audit log, and the reads its pages
    render first (VM list, VM existence).

    Owns: one PostgreSQL connection (reconnects with backoff on its idle
    tick), and every minute deletes expired sessions and old failures.
    Serves: ROUTER LL_ENDPOINT_ADMIN, the grammar in runtime/protocol.h:
      SESSION-NEW, SESSION-CHECK, SESSION-END, LOGIN-CHECK, LOGIN-FAILED,
      LOGIN-OK, AUDIT, AUDIT-LIST, ADMIN-VMS, ADMIN-VM-EXISTS, VM-PROGRESS,
      ARCHIVES, ARCHIVE-GET, ARCHIVE-DONE, ARCHIVE-DELETE. Arguments are
      at most 512 bytes (else ERROR LL_REASON_TOO_LONG); every other
      ERROR but LL_REASON_EXPIRED means the database failed.
    Pipe: START -> OK (the database may be down: requests then answer
          ERROR), $TERM, VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_ADMIN_H
#define LL_ACTOR_ADMIN_H

#include <czmq.h>

void admin_actor (zsock_t *pipe, void *args);

#endif
