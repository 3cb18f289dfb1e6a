/*  The agent's side: its parse of the allocator's /vm_startup answer
    (agent_parse_assignment) and what it does with an assignment before
    anything runs (the CRD command re-checked into start-host's argv, the
    PIN checked). Whatever the allocator (or something posing as it) sends,
    nothing but a validated code and a digits-only PIN goes on. */
#include "fuzz_support.h"

#include "agent/agent.h"
#include "agent/crd.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fuzz_text (data, size);
    char *command = NULL, *pin = NULL;
    if (agent_parse_assignment (text, &command, &pin) == 0) {
        FUZZ_CHECK (command && pin);
        agent_crd_argv_t argv;
        if (agent_crd_argv_build (&argv, "/bin/start-host", command, "vm-1")
            == 0) {
            FUZZ_CHECK (strncmp (argv.code_arg, "--code=", 7) == 0);
            FUZZ_CHECK (strpbrk (argv.code_arg, " \t\r\n;|&$`'\"\\") == NULL);
        }
        if (agent_pin_valid (pin))
            FUZZ_CHECK (strspn (pin, "0123456789") == strlen (pin));
    }
    else
        FUZZ_CHECK (!command && !pin);
    free (command);
    free (pin);
    free (text);
    return 0;
}
