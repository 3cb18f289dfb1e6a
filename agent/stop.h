/*  The agent's shared stop signal: a flag every loop checks and a condition
    its sleeps wait on, so SIGTERM wakes every thread at once. Also the
    random jitter every retry uses, and the threads the loops run on. */
#ifndef LL_AGENT_STOP_H
#define LL_AGENT_STOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct {
    pthread_mutex_t lock;  //  guards stopping
    pthread_cond_t wake;   //  broadcast when stopping is set
    bool stopping;         //  set once by agent_stop_request
} agent_stop_t;

void agent_stop_init (agent_stop_t *self);
void agent_stop_fini (agent_stop_t *self);

//  Ask every loop to stop; wakes all sleepers.
void agent_stop_request (agent_stop_t *self);

bool agent_stop_requested (agent_stop_t *self);

//  Sleep ms milliseconds or until stop is requested. Returns true when
//  stopping (the caller leaves its loop).
bool agent_stop_sleep (agent_stop_t *self, int64_t ms);

//  `run` and `relay` block SIGTERM and SIGINT in every thread (call before
//  any starts); one thread waits for them and requests stop.
void agent_stop_block_signals (void);
void agent_stop_on_signal (agent_stop_t *self);

//  A thread that may not have started: join only what started.
typedef struct {
    pthread_t id;
    bool started;
} agent_thread_t;

//  Start fn (arg) on self; 0 or -1.
int agent_thread_start (agent_thread_t *self, void *(*fn) (void *), void *arg);

//  Join self if it started (then it is not started any more).
void agent_thread_join (agent_thread_t *self);

//  A uniformly random integer in [0, max] (max <= 0 gives 0).
int64_t agent_random (int64_t max);

//  value limited to [min, max].
double agent_clamp (double value, double min, double max);

//  Fill out with size random bytes (getrandom); 0 or -1.
int agent_random_bytes (void *out, size_t size);

//  A condition whose timed waits count on CLOCK_MONOTONIC, and the
//  deadline ms (< 0: 0) milliseconds from now for pthread_cond_timedwait.
void agent_cond_init (pthread_cond_t *cond);
void agent_deadline (struct timespec *until, int64_t ms);

//  The next retry delay: doubles current (starting at base) up to max, then
//  adds 0..50 % jitter.
int64_t agent_backoff_next (int64_t *current, int64_t base, int64_t max);

#endif
