/*  Releasing VMs (VM-RELEASE to the assigner) and, for those released under
    claim.on_release: destroy, their replacement (one REPLACE-VM to
    terraform): the one place the admin's release, the console's bulk
    release, the student's release and the scheduler's idle release share.
    A released VM to replace stays out of the pool until it is replaced,
    also when terraform refuses now (busy, no answer); the caller says so
    in its own words (an HTTP answer, a log line). */
#ifndef LL_RELEASE_H
#define LL_RELEASE_H

#include <stddef.h>

#include "runtime/protocol.h"

//  One VM-RELEASE's answer
typedef struct {
    int rc;       //  0: released, -1: refused
    char *mode;   //  the claim.on_release applied (rc 0): replace, reset...
    char *error;  //  the refusal (rc -1): LL_REASON_NOT_FOUND...; NULL: none
} ll_release_vm_t;

typedef struct {
    size_t count;           //  hostnames asked
    ll_release_vm_t *vms;   //  their answers, in the order asked
    size_t replaced;        //  released with mode "replace": REPLACE-VM asked
    char *operation_id;     //  REPLACE-VM's operation; NULL: none or refused
    char *operation_error;  //  its refusal ("busy <id>", LL_REASON_UNKNOWN_VM
                            //  ...); NULL: no answer or none asked
} ll_release_t;

//  Release hosts (NULL-terminated) as actor (the audit's "admin:x",
//  "student:x", "auto:idle") through assigner, then replace those released
//  with mode "replace" in one REPLACE-VM through terraform (the two may be
//  the same client). idle_s > 0 (the idle rule): a VM is released only
//  while still held and unused that long, checked by the release itself
//  (else LL_REASON_NOT_FOUND): its student may have come back since the
//  rule read it. The answers go into *self (a caller's variable, as the
//  ll_ask_* out-parameters); free them with ll_release_free.
void ll_release_vms (ll_release_t *self,
                     ll_client_t *assigner,
                     ll_client_t *terraform,
                     const char *const *hosts,
                     const char *actor,
                     int idle_s);

//  Free the answers in *self (safe to call twice).
void ll_release_free (ll_release_t *self);

#endif
