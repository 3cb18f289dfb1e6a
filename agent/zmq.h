/*  The ZeroMQ transport (LABLINK_TRANSPORT=zmq): one thread owns a DEALER
    socket with CURVE (the agent makes its own keypair; the server's public
    key comes from LABLINK_ZMQ_SERVER_KEY, Z85) connected to the gateway's
    ROUTER at LABLINK_ZMQ_ENDPOINT. Every message is one string frame:
        HELLO <hostname> <token>   -> HELLO-OK | ERROR <reason>   (first)
        WAIT                       -> later ASSIGN <pin> <command>
        RESULT <hostname> <1|0> <error text>  -> RESULT-OK
        POST <path> <json body>    -> REPLY <status> <json>
        PING                       -> PONG   (either side)
    WAIT is sent again after each ASSIGN and after reconnecting. The agent
    pings every 10 s and reconnects (new socket, HELLO, WAIT) after 3
    missed answers. Telemetry and log batches from the other threads go out
    as POST frames; replies come back in order. */
#ifndef LL_AGENT_ZMQ_H
#define LL_AGENT_ZMQ_H

#include <stddef.h>

#include "agent/settings.h"
#include "agent/stop.h"
#include "agent/transport.h"

typedef struct agent_zmq agent_zmq_t;

//  What the link asks of its owner (agent.c wires them), on the link's
//  worker thread so pings and POSTs go on meanwhile. assign: run start-host,
//  0 or -1 with error filled (the link reports it as RESULT). reset: end
//  the session and report the outcome (a POST, over this link).
typedef int (agent_zmq_assign_fn) (void *arg,
                                   const char *command,
                                   const char *pin,
                                   char *error,
                                   size_t error_size);
typedef int (agent_zmq_reset_fn) (void *arg, const char *reset_id);

//  settings and stop outlive the link; arg is both callbacks' first
//  argument.
agent_zmq_t *agent_zmq_new (const agent_settings_t *settings,
                            agent_stop_t *stop,
                            agent_zmq_assign_fn *assign,
                            agent_zmq_reset_fn *reset,
                            void *arg);

//  Start the link thread (connects, says HELLO and WAIT, runs assignments).
int agent_zmq_start (agent_zmq_t *self);

//  POST over the gateway (link: the agent_zmq_t), for agent/transport.h.
agent_link_post_fn agent_zmq_post;

//  Join the thread (after stop) and free.
void agent_zmq_destroy (agent_zmq_t **self_p);

#endif
