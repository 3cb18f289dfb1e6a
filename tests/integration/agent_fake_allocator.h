/*  A small fake allocator for the agent's integration tests: civetweb on
    127.0.0.1 speaking exactly the agent interface of the brief (bearer
    token, /vm_startup long-poll with 200/204, /api/vm-startup-result,
    telemetry routes, /api/vm-logs with (source, seq) de-duplication), with
    switches to misbehave (malformed or oversized answers, a lost
    acknowledgement) and to stop and restart on the same port. Header-only:
    tests are single files. */
#ifndef LL_TESTS_AGENT_FAKE_ALLOCATOR_H
#define LL_TESTS_AGENT_FAKE_ALLOCATOR_H

#include <civetweb.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAKE_MAX_LINES   20000
#define FAKE_MAX_EVENTS  512
#define FAKE_MAX_BATCHES 4096

typedef enum {
    FAKE_NORMAL = 0,   //  answer the assignment properly
    FAKE_GARBAGE,      //  200 with a body that is not JSON
    FAKE_HUGE,         //  200 with a 1 MiB body
    FAKE_WRONG_TYPES,  //  200 with numbers where strings belong
    FAKE_RETRY_AFTER,  //  204 with Retry-After: 1
    FAKE_ERROR_500,    //  500 with an HTML body
} fake_mode_t;

typedef struct {
    pthread_mutex_t lock;         //  guards everything
    pthread_cond_t changed;       //  broadcast on assignment and stop
    struct mg_context *ctx;       //  the running server or NULL
    int port;                     //  stays the same across restarts
    bool stopping;                //  parked requests leave
    char token[256];              //  the bearer every call must carry
    int park_ms;                  //  how long /vm_startup parks
    int unauthorized;             //  calls without the right token
    int requests;                 //  calls served
    int parked;                   //  /vm_startup requests parked now
    int polls;                    //  /vm_startup calls
    fake_mode_t next_mode;        //  misbehaviour for the next /vm_startup
    bool pending;                 //  an assignment is waiting
    char pin[64];                 //  its PIN
    char command[1024];           //  its command
    int assignments_sent;         //  200 answers with an assignment
    int results;                  //  /api/vm-startup-result calls
    bool last_result_ok;          //  the last result's success
    char last_result_error[256];  //  the last result's error
    char statuses[FAKE_MAX_EVENTS][96];  //  "host status" in order
    int status_count;
    int inuse[FAKE_MAX_EVENTS];  //  in-use values in order
    int inuse_count;
    char gpu[FAKE_MAX_EVENTS][16];  //  GPU values in order
    int gpu_count;
    int heartbeats;                      //  heartbeats received
    char last_boot_id[64];               //  from the last heartbeat
    char metrics[FAKE_MAX_EVENTS][512];  //  metrics bodies ("host body")
    int metrics_count;
    char *lines[FAKE_MAX_LINES];  //  log lines stored, in order
    int line_count;
    char batches[FAKE_MAX_BATCHES][40];  //  "source/seq" stored
    int batch_count;
    int duplicate_batches;       //  batches acknowledged but not stored
    int fail_next_log_ack;       //  store, then answer 500 (lost ack)
    char running_marker[2048];   //  file that must exist when running
    bool running_before_marker;  //  running arrived before it existed
} fake_t;

static inline void
fake_reply (struct mg_connection *conn,
            int status,
            const char *extra_headers,
            const char *body)
{
    mg_printf (conn,
               "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
               status, strlen (body), extra_headers ? extra_headers : "");
    mg_write (conn, body, strlen (body));
}

static inline char *
fake_read_body (struct mg_connection *conn)
{
    size_t cap = 4 << 20, len = 0;
    char *body = malloc (cap + 1);
    int n;
    while (len < cap && (n = mg_read (conn, body + len, cap - len)) > 0)
        len += (size_t) n;
    body[len] = '\0';
    return body;
}

//  /vm_startup (lock held on entry and exit).
static inline void
fake_vm_startup (fake_t *self, struct mg_connection *conn)
{
    self->polls++;
    fake_mode_t mode = self->next_mode;
    self->next_mode = FAKE_NORMAL;
    if (mode == FAKE_GARBAGE) {
        fake_reply (conn, 200, NULL, "{\"status\": \"success\", \"pin\": ");
        return;
    }
    if (mode == FAKE_HUGE) {
        size_t size = 1 << 20;
        char *huge = malloc (size + 1);
        memset (huge, 'x', size);
        memcpy (huge,
                "{\"status\":\"success\",\"pin\":\"123456\",\"command\":\"",
                47);
        huge[size - 2] = '"';
        huge[size - 1] = '}';
        huge[size] = '\0';
        fake_reply (conn, 200, NULL, huge);
        free (huge);
        return;
    }
    if (mode == FAKE_WRONG_TYPES) {
        fake_reply (conn, 200, NULL,
                    "{\"status\":\"success\",\"pin\":123456,\"command\":[1]}");
        return;
    }
    if (mode == FAKE_RETRY_AFTER) {
        fake_reply (conn, 204, "Retry-After: 1\r\n", "");
        return;
    }
    if (mode == FAKE_ERROR_500) {
        fake_reply (conn, 500, NULL, "<html>oops</html>");
        return;
    }
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += self->park_ms / 1000;
    until.tv_nsec += (long) (self->park_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    self->parked++;
    while (!self->pending && !self->stopping)
        if (pthread_cond_timedwait (&self->changed, &self->lock, &until) != 0)
            break;
    self->parked--;
    if (self->pending && !self->stopping) {
        json_t *body = json_pack ("{s:s, s:s, s:s}", "status", "success", "pin",
                                  self->pin, "command", self->command);
        char *text = json_dumps (body, JSON_COMPACT);
        json_decref (body);
        self->assignments_sent++;
        fake_reply (conn, 200, NULL, text);
        free (text);
    }
    else if (!self->stopping)
        fake_reply (conn, 204, NULL, "");
    //  stopping: the connection is cut without an answer, as a dying
    //  server does
}

//  /api/vm-logs (lock held).
static inline void
fake_logs (fake_t *self, struct mg_connection *conn, json_t *root)
{
    const char *source = json_string_value (json_object_get (root, "source"));
    json_t *seq = json_object_get (root, "seq");
    json_t *messages = json_object_get (root, "messages");
    if (!source || !json_is_integer (seq) || !json_is_array (messages)) {
        fake_reply (conn, 400, NULL, "{\"error\":\"bad batch\"}");
        return;
    }
    char key[40];
    snprintf (key, sizeof key, "%.16s/%lld", source,
              (long long) json_integer_value (seq));
    for (int i = 0; i < self->batch_count; i++)
        if (strcmp (self->batches[i], key) == 0) {
            self->duplicate_batches++;
            fake_reply (conn, 200, NULL, "{\"message\":\"duplicate\"}");
            return;
        }
    if (self->batch_count < FAKE_MAX_BATCHES)
        snprintf (self->batches[self->batch_count++], 40, "%s", key);
    size_t i;
    json_t *line;
    json_array_foreach (messages, i, line)
    {
        if (json_is_string (line) && self->line_count < FAKE_MAX_LINES)
            self->lines[self->line_count++] = strdup (json_string_value (line));
    }
    if (self->fail_next_log_ack > 0) {
        self->fail_next_log_ack--;
        fake_reply (conn, 500, NULL, "{\"error\":\"lost ack\"}");
        return;
    }
    fake_reply (conn, 200, NULL, "{\"message\":\"ok\"}");
}

static inline int
fake_handle (struct mg_connection *conn)
{
    fake_t *self = mg_get_user_data (mg_get_context (conn));
    const struct mg_request_info *info = mg_get_request_info (conn);
    char *body = fake_read_body (conn);
    const char *auth = mg_get_header (conn, "Authorization");
    char expected[300];
    snprintf (expected, sizeof expected, "Bearer %s", self->token);
    pthread_mutex_lock (&self->lock);
    self->requests++;
    if (!auth || strcmp (auth, expected) != 0) {
        self->unauthorized++;
        fake_reply (conn, 401, NULL, "{\"error\":\"Invalid API token.\"}");
        pthread_mutex_unlock (&self->lock);
        free (body);
        return 1;
    }
    const char *uri = info->local_uri;
    json_t *root = json_loads (body, 0, NULL);
    if (strcmp (info->request_method, "POST") != 0 || !json_is_object (root))
        fake_reply (conn, 400, NULL, "{\"error\":\"bad request\"}");
    else if (strcmp (uri, "/vm_startup") == 0)
        fake_vm_startup (self, conn);
    else if (strcmp (uri, "/api/vm-startup-result") == 0) {
        self->results++;
        self->last_result_ok = json_is_true (json_object_get (root, "success"));
        const char *error = json_string_value (json_object_get (root, "error"));
        snprintf (self->last_result_error, sizeof self->last_result_error, "%s",
                  error ? error : "");
        self->pending = false;
        fake_reply (conn, 200, NULL, "{\"message\":\"Result recorded.\"}");
    }
    else if (strcmp (uri, "/api/vm-status") == 0) {
        const char *host =
            json_string_value (json_object_get (root, "hostname"));
        const char *status =
            json_string_value (json_object_get (root, "status"));
        if (status && strcmp (status, "running") == 0 && *self->running_marker
            && access (self->running_marker, F_OK) != 0)
            self->running_before_marker = true;
        if (self->status_count < FAKE_MAX_EVENTS)
            snprintf (self->statuses[self->status_count++], 96, "%s %s",
                      host ? host : "?", status ? status : "?");
        fake_reply (conn, 200, NULL, "{\"message\":\"ok\"}");
    }
    else if (strcmp (uri, "/api/update_inuse_status") == 0) {
        if (self->inuse_count < FAKE_MAX_EVENTS)
            self->inuse[self->inuse_count++] =
                json_is_true (json_object_get (root, "status"));
        fake_reply (conn, 200, NULL, "{\"message\":\"ok\"}");
    }
    else if (strcmp (uri, "/api/gpu_health") == 0) {
        const char *gpu =
            json_string_value (json_object_get (root, "gpu_status"));
        if (self->gpu_count < FAKE_MAX_EVENTS)
            snprintf (self->gpu[self->gpu_count++], 16, "%s", gpu ? gpu : "?");
        fake_reply (conn, 200, NULL, "{\"message\":\"ok\"}");
    }
    else if (strcmp (uri, "/api/heartbeat") == 0) {
        self->heartbeats++;
        const char *boot =
            json_string_value (json_object_get (root, "boot_id"));
        snprintf (self->last_boot_id, sizeof self->last_boot_id, "%s",
                  boot ? boot : "");
        fake_reply (conn, 200, NULL, "{\"ok\":true}");
    }
    else if (strncmp (uri, "/api/vm-metrics/", 16) == 0) {
        if (self->metrics_count < FAKE_MAX_EVENTS)
            snprintf (self->metrics[self->metrics_count++], 512, "%s %s",
                      uri + 16, body);
        fake_reply (conn, 200, NULL, "{\"message\":\"ok\"}");
    }
    else if (strcmp (uri, "/api/vm-logs") == 0)
        fake_logs (self, conn, root);
    else
        fake_reply (conn, 404, NULL, "{\"error\":\"not found\"}");
    json_decref (root);
    pthread_mutex_unlock (&self->lock);
    free (body);
    return 1;
}

//  Start (or restart on the same port). 0 or -1.
static inline int
fake_start (fake_t *self)
{
    char ports[64];
    snprintf (ports, sizeof ports, "127.0.0.1:%d", self->port);
    const char *options[] = {"listening_ports",    ports,   "num_threads", "16",
                             "request_timeout_ms", "30000", NULL};
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof callbacks);
    callbacks.begin_request = fake_handle;
    pthread_mutex_lock (&self->lock);
    self->stopping = false;
    pthread_mutex_unlock (&self->lock);
    for (int attempt = 0; attempt < 50; attempt++) {
        self->ctx = mg_start (&callbacks, self, options);
        if (self->ctx)
            break;
        usleep (100000);  //  the port may linger a moment after a stop
    }
    if (!self->ctx)
        return -1;
    if (self->port == 0) {
        struct mg_server_port port;
        if (mg_get_server_ports (self->ctx, 1, &port) != 1)
            return -1;
        self->port = port.port;
    }
    return 0;
}

static inline void
fake_stop (fake_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    if (self->ctx)
        mg_stop (self->ctx);
    self->ctx = NULL;
}

static inline fake_t *
fake_new (const char *token)
{
    fake_t *self = calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    snprintf (self->token, sizeof self->token, "%s", token);
    self->park_ms = 1000;
    return self;
}

static inline void
fake_destroy (fake_t **self_p)
{
    fake_t *self = *self_p;
    fake_stop (self);
    for (int i = 0; i < self->line_count; i++)
        free (self->lines[i]);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static inline void
fake_assign (fake_t *self, const char *pin, const char *command)
{
    pthread_mutex_lock (&self->lock);
    snprintf (self->pin, sizeof self->pin, "%s", pin);
    snprintf (self->command, sizeof self->command, "%s", command);
    self->pending = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

//  How many stored log lines equal line.
static inline int
fake_line_count (fake_t *self, const char *line)
{
    int n = 0;
    for (int i = 0; i < self->line_count; i++)
        if (strcmp (self->lines[i], line) == 0)
            n++;
    return n;
}

#endif
