/*  gateway: the optional ZeroMQ channel for agents (agent.zmq_endpoint),
    for fleets too large for HTTP long-polls: one ROUTER socket parks any
    number of waiting agents.

    Owns: ROUTER bound at agent.zmq_endpoint with CURVE (server keys from
    the zcert file agent.zmq_secret_key_file; any client key may connect,
    agents prove who they are with their token); the table of peers and
    their POSTs; DEALERs to the waiters, the assigner, the registry and the
    ingest.
    Serves: nothing inproc. Agent protocol (runtime/protocol.h, gateway):
      HELLO (the token checked with the registry's VM-AUTH, as on HTTP:
      "token revoked", "VM not found.", "Invalid API token."), WAIT
      (VM-WAIT with the token's generation, no timeout), RESULT (VM-RESULT,
      with the token's generation), PING, and
      POST path json -> REPLY status json: the agent API of
      http/agent_api.h, the same table the HTTP routes serve, sent straight
      to the actors (VM-STATUS-SET, LOG-APPEND, ...) as the VM its HELLO
      proved; a path outside it is REPLY 404. An agent's REPLYs come in the
      order of its POSTs (one actor request in flight per agent, at most
      LL_GATEWAY_POSTS_MAX waiting); an actor silent past its exchange's
      timeout is REPLY 500/503 as over HTTP.
    Subscribes: SUB LL_ENDPOINT_EVENTS: VM-REVOKED (the VM's peers holding
      an older token are told "ERROR token revoked" and must HELLO again),
      RESYNC (every peer's token is checked again with VM-AUTH, as it is
      every minute).
    A peer silent for 35 s is forgotten (its parked wait is withdrawn with
    VM-UNWAIT); peers' last_seen_at is refreshed in batches (VM-SEEN).
    With agent.zmq_endpoint empty the gateway is off (starts, does nothing).
    The bound endpoint and the server public key are logged at start.
    Pipe: START -> OK | ERROR reason (key file unreadable, cannot bind),
          $TERM, VERBOSE (runtime/actor.h). */
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
