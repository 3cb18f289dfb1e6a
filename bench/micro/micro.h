/*  What the micro benchmarks read of their own process: a header, so that
    each still builds with its one gcc line. */
#ifndef LL_MICRO_H
#define LL_MICRO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  This process's resident memory in KiB (VmRSS), 0 when unknown
static inline long
ll_micro_rss_kib (void)
{
    FILE *f = fopen ("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtol (line + 6, NULL, 10);
    if (f)
        fclose (f);
    return kib;
}

#endif
