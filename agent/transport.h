/*  How the agent's loops reach the allocator: a JSON POST over HTTP
    (agent/client.h), or over a link that carries POSTs instead -- the
    ZeroMQ gateway link (agent/zmq.h, LABLINK_TRANSPORT=zmq). The loops
    (reporter, log shipper, the assignment loops) post through this and
    never know which; agent.c makes the transport and wires the link.
    Below the loops: it needs only the settings, the stop signal and the
    HTTP client. */
#ifndef LL_AGENT_TRANSPORT_H
#define LL_AGENT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/client.h"
#include "agent/settings.h"
#include "agent/stop.h"

//  A link's POST: the same contract as agent_transport_post.
typedef int (agent_link_post_fn) (void *link,
                                  const char *path,
                                  const char *body,
                                  int timeout_ms,
                                  bool abortable,
                                  agent_reply_t *reply);

typedef struct {
    const agent_settings_t *settings;  //  allocator URL, token, backoff
    agent_stop_t *stop;                //  ends abortable posts
    agent_link_post_fn *link_post;     //  set: POSTs go over the link
    void *link;                        //  its first argument
} agent_transport_t;

//  POSTs over HTTP until a link is set. Threads may post at once (the
//  link and the HTTP client have their own locks); set the link before
//  any loop starts.
void agent_transport_init (agent_transport_t *self,
                           const agent_settings_t *settings,
                           agent_stop_t *stop);
void agent_transport_set_link (agent_transport_t *self,
                               agent_link_post_fn *post,
                               void *link);

//  POST a JSON body to the allocator. abortable: stop ends the call at
//  once (false for the final log flush). Returns the status or -1; reply
//  is filled either way (agent_reply_free).
int agent_transport_post (agent_transport_t *self,
                          const char *path,
                          const char *body,
                          int timeout_ms,
                          bool abortable,
                          agent_reply_t *reply);

//  POST until the allocator answers 2xx, with backoff and jitter, giving up
//  at stop or after max_ms (0: never). 0 on success, -1.
int agent_transport_post_retry (agent_transport_t *self,
                                const char *path,
                                const char *body,
                                int64_t max_ms);

#endif
