#include "agent/crd.h"

#include <stdio.h>
#include <string.h>

#include "agent/spawn.h"
#include "runtime/log.h"

int
agent_crd_argv_build (agent_crd_argv_t *self,
                      const char *start_host,
                      const char *command,
                      const char *vm_name)
{
    memset (self, 0, sizeof *self);
    char code[LL_CRD_CODE_MAX + 1];
    if (ll_crd_extract_code (command, code, sizeof code) != 0)
        return -1;
    if (!start_host || !*start_host || !vm_name || !*vm_name)
        return -1;
    snprintf (self->code_arg, sizeof self->code_arg, "--code=%s", code);
    snprintf (self->redirect_arg, sizeof self->redirect_arg,
              "--redirect-url=%s", LL_CRD_REDIRECT_URL);
    int n =
        snprintf (self->name_arg, sizeof self->name_arg, "--name=%s", vm_name);
    if (n < 0 || (size_t) n >= sizeof self->name_arg)
        return -1;
    self->argv[0] = (char *) start_host;
    self->argv[1] = self->code_arg;
    self->argv[2] = self->redirect_arg;
    self->argv[3] = self->name_arg;
    self->argv[4] = NULL;
    memset (code, 0, sizeof code);
    return 0;
}

bool
agent_pin_valid (const char *pin)
{
    if (!pin)
        return false;
    size_t len = strlen (pin);
    if (len < 6 || len > AGENT_PIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (pin[i] < '0' || pin[i] > '9')
            return false;
    return true;
}

int
agent_crd_connect (const agent_settings_t *settings,
                   agent_stop_t *stop,
                   const char *command,
                   const char *pin,
                   char *error,
                   size_t errsize)
{
    agent_crd_argv_t args;
    if (agent_crd_argv_build (&args, settings->start_host, command,
                              settings->vm_name)
        != 0) {
        snprintf (error, errsize, "rejected CRD command (not allowed)");
        return -1;
    }
    if (!agent_pin_valid (pin)) {
        memset (&args, 0, sizeof args);
        snprintf (error, errsize, "rejected PIN (not 6-%d digits)",
                  AGENT_PIN_MAX);
        return -1;
    }
    char input[2 * AGENT_PIN_MAX + 4];
    snprintf (input, sizeof input, "%s\n%s\n", pin, pin);
    char *env[] = {"DISPLAY=", NULL};
    agent_run_t run;
    int rc = agent_run (args.argv, env, input,
                        settings->start_host_timeout_s * 1000, stop, &run);
    memset (input, 0, sizeof input);
    memset (&args, 0, sizeof args);
    //  start-host's output may echo what it was given: never logged
    if (rc == 0) {
        error[0] = '\0';
        return 0;
    }
    if (run.timed_out)
        snprintf (error, errsize, "start-host timed out after %d s",
                  settings->start_host_timeout_s);
    else if (run.not_found)
        snprintf (error, errsize, "start-host could not be executed");
    else
        snprintf (error, errsize, "start-host exited with status %d",
                  run.exit_code);
    return -1;
}
