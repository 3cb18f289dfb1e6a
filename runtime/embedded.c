#include "runtime/embedded.h"

#include <string.h>

const ll_embedded_t *
ll_embedded_find (const ll_embedded_t *table, const char *name)
{
    for (const ll_embedded_t *e = table; e->name; e++)
        if (strcmp (e->name, name) == 0)
            return e;
    return NULL;
}
