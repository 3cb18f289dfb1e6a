/*  lablink-agent: the VM-side program (reference 5 and 6.4, issue 3).

    `agent_run_main` is `lablink-agent run`: records the container start,
    clones the tutorial repository, runs the custom startup script, starts
    every loop in its own thread (assignment, in-use, GPU, heartbeat, log
    shipping, and the reporter that delivers telemetry), then reports
    `running` and the container timings. SIGTERM stops every loop, flushes
    the logs and returns 0 within 2 s.

    Threads share only this struct: settings (read-only after load), the
    stop signal, the transport (agent/transport.h: HTTP, or the gateway
    link with its own lock), the reporter (its own lock). The loops post
    through the transport; this file only makes and wires them. */
#ifndef LL_AGENT_AGENT_H
#define LL_AGENT_AGENT_H

#include "agent/client.h"
#include "agent/settings.h"
#include "agent/stop.h"
#include "agent/transport.h"
#include "agent/zmq.h"

typedef struct agent_reporter agent_reporter_t;

typedef struct {
    agent_settings_t settings;    //  from the environment
    agent_stop_t stop;            //  SIGTERM reaches every loop through it
    agent_transport_t transport;  //  how every loop posts
    agent_reporter_t *reporter;   //  delivers the newest telemetry values
    agent_zmq_t *zmq;             //  the gateway link (zmq transport) or NULL
} agent_t;

//  Handle one assignment (HTTP or pg transport): run start-host, report the
//  result (retried until accepted). Returns 0 when start-host succeeded.
//  Over the gateway link the link reports it (RESULT).
int
agent_handle_assignment (agent_t *self, const char *command, const char *pin);

//  Take an assignment out of a /vm_startup 200 answer (text NUL-
//  terminated): 0 with *command and *pin (new strings), else -1.
int agent_parse_assignment (const char *text, char **command, char **pin);

//  Handle a reset (the VM was released, agent/reset.h): end the session,
//  restore the home, clone the tutorial again, report the outcome to
//  /api/vm-reset-result (retried until recorded). 0 when it succeeded.
int agent_handle_reset (agent_t *self, const char *reset_id);

//  Take a reset out of a /vm_startup 200 answer
//  {"status":"reset","reset_id":"<32 hex>"}: 0 with *reset_id, else -1.
int agent_parse_reset (const char *text, char **reset_id);

//  The subcommands; each returns the process exit code.
int agent_run_main (agent_t *self);
int agent_status_main (agent_t *self, const char *status);
int agent_metrics_main (agent_t *self, long start, long end);

//  True for the VM status values the allocator accepts.
bool agent_status_valid (const char *status);

#endif
