/*  admin: what the admin console keeps in PostgreSQL: browser sessions,
    failed-login counts per address, the audit log, and the reads its pages
    render first (VM list, VM existence).

    Owns: one PostgreSQL connection (reconnects with backoff on its idle
    tick), and every minute deletes expired sessions and old failures.
    Serves: ROUTER LL_ENDPOINT_ADMIN (runtime/protocol.h)
      SESSION-NEW id-hash actor address  -> OK | ERROR reason
      SESSION-CHECK id-hash idle-s max-s -> OK actor | ERROR expired|reason
      SESSION-END id-hash                -> OK | ERROR reason
      LOGIN-CHECK address window-s       -> OK failures retry-after-s
      LOGIN-FAILED address               -> OK
      LOGIN-OK address                   -> OK
      AUDIT actor action target outcome detail -> OK | ERROR reason
      AUDIT-LIST limit before-id         -> OK json-array
      ADMIN-VMS [hostname]               -> OK json-array
      ADMIN-VM-EXISTS hostname           -> OK "1" | OK "0"
      ARCHIVES, ARCHIVE-GET/DONE/DELETE name   the kept exports
      VM-PROGRESS hostname               -> OK json | OK ""
    Every ERROR other than "expired" means the database failed.
    Pipe: START -> OK (the database may be down: requests then answer
          ERROR), $TERM. */
#ifndef LL_ACTOR_ADMIN_H
#define LL_ACTOR_ADMIN_H

#include <czmq.h>

void admin_actor (zsock_t *pipe, void *args);

#endif
