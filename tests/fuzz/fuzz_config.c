/*  The config loader (runtime/config.h) on any YAML text: a config comes
    back, or NULL with a reason; never a crash, a leak or a hang. What is
    accepted passes its own validation again and can be summarised. */
#include "fuzz_support.h"

#include "runtime/config.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char error[256] = "";
    ll_config_t *config =
        ll_config_parse ((const char *) data, size, error, sizeof error);
    if (!config) {
        FUZZ_CHECK (error[0] != '\0');
        return 0;
    }
    char again[256] = "";
    FUZZ_CHECK (ll_config_validate (config, again, sizeof again) == 0);
    ll_config_refuse_reason (config);
    char *conninfo = ll_config_conninfo (config);
    char *describe = ll_config_describe (config);
    FUZZ_CHECK (conninfo && describe);
    free (conninfo);
    free (describe);
    ll_config_destroy (&config);
    FUZZ_CHECK (config == NULL);
    return 0;
}
