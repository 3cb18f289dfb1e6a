/*  Log routes (reference 2.6): log posts (the Lambda's JSON, the raw
    CloudWatch payload, agent batches; the agent API's /api/vm-logs row
    parses them here), log reads and the live log tail (Server-Sent
    Events, http/sse.h).

    Agents call with their own token (ll_http_agent_check on the VM the
    request is about: another VM's token is 403); the Lambda posts logs
    with the token of scope "_lambda". Reads of every VM are the admin's. */
#include "http/routes.h"
#include "http/sse.h"
#include "runtime/logline.h"
#include "runtime/textbuf.h"

#define S_READ_MAX     10000
#define S_TAIL_SECONDS 120
#define S_TAIL_PING_MS 15000
#define S_TAIL_PAGE    1000

//  --- log posts -----------------------------------------------------------------

//  Take the Lambda's / the agent's fields from obj. 0, or -1 with the 400
//  message in post->error.
static int
s_post_fields (json_t *obj, ll_vm_logs_t *post)
{
    post->group = ll_route_string (obj, "log_group");
    post->host = ll_route_string (obj, "log_stream");
    post->messages = json_object_get (obj, "messages");
    if (!post->group || !post->host || !json_is_array (post->messages)
        || json_array_size (post->messages) == 0) {
        snprintf (post->error, sizeof post->error, "%s",
                  "Log group, stream, and messages are required.");
        return -1;
    }
    size_t i;
    json_t *m;
    json_array_foreach (post->messages, i, m)
    {
        if (!json_is_string (m)) {
            snprintf (post->error, sizeof post->error, "%s",
                      "Every message must be a string.");
            return -1;
        }
    }
    json_t *stream = json_object_get (obj, "stream");
    if (stream && !json_is_null (stream)) {
        const char *s =
            json_is_string (stream) ? json_string_value (stream) : "";
        if (!streq (s, "cloud_init") && !streq (s, "docker")
            && !streq (s, "agent")) {
            snprintf (post->error, sizeof post->error, "%s",
                      "stream must be cloud_init, docker or agent.");
            return -1;
        }
        post->stream = s;
    }
    else {
        size_t len = strlen (post->group);
        post->stream = len >= 7 && streq (post->group + len - 7, "-docker")
                           ? "docker"
                           : "cloud_init";
    }
    json_t *source = json_object_get (obj, "source");
    json_t *seq = json_object_get (obj, "seq");
    bool has_source = source && !json_is_null (source);
    bool has_seq = seq && !json_is_null (seq);
    if (has_source || has_seq) {
        const char *s =
            json_is_string (source) ? json_string_value (source) : "";
        if (!has_source || !has_seq || strlen (s) != 16
            || strspn (s, "0123456789abcdef") != 16 || !json_is_integer (seq)
            || json_integer_value (seq) < 0) {
            snprintf (post->error, sizeof post->error, "%s",
                      "source (16 hex digits) and seq (an integer) go "
                      "together.");
            return -1;
        }
        snprintf (post->source, sizeof post->source, "%s", s);
        snprintf (post->seq, sizeof post->seq, "%lld",
                  (long long) json_integer_value (seq));
    }
    return 0;
}

void
ll_vm_logs_free (ll_vm_logs_t *self)
{
    json_decref (self->decoded);
    json_decref (self->doc);
    self->decoded = self->doc = NULL;
}

int
ll_vm_logs_parse (const char *body, size_t len, ll_vm_logs_t *out)
{
    memset (out, 0, sizeof *out);
    out->doc = ll_http_json_parse (body, len);
    if (!out->doc) {
        snprintf (out->error, sizeof out->error, "%s", LL_HTTP_NOT_JSON);
        return -1;
    }
    json_t *doc = out->doc;  //  where the fields are
    json_t *awslogs = json_object_get (out->doc, "awslogs");
    if (awslogs) {
        //  The raw CloudWatch Logs subscription payload
        const char *data = ll_route_string (awslogs, "data");
        char *text = NULL;
        size_t size = 0;
        const char *why = NULL;
        if (!data) {
            snprintf (out->error, sizeof out->error, "%s",
                      "awslogs.data is required.");
            return -1;
        }
        if (ll_cwlogs_decode (data, strlen (data), LL_CWLOGS_MAX, &text, &size,
                              &why)
            != 0) {
            snprintf (out->error, sizeof out->error,
                      "Invalid awslogs.data: %s.", why);
            return -1;
        }
        json_t *decoded = json_loadb (text, size, 0, NULL);
        free (text);
        if (!json_is_object (decoded)) {
            json_decref (decoded);
            snprintf (out->error, sizeof out->error, "%s",
                      "Invalid awslogs.data: not a JSON object.");
            return -1;
        }
        const char *type = ll_route_string (decoded, "messageType");
        if (type && streq (type, "CONTROL_MESSAGE")) {
            json_decref (decoded);
            out->control = true;
            return 0;
        }
        //  Map CloudWatch's names onto the Lambda's
        json_t *mapped = json_object ();
        json_object_set (mapped, "log_group",
                         json_object_get (decoded, "logGroup"));
        json_object_set (mapped, "log_stream",
                         json_object_get (decoded, "logStream"));
        json_t *messages = json_array ();
        size_t i;
        json_t *event;
        json_array_foreach (json_object_get (decoded, "logEvents"), i, event)
        {
            json_t *m = json_object_get (event, "message");
            if (m)
                json_array_append (messages, m);
        }
        json_object_set_new (mapped, "messages", messages);
        json_decref (decoded);
        out->decoded = mapped;
        doc = mapped;
    }
    return s_post_fields (doc, out);
}

//  --- log reads -------------------------------------------------------------------

//  Parse rows "id\tstream\tline\n" into lines (array of objects) and the
//  per-stream texts; returns the last id (0 when none).
static long long
s_parse_rows (const char *rows,
              size_t size,
              json_t *lines,
              ll_textbuf_t *all,
              ll_textbuf_t *cloud_init,
              ll_textbuf_t *docker)
{
    long long last = 0;
    size_t start = 0;
    while (start < size) {
        const char *row = rows + start;
        const char *eol = memchr (row, '\n', size - start);
        size_t len = eol ? (size_t) (eol - row) : size - start;
        start += len + 1;
        const char *tab1 = memchr (row, '\t', len);
        const char *tab2 =
            tab1 ? memchr (tab1 + 1, '\t', len - (size_t) (tab1 + 1 - row))
                 : NULL;
        if (!tab2)
            continue;
        long long id = strtoll (row, NULL, 10);
        char stream[16];
        snprintf (stream, sizeof stream, "%.*s", (int) (tab2 - tab1 - 1),
                  tab1 + 1);
        const char *text = tab2 + 1;
        size_t text_len = len - (size_t) (text - row);
        if (lines)
            json_array_append_new (
                lines, json_pack ("{s:I, s:s, s:s%}", "id", (json_int_t) id,
                                  "stream", stream, "line", text, text_len));
        ll_textbuf_t *own = streq (stream, "docker")       ? docker
                            : streq (stream, "cloud_init") ? cloud_init
                                                           : NULL;
        if (own) {
            if (own->len)
                ll_textbuf_putc (own, '\n');
            ll_textbuf_append (own, text, text_len);
        }
        if (all) {
            if (all->len)
                ll_textbuf_putc (all, '\n');
            ll_textbuf_append (all, text, text_len);
        }
        last = id;
    }
    return last;
}

//  LOG-READ; 0 with *status and *rows, or -1 after answering (failed: the
//  status when the read fails: upstream's 500 for the read, 503 for the
//  stream, which is ours and may be asked again).
static int
s_log_read (ll_http_req_t *req,
            const char *hostname,
            const char *after,
            int limit,
            int failed,
            char **status,
            zframe_t **rows)
{
    char *error = NULL;
    bool not_found = false;
    int call = ll_ask_log_read (&req->client, hostname, after, limit, status,
                                rows, &error);
    if (ll_route_outcome (call, error, &not_found) != 0) {
        if (not_found)
            ll_http_error (req, 404, "VM not found.");
        else
            ll_http_error (req, failed, "Failed to get VM logs.");
        return -1;
    }
    return 0;
}

//  The token check of the path's VM, then ?after=<id> (digits only) into
//  out; 0, or -1 after the refusal (401, 403, 400).
static int
s_logs_begin (ll_http_req_t *req, char *out, size_t size)
{
    if (ll_http_agent_check (req, req->params[0]) != 0)
        return -1;
    out[0] = '\0';
    int n = ll_http_query_field (req, "after", out, size);
    if (n < 0 && n != -1) {
        ll_http_error (req, 400, "after must be a line id.");
        return -1;
    }
    if (n > 0 && (strspn (out, "0123456789") != (size_t) n || n > 18)) {
        ll_http_error (req, 400, "after must be a line id.");
        return -1;
    }
    return 0;
}

int
ll_route_vm_logs_get (ll_http_req_t *req)
{
    const char *hostname = req->params[0];
    char after[32];
    if (s_logs_begin (req, after, sizeof after) != 0)
        return req->status;
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    int limit = runtime->config->logs.read_lines;
    char text[16];
    if (ll_http_query_field (req, "lines", text, sizeof text) > 0) {
        char *end = NULL;
        long n = strtol (text, &end, 10);
        if (*end || n < 1 || n > S_READ_MAX)
            return ll_http_error (req, 400, "lines must be from 1 to 10000.");
        limit = (int) n;
    }
    char *status = NULL;
    zframe_t *rows = NULL;
    if (s_log_read (req, hostname, after, limit, 500, &status, &rows) != 0)
        return req->status;
    ll_route_touch (req, hostname);
    int rc;
    if (zframe_size (rows) == 0 && !after[0] && streq (status, "initializing"))
        rc = ll_http_error (req, 503, "VM is initializing.");
    else {
        json_t *lines = json_array ();
        ll_textbuf_t all = {0}, cloud_init = {0}, docker = {0};
        long long last =
            s_parse_rows ((const char *) zframe_data (rows), zframe_size (rows),
                          lines, &all, &cloud_init, &docker);
        if (last == 0 && after[0])
            last = strtoll (after, NULL, 10);
        json_t *out = json_object ();
        json_object_set_new (out, "hostname", json_string (hostname));
        json_object_set_new (out, "cloud_init_logs",
                             cloud_init.len ? json_string (cloud_init.data)
                                            : json_null ());
        json_object_set_new (out, "docker_logs",
                             docker.len ? json_string (docker.data)
                                        : json_null ());
        json_object_set_new (out, "logs",
                             all.len ? json_string (all.data) : json_null ());
        json_object_set_new (out, "lines", lines);
        json_object_set_new (out, "last_id", json_integer (last));
        ll_textbuf_free (&all);
        ll_textbuf_free (&cloud_init);
        ll_textbuf_free (&docker);
        rc = ll_http_json (req, 200, out);
    }
    free (status);
    zframe_destroy (&rows);
    return rc;
}

//  --- live tail (Server-Sent Events) ----------------------------------------------

//  Send rows with ids above *last as one event; -1 when the client is gone.
static int
s_tail_send (ll_http_req_t *req, const char *rows, size_t size, long long *last)
{
    json_t *lines = json_array ();
    long long newest = *last;
    size_t start = 0;
    //  Keep only rows not sent yet
    ll_textbuf_t fresh = {0};
    while (start < size) {
        const char *row = rows + start;
        const char *eol = memchr (row, '\n', size - start);
        size_t len = eol ? (size_t) (eol - row) : size - start;
        long long id = strtoll (row, NULL, 10);
        if (id > newest) {
            ll_textbuf_append (&fresh, row, len);
            ll_textbuf_putc (&fresh, '\n');
            newest = id;
        }
        start += len + 1;
    }
    s_parse_rows (ll_textbuf_text (&fresh), fresh.len, lines, NULL, NULL, NULL);
    ll_textbuf_free (&fresh);
    int rc = 0;
    if (json_array_size (lines)) {
        json_t *event = json_pack ("{s:o}", "lines", lines);
        rc = ll_sse_event (req, "lines", newest, event) ? 0 : -1;
        *last = newest;
    }
    else
        json_decref (lines);
    return rc;
}

int
ll_route_vm_logs_events (ll_http_req_t *req)
{
    const char *hostname = req->params[0];
    char after[32];
    if (s_logs_begin (req, after, sizeof after) != 0)
        return req->status;
    const char *resume = ll_http_header (req, "Last-Event-ID");
    if (resume && *resume && strspn (resume, "0123456789") == strlen (resume)
        && strlen (resume) < sizeof after)
        snprintf (after, sizeof after, "%s", resume);

    //  Subscribe before reading the backlog: nothing falls in between
    char topic[300];
    snprintf (topic, sizeof topic, "%s\t", hostname);
    void *sub = ll_http_subscribe (req, LL_ENDPOINT_LOG_TAIL, topic);
    if (!sub)
        return ll_http_error (req, 503, "Log tail unavailable.");

    char *status = NULL;
    zframe_t *rows = NULL;
    long long last = 0;
    //  Without a starting point the stream starts at the newest line
    if (s_log_read (req, hostname, after, after[0] ? S_TAIL_PAGE : 1, 503,
                    &status, &rows)
        != 0) {
        ll_socket_close (&sub);
        return req->status;
    }
    if (!after[0]) {
        long long newest = 0;
        const char *data = (const char *) zframe_data (rows);
        if (zframe_size (rows))
            newest = strtoll (data, NULL, 10);
        snprintf (after, sizeof after, "%lld", newest);
        zframe_destroy (&rows);
        rows = zframe_new (NULL, 0);
    }
    last = strtoll (after, NULL, 10);
    int alive = ll_sse_begin (req);
    //  The backlog, page by page
    while (alive == 0) {
        size_t size = zframe_size (rows);
        alive =
            s_tail_send (req, (const char *) zframe_data (rows), size, &last);
        zframe_destroy (&rows);
        free (status);
        status = NULL;
        if (alive != 0 || size == 0)
            break;
        char from[32], *error = NULL;
        snprintf (from, sizeof from, "%lld", last);
        if (ll_ask_log_read (&req->client, hostname, from, S_TAIL_PAGE, &status,
                             &rows, &error)
            != 0) {
            free (error);
            break;
        }
    }
    zframe_destroy (&rows);
    free (status);
    //  Then live lines until the client leaves, the server stops or the
    //  stream's time is up (the browser reconnects with Last-Event-ID)
    int64_t end = ll_now_ms () + S_TAIL_SECONDS * 1000;
    int64_t ping = ll_now_ms () + S_TAIL_PING_MS;
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (alive == 0 && ll_now_ms () < end && !ll_http_stopping (req)) {
        if (zpoller_wait (poller, 500) == sub) {
            //  [hostname "\t"] [rows] (runtime/protocol.h, LL_ENDPOINT_LOG_TAIL)
            zmsg_t *msg = zmsg_recv (sub);
            zframe_t *data = NULL;
            if (msg && ll_msg_take (msg, "bb", NULL, &data) == 0)
                alive = s_tail_send (req, (const char *) zframe_data (data),
                                     zframe_size (data), &last);
            zframe_destroy (&data);
            zmsg_destroy (&msg);
        }
        else if (zpoller_terminated (poller))
            break;
        if (alive == 0 && ll_now_ms () >= ping) {
            alive = ll_sse_comment (req, "ping") ? 0 : -1;
            ping = ll_now_ms () + S_TAIL_PING_MS;
        }
        if (alive == 0 && ll_http_client_gone (req))
            alive = -1;  //  frees the stream's slot now, not at a ping
    }
    zpoller_destroy (&poller);
    ll_socket_close (&sub);
    return 200;
}
