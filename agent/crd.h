/*  Connecting this VM to the student's Chrome Remote Desktop account: the
    command received is re-validated with the shared allow-list
    (runtime/crd.h), only its code is used, and Google's start-host runs
    with an argv vector (never a shell):
        start-host --code=<code>
                   --redirect-url=https://remotedesktop.google.com/_/oauthredirect
                   --name=<VM_NAME>
    with DISPLAY= (empty) and "PIN\nPIN\n" on stdin, under a timeout. */
#ifndef LL_AGENT_CRD_H
#define LL_AGENT_CRD_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/settings.h"
#include "agent/stop.h"
#include "runtime/crd.h"

#define AGENT_PIN_MAX 32  //  longest PIN accepted

//  The argv for start-host, with its own storage.
typedef struct {
    char code_arg[LL_CRD_CODE_MAX + 16];  //  "--code=<code>"
    char redirect_arg[128];               //  "--redirect-url=..."
    char name_arg[AGENT_NAME_MAX + 16];   //  "--name=<VM_NAME>"
    char *argv[5];                        //  NULL-terminated
} agent_crd_argv_t;

//  Validate command and build the argv into self. 0, or -1 when the command
//  is not acceptable.
int agent_crd_argv_build (agent_crd_argv_t *self,
                          const char *start_host,
                          const char *command,
                          const char *vm_name);

//  A PIN is 6 to AGENT_PIN_MAX digits (nothing that could forge stdin lines).
bool agent_pin_valid (const char *pin);

//  Run start-host for command and pin. 0 on success, else -1 with a reason
//  safe to log and report (never the code or the PIN) in error.
int agent_crd_connect (const agent_settings_t *settings,
                       agent_stop_t *stop,
                       const char *command,
                       const char *pin,
                       char *error,
                       size_t errsize);

#endif
