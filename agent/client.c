#include "agent/client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    agent_reply_t *reply;  //  where the body goes
    size_t capacity;       //  bytes allocated for reply->body
    size_t max;            //  longest body accepted
} s_sink_t;

static size_t
s_on_body (char *data, size_t size, size_t count, void *arg)
{
    s_sink_t *sink = arg;
    agent_reply_t *reply = sink->reply;
    size_t n = size * count;
    if (reply->size + n > sink->max) {
        reply->oversized = true;
        return 0;  //  abort the transfer
    }
    if (reply->size + n + 1 > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 1024;
        while (capacity < reply->size + n + 1)
            capacity *= 2;
        char *body = realloc (reply->body, capacity);
        if (!body)
            return 0;
        reply->body = body;
        sink->capacity = capacity;
    }
    memcpy (reply->body + reply->size, data, n);
    reply->size += n;
    reply->body[reply->size] = '\0';
    return n;
}

static size_t
s_on_header (char *data, size_t size, size_t count, void *arg)
{
    agent_reply_t *reply = arg;
    size_t n = size * count;
    const char *type = "Content-Type:";
    size_t type_len = strlen (type);
    if (n > type_len && strncasecmp (data, type, type_len) == 0) {
        size_t start = type_len;
        while (start < n && data[start] == ' ')
            start++;
        size_t end = n;
        while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n'))
            end--;
        if (end - start < sizeof reply->content_type)
            snprintf (reply->content_type, sizeof reply->content_type, "%.*s",
                      (int) (end - start), data + start);
    }
    const char *name = "Retry-After:";
    size_t len = strlen (name);
    if (n > len && n < 128 && strncasecmp (data, name, len) == 0) {
        char value[128];
        memcpy (value, data + len, n - len);
        value[n - len] = '\0';
        char *end;
        long seconds = strtol (value, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        if (!*end && seconds >= 0)
            reply->retry_after_s = seconds > 3600 ? 3600 : (int) seconds;
    }
    return n;
}

static int
s_on_progress (void *arg,
               curl_off_t dltotal,
               curl_off_t dlnow,
               curl_off_t ultotal,
               curl_off_t ulnow)
{
    agent_stop_t *stop = arg;
    return stop && agent_stop_requested (stop) ? 1 : 0;
}

int
agent_client_global_init (void)
{
    return curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
agent_client_global_fini (void)
{
    curl_global_cleanup ();
}

int
agent_http_post (const agent_settings_t *settings,
                 agent_stop_t *stop,
                 const char *path,
                 const char *body,
                 int timeout_ms,
                 agent_reply_t *reply)
{
    agent_request_t request = {.method = "POST",
                               .path = path,
                               .content_type = "application/json",
                               .body = body,
                               .len = strlen (body),
                               .timeout_ms = timeout_ms,
                               .reply_max = AGENT_REPLY_MAX};
    return agent_http_call (settings, stop, &request, reply);
}

void
agent_reply_init (agent_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    reply->status = -1;
    reply->retry_after_s = -1;
}

int
agent_http_call (const agent_settings_t *settings,
                 agent_stop_t *stop,
                 const agent_request_t *request,
                 agent_reply_t *reply)
{
    const char *body = request->body;
    int timeout_ms = request->timeout_ms;
    size_t reply_max = request->reply_max;
    agent_reply_init (reply);
    char url[AGENT_URL_MAX + 2048];
    int n =
        snprintf (url, sizeof url, "%s%s", settings->base_url, request->path);
    if (n < 0 || (size_t) n >= sizeof url) {
        snprintf (reply->error, sizeof reply->error, "url too long");
        return -1;
    }
    char auth[AGENT_TOKEN_MAX + 32];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", settings->token);
    char type[160];
    snprintf (type, sizeof type, "Content-Type: %s", request->content_type);
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (reply->error, sizeof reply->error, "curl_easy_init failed");
        return -1;
    }
    struct curl_slist *headers = NULL;
    if (body)
        headers = curl_slist_append (headers, type);
    headers = curl_slist_append (headers, "Accept: application/json");
    headers = curl_slist_append (headers, auth);
    headers = curl_slist_append (headers, "Expect:");
    s_sink_t sink = {reply, 0, reply_max};
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp (request->method, "POST") == 0) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE,
                          (long) (body ? request->len : 0));
    }
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, reply);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_on_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, stop);
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS,
                      (long) (timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt (curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) reply_max);
    CURLcode rc = curl_easy_perform (curl);
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        reply->status = (int) status;
    }
    else if (reply->oversized || rc == CURLE_FILESIZE_EXCEEDED) {
        reply->oversized = true;
        snprintf (reply->error, sizeof reply->error, "reply over %zu bytes",
                  reply_max);
    }
    else
        snprintf (reply->error, sizeof reply->error, "%s",
                  *curl_error ? curl_error : curl_easy_strerror (rc));
    if (!reply->body) {
        reply->body = calloc (1, 1);
        reply->size = 0;
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return reply->status;
}

void
agent_reply_free (agent_reply_t *reply)
{
    free (reply->body);
    reply->body = NULL;
    reply->size = 0;
}
