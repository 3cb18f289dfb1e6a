#include "runtime/release.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void
ll_release_vms (ll_release_t *self,
                ll_client_t *assigner,
                ll_client_t *terraform,
                const char *const *hosts,
                const char *actor,
                int idle_s)
{
    memset (self, 0, sizeof *self);
    while (hosts[self->count])
        self->count++;
    self->vms = calloc (self->count + 1, sizeof *self->vms);
    const char **replace = calloc (self->count + 1, sizeof *replace);
    assert (self->vms && replace);
    for (size_t i = 0; i < self->count; i++) {
        ll_release_vm_t *vm = &self->vms[i];
        vm->rc = ll_ask_vm_release (assigner, hosts[i], actor, idle_s,
                                    &vm->mode, &vm->error);
        if (vm->rc == 0 && vm->mode && streq (vm->mode, "replace"))
            replace[self->replaced++] = hosts[i];
    }
    if (self->replaced > 0
        && ll_ask_vm_operation (terraform, LL_CMD_REPLACE_VM, replace, actor,
                                &self->operation_id, &self->operation_error)
               != 0) {
        free (self->operation_id);
        self->operation_id = NULL;
    }
    free (replace);
}

void
ll_release_free (ll_release_t *self)
{
    for (size_t i = 0; self->vms && i < self->count; i++) {
        free (self->vms[i].mode);
        free (self->vms[i].error);
    }
    free (self->vms);
    free (self->operation_id);
    free (self->operation_error);
    memset (self, 0, sizeof *self);
}
