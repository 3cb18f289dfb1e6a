/*  assigner: gives free VMs to students, atomically and in batches.

    Owns: one PostgreSQL connection; the per-email and per-address rate
    limit buckets (claim.email_per_minute, claim.address_per_minute); the
    class roster (runtime/roster.h: claim.access_code, allowed_emails,
    allowed_domains; the email file re-read when it changes).
    Serves: ROUTER LL_ENDPOINT_ASSIGNER, the grammar in runtime/protocol.h:
      VM-CLAIM, VM-COUNT, VM-RELEASE, VM-RESET-DONE, VM-RESULT,
      CLAIM-RESET, CLAIM-WHO.
    Claim secrets (issue 15): a first claim gets a new random secret (only
    its hash is stored with the VM); an email that already holds a VM must
    show the secret of one of its VMs, else DENIED before anything is read
    or written for it. The roster is checked after the rate limits, the
    access code first. A release follows claim.on_release (issue 15
    section 3): reset withholds the VM until its agent confirms the reset
    (VM-RESET-DONE with the current id), replace until terraform replaced
    it (the terraform actor clears it), reuse frees it at once.
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
          it is back) | ERROR reason (the roster file cannot be read),
          $TERM, VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_ASSIGNER_H
#define LL_ACTOR_ASSIGNER_H

#include <czmq.h>

void assigner_actor (zsock_t *pipe, void *args);

#endif
