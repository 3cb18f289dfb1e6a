/*  Operations: launch and destroy (reference 2.4 /api/launch, /destroy),
    one VM destroyed or replaced, an operation's state and its live stream.
    Every route is admin-only; JSON clients (Accept: application/json) get
    202 {"operation_id": n}, browsers a progress page. The work happens in
    the terraform actor: no request ever waits for terraform. */
#include "http/page.h"
#include "http/routes.h"
#include "http/sse.h"
#include "runtime/log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#define LL_OPS_SSE_POLL_MS 2000  //  re-read the row (other allocators)
#define LL_OPS_SSE_MAX_S   3600  //  one stream's longest life
#define LL_OPS_NUM_VMS_MAX 32    //  characters of num_vms read
#define LL_OPS_PAGE        "operation.html"

//  --- num_vms: upstream's messages --------------------------------------

#define MSG_REQUIRED "Number of VMs is required."
#define MSG_INVALID  "Invalid number of VMs. Please enter a valid integer."
#define MSG_POSITIVE "Number of VMs must be greater than 0."

//  Parse like Python's int(): optional blanks and sign around digits.
//  0 with *value, -1 when not an integer. Huge values saturate.
static int
s_parse_count (const char *text, long long *value)
{
    const char *p = text;
    while (isspace ((unsigned char) *p))
        p++;
    bool negative = false;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';
    if (!isdigit ((unsigned char) *p))
        return -1;
    long long v = 0;
    for (; isdigit ((unsigned char) *p); p++)
        v = v > LLONG_MAX / 10 - 10 ? LLONG_MAX / 10 : v * 10 + (*p - '0');
    while (isspace ((unsigned char) *p))
        p++;
    if (*p)
        return -1;
    *value = negative ? -v : v;
    return 0;
}

//  Render the operation page (an error, or the progress of id).
static int
s_page (ll_http_req_t *req,
        int status,
        const char *title,
        const char *error,
        long long id)
{
    char id_text[24] = "";
    if (id > 0)
        snprintf (id_text, sizeof id_text, "%lld", id);
    const char *vars[] = {"title",        title,   "error", error ? error : "",
                          "operation_id", id_text, NULL};
    const ll_admin_page_t page = {LL_OPS_PAGE, title, NULL, "operation.js",
                                  true};
    return ll_http_admin_page (req, status, &page, vars);
}

//  Answer an error the way the client wants it.
static int
s_fail (ll_http_req_t *req, int status, const char *title, const char *message)
{
    if (ll_http_wants_json (req))
        return ll_http_error (req, status, message);
    return s_page (req, status, title, message, 0);
}

int
ll_operation_vms (ll_http_req_t *req,
                  const char *title,
                  const char *command,
                  const char *const *hosts,
                  const char *who)
{
    char *id = NULL, *error = NULL;
    int rc =
        ll_ask_vm_operation (&req->client, command, hosts, who, &id, &error);
    return ll_operation_start (req, title, rc, id, error);
}

//  Send the actor's answer to LAUNCH / DESTROY / DESTROY-VM / REPLACE-VM /
//  REBOOT-VM / MOVE-VM / EXPORT-DESTROY (routes.h).
int
ll_operation_start (
    ll_http_req_t *req, const char *title, int rc, char *id_text, char *error)
{
    if (rc == 0) {
        long long id = strtoll (id_text, NULL, 10);
        free (id_text);
        if (ll_http_wants_json (req))
            return ll_http_json (
                req, 202, json_pack ("{s:I}", "operation_id", (json_int_t) id));
        return s_page (req, 202, title, NULL, id);
    }
    int status;
    char message[256];
    long long busy = 0;
    size_t busy_len = strlen (LL_REASON_BUSY " ");
    size_t many_len = strlen (LL_REASON_TOO_MANY " ");
    if (error && strncmp (error, LL_REASON_BUSY " ", busy_len) == 0) {
        busy = strtoll (error + busy_len, NULL, 10);
        status = 409;
        snprintf (message, sizeof message,
                  "Another operation is running (operation %lld).", busy);
    }
    else if (error && strncmp (error, LL_REASON_TOO_MANY " ", many_len) == 0) {
        status = 400;
        snprintf (message, sizeof message,
                  "The fleet would exceed the maximum of %s VMs.",
                  error + many_len);
    }
    else if (error && strncmp (error, "budget ", 7) == 0) {
        status = 409;
        snprintf (message, sizeof message, "%s", error + 7);
    }
    else if (error && strcmp (error, LL_REASON_NO_URL) == 0) {
        status = 500;
        snprintf (message, sizeof message, "Allocator outputs not found.");
    }
    else if (error && strncmp (error, LL_REASON_UNKNOWN_VM, 10) == 0) {
        status = 404;
        if (error[10] == ' ')
            snprintf (message, sizeof message, "VM not found: %.200s.",
                      error + 11);
        else
            snprintf (message, sizeof message, "VM not found.");
    }
    else {
        status = 503;
        snprintf (message, sizeof message,
                  "The provisioning service is unavailable: %s",
                  error ? error : "no answer");
    }
    free (error);
    if (ll_http_wants_json (req)) {
        json_t *body = json_pack ("{s:s}", "error", message);
        if (busy > 0)
            json_object_set_new (body, "operation_id",
                                 json_integer ((json_int_t) busy));
        return ll_http_json (req, status, body);
    }
    return s_page (req, status, title, message, busy);
}

static const char *
s_who (ll_http_req_t *req)
{
    return ll_http_server_runtime (req->server)->config->app.admin_user;
}

int
ll_route_launch (ll_http_req_t *req)
{
    static const char title[] = "Launch VMs";
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    char text[LL_OPS_NUM_VMS_MAX + 1] = "";
    int got = -1;
    const char *type = ll_http_header (req, "Content-Type");
    if (type && strncmp (type, "application/json", 16) == 0) {
        json_t *body = ll_http_json_body (req);
        if (!body)
            return req->status;
        json_t *value = json_object_get (body, "num_vms");
        if (json_is_integer (value))
            got = snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT,
                            json_integer_value (value));
        else if (json_is_string (value))
            got = snprintf (text, sizeof text, "%s", json_string_value (value));
        else if (value && !json_is_null (value))
            got = snprintf (text, sizeof text, "x");  //  not an integer
        json_decref (body);
        if (got >= (int) sizeof text)
            got = -2;
    }
    else
        got = ll_http_form_field (req, "num_vms", text, sizeof text);
    if (got == -2)
        return s_fail (req, 400, title, MSG_INVALID);
    const char *p = text;
    while (got > 0 && isspace ((unsigned char) *p))
        p++;
    if (got < 0 || !*p)
        return s_fail (req, 400, title, MSG_REQUIRED);
    long long count = 0;
    if (s_parse_count (text, &count) != 0)
        return s_fail (req, 400, title, MSG_INVALID);
    if (count <= 0)
        return s_fail (req, 400, title, MSG_POSITIVE);
    if (count > config->app.max_vms) {
        char message[128];
        snprintf (message, sizeof message, "Number of VMs must be at most %d.",
                  config->app.max_vms);
        return s_fail (req, 400, title, message);
    }
    char *id = NULL, *error = NULL;
    int rc = ll_ask_launch (&req->client, count, s_who (req), &id, &error);
    return ll_operation_start (req, title, rc, id, error);
}

//  True when this allocator's exporter is reading the VMs now: destroying
//  them would cut every student's data out of the zip being downloaded.
static bool
s_export_running (ll_http_req_t *req)
{
    zmsg_t *status = NULL;
    char *error = NULL, *running = NULL;
    if (ll_ask_export_status (&req->client, &status, &error) != 0) {
        free (error);
        return false;  //  no exporter answer: nothing to protect
    }
    bool yes = ll_msg_row (status, "s", &running) == 0 && streq (running, "1");
    free (running);
    zmsg_destroy (&status);
    return yes;
}

int
ll_route_destroy (ll_http_req_t *req)
{
    if (s_export_running (req))
        return s_fail (req, 409, "Destroy VMs",
                       "A data export is running: destroy the VMs after it "
                       "finishes (or cancel the download).");
    char *id = NULL, *error = NULL;
    int rc = ll_ask_destroy (&req->client, s_who (req), &id, &error);
    return ll_operation_start (req, "Destroy VMs", rc, id, error);
}

//  Export every VM's data to this allocator's disk, check the zip against
//  its manifest, then destroy the fleet: one operation (nothing is destroyed
//  when the export fails or misses a VM).
int
ll_route_export_destroy (ll_http_req_t *req)
{
    static const char title[] = "Export, then destroy";
    if (s_export_running (req))
        return s_fail (req, 409, title,
                       "A data export is running: start this after it "
                       "finishes (or cancel the download).");
    char *id = NULL, *error = NULL;
    int rc = ll_ask_export_destroy (&req->client, s_who (req), &id, &error);
    return ll_operation_start (req, title, rc, id, error);
}

static int
s_one_vm (ll_http_req_t *req, const char *title, const char *command)
{
    const char *host = req->params[0];
    if (!host || strlen (host) > 253)
        return s_fail (req, 404, title, "VM not found.");
    const char *hosts[] = {host, NULL};
    return ll_operation_vms (req, title, command, hosts, s_who (req));
}

int
ll_route_vm_destroy (ll_http_req_t *req)
{
    return s_one_vm (req, "Destroy a VM", LL_CMD_DESTROY_VM);
}

//  ?new_name=1: a new VM under a new name takes the student (MOVE-VM);
//  otherwise the same name on a new machine.
int
ll_route_vm_replace (ll_http_req_t *req)
{
    char flag[8] = "";
    ll_http_query_field (req, "new_name", flag, sizeof flag);
    if (*flag && strcmp (flag, "0") != 0 && strcmp (flag, "false") != 0)
        return s_one_vm (req, "Replace a VM under a new name", LL_CMD_MOVE_VM);
    return s_one_vm (req, "Replace a VM", LL_CMD_REPLACE_VM);
}

//  --- reading operations --------------------------------------------------

typedef struct {
    char *fields[11];      //  kind .. finished_at (OP-GET order)
    long long line_count;  //  lines in the whole output
    zmsg_t *lines;         //  the lines asked for (owned)
} s_op_t;

static void
s_op_free (s_op_t *op)
{
    for (int i = 0; i < 11; i++)
        free (op->fields[i]);
    zmsg_destroy (&op->lines);
}

//  OP-GET: 0, 404 when there is no such operation, 503 otherwise.
static int
s_op_get (ll_http_req_t *req, long long id, long long after, s_op_t *op)
{
    memset (op, 0, sizeof *op);
    zmsg_t *reply = NULL;
    char *error = NULL, *count = NULL;
    char **f = op->fields;
    int rc = ll_ask_op_get (&req->client, id, after, &reply, &error);
    int status = 0;
    if (rc != 0)
        status = strcmp (error, LL_REASON_OP_MISSING) == 0 ? 404 : 503;
    else if (ll_msg_take (reply, "ssssssssssssm", &f[0], &f[1], &f[2], &f[3],
                          &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
                          &count, &op->lines)
             != 0)
        status = 503;
    else {
        op->line_count = strtoll (count, NULL, 10);
        free (count);
    }
    free (error);
    zmsg_destroy (&reply);
    return status;
}

static bool
s_finished (const s_op_t *op)
{
    return strcmp (op->fields[1], "succeeded") == 0
           || strcmp (op->fields[1], "failed") == 0;
}

long long
ll_route_path_id (ll_http_req_t *req, size_t digits)
{
    const char *text = req->params[0];
    if (!text || !*text || strlen (text) > digits)
        return -1;
    for (const char *p = text; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return -1;
    long long id = strtoll (text, NULL, 10);
    return id > 0 ? id : -1;
}

static json_t *
s_nullable (const char *text)
{
    return text && *text ? json_string (text) : json_null ();
}

int
ll_route_operation (ll_http_req_t *req)
{
    long long id = ll_route_path_id (req, 18);
    if (id < 0)
        return ll_http_error (req, 404, "Operation not found.");
    char after_text[24] = "";
    long long after = 0;
    if (ll_http_query_field (req, "after", after_text, sizeof after_text) > 0)
        after = strtoll (after_text, NULL, 10);
    if (after < 0)
        after = 0;
    s_op_t op;
    int status = s_op_get (req, id, after, &op);
    if (status == 404)
        return ll_http_error (req, 404, "Operation not found.");
    if (status)
        return ll_http_error (req, 503, "Operations are unavailable now.");
    //  The output (lines from `after`) as one text
    size_t size = 1;
    for (zframe_t *f = zmsg_first (op.lines); f; f = zmsg_next (op.lines))
        size += zframe_size (f) + 1;
    char *output = malloc (size);
    size_t len = 0;
    for (zframe_t *f = zmsg_first (op.lines); f; f = zmsg_next (op.lines)) {
        memcpy (output + len, zframe_data (f), zframe_size (f));
        len += zframe_size (f);
        output[len++] = '\n';
    }
    output[len] = '\0';
    json_t *body = json_object ();
    json_object_set_new (body, "id", json_integer ((json_int_t) id));
    json_object_set_new (body, "kind", json_string (op.fields[0]));
    json_object_set_new (body, "status", json_string (op.fields[1]));
    json_object_set_new (body, "requested",
                         json_integer (strtoll (op.fields[2], NULL, 10)));
    json_t *vms = json_pack (
        "{s:I, s:I}", "done", (json_int_t) strtoll (op.fields[3], NULL, 10),
        "total", (json_int_t) strtoll (op.fields[4], NULL, 10));
    json_object_set_new (body, "vms", vms);
    json_object_set_new (body, "error", s_nullable (op.fields[5]));
    json_object_set_new (body, "created_by", s_nullable (op.fields[6]));
    json_object_set_new (body, "target", s_nullable (op.fields[7]));
    json_object_set_new (body, "created_at", s_nullable (op.fields[8]));
    json_object_set_new (body, "started_at", s_nullable (op.fields[9]));
    json_object_set_new (body, "finished_at", s_nullable (op.fields[10]));
    json_t *text = json_stringn (output, len);
    json_object_set_new (body, "output", text ? text : json_string (""));
    json_object_set_new (body, "next",
                         json_integer ((json_int_t) op.line_count));
    free (output);
    s_op_free (&op);
    return ll_http_json (req, 200, body);
}

//  GET /api/operations?limit=N: the latest operations, newest first, and
//  the one running now (so a page opened later finds it).
int
ll_route_operations (ll_http_req_t *req)
{
    char limit[8] = "20";
    ll_http_query_field (req, "limit", limit, sizeof limit);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int rc = ll_ask_op_list (&req->client, limit, &reply, &error);
    free (error);
    if (rc != 0)
        return ll_http_error (req, 503, "Operations are unavailable now.");
    json_t *list = json_array ();
    json_t *active = json_null ();
    char *f[10];
    while (ll_msg_row (reply, "ssssssssss", &f[0], &f[1], &f[2], &f[3], &f[4],
                       &f[5], &f[6], &f[7], &f[8], &f[9])
           == 0) {
        json_t *op = json_object ();
        json_object_set_new (op, "id", json_integer (strtoll (f[0], NULL, 10)));
        json_object_set_new (op, "kind", json_string (f[1]));
        json_object_set_new (op, "status", json_string (f[2]));
        json_object_set_new (op, "requested",
                             json_integer (strtoll (f[3], NULL, 10)));
        json_object_set_new (op, "vms",
                             json_pack ("{s:I, s:I}", "done",
                                        (json_int_t) strtoll (f[4], NULL, 10),
                                        "total",
                                        (json_int_t) strtoll (f[5], NULL, 10)));
        json_object_set_new (op, "error", s_nullable (f[6]));
        json_object_set_new (op, "target", s_nullable (f[7]));
        json_object_set_new (op, "created_at", s_nullable (f[8]));
        json_object_set_new (op, "finished_at", s_nullable (f[9]));
        if (json_is_null (active)
            && (strcmp (f[2], "running") == 0
                || strcmp (f[2], "queued") == 0)) {
            json_decref (active);
            active = json_integer (strtoll (f[0], NULL, 10));
        }
        json_array_append_new (list, op);
        for (int i = 0; i < 10; i++)
            free (f[i]);
    }
    zmsg_destroy (&reply);
    return ll_http_json (
        req, 200,
        json_pack ("{s:o, s:o}", "operations", list, "active", active));
}

int
ll_route_operation_page (ll_http_req_t *req)
{
    long long id = ll_route_path_id (req, 18);
    if (id < 0)
        return s_fail (req, 404, "Operation", "Operation not found.");
    return s_page (req, 200, "Operation", NULL, id);
}

//  --- Server-Sent Events ------------------------------------------------------

static bool
s_sse_line (ll_http_req_t *req, long long seq, const char *line, size_t len)
{
    json_t *data = json_object ();
    json_object_set_new (data, "seq", json_integer ((json_int_t) seq));
    json_t *text = json_stringn (line, len);
    json_object_set_new (data, "line", text ? text : json_string ("?"));
    return ll_sse_event (req, "line", seq, data);
}

static bool
s_sse_progress (ll_http_req_t *req, long long done, long long total)
{
    return ll_sse_event (req, "progress", -1,
                         json_pack ("{s:I, s:I}", "done", (json_int_t) done,
                                    "total", (json_int_t) total));
}

static bool
s_sse_status (ll_http_req_t *req, const char *status, const char *error)
{
    json_t *data = json_pack ("{s:s}", "status", status);
    json_object_set_new (data, "error", s_nullable (error));
    return ll_sse_event (req, "status", -1, data);
}

//  Send what the row holds beyond *next; true while the stream goes on.
static bool
s_sse_catch_up (ll_http_req_t *req,
                long long id,
                long long *next,
                bool *finished,
                long long *done,
                long long *total)
{
    s_op_t op;
    if (s_op_get (req, id, *next, &op) != 0)
        return true;  //  try again later
    bool alive = true;
    for (zframe_t *f = zmsg_first (op.lines); f && alive;
         f = zmsg_next (op.lines)) {
        alive = s_sse_line (req, *next, (const char *) zframe_data (f),
                            zframe_size (f));
        (*next)++;
    }
    long long d = strtoll (op.fields[3], NULL, 10);
    long long t = strtoll (op.fields[4], NULL, 10);
    if (alive && (d != *done || t != *total)) {
        *done = d;
        *total = t;
        alive = s_sse_progress (req, d, t);
    }
    if (alive && s_finished (&op)) {
        s_sse_status (req, op.fields[1], op.fields[5]);
        *finished = true;
    }
    s_op_free (&op);
    return alive && !*finished;
}

int
ll_route_operation_events (ll_http_req_t *req)
{
    long long id = ll_route_path_id (req, 18);
    if (id < 0)
        return ll_http_error (req, 404, "Operation not found.");
    //  Resume after the last line the client saw (EventSource reconnects)
    long long next = 0;
    const char *last = ll_http_header (req, "Last-Event-ID");
    char after_text[24] = "";
    if (last && *last)
        next = strtoll (last, NULL, 10) + 1;
    else if (ll_http_query_field (req, "after", after_text, sizeof after_text)
             > 0)
        next = strtoll (after_text, NULL, 10);
    if (next < 0)
        next = 0;
    //  Subscribe first, then read the row: nothing falls in between
    char topic[40];
    snprintf (topic, sizeof topic, LL_OP_TOPIC_PREFIX "%lld", id);
    void *sub = ll_http_subscribe (req, LL_ENDPOINT_OPERATIONS, topic);
    if (!sub)
        return ll_http_error (req, 503, "Operations are unavailable now.");
    zsock_set_rcvtimeo (sub, 1000);
    s_op_t op;
    int status = s_op_get (req, id, next, &op);
    if (status) {
        ll_socket_close (&sub);
        return ll_http_error (req, status,
                              status == 404
                                  ? "Operation not found."
                                  : "Operations are unavailable now.");
    }
    s_op_free (&op);
    bool finished = false;
    long long done = -1, total = -1;
    bool alive = ll_sse_begin (req) == 0
                 && s_sse_catch_up (req, id, &next, &finished, &done, &total);
    int64_t poll_at = ll_now_ms () + LL_OPS_SSE_POLL_MS;
    int64_t end_at = ll_now_ms () + (int64_t) LL_OPS_SSE_MAX_S * 1000;
    while (alive && ll_now_ms () < end_at && !ll_http_stopping (req)) {
        //  [topic] [kind] [a] [b] (runtime/protocol.h, LL_ENDPOINT_OPERATIONS)
        zmsg_t *msg = zmsg_recv (sub);
        char *t = NULL, *kind = NULL, *a = NULL, *b = NULL;
        if (msg && ll_msg_take (msg, "ssss", &t, &kind, &a, &b) == 0) {
            if (strcmp (t, topic) == 0) {
                if (strcmp (kind, "line") == 0) {
                    long long seq = strtoll (a, NULL, 10);
                    if (seq == next) {
                        alive = s_sse_line (req, seq, b, strlen (b));
                        next++;
                    }
                    else if (seq > next)  //  missed some: read the row
                        alive = s_sse_catch_up (req, id, &next, &finished,
                                                &done, &total);
                }
                else if (strcmp (kind, "progress") == 0) {
                    done = strtoll (a, NULL, 10);
                    total = strtoll (b, NULL, 10);
                    alive = s_sse_progress (req, done, total);
                }
                else if (strcmp (kind, "status") == 0
                         && strcmp (a, "running") != 0)
                    //  The row has the last lines and the final state
                    alive = s_sse_catch_up (req, id, &next, &finished, &done,
                                            &total);
            }
            free (t);
            free (kind);
            free (a);
            free (b);
        }
        else if (!msg)
            alive = ll_sse_comment (req, "keep-alive");
        zmsg_destroy (&msg);
        if (alive && ll_now_ms () >= poll_at) {
            //  Operations run by another allocator publish nothing here
            alive = s_sse_catch_up (req, id, &next, &finished, &done, &total);
            poll_at = ll_now_ms () + LL_OPS_SSE_POLL_MS;
        }
    }
    ll_socket_close (&sub);
    return 200;
}
