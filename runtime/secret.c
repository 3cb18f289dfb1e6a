#include "runtime/secret.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void
ll_secret_free (char **secret_p)
{
    if (!secret_p || !*secret_p)
        return;
    sodium_memzero (*secret_p, strlen (*secret_p));
    free (*secret_p);
    *secret_p = NULL;
}
