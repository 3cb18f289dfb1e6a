/*  The agent API, once: every POST an agent (or the Lambda) makes about its
    own VM, as one table of {path, the actor command it becomes, how its
    body is checked and turned into that command's request, the answer to
    the actor's reply}. The HTTP routes (ll_route_agent) and the gateway
    (agents over ZeroMQ: POST path json -> REPLY status json) both serve
    it from here, so an agent gets the same answer either way and neither
    side knows more than this table.

    A request goes through four steps; each can end it with an answer
    (status and JSON body):
      1. ll_agent_call_begin: the path's row, the body checked (400 when
         refused: told before the token check, or after it when
         call->check_first)
      2. the caller checks the token against call->scope (HTTP: Bearer;
         gateway: the hostname its HELLO proved) and tells the refusal
      3. ll_agent_call_request: the actor request (call->args), or an
         answer without one (nothing to store, too many lines)
      4. ll_agent_call_end: the actor's reply becomes the answer */
#ifndef LL_HTTP_AGENT_API_H
#define LL_HTTP_AGENT_API_H

#include "http/routes.h"

typedef struct ll_agent_call ll_agent_call_t;

//  One row of the table.
typedef struct {
    const char *path;     //  route pattern: "{}" is the hostname
    const char *command;  //  the actor command (its endpoint: the codec's)
    //  The simple routes' body parser (http/routes.h), or NULL
    int (*body) (const char *body, size_t len, ll_agent_body_t *out);
    //  Check the body (param: the path's hostname or NULL); 0, or -1 with
    //  the answer set
    int (*parse) (ll_agent_call_t *call,
                  const char *param,
                  const char *body,
                  size_t len);
    //  After the token check: call->args, or the answer set
    void (*request) (ll_agent_call_t *call, const ll_config_t *config);
    //  The OK answer's JSON from the reply's payload (taken), or NULL for
    //  {"message": ok}
    json_t *(*ok_body) (ll_agent_call_t *call, zmsg_t **payload);
    const char *ok;         //  the OK message
    const char *not_found;  //  the 404 message (no such VM)
    const char *failure;    //  the message of any other failure
    int failure_status;     //  its status (500, 503)
} ll_agent_api_t;

//  One request on its way.
struct ll_agent_call {
    const ll_agent_api_t *api;  //  its row
    bool lambda;                //  the caller holds the Lambda's token
    long long generation;       //  of the VM token it proved (VM-RESULT)
    const char *scope;          //  whose token it needs (borrowed)
    bool check_first;           //  the answer is told after the check
    int status;                 //  the answer's status, 0 until known
    json_t *answer;             //  the answer's body (owned), or NULL
    zmsg_t *args;               //  the actor request's frames (owned)
    bool touch;                 //  VM-TOUCH scope after an OK (logs)
    ll_agent_body_t body;       //  the simple routes' body
    ll_vm_metrics_t metrics;    //  /api/vm-metrics/<hostname>
    ll_vm_logs_t logs;          //  /api/vm-logs
};

//  The table and its length.
const ll_agent_api_t *ll_agent_api (size_t *count);

//  The row serving a POST to path (its hostname into param, size bytes),
//  or NULL.
const ll_agent_api_t *
ll_agent_api_match (const char *path, char *param, size_t size);

//  Step 1 (see above): 0 when the request goes on to the token check,
//  -1 when call->status and call->answer say how it ends. param (the
//  path's hostname, or NULL) and body must outlive the call. lambda: the
//  caller's token is the Lambda's (HTTP only). Always ll_agent_call_free.
int ll_agent_call_begin (ll_agent_call_t *call,
                         const ll_agent_api_t *api,
                         const char *param,
                         const char *body,
                         size_t len,
                         bool lambda);

//  Step 3: 0 with call->args, or -1 with the answer set.
int ll_agent_call_request (ll_agent_call_t *call, const ll_config_t *config);

//  Step 4: the actor's reply (rc 0 with *payload, taken; else error).
void ll_agent_call_end (ll_agent_call_t *call,
                        int rc,
                        zmsg_t **payload,
                        const char *error);

//  Set the answer (message: {"error": message}, the body of every refusal).
void
ll_agent_call_refuse (ll_agent_call_t *call, int status, const char *message);

//  The answer's body as the HTTP edge writes it (new string).
char *ll_agent_call_text (ll_agent_call_t *call);

void ll_agent_call_free (ll_agent_call_t *call);

#endif
