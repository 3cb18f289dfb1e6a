/*  The CRD command validator (runtime/crd.h), as the allocator runs it on
    what students paste and the agent re-runs it before start-host: never a
    crash, and an accepted code is always non-empty, capped and made only
    of [A-Za-z0-9_/-] (nothing a shell or start-host could misread). */
#include "fuzz_support.h"

#include "agent/crd.h"
#include "runtime/crd.h"

static void
s_check_code (const char *code)
{
    size_t len = strlen (code);
    FUZZ_CHECK (len > 0 && len <= LL_CRD_CODE_MAX);
    FUZZ_CHECK (strspn (code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz"
                              "0123456789_/-")
                == len);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *command = fuzz_text (data, size);
    char code[LL_CRD_CODE_MAX + 1];
    if (ll_crd_extract_code (command, code, sizeof code) == 0) {
        s_check_code (code);
        FUZZ_CHECK (strstr (command, code) != NULL);
    }
    else
        FUZZ_CHECK (code[0] == '\0');

    //  A small output buffer must refuse, never overflow
    char small[8];
    if (ll_crd_extract_code (command, small, sizeof small) == 0)
        s_check_code (small);
    else
        FUZZ_CHECK (small[0] == '\0');

    //  The agent's argv: the code is the only thing taken from the command
    agent_crd_argv_t argv;
    if (agent_crd_argv_build (&argv, "/bin/start-host", command, "vm-1") == 0) {
        FUZZ_CHECK (strncmp (argv.code_arg, "--code=", 7) == 0);
        s_check_code (argv.code_arg + 7);
        FUZZ_CHECK (argv.argv[4] == NULL);
    }
    //  The PIN check on the same bytes: digits only, 6 to AGENT_PIN_MAX
    if (agent_pin_valid (command)) {
        size_t len = strlen (command);
        FUZZ_CHECK (len >= 6 && len <= AGENT_PIN_MAX);
        FUZZ_CHECK (strspn (command, "0123456789") == len);
    }
    free (command);
    return 0;
}
