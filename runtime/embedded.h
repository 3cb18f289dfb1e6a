/*  Files embedded into the binaries at build time (runtime/tools/embed.c).
    Each table ends with an entry whose name is NULL. Data is NUL-terminated
    (the terminator is not counted in size). */
#ifndef LL_EMBEDDED_H
#define LL_EMBEDDED_H

#include <stddef.h>

typedef struct {
    const char *name;           //  path relative to the embedded folder
    const unsigned char *data;  //  file bytes, NUL-terminated
    size_t size;                //  byte count without the terminator
} ll_embedded_t;

extern const ll_embedded_t ll_sql_queries[];  //  the files of sql/queries
extern const ll_embedded_t
    ll_sql_migrations[];  //  the files of sql/migrations, sorted
extern const ll_embedded_t ll_web_assets[];  //  http/assets/**

//  Find an embedded file by name; NULL when absent.
const ll_embedded_t *ll_embedded_find (const ll_embedded_t *table,
                                       const char *name);

#endif
