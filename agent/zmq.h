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

#include "agent/agent.h"

agent_zmq_t *agent_zmq_new (agent_t *agent);

//  Start the link thread (connects, says HELLO and WAIT, runs assignments).
int agent_zmq_start (agent_zmq_t *self);

//  POST over the gateway (self: the agent_zmq_t): an agent_link_post_fn
//  for agent/transport.h.
int agent_zmq_post (void *self,
                    const char *path,
                    const char *body,
                    int timeout_ms,
                    bool abortable,
                    agent_reply_t *reply);

//  Join the thread (after stop) and free.
void agent_zmq_destroy (agent_zmq_t **self_p);

#endif
