/*  assigner: gives free VMs to students, atomically and in batches.

    Owns: one PostgreSQL connection; the per-email and per-address rate
    limit buckets (claim.email_per_minute, claim.address_per_minute).
    Serves: ROUTER LL_ENDPOINT_ASSIGNER, the grammar in runtime/protocol.h:
      VM-CLAIM, VM-COUNT, VM-RELEASE, VM-RESULT, VM-SEEN.
    Every wake-up drains all waiting requests; the claims among them are
    answered from ONE transaction: the students' own VMs first (reference
    2.6: a returning student keeps a running VM with the new code, a
    rebooting one queues it, an errored one is refused), then one
    statement claims that many free VMs in hostname order with FOR UPDATE
    SKIP LOCKED (sql/queries/assigner.sql claim_free). N claims against M
    free VMs give min(N, M) winners; several allocators sharing the
    database never hand out a VM twice. The stored command is only
    "--code=<code>" and every assignment gets a fresh random 6-digit PIN.
    Pipe: START -> OK (the database may be down: claims answer ERROR until
          it is back), $TERM, VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_ASSIGNER_H
#define LL_ACTOR_ASSIGNER_H

#include <czmq.h>

void assigner_actor (zsock_t *pipe, void *args);

#endif
