/*  The HTTP edge as a library: civetweb glue, the route table, request
    bodies with a hard cap, per-worker DEALER sockets to actors, and
    Prometheus counters (http/server.c); answers with security headers and
    the request's fields (http/response.c). Who may call is decided in
    http/auth.c, live streams are http/sse.c's. The `http` actor
    (actors/http.c) owns one ll_http_server_t. */
#ifndef LL_HTTP_SERVER_H
#define LL_HTTP_SERVER_H

#include <civetweb.h>
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

#include "runtime/budget.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"

//  Who may call a route.
typedef enum {
    LL_AUTH_PUBLIC = 0,     //  anyone
    LL_AUTH_AGENT,          //  a VM's own Bearer token
    LL_AUTH_ADMIN,          //  the admin (Basic or session)
    LL_AUTH_ADMIN_OR_AGENT  //  either
} ll_auth_t;

typedef struct ll_http_server ll_http_server_t;
typedef struct ll_http_req ll_http_req_t;
typedef int (ll_route_fn) (ll_http_req_t *req);

typedef struct {
    const char *method;   //  "GET", "POST", ...
    const char *pattern;  //  "/api/vm-status/{}": {} = one path segment
    ll_auth_t auth;       //  who may call it
    ll_route_fn *fn;      //  the handler
} ll_route_t;

#define LL_HTTP_MAX_PARAMS 4

//  One request as handlers see it.
struct ll_http_req {
    struct mg_connection *conn;          //  civetweb connection
    const struct mg_request_info *info;  //  method, uri, query, headers
    ll_http_server_t *server;            //  the server
    const ll_route_t *route;             //  matched route
    char *params[LL_HTTP_MAX_PARAMS];    //  {} captures, URL-decoded
    int param_count;                     //  captures used
    char *body;                          //  NUL-terminated, may be NULL
    size_t body_len;                     //  bytes in body
    bool is_admin;                       //  authenticated as the admin
    bool via_session;                    //  ... by the session cookie
    bool audit;                          //  edge audits this request
    char actor[64];                      //  admin user name when is_admin
    char address[64];                    //  client address (rate limits)
    char csrf[65];                       //  the session's CSRF token or ""
    char session_hash[65];               //  hash of the session id or ""
    char stream_key[264];                //  whose stream slot it holds, or ""
    int client_fd;                       //  the client's socket + 1, 0 unknown
    char agent[254];                     //  the VM (or service scope, '_'
                                         //  first) its Bearer token proved
    long long agent_generation;          //  that VM token's generation
    int status;                          //  status sent (for metrics)
    bool answered;      //  an answer was sent: later ones are dropped
    bool degrade_busy;  //  no socket for a call: the route answers without
                        //  it (/metrics), no 503 from the edge
    //  The actors (ll_ask_*, or client.call): each call borrows a DEALER
    //  for the endpoint from the server's pool. When none can be had (the
    //  socket or descriptor limit is reached) the request is answered 503
    //  there, and any answer the handler sends after that is dropped.
    ll_client_t client;
};

//  Start civetweb on config->app.listen with the given routes. NULL and an
//  error message on failure (port in use, bad option).
ll_http_server_t *ll_http_server_new (const ll_runtime_t *runtime,
                                      const ll_route_t *routes,
                                      size_t route_count,
                                      char *error,
                                      size_t errsize);

//  The process stops: streaming answers (SSE, exports) end now, and the
//  idle keep-alive connections are closed so that no worker waits on one.
void ll_http_server_stopping (ll_http_server_t *self);

//  Stop civetweb (waits for workers) and free.
void ll_http_server_destroy (ll_http_server_t **self_p);

//  The first listening port (useful with port 0).
int ll_http_server_port (ll_http_server_t *self);

const ll_runtime_t *ll_http_server_runtime (ll_http_server_t *self);


//  --- helpers for handlers ---------------------------------------------

//  A SUB socket connected to endpoint and subscribed to topic, for a
//  streaming handler (close it with ll_socket_close, runtime/budget.h).
//  NULL when the socket limit is reached (logged, counted in /metrics):
//  the handler answers 503.
void *
ll_http_subscribe (ll_http_req_t *req, const char *endpoint, const char *topic);

//  A call as req->client makes it, for long waits: it also watches the
//  client's connection and returns -1 with *error "hangup" as soon as the
//  client goes away. The request id is written to id_out so the caller
//  can cancel the request.
int ll_http_call_watch (ll_http_req_t *req,
                        const char *endpoint,
                        const char *command,
                        zmsg_t **args,
                        int timeout_ms,
                        char *id_out,
                        size_t id_size,
                        zmsg_t **reply,
                        char **error);

//  Send a response with the security headers. extra_headers: complete
//  "Name: value\r\n" lines or NULL.
int ll_http_send (ll_http_req_t *req,
                  int status,
                  const char *content_type,
                  const void *body,
                  size_t len,
                  const char *extra_headers);

//  The status line and headers (security headers included) of an answer
//  whose len bytes of body the handler then writes with mg_write.
int ll_http_head (ll_http_req_t *req,
                  int status,
                  const char *content_type,
                  size_t len,
                  const char *extra_headers);

//  A streamed response: the status line and headers (security headers,
//  Transfer-Encoding: chunked) now, then ll_http_chunk for each part of the
//  body; ll_http_chunk (req, NULL, 0) ends it. 0, or -1 when the client is
//  gone. ll_http_chunk_abort makes the client see a broken transfer (for a
//  failure after the headers went out).
int ll_http_chunked_begin (ll_http_req_t *req,
                           int status,
                           const char *content_type,
                           const char *extra_headers);
int ll_http_chunk (ll_http_req_t *req, const void *data, size_t len);
void ll_http_chunk_abort (ll_http_req_t *req);

//  Send json (reference stolen) with status.
int ll_http_json (ll_http_req_t *req, int status, json_t *json);

//  The HTTP Basic challenge of the admin's routes (a header line).
#define LL_HTTP_BASIC_CHALLENGE                                                \
    "WWW-Authenticate: Basic realm=\"Authentication Required\"\r\n"

//  Send {"error": message} with status (with the Basic challenge when it
//  is a 401 on an admin route).
int ll_http_error (ll_http_req_t *req, int status, const char *message);

//  The same with extra_headers ("Name: value\r\n" lines, or NULL) and no
//  challenge.
int ll_http_error_with (ll_http_req_t *req,
                        int status,
                        const char *message,
                        const char *extra_headers);

//  The text an actor answered (the ll_ask_* out-parameters: value and
//  error, both taken), or NULL after answering 503 with message when there
//  is none (the call failed).
char *ll_http_answer_text (ll_http_req_t *req,
                           char *value,
                           char *error,
                           const char *message);

//  The body parsed as a JSON object, or NULL after answering 400
//  (LL_HTTP_NOT_JSON).
json_t *ll_http_json_body (ll_http_req_t *req);

//  The message of that 400.
#define LL_HTTP_NOT_JSON "Request body must be a JSON object."

//  len bytes of body parsed as a JSON object (duplicate keys refused), or
//  NULL (no I/O: what ll_http_json_body checks).
json_t *ll_http_json_parse (const char *body, size_t len);

//  A form field (application/x-www-form-urlencoded body) into out; returns
//  its length, or -1 when absent (-2 when longer than outsize - 1, or when
//  it decodes to a NUL byte: refused, never cut short). The edge answers
//  400 before any handler runs when a query string or a form body holds
//  one (%00).
int ll_http_form_field (ll_http_req_t *req,
                        const char *name,
                        char *out,
                        size_t outsize);

//  The same from len bytes of urlencoded data (-1 when data is NULL).
int ll_http_form_var (
    const char *data, size_t len, const char *name, char *out, size_t size);

//  A query-string variable, like ll_http_form_field.
int ll_http_query_field (ll_http_req_t *req,
                         const char *name,
                         char *out,
                         size_t outsize);

//  That check (the edge runs it after reading the body): 0, or -1 after
//  answering 400.
int ll_http_check_nul (ll_http_req_t *req);

//  Forget the cached tokens of host (NULL: all); thread-safe. The http
//  actor calls it for every VM-REVOKED and RESYNC event.
void ll_http_server_forget (ll_http_server_t *self, const char *host);

//  True once the server is stopping: long-lived responses (event streams)
//  check it and end, so shutdown does not wait for them.
bool ll_http_stopping (ll_http_req_t *req);

//  True when the client closed its connection (an event stream's reader
//  left): checked without writing, so its stream slot is freed at once.
bool ll_http_client_gone (ll_http_req_t *req);

//  A request header or NULL.
const char *ll_http_header (ll_http_req_t *req, const char *name);

//  True when the client prefers JSON (Accept: application/json).
bool ll_http_wants_json (ll_http_req_t *req);

//  The admin credential and session helpers (http/auth.h).
struct ll_admin_auth *ll_http_server_auth (ll_http_server_t *self);

//  The agents' verified tokens and the server secret (http/auth.h).
struct ll_agent_auth *ll_http_server_agents (ll_http_server_t *self);

//  Tests only (LABLINK_API_CAPTURE_DIR): where answers are recorded, or -1.
int ll_http_server_capture_fd (ll_http_server_t *self);

//  Prometheus text for /metrics (new string).
char *ll_http_server_metrics (ll_http_server_t *self);

//  Route table check: index of the first route whose pattern is invalid or
//  duplicated, or -1 when the table is sound.
int ll_http_routes_check (const ll_route_t *routes, size_t count);

//  Match path against pattern; fills params (caller frees) when matching.
bool ll_http_match (const char *pattern,
                    const char *path,
                    char **params,
                    int *count);

#endif
