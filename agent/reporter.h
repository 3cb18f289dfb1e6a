/*  The reporter delivers telemetry: each kind of report (status, GPU
    health, in-use, heartbeat, metrics) has one slot holding the newest value
    not yet accepted; a thread posts due slots and retries failures with
    exponential backoff and jitter until the allocator answers 2xx. Setting
    a slot never blocks on the network: the newest value wins, so a change
    made while the allocator is away is sent when it comes back. */
#ifndef LL_AGENT_REPORTER_H
#define LL_AGENT_REPORTER_H

#include <stdbool.h>

#include "agent/transport.h"

#define AGENT_REPORTER_SLOTS 16  //  distinct report kinds

typedef struct agent_reporter agent_reporter_t;

//  Posts through transport (not owned).
agent_reporter_t *agent_reporter_new (agent_transport_t *transport);

//  Start the delivery thread. 0 or -1.
int agent_reporter_start (agent_reporter_t *self);

//  Queue body for path under key, replacing any older value of that key.
//  0, or -1 when out of slots or memory.
int agent_reporter_set (agent_reporter_t *self,
                        const char *key,
                        const char *path,
                        const char *body);

//  Number of values not yet accepted.
int agent_reporter_pending (agent_reporter_t *self);

//  Stop the thread (the agent's stop must be requested first) and free.
void agent_reporter_destroy (agent_reporter_t **self_p);

#endif
