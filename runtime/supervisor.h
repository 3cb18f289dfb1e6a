/*  Runs an actor table: start in table order, each with a START handshake
    that reports failure; stop in reverse. Also the process's signal
    discipline: SIGINT/SIGTERM are blocked before any thread exists and
    waited for in main only (czmq's own handlers are disabled). */
#ifndef LL_SUPERVISOR_H
#define LL_SUPERVISOR_H

#include <czmq.h>

#include "runtime/config.h"
#include "runtime/stats.h"

struct ll_metrics;

typedef struct ll_first_connects ll_first_connects_t;  //  runtime/actor.h

//  What every actor receives as its argument (read-only but for stats).
typedef struct {
    const ll_config_t *config;   //  immutable after start
    ll_stats_t *stats;           //  shared counters
    struct ll_metrics *metrics;  //  Prometheus series (runtime/metrics.h),
                                 //  NULL in tests that do not count
    int64_t started_ms;          //  ll_now_ms () at process start
    ll_first_connects_t *first_connects;  //  made by main: actors connect
        //  once START is answered and are listed
        //  until then (runtime/actor.h); NULL (the
        //  actor tests): they connect in START
    void *extra;  //  test hook: actor-specific, usually NULL
} ll_runtime_t;

typedef struct {
    const char *name;  //  actor name, as docs/architecture.md lists it
    zactor_fn *fn;     //  <name>_actor
    bool edge;         //  serves the outside: started, in table order,
                       //  once every other actor is up
} ll_actor_def_t;

typedef struct ll_supervisor ll_supervisor_t;

ll_supervisor_t *ll_supervisor_new (const ll_actor_def_t *table,
                                    size_t count,
                                    ll_runtime_t *runtime);

//  Start the inner actors, all at once (each connects to PostgreSQL in its
//  START, or right after with first_connects), or (edge) then the
//  edge ones in table order. On a failure stop
//  every started actor in reverse and return -1 with *error (new string
//  naming the actor).
int ll_supervisor_start (ll_supervisor_t *self, bool edge, char **error);

//  The started actor of that name, or NULL.
zactor_t *ll_supervisor_actor (ll_supervisor_t *self, const char *name);

//  Stop in reverse order and free.
void ll_supervisor_destroy (ll_supervisor_t **self_p);

//  Block SIGINT and SIGTERM in this thread (call before any thread starts)
//  and disable czmq's signal handlers.
void ll_signals_block (void);

//  Wait for SIGINT or SIGTERM; returns the signal number.
int ll_signals_wait (void);

//  The same for at most ms milliseconds (ms <= 0: no limit): the signal
//  number, or 0 when the time ran out.
int ll_signals_wait_for (int64_t ms);

#endif
