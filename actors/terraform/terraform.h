/*  terraform: launch and destroy as operations (database rows), one at a
    time across every allocator sharing the database, run by a terraform
    child process that never blocks anybody.

    Owns: one PostgreSQL connection (it holds the advisory lock
    `tf_lock_try` while an operation runs); the terraform child (spawned
    with posix_spawn in its own process group, stdout and stderr on pipes,
    no shell); the working directory (provider.work_dir: symlinks to the
    module's files, terraform.runtime.tfvars (0600, holds agent tokens),
    state); the allocator's ed25519 key pair (provider.ssh_key_file).
    Serves: ROUTER LL_ENDPOINT_TERRAFORM, the grammar in runtime/protocol.h:
      LAUNCH, DESTROY, DESTROY-VM, REPLACE-VM, REBOOT-VM, MOVE-VM,
      EXPORT-DESTROY (each starts an operation and answers its id at once),
      OP-GET, OP-LIST.
    Publishes: PUB LL_ENDPOINT_OPERATIONS, each output line (ANSI stripped,
      capped), progress and status of the running operation.
    An operation: [init once per working dir] -> apply | destroy ->
      (success) output -json: VM rows get Terraform timings; the fleet's
      names become active or, after destroy, are removed with their rows
      (archived in audit_log) -> (failure) state list: names terraform
      holds stay, the others go. provider.operation_timeout_s bounds it
      (SIGTERM to the process group, SIGKILL 3 s later).
    Pipe: START -> OK | ERROR reason (the database may be down: operations
          are refused until it is back), $TERM (a running terraform gets
          SIGINT, SIGKILL 3 s later; its operation is marked failed),
          VERBOSE (runtime/actor.h). */
#ifndef LL_ACTOR_TERRAFORM_H
#define LL_ACTOR_TERRAFORM_H

#include <czmq.h>

void terraform_actor (zsock_t *pipe, void *args);

#endif
