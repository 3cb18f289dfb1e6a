/*  Telemetry routes (reference 2.4): VM status, GPU health, in-use,
    heartbeat, startup metrics and the metrics export. The log routes are
    http/routes_logs.c.

    Agents call with their own token (ll_http_agent_check on the VM the
    request is about: another VM's token is 403). Reads of every VM are the
    admin's. */
#include "http/routes.h"
#include "runtime/textbuf.h"

#include <math.h>

//  Epoch seconds accepted for start/end times (1970 .. 2100)
#define S_EPOCH_MAX    4102444800.0
#define S_DURATION_MAX 1.0e7

int
ll_route_outcome (int rc, char *error, bool *not_found)
{
    *not_found = rc != 0 && error && streq (error, LL_REASON_NOT_FOUND);
    free (error);
    return rc;
}

void
ll_route_touch (ll_http_req_t *req, const char *hostname)
{
    if (req->is_admin || hostname[0] == '_')
        return;
    char *error = NULL;
    ll_ask_vm_touch (&req->client, hostname, &error);
    free (error);
}

const char *
ll_route_string (json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    const char *s = json_is_string (v) ? json_string_value (v) : NULL;
    return s && *s ? s : NULL;
}

//  --- status, GPU health, in-use, heartbeat --------------------------------

//  A refusal, told after the token check.
static int
s_refuse_checked (ll_agent_body_t *out, const char *error)
{
    out->error = error;
    out->check_first = true;
    return -1;
}

//  ll_agent_body_begin, then out->host from host_key and out->value from
//  value_key (NULL: none): 0, or -1 with missing when one is absent.
static int
s_body_begin (const char *body,
              size_t len,
              ll_agent_body_t *out,
              const char *host_key,
              const char *value_key,
              const char *missing)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    out->host = ll_route_string (out->doc, host_key);
    out->value = value_key ? ll_route_string (out->doc, value_key) : NULL;
    if (!out->host || (value_key && !out->value)) {
        out->error = missing;
        return -1;
    }
    return 0;
}

//  A body field with a fixed set of values, next to "hostname"
typedef struct {
    const char *key;       //  the field
    const char *missing;   //  the 400 when it or the hostname is absent
    const char *valid[6];  //  its values (NULL-terminated)
    const char *invalid;   //  the 400 of any other value (after the check)
} s_choice_t;

//  s_body_begin with "hostname" and the field, whose value must be valid.
static int
s_body_choice (const char *body,
               size_t len,
               ll_agent_body_t *out,
               const s_choice_t *field)
{
    if (s_body_begin (body, len, out, "hostname", field->key, field->missing)
        != 0)
        return -1;
    for (const char *const *v = field->valid; *v; v++)
        if (streq (out->value, *v))
            return 0;
    return s_refuse_checked (out, field->invalid);
}

int
ll_vm_status_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    static const s_choice_t status = {
        "status",
        "Hostname and status are required.",
        {"initializing", "running", "error", "unknown", "rebooting", NULL},
        "Invalid status. Must be one of: initializing, running, error, "
        "unknown, rebooting."};
    return s_body_choice (body, len, out, &status);
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
    ll_route_touch (req, hostname);
    char *status = NULL, *stale = NULL, *error = NULL;
    bool not_found = false;
    int call =
        ll_ask_vm_status_get (&req->client, hostname, &status, &stale, &error);
    if (ll_route_outcome (call, error, &not_found) != 0)
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
    static const s_choice_t gpu = {
        "gpu_status",
        "GPU status and hostname are required.",
        {"Healthy", "Unhealthy", "N/A", NULL},
        "Invalid GPU status. Must be one of: Healthy, Unhealthy, N/A."};
    return s_body_choice (body, len, out, &gpu);
}

int
ll_inuse_status_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (s_body_begin (body, len, out, "hostname", NULL, "Hostname is required.")
        != 0)
        return -1;
    json_t *status = json_object_get (out->doc, "status");
    if (!json_is_boolean (status))
        return s_refuse_checked (out, "Status must be true or false.");
    out->value = json_is_true (status) ? "1" : "0";
    return 0;
}

int
ll_heartbeat_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (s_body_begin (body, len, out, "vm_id", NULL, "vm_id is required.") != 0)
        return -1;
    json_t *boot = json_object_get (out->doc, "boot_id");
    json_t *crd = json_object_get (out->doc, "crd_active");
    json_t *disk = json_object_get (out->doc, "disk_free_pct");
    json_t *stamp = json_object_get (out->doc, "timestamp");
    json_t *waiting = json_object_get (out->doc, "waiting");
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
//  table's order, for every column but pin, crdcommand and the logs.
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
    {"reboot_count", "reboot_count"},
    {"last_reboot_time", "last_reboot_time"},
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
            json_t *value = json_object_get (row, s_upstream_columns[c].ours);
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
