#include "http/sse.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

//  --- stream slots --------------------------------------------------------

struct ll_sse_slots {
    int max;               //  app.max_streams
    int per_credential;    //  app.max_streams_per_token
    pthread_mutex_t lock;  //  guards the two below
    int streams;           //  streams open
    struct {
        char key[264];  //  the credential ("" = free entry)
        int count;      //  its streams
    } * owners;         //  max entries
};

ll_sse_slots_t *
ll_sse_slots_new (int max, int per_credential)
{
    ll_sse_slots_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    self->per_credential = per_credential;
    pthread_mutex_init (&self->lock, NULL);
    self->owners = calloc (max > 0 ? (size_t) max : 1, sizeof *self->owners);
    if (!self->owners) {
        ll_sse_slots_destroy (&self);
        return NULL;
    }
    return self;
}

void
ll_sse_slots_destroy (ll_sse_slots_t **self_p)
{
    ll_sse_slots_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_destroy (&self->lock);
    free (self->owners);
    free (self);
    *self_p = NULL;
}

int
ll_sse_slots_open (ll_sse_slots_t *self)
{
    pthread_mutex_lock (&self->lock);
    int streams = self->streams;
    pthread_mutex_unlock (&self->lock);
    return streams;
}

#define S_STREAM_RETRY_S 5  //  Retry-After past a stream cap

//  Whose stream this is: the admin's session or user, else the VM (or
//  service) its Bearer token proved, else the address.
static void
s_stream_key (ll_http_req_t *req, char *out, size_t size)
{
    if (req->via_session)
        snprintf (out, size, "session:%.64s", req->session_hash);
    else if (req->is_admin)
        snprintf (out, size, "basic:%.60s", req->actor);
    else if (req->agent[0])
        snprintf (out, size, "agent:%s", req->agent);
    else
        snprintf (out, size, "address:%s", req->address);
}

bool
ll_http_route_is_stream (const ll_route_t *route)
{
    size_t len = strlen (route->pattern);
    return len >= 7 && strcmp (route->pattern + len - 7, "/events") == 0;
}

int
ll_sse_take (ll_sse_slots_t *self, ll_http_req_t *req)
{
    if (!ll_http_route_is_stream (req->route))
        return 0;
    char key[sizeof req->stream_key];
    s_stream_key (req, key, sizeof key);
    int status = 0;
    pthread_mutex_lock (&self->lock);
    int mine = -1, free_slot = -1;
    for (int i = 0; i < self->max; i++) {
        if (strcmp (self->owners[i].key, key) == 0)
            mine = i;
        else if (!self->owners[i].key[0] && free_slot < 0)
            free_slot = i;
    }
    if (self->streams >= self->max)
        status = 503;
    else if (mine >= 0 && self->owners[mine].count >= self->per_credential)
        status = 429;
    else {
        if (mine < 0) {
            mine = free_slot;  //  fewer streams than entries: one is free
            snprintf (self->owners[mine].key, sizeof self->owners[mine].key,
                      "%s", key);
        }
        self->owners[mine].count++;
        self->streams++;
        snprintf (req->stream_key, sizeof req->stream_key, "%s", key);
    }
    pthread_mutex_unlock (&self->lock);
    if (!status)
        return 0;
    char headers[64];
    snprintf (headers, sizeof headers, "Retry-After: %d\r\n", S_STREAM_RETRY_S);
    const char *body =
        status == 429
            ? "{\"error\":\"Too many live streams for this client. Close "
              "one and try again.\"}"
            : "{\"error\":\"Too many live streams on this server. Try "
              "again later.\"}";
    ll_http_send (req, status, "application/json", body, strlen (body),
                  headers);
    return -1;
}

void
ll_sse_give (ll_sse_slots_t *self, ll_http_req_t *req)
{
    if (!req->stream_key[0])
        return;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->max; i++)
        if (strcmp (self->owners[i].key, req->stream_key) == 0) {
            if (--self->owners[i].count == 0)
                self->owners[i].key[0] = '\0';
            self->streams--;
            break;
        }
    pthread_mutex_unlock (&self->lock);
    req->stream_key[0] = '\0';
}

//  --- the writer ----------------------------------------------------------

int
ll_sse_begin (ll_http_req_t *req)
{
    if (req->answered)
        return -1;
    req->answered = true;
    req->status = 200;
    return mg_printf (req->conn, "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: text/event-stream\r\n"
                                 "Cache-Control: no-store\r\n"
                                 "X-Content-Type-Options: nosniff\r\n"
                                 "X-Accel-Buffering: no\r\n"
                                 "Connection: close\r\n\r\n"
                                 "retry: 2000\n\n")
                   > 0
               ? 0
               : -1;
}

bool
ll_sse_event_text (ll_http_req_t *req,
                   const char *event,
                   long long id,
                   const char *data)
{
    int rc;
    if (id >= 0)
        rc = mg_printf (req->conn, "id: %lld\nevent: %s\ndata: %s\n\n", id,
                        event, data);
    else
        rc = mg_printf (req->conn, "event: %s\ndata: %s\n\n", event, data);
    return rc > 0;
}

bool
ll_sse_event (ll_http_req_t *req, const char *event, long long id, json_t *data)
{
    char *text = data ? json_dumps (data, JSON_COMPACT) : NULL;
    json_decref (data);
    if (!text)
        return false;
    bool alive = ll_sse_event_text (req, event, id, text);
    free (text);
    return alive;
}

bool
ll_sse_comment (ll_http_req_t *req, const char *text)
{
    return mg_printf (req->conn, ": %s\n\n", text) > 0;
}
