/*  The monotonic clock every program reads (the allocator, the agent, the
    bench). Needs only libc, so the agent's stand-alone checks build it
    without czmq. */
#ifndef LL_CLOCK_H
#define LL_CLOCK_H

#include <stdint.h>

//  Monotonic clock in milliseconds, in microseconds.
int64_t ll_now_ms (void);
int64_t ll_now_us (void);

#endif
