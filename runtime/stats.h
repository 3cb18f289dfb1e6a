/*  Counters every actor may bump (atomics only: no other shared state). */
#ifndef LL_STATS_H
#define LL_STATS_H

#include <stdatomic.h>

typedef struct {
    atomic_uint_fast64_t pg_reconnects;  //  successful reconnections
    atomic_uint_fast64_t pg_failures;    //  failed connection attempts
} ll_stats_t;

#endif
