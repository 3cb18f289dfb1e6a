/*  gateway: the optional ZeroMQ channel for agents (agent.zmq_endpoint),
    for fleets too large for HTTP long-polls: one ROUTER socket parks any
    number of waiting agents.

    Owns: ROUTER bound at agent.zmq_endpoint with CURVE (server keys from
    the zcert file agent.zmq_secret_key_file; any client key may connect,
    agents prove who they are with their token); the table of peers;
    DEALERs to the waiters and the assigner; a libcurl handle that replays
    telemetry on the allocator's own HTTP routes (same JSON, same checks).
    Serves: nothing inproc. Agent protocol (runtime/protocol.h, gateway):
      HELLO hostname token  -> HELLO-OK | ERROR reason   (first, always;
                               the token is checked with the registry's
                               VM-AUTH, as on HTTP: "token revoked", "VM
                               not found.", "Invalid API token.")
      WAIT                  -> later ASSIGN pin command  (VM-WAIT with the
                               token's generation, no timeout)
                             | ERROR token revoked  (a newer launch of the
                               VM: the peer must HELLO again)
      RESULT hostname 1|0 text -> RESULT-OK | ERROR reason (VM-RESULT, with
                               the token's generation)
      POST path json        -> REPLY status json
      PING                  -> PONG
    A peer silent for 35 s is forgotten (its parked wait is withdrawn with
    VM-UNWAIT); peers' last_seen_at is refreshed in batches (VM-SEEN).
    With agent.zmq_endpoint empty the gateway is off (starts, does nothing).
    The bound endpoint and the server public key are logged at start.
    Pipe: START -> OK | ERROR reason (key file unreadable, cannot bind),
          $TERM. */
#ifndef LL_ACTOR_GATEWAY_H
#define LL_ACTOR_GATEWAY_H

#include <czmq.h>

void gateway_actor (zsock_t *pipe, void *args);

//  One agent message split and checked without I/O (tests/fuzz).
typedef enum {
    GATEWAY_UNKNOWN = 0,
    GATEWAY_PING,
    GATEWAY_PONG,
    GATEWAY_HELLO,
    GATEWAY_WAIT,
    GATEWAY_RESULT,
    GATEWAY_POST
} gateway_verb_t;

typedef struct {
    gateway_verb_t verb;  //  the command
    const char *error;    //  the answer to malformed arguments, or NULL
    char *host;           //  HELLO, RESULT: the VM
    char *token;          //  HELLO: its token
    char *ok;             //  RESULT: "1" or "0"
    char *text;           //  RESULT: error text ("" when none)
    char *path;           //  POST: a path under /api/
    char *json;           //  POST: the body
} gateway_frame_t;

//  Split text ("VERB args": the frames joined by spaces, len bytes,
//  NUL-terminated) in place into out. 0, or -1 when it is not text (a NUL
//  inside) and must be dropped.
int gateway_frame_parse (char *text, size_t len, gateway_frame_t *out);

#endif
