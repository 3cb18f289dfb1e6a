/*  Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c): libFuzzer's
    entry point, a NUL-terminated copy of the input, and a check that stays
    on in every build (a broken invariant is a crash the fuzzer reports). */
#ifndef LL_FUZZ_SUPPORT_H
#define LL_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  A fresh NUL-terminated copy of data (caller frees).
static inline char *
fuzz_text (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    if (!text)
        abort ();
    if (size)
        memcpy (text, data, size);
    text[size] = '\0';
    return text;
}

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                     #cond);                                                   \
            abort ();                                                          \
        }                                                                      \
    } while (0)

#endif
