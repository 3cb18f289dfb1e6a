/*  The agent's HTTP calls to the allocator (libcurl): JSON POSTs with the
    bearer token, bounded timeouts, replies capped at AGENT_REPLY_MAX bytes
    (a longer reply is an error, never a crash), aborted within about a
    second once stop is requested. */
#ifndef LL_AGENT_CLIENT_H
#define LL_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/settings.h"
#include "agent/stop.h"

#define AGENT_REPLY_MAX (64 * 1024)  //  longest reply body accepted

typedef struct {
    int status;              //  HTTP status; -1 transport error or oversized
    char *body;              //  reply body, NUL-terminated (may be empty)
    size_t size;             //  bytes in body
    bool oversized;          //  the reply was longer than AGENT_REPLY_MAX
    int retry_after_s;       //  Retry-After in seconds, -1 when absent
    char content_type[128];  //  Content-Type of the reply ("" when none)
    char error[256];         //  transport error text ("" when none)
} agent_reply_t;

//  Call once per process before any thread starts (curl_global_init).
int agent_client_global_init (void);
void agent_client_global_fini (void);

//  POST body (JSON) to base_url + path. timeout_ms bounds the whole call.
//  Returns the HTTP status or -1; reply is filled either way and must be
//  released with agent_reply_free. stop may be NULL.
int agent_http_post (const agent_settings_t *settings,
                     agent_stop_t *stop,
                     const char *path,
                     const char *body,
                     int timeout_ms,
                     agent_reply_t *reply);

//  Any request to the allocator.
typedef struct {
    const char *method;        //  "GET" or "POST"
    const char *path;          //  with its query
    const char *content_type;  //  of body
    const char *body;          //  NULL for none
    size_t len;                //  bytes in body
    int timeout_ms;            //  bounds the whole call
    size_t reply_max;          //  a longer reply is an error
} agent_request_t;

//  Send request; otherwise as agent_http_post.
int agent_http_call (const agent_settings_t *settings,
                     agent_stop_t *stop,
                     const agent_request_t *request,
                     agent_reply_t *reply);

//  An empty reply: no status (-1), no Retry-After, no body.
void agent_reply_init (agent_reply_t *reply);

void agent_reply_free (agent_reply_t *reply);

#endif
