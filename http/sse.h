/*  Server-Sent Events, the live streams of the HTTP edge (an operation's
    progress, a VM's log tail, the console's dashboard): the one writer of
    the event-stream answer and its events, and the caps on how many
    streams run at once (app.max_streams in all, app.max_streams_per_token
    per credential; issue 15 section 5), which the edge applies before a
    stream route's handler runs. */
#ifndef LL_HTTP_SSE_H
#define LL_HTTP_SSE_H

#include <jansson.h>
#include <stdbool.h>

#include "http/server.h"

//  A route whose pattern ends in "/events" is a live stream: it holds a
//  worker for long, so the edge counts it against the caps.
bool ll_http_route_is_stream (const ll_route_t *route);

//  The stream slots of one server (thread-safe).
typedef struct ll_sse_slots ll_sse_slots_t;

//  At most max streams in all, per_credential for any one credential.
ll_sse_slots_t *ll_sse_slots_new (int max, int per_credential);

void ll_sse_slots_destroy (ll_sse_slots_t **self_p);

//  Streams open now (for /metrics).
int ll_sse_slots_open (ll_sse_slots_t *self);

//  A stream route takes a slot for its credential (the admin's session or
//  user, else the VM its token proved, else the address) before its
//  handler runs: 0 (also for routes that are not streams), or -1 after
//  429 (this credential's cap) or 503 (the server's), with Retry-After.
int ll_sse_take (ll_sse_slots_t *self, ll_http_req_t *req);

//  Give back the slot the request took, if any.
void ll_sse_give (ll_sse_slots_t *self, ll_http_req_t *req);

//  Start the answer: 200, text/event-stream, no caching or proxy
//  buffering, and a reconnect delay for EventSource. 0, or -1 when the
//  client is gone (or another answer was sent already).
int ll_sse_begin (ll_http_req_t *req);

//  One event named event with data as compact JSON (reference stolen)
//  and, when id >= 0, that id (the client's Last-Event-ID on reconnect).
//  False once the client is gone (or the server stops: civetweb then
//  refuses to write, which ends the stream promptly).
bool ll_sse_event (ll_http_req_t *req,
                   const char *event,
                   long long id,
                   json_t *data);

//  The same with data already JSON text on one line (not taken).
bool ll_sse_event_text (ll_http_req_t *req,
                        const char *event,
                        long long id,
                        const char *data);

//  A comment line (": text"), to keep the connection alive; false once
//  the client is gone.
bool ll_sse_comment (ll_http_req_t *req, const char *text);

#endif
