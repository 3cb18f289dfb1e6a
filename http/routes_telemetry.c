/*  Telemetry and logs routes (reference 2.4, 2.6): VM status, GPU health,
    in-use, heartbeat, startup metrics, the metrics export, log posts (the
    Lambda's JSON, the raw CloudWatch payload, agent batches), log reads
    and the live log tail (Server-Sent Events).

    Agents call with their own token (ll_http_agent_check on the VM the
    request is about: another VM's token is 403); the Lambda posts logs
    with the token of scope "_lambda". Reads of every VM are the admin's. */
#include "http/routes.h"
#include "http/sse.h"
#include "runtime/logline.h"
#include "runtime/textbuf.h"

#include <math.h>

#define S_READ_MAX     10000
#define S_TAIL_SECONDS 120
#define S_TAIL_PING_MS 15000
#define S_TAIL_PAGE    1000
//  Epoch seconds accepted for start/end times (1970 .. 2100)
#define S_EPOCH_MAX    4102444800.0
#define S_DURATION_MAX 1.0e7

//  The outcome of a call (rc, error taken): 0, or -1 with *not_found
//  telling whether the actor said LL_REASON_NOT_FOUND.
static int
s_outcome (int rc, char *error, bool *not_found)
{
    *not_found = rc != 0 && error && streq (error, LL_REASON_NOT_FOUND);
    free (error);
    return rc;
}

//  Record that a VM called (last_seen_at) when it authenticated with its
//  own token; writes of the registry do it themselves.
static void
s_touch (ll_http_req_t *req, const char *hostname)
{
    if (req->is_admin || hostname[0] == '_')
        return;
    char *error = NULL;
    ll_ask_vm_touch (&req->client, hostname, &error);
    free (error);
}

//  The string member key of obj, or NULL when absent, null, not a string
//  or empty.
static const char *
s_string (json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    const char *s = json_is_string (v) ? json_string_value (v) : NULL;
    return s && *s ? s : NULL;
}

//  --- status, GPU health, in-use, heartbeat --------------------------------

static bool
s_status_valid (const char *status)
{
    static const char *valid[] = {"initializing", "running", "error", "unknown",
                                  "rebooting"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        if (streq (status, valid[i]))
            return true;
    return false;
}

//  A refusal, told after the token check.
static int
s_refuse_checked (ll_agent_body_t *out, const char *error)
{
    out->error = error;
    out->check_first = true;
    return -1;
}

int
ll_vm_status_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    out->host = s_string (out->doc, "hostname");
    out->value = s_string (out->doc, "status");
    if (!out->host || !out->value) {
        out->error = "Hostname and status are required.";
        return -1;
    }
    if (!s_status_valid (out->value))
        return s_refuse_checked (out, "Invalid status. Must be one of: "
                                      "initializing, running, error, unknown, "
                                      "rebooting.");
    return 0;
}

int
ll_route_vm_status_all (ll_http_req_t *req)
{
    zmsg_t *reply = NULL;
    char *error = NULL;
    if (ll_ask_vm_status_all (&req->client, &reply, &error) != 0) {
        free (error);
        return ll_http_error (req, 500, "Failed to get VM status.");
    }
    json_t *map = json_object ();
    char *host, *status, *stale;
    while (ll_msg_row (reply, "sss", &host, &status, &stale) == 0) {
        json_object_set_new (map, host,
                             streq (status, "-") ? json_null ()
                                                 : json_string (status));
        free (host);
        free (status);
        free (stale);
    }
    zmsg_destroy (&reply);
    if (json_object_size (map) == 0) {
        json_decref (map);
        return ll_http_error (req, 404, "No VMs found.");
    }
    return ll_http_json (req, 200, map);
}

int
ll_route_vm_status_get (ll_http_req_t *req)
{
    const char *hostname = req->params[0];
    if (ll_http_agent_check (req, hostname) != 0)
        return req->status;
    s_touch (req, hostname);
    char *status = NULL, *stale = NULL, *error = NULL;
    bool not_found = false;
    int call =
        ll_ask_vm_status_get (&req->client, hostname, &status, &stale, &error);
    if (s_outcome (call, error, &not_found) != 0)
        return not_found ? ll_http_error (req, 404, "VM not found.")
                         : ll_http_error (req, 500, "Failed to get VM status.");
    int rc;
    if (!status || !*status)
        rc = ll_http_error (req, 404, "VM not found.");
    else
        rc = ll_http_json (req, 200,
                           json_pack ("{s:s, s:s, s:b}", "hostname", hostname,
                                      "status", status, "stale",
                                      stale && streq (stale, "1")));
    free (status);
    free (stale);
    return rc;
}

int
ll_gpu_health_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    out->host = s_string (out->doc, "hostname");
    const char *gpu = out->value = s_string (out->doc, "gpu_status");
    if (!out->host || !gpu) {
        out->error = "GPU status and hostname are required.";
        return -1;
    }
    if (!streq (gpu, "Healthy") && !streq (gpu, "Unhealthy")
        && !streq (gpu, "N/A"))
        return s_refuse_checked (out, "Invalid GPU status. Must be one of: "
                                      "Healthy, Unhealthy, N/A.");
    return 0;
}

int
ll_inuse_status_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    out->host = s_string (out->doc, "hostname");
    json_t *status = json_object_get (out->doc, "status");
    if (!out->host) {
        out->error = "Hostname is required.";
        return -1;
    }
    if (!json_is_boolean (status))
        return s_refuse_checked (out, "Status must be true or false.");
    out->value = json_is_true (status) ? "1" : "0";
    return 0;
}

int
ll_heartbeat_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    out->host = s_string (out->doc, "vm_id");
    json_t *boot = json_object_get (out->doc, "boot_id");
    json_t *crd = json_object_get (out->doc, "crd_active");
    json_t *disk = json_object_get (out->doc, "disk_free_pct");
    json_t *stamp = json_object_get (out->doc, "timestamp");
    json_t *waiting = json_object_get (out->doc, "waiting");
    if (!out->host) {
        out->error = "vm_id is required.";
        return -1;
    }
    if (boot && !json_is_null (boot)
        && (!json_is_string (boot) || json_string_length (boot) > 64
            || strlen (json_string_value (boot)) != json_string_length (boot)))
        return s_refuse_checked (out, "boot_id must be a string of at most 64 "
                                      "characters.");
    if (crd && !json_is_null (crd) && !json_is_boolean (crd))
        return s_refuse_checked (out, "crd_active must be true or false.");
    if (disk && !json_is_null (disk)
        && (!json_is_integer (disk) || json_integer_value (disk) < 0
            || json_integer_value (disk) > 100))
        return s_refuse_checked (
            out, "disk_free_pct must be an integer from 0 to 100.");
    if (stamp && !json_is_null (stamp) && !json_is_string (stamp))
        return s_refuse_checked (out, "timestamp must be a string.");
    if (waiting && !json_is_null (waiting) && !json_is_boolean (waiting))
        return s_refuse_checked (out, "waiting must be true or false.");
    out->value = json_is_true (waiting) ? "1" : "";
    out->text = json_is_string (boot) ? json_string_value (boot) : "";
    out->flag = json_is_boolean (crd) ? (json_is_true (crd) ? "1" : "0") : "";
    if (json_is_integer (disk))
        out->number = (long long) json_integer_value (disk);
    return 0;
}

//  --- startup metrics -------------------------------------------------------

//  A metric value: a JSON number or a numeric string. 1 found, 0 absent,
//  -1 invalid.
static int
s_number (json_t *body, const char *key, double *out)
{
    json_t *v = json_object_get (body, key);
    if (!v || json_is_null (v))
        return 0;
    if (json_is_number (v))
        *out = json_number_value (v);
    else if (json_is_string (v)) {
        const char *s = json_string_value (v);
        char *end = NULL;
        *out = strtod (s, &end);
        if (!*s || *end)
            return -1;
    }
    else
        return -1;
    return isfinite (*out) ? 1 : -1;
}

int
ll_vm_metrics_parse (const char *body, size_t len, ll_vm_metrics_t *out)
{
    memset (out, 0, sizeof *out);
    json_t *doc = ll_http_json_parse (body, len);
    if (!doc) {
        snprintf (out->error, sizeof out->error, "%s", LL_HTTP_NOT_JSON);
        return -1;
    }
    //  Upstream's keys, then the older container names (reference 3.6)
    static const struct {
        const char *key;
        int slot;       //  argument position after the hostname
        bool duration;  //  seconds, else an epoch time
    } keys[] = {
        {"cloud_init_start", 0, false},
        {"cloud_init_end", 1, false},
        {"cloud_init_duration_seconds", 2, true},
        {"container_start", 3, false},
        {"container_start_time", 3, false},
        {"container_end", 4, false},
        {"container_end_time", 4, false},
        {"container_startup_duration_seconds", 5, true},
        {"container_duration_seconds", 5, true},
    };
    double *values = out->values;
    bool *given = out->given;
    const char *bad = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !bad; i++) {
        double v;
        int found = s_number (doc, keys[i].key, &v);
        if (found == 0)
            continue;
        if (found < 0 || v < 0
            || v > (keys[i].duration ? S_DURATION_MAX : S_EPOCH_MAX))
            bad = keys[i].key;
        else {
            values[keys[i].slot] = v;
            given[keys[i].slot] = true;
        }
    }
    json_decref (doc);
    if (bad)
        snprintf (out->error, sizeof out->error, "Invalid value for %s.", bad);
    else if ((given[0] && given[1] && values[1] < values[0])
             || (given[3] && given[4] && values[4] < values[3]))
        snprintf (out->error, sizeof out->error, "%s",
                  "An end time is before its start time.");
    else if (!given[0] && !given[1] && !given[2] && !given[3] && !given[4]
             && !given[5])
        snprintf (out->error, sizeof out->error, "%s", "No metrics provided.");
    return out->error[0] ? -1 : 0;
}

//  --- export ------------------------------------------------------------------

//  Columns of the CSV export, in order (the JSON rows carry the same).
static const char *s_export_columns[] = {
    "hostname",
    "status",
    "user_email",
    "assigned_at",
    "delivered_at",
    "in_use",
    "gpu_health",
    "last_seen_at",
    "stale",
    "public_ip",
    "boot_id",
    "crd_active",
    "disk_free_pct",
    "terraform_start_time",
    "terraform_end_time",
    "terraform_duration_seconds",
    "cloud_init_start_time",
    "cloud_init_end_time",
    "cloud_init_duration_seconds",
    "container_start_time",
    "container_end_time",
    "container_duration_seconds",
    "total_startup_seconds",
    "created_at",
};

static void
s_csv_field (ll_textbuf_t *out, json_t *v)
{
    if (!v || json_is_null (v))
        return;
    char *text = json_is_string (v) ? strdup (json_string_value (v))
                                    : json_dumps (v, JSON_ENCODE_ANY);
    if (!text)
        return;
    //  Formula injection: a cell starting with = + - @ is quoted text
    bool quote = strpbrk (text, ",\"\r\n") != NULL
                 || (json_is_string (v) && strchr ("=+-@", text[0]) && *text);
    if (quote) {
        ll_textbuf_putc (out, '"');
        if (json_is_string (v) && strchr ("=+-@", text[0]))
            ll_textbuf_putc (out, '\'');
        for (char *c = text; *c; c++) {
            if (*c == '"')
                ll_textbuf_putc (out, '"');
            ll_textbuf_putc (out, *c);
        }
        ll_textbuf_putc (out, '"');
    }
    else
        ll_textbuf_puts (out, text);
    free (text);
}

//  Upstream's export (reference 2.6, L): its lower-case column names, in its
//  table's order, for every column but pin, crdcommand and the logs. NULL
//  ours: a column this allocator does not keep (always null).
static const struct {
    const char *upstream;
    const char *ours;
} s_upstream_columns[] = {
    {"hostname", "hostname"},
    {"useremail", "user_email"},
    {"inuse", "in_use"},
    {"healthy", "gpu_health"},
    {"status", "status"},
    {"terraformapplystarttime", "terraform_start_time"},
    {"terraformapplyendtime", "terraform_end_time"},
    {"terraformapplydurationseconds", "terraform_duration_seconds"},
    {"cloudinitstarttime", "cloud_init_start_time"},
    {"cloudinitendtime", "cloud_init_end_time"},
    {"cloudinitdurationseconds", "cloud_init_duration_seconds"},
    {"containerstarttime", "container_start_time"},
    {"containerendtime", "container_end_time"},
    {"containerstartupdurationseconds", "container_duration_seconds"},
    {"totalstartupdurationseconds", "total_startup_seconds"},
    {"createdat", "created_at"},
    {"last_seen_at", "last_seen_at"},
    {"boot_id", "boot_id"},
    {"crd_active", "crd_active"},
    {"disk_free_pct", "disk_free_pct"},
    {"reboot_count", NULL},
    {"last_reboot_time", NULL},
};

//  rows (ours) as upstream's rows (new array).
static json_t *
s_upstream_rows (json_t *rows)
{
    json_t *out = json_array ();
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row)
    {
        json_t *item = json_object ();
        for (size_t c = 0;
             c < sizeof s_upstream_columns / sizeof s_upstream_columns[0];
             c++) {
            json_t *value =
                s_upstream_columns[c].ours
                    ? json_object_get (row, s_upstream_columns[c].ours)
                    : NULL;
            json_object_set_new (item, s_upstream_columns[c].upstream,
                                 value ? json_incref (value) : json_null ());
        }
        json_array_append_new (out, item);
    }
    return out;
}

int
ll_route_export_metrics (ll_http_req_t *req)
{
    char *text = NULL, *error = NULL;
    if (ll_ask_vm_export (&req->client, &text, &error) != 0) {
        free (error);
        return ll_http_error (req, 500, "Failed to export metrics.");
    }
    json_t *rows = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    if (!json_is_array (rows)) {
        json_decref (rows);
        return ll_http_error (req, 500, "Failed to export metrics.");
    }
    char format[16] = "";
    ll_http_query_field (req, "format", format, sizeof format);
    if (streq (format, "csv")) {
        ll_textbuf_t csv = {0};
        size_t ncols = sizeof s_export_columns / sizeof s_export_columns[0];
        for (size_t c = 0; c < ncols; c++) {
            if (c)
                ll_textbuf_putc (&csv, ',');
            ll_textbuf_puts (&csv, s_export_columns[c]);
        }
        ll_textbuf_puts (&csv, "\r\n");
        size_t i;
        json_t *row;
        json_array_foreach (rows, i, row)
        {
            for (size_t c = 0; c < ncols; c++) {
                if (c)
                    ll_textbuf_putc (&csv, ',');
                s_csv_field (&csv, json_object_get (row, s_export_columns[c]));
            }
            ll_textbuf_puts (&csv, "\r\n");
        }
        json_decref (rows);
        int rc = ll_http_send (
            req, 200, "text/csv; charset=utf-8", ll_textbuf_text (&csv),
            csv.len,
            "Content-Disposition: attachment; filename=\"lablink_metrics.csv\""
            "\r\n");
        ll_textbuf_free (&csv);
        return rc;
    }
    if (format[0] && !streq (format, "json") && !streq (format, "upstream")) {
        json_decref (rows);
        return ll_http_error (req, 400,
                              "format must be upstream, json or csv.");
    }
    //  Upstream's logs columns: read logs with /api/vm-logs instead
    char logs[16] = "";
    if (ll_http_query_field (req, "include_logs", logs, sizeof logs) >= 0
        && !streq (logs, "false")) {
        json_decref (rows);
        return ll_http_error (req, 400,
                              "include_logs is not supported: read logs "
                              "with GET /api/vm-logs/<hostname>.");
    }
    //  Without a format: upstream's keys, so its analysis scripts run
    //  unchanged; format=json: this allocator's names (as the CSV)
    if (!streq (format, "json")) {
        json_t *upstream = s_upstream_rows (rows);
        json_decref (rows);
        rows = upstream;
    }
    size_t count = json_array_size (rows);
    return ll_http_json (
        req, 200,
        json_pack ("{s:o, s:I}", "vms", rows, "count", (json_int_t) count));
}

//  --- log posts -----------------------------------------------------------------

//  Take the Lambda's / the agent's fields from obj. 0, or -1 with the 400
//  message in post->error.
static int
s_post_fields (json_t *obj, ll_vm_logs_t *post)
{
    post->group = s_string (obj, "log_group");
    post->host = s_string (obj, "log_stream");
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
        const char *data = s_string (awslogs, "data");
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
        const char *type = s_string (decoded, "messageType");
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

//  LOG-READ; 0 with *status and *rows, or -1 after answering.
static int
s_log_read (ll_http_req_t *req,
            const char *hostname,
            const char *after,
            int limit,
            char **status,
            zframe_t **rows)
{
    char *error = NULL;
    bool not_found = false;
    int call = ll_ask_log_read (&req->client, hostname, after, limit, status,
                                rows, &error);
    if (s_outcome (call, error, &not_found) != 0) {
        if (not_found)
            ll_http_error (req, 404, "VM not found.");
        else
            ll_http_error (req, 500, "Failed to get VM logs.");
        return -1;
    }
    return 0;
}

//  ?after=<id> (digits only) into out; 0, or -1 after 400.
static int
s_after_param (ll_http_req_t *req, char *out, size_t size)
{
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
    if (ll_http_agent_check (req, hostname) != 0)
        return req->status;
    char after[32];
    if (s_after_param (req, after, sizeof after) != 0)
        return 400;
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
    if (s_log_read (req, hostname, after, limit, &status, &rows) != 0)
        return req->status;
    s_touch (req, hostname);
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
    if (ll_http_agent_check (req, hostname) != 0)
        return req->status;
    char after[32];
    if (s_after_param (req, after, sizeof after) != 0)
        return 400;
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
    if (s_log_read (req, hostname, after, after[0] ? S_TAIL_PAGE : 1, &status,
                    &rows)
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
