#include "agent/relay.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/clock.h"
#include "runtime/log.h"

#define S_BODY_MAX  (1024 * 1024)       //  request body, as the allocator's
#define S_REPLY_MAX (64 * 1024 * 1024)  //  a log read can be large
#define S_THREADS   "8"

//  The allocator's VM routes (http/routes.c, auth agent or admin-or-agent):
//  a pattern ending in "/" takes exactly one more path segment.
static const struct {
    const char *method;
    const char *path;
} s_routes[] = {
    {"POST", "/vm_startup"},     {"POST", "/api/vm-startup-result"},
    {"POST", "/api/vm-status"},  {"GET", "/api/vm-status/"},
    {"POST", "/api/gpu_health"}, {"POST", "/api/update_inuse_status"},
    {"POST", "/api/heartbeat"},  {"POST", "/api/vm-metrics/"},
    {"POST", "/api/vm-logs"},    {"GET", "/api/vm-logs/"},
};

bool
agent_relay_address_ok (const char *listen)
{
    if (!listen)
        return false;
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen || !colon[1])
        return false;
    char *end = NULL;
    long port = strtol (colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return false;
    char host[64];
    size_t len = (size_t) (colon - listen);
    if (len >= sizeof host)
        return false;
    memcpy (host, listen, len);
    host[len] = '\0';
    if (strcmp (host, "[::1]") == 0)
        return true;
    struct in_addr addr;
    return inet_pton (AF_INET, host, &addr) == 1
           && (ntohl (addr.s_addr) >> 24) == 127;
}

bool
agent_relay_route_ok (const char *method, const char *path)
{
    if (!method || !path || strstr (path, "..") || strstr (path, "//"))
        return false;
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        if (strcmp (method, s_routes[i].method) != 0)
            continue;
        const char *pattern = s_routes[i].path;
        size_t len = strlen (pattern);
        if (pattern[len - 1] != '/') {
            if (strcmp (path, pattern) == 0)
                return true;
        }
        else if (strncmp (path, pattern, len) == 0 && path[len]
                 && !strchr (path + len, '/'))
            return true;
    }
    return false;
}

static void
s_send (struct mg_connection *conn,
        int status,
        const char *type,
        const char *body,
        size_t len,
        int retry_after_s)
{
    char retry[48] = "";
    if (retry_after_s >= 0)
        snprintf (retry, sizeof retry, "Retry-After: %d\r\n", retry_after_s);
    mg_printf (conn,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "Cache-Control: no-store\r\n%s\r\n",
               status, mg_get_response_code_text (conn, status), type, len,
               retry);
    if (len)
        mg_write (conn, body, len);
}

static void
s_error (struct mg_connection *conn, int status, const char *message)
{
    char body[256];
    int n = snprintf (body, sizeof body, "{\"error\":\"%s\"}", message);
    s_send (conn, status, "application/json", body, (size_t) n, -1);
}

//  A POST's body (NUL-terminated) in *body, NULL for other methods. 0, or
//  the error status already answered.
static int
s_read_body (struct mg_connection *conn,
             const char *method,
             char **body,
             size_t *len)
{
    *body = NULL;
    *len = 0;
    if (strcmp (method, "POST") != 0)
        return 0;
    char *buf = malloc (S_BODY_MAX + 1);
    if (!buf) {
        s_error (conn, 503, "Out of memory.");
        return 503;
    }
    size_t got = 0;
    int n;
    while (got <= S_BODY_MAX
           && (n = mg_read (conn, buf + got, S_BODY_MAX + 1 - got)) > 0)
        got += (size_t) n;
    if (got > S_BODY_MAX) {
        free (buf);
        s_error (conn, 413, "Request body too large.");
        return 413;
    }
    buf[got] = '\0';
    *body = buf;
    *len = got;
    return 0;
}

static int
s_begin_request (struct mg_connection *conn)
{
    agent_t *self = mg_get_user_data (mg_get_context (conn));
    const agent_settings_t *settings = &self->settings;
    const struct mg_request_info *info = mg_get_request_info (conn);
    const char *path = info->local_uri ? info->local_uri : "/";
    if (!agent_relay_route_ok (info->request_method, path)) {
        s_error (conn, 404, "Not a VM route of the allocator.");
        return 404;
    }
    if (info->content_length > S_BODY_MAX) {
        s_error (conn, 413, "Request body too large.");
        return 413;
    }
    char *body;
    size_t len;
    int refused = s_read_body (conn, info->request_method, &body, &len);
    if (refused)
        return refused;
    char target[2048];
    if (snprintf (target, sizeof target, "%s%s%s", path,
                  info->query_string ? "?" : "",
                  info->query_string ? info->query_string : "")
        >= (int) sizeof target) {
        free (body);
        s_error (conn, 414, "URI too long.");
        return 414;
    }
    const char *type = mg_get_header (conn, "Content-Type");
    if (!type || strlen (type) > 100 || strpbrk (type, "\r\n"))
        type = "application/json";
    bool poll = strcmp (path, "/vm_startup") == 0;
    int64_t hold_until = ll_now_ms () + settings->relay_hold_s * 1000LL;
    agent_request_t request = {
        .method = info->request_method,
        .path = target,
        .content_type = type,
        .body = body,
        .len = len,
        .timeout_ms =
            (poll ? settings->poll_timeout_s : settings->request_timeout_s)
            * 1000,
        .reply_max = S_REPLY_MAX};
    agent_reply_t reply;
    for (;;) {
        agent_http_call (settings, &self->stop, &request, &reply);
        //  The allocator's long poll ended empty: wait on for the old client
        if (!poll || reply.status != 204 || ll_now_ms () >= hold_until
            || agent_stop_requested (&self->stop))
            break;
        int pause_ms = reply.retry_after_s > 0 ? reply.retry_after_s * 1000 : 0;
        agent_reply_free (&reply);
        if (pause_ms && agent_stop_sleep (&self->stop, pause_ms)) {
            agent_reply_init (&reply);
            reply.status = 204;
            break;
        }
    }
    free (body);
    int status = reply.status;
    if (status < 100) {
        ll_warn ("agent: relay: %s %s: cannot reach the allocator: %s",
                 info->request_method, path, reply.error);
        s_error (conn, 502, "Cannot reach the allocator.");
        status = 502;
    }
    else
        s_send (conn, status,
                *reply.content_type ? reply.content_type : "application/json",
                reply.body ? reply.body : "", reply.size, reply.retry_after_s);
    ll_debug ("agent: relay: %s %s -> %d", info->request_method, path, status);
    agent_reply_free (&reply);
    return status;
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    ll_warn ("agent: relay: civetweb: %s", message);
    return 1;
}

int
agent_relay_main (agent_t *self, const char *listen)
{
    const char *options[] = {"listening_ports",
                             listen,
                             "num_threads",
                             S_THREADS,
                             "request_timeout_ms",
                             "30000",
                             "enable_keep_alive",
                             "yes",
                             NULL};
    struct mg_callbacks callbacks = {0};
    callbacks.begin_request = s_begin_request;
    callbacks.log_message = s_log_message;
    char error[256] = "";
    struct mg_init_data init = {.callbacks = &callbacks,
                                .user_data = self,
                                .configuration_options = options};
    struct mg_error_data err = {.text = error,
                                .text_buffer_size = sizeof error};
    struct mg_context *ctx = mg_start2 (&init, &err);
    if (!ctx) {
        ll_error ("agent: relay: cannot listen on %s: %s", listen, error);
        return 1;
    }
    ll_info ("agent: relay: %s listening on %s, forwarding to %s",
             self->settings.vm_name, listen, self->settings.base_url);
    //  In-flight forwards (a held poll) end at once
    agent_stop_on_signal (&self->stop);
    mg_stop (ctx);
    ll_info ("agent: relay: stopped");
    return 0;
}
