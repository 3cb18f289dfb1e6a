#include "agent/transport.h"

#include "runtime/clock.h"
#include "runtime/log.h"

void
agent_transport_init (agent_transport_t *self,
                      const agent_settings_t *settings,
                      agent_stop_t *stop)
{
    *self = (agent_transport_t){.settings = settings, .stop = stop};
}

void
agent_transport_set_link (agent_transport_t *self,
                          agent_link_post_fn *post,
                          void *link)
{
    self->link_post = post;
    self->link = link;
}

int
agent_transport_post (agent_transport_t *self,
                      const char *path,
                      const char *body,
                      int timeout_ms,
                      bool abortable,
                      agent_reply_t *reply)
{
    if (self->link_post)
        return self->link_post (self->link, path, body, timeout_ms, abortable,
                                reply);
    return agent_http_post (self->settings, abortable ? self->stop : NULL, path,
                            body, timeout_ms, reply);
}

int
agent_transport_post_retry (agent_transport_t *self,
                            const char *path,
                            const char *body,
                            int64_t max_ms)
{
    const agent_settings_t *settings = self->settings;
    int64_t start = ll_now_ms (), backoff = 0;
    int attempts = 0;
    while (true) {
        agent_reply_t reply;
        int status = agent_transport_post (
            self, path, body, settings->request_timeout_s * 1000, true, &reply);
        agent_reply_free (&reply);
        attempts++;
        if (status >= 200 && status < 300)
            return 0;
        if (agent_stop_requested (self->stop))
            return -1;
        if (attempts == 1 || attempts % 10 == 0)
            ll_warn ("agent: %s failed (%s %d), retrying", path,
                     status < 0 ? "transport error" : "HTTP", status);
        int64_t delay = agent_settings_backoff (settings, &backoff);
        if (max_ms > 0 && ll_now_ms () + delay - start > max_ms)
            return -1;
        if (agent_stop_sleep (self->stop, delay))
            return -1;
    }
}
