/*  Public routes: health, metrics, the student page and static assets.
    Health tells an anonymous caller only its status (healthy, starting,
    unhealthy); its details (the database's error, the actors still
    connecting, uptime) need the admin. Metrics need the Bearer token
    app.metrics_token when one is set (or the admin). */
#include "http/auth.h"
#include "http/routes.h"
#include "runtime/actor.h"
#include "runtime/embedded.h"
#include "runtime/metrics.h"

static void
s_add_name (const char *name, void *arg)
{
    json_array_append_new (arg, json_string (name));
}

//  Health asks the registry, which answers once its first connection
//  ended: until then (the process has just started) it says "starting"
//  without asking, and the admin sees who still connects.
int
ll_route_health (ll_http_req_t *req)
{
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    json_t *connecting = json_array ();
    ll_actor_connecting (runtime->first_connects, s_add_name, connecting);
    bool registry = false;
    for (size_t i = 0; i < json_array_size (connecting); i++)
        registry |= streq (json_string_value (json_array_get (connecting, i)),
                           "registry");
    char *error = NULL;
    int rc = registry ? 0 : ll_ask_health (&req->client, &error);
    double uptime = (double) (ll_now_ms () - runtime->started_ms) / 1000.0;
    json_t *checks = json_object ();
    if (registry)
        json_object_set_new (checks, "database", json_string ("connecting"));
    else if (rc == 0)
        json_object_set_new (checks, "database", json_string ("ok"));
    else {
        char text[600];
        snprintf (text, sizeof text, "unavailable: %s", error);
        json_object_set_new (checks, "database", json_string (text));
    }
    free (error);
    const char *status = rc != 0                        ? "unhealthy"
                         : json_array_size (connecting) ? "starting"
                                                        : "healthy";
    if (json_array_size (connecting))
        json_object_set_new (checks, "connecting", connecting);
    else
        json_decref (connecting);
    json_t *body;
    if (ll_http_try_admin (req))
        body = json_pack ("{s:s, s:o, s:f}", "status", status, "checks", checks,
                          "uptime_seconds", uptime);
    else {
        json_decref (checks);
        body = json_pack ("{s:s}", "status", status);
    }
    return ll_http_json (req, rc == 0 ? 200 : 503, body);
}

//  The dashboard's figures as gauges (issue 16): the same numbers the
//  console shows. Nothing when the scheduler cannot answer now.
static char *
s_fleet_gauges (ll_http_req_t *req)
{
    char *text = NULL, *error = NULL;
    ll_ask_dashboard (&req->client, &text, &error);
    free (error);
    json_t *d = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    if (!d)
        return NULL;
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&out, &size);
    fputs ("# HELP lablink_fleet_vms VMs by console state.\n"
           "# TYPE lablink_fleet_vms gauge\n",
           f);
    const char *state;
    json_t *n;
    json_object_foreach (json_object_get (d, "counts"), state, n)
        fprintf (f, "lablink_fleet_vms{state=\"%s\"} %lld\n", state,
                 (long long) json_integer_value (n));
    json_t *cost = json_object_get (d, "cost");
    json_t *budget = json_object_get (d, "budget");
    fprintf (f,
             "# HELP lablink_fleet_vm_seconds VM-seconds of the current fleet "
             "so far.\n"
             "# TYPE lablink_fleet_vm_seconds gauge\n"
             "lablink_fleet_vm_seconds %.0f\n"
             "# HELP lablink_fleet_cost_usd Estimated cost of the current "
             "fleet so far (machine.hourly_usd).\n"
             "# TYPE lablink_fleet_cost_usd gauge\n"
             "lablink_fleet_cost_usd %.4f\n"
             "# HELP lablink_fleet_cost_per_hour_usd Estimated cost per hour "
             "of the fleet now.\n"
             "# TYPE lablink_fleet_cost_per_hour_usd gauge\n"
             "lablink_fleet_cost_per_hour_usd %.4f\n"
             "# HELP lablink_budget_used_ratio Share of the budget used (0 "
             "when no budget is set).\n"
             "# TYPE lablink_budget_used_ratio gauge\n"
             "lablink_budget_used_ratio %.4f\n",
             json_number_value (json_object_get (cost, "vm_hours")) * 3600.0,
             json_number_value (json_object_get (cost, "so_far_usd")),
             json_number_value (json_object_get (cost, "per_hour_usd")),
             json_number_value (json_object_get (budget, "used_ratio")));
    json_t *op = json_object_get (d, "operation");
    fprintf (f,
             "# HELP lablink_operation_running An operation runs (1) or not "
             "(0).\n"
             "# TYPE lablink_operation_running gauge\n"
             "lablink_operation_running %d\n",
             json_is_object (op) ? 1 : 0);
    json_t *schedule = json_object_get (d, "schedule");
    if (json_is_object (schedule))
        fprintf (f,
                 "# HELP lablink_schedule_seconds_left Seconds until the next "
                 "scheduled teardown.\n"
                 "# TYPE lablink_schedule_seconds_left gauge\n"
                 "lablink_schedule_seconds_left %lld\n",
                 (long long) json_integer_value (
                     json_object_get (schedule, "seconds_left")));
    fprintf (f,
             "# HELP lablink_attention_vms VMs that need a look.\n"
             "# TYPE lablink_attention_vms gauge\n"
             "lablink_attention_vms %zu\n",
             json_array_size (json_object_get (d, "attention")));
    fclose (f);
    json_decref (d);
    return out;
}

//  The fleet gauges, from the registry (the database); database_up 0 and
//  no fleet series when it cannot answer.
static void
s_fleet_metrics (ll_http_req_t *req, ll_textbuf_t *out)
{
    static const char *const statuses[] = {"initializing", "running",   "error",
                                           "unknown",      "rebooting", "none"};
    //  The row's columns 2 to 5, summed over the rows: a gauge each
    static const char *const sums[][2] = {
        {"lablink_vms_assigned", "VMs held by a student."},
        {"lablink_vms_stale",
         "VMs silent for longer than agent.stale_after_s."},
        {"lablink_vms_free", "VMs a student's claim would get now."},
        {"lablink_vms_undelivered",
         "Assignments the VM has not acknowledged yet."},
    };
    zmsg_t *rows = NULL;
    char *end = NULL, *error = NULL;
    int rc = ll_ask_vm_fleet (&req->client, &end, &rows, &error);
    free (error);
    ll_metrics_family (out, "lablink_database_up", "gauge",
                       "1 when the allocator's PostgreSQL answered this "
                       "scrape.");
    ll_textbuf_printf (out, "lablink_database_up %d\n", rc == 0 ? 1 : 0);
    if (rc != 0)
        return;
    long long count[6] = {0}, total[4] = {0};
    char *f[6];
    while (ll_msg_row (rows, "ssssss", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5])
           == 0) {
        int k = 5;  //  "none": no status yet, or one we do not know
        for (int i = 0; i < 5; i++)
            if (streq (f[0], statuses[i]))
                k = i;
        count[k] += strtoll (f[1], NULL, 10);
        for (int i = 0; i < 4; i++)
            total[i] += strtoll (f[i + 2], NULL, 10);
        for (int i = 0; i < 6; i++)
            free (f[i]);
    }
    zmsg_destroy (&rows);
    ll_metrics_family (out, "lablink_vms", "gauge",
                       "Client VMs by the status they reported.");
    for (int i = 0; i < 6; i++)
        ll_textbuf_printf (out, "lablink_vms{status=\"%s\"} %lld\n",
                           statuses[i], count[i]);
    for (int i = 0; i < 4; i++) {
        ll_metrics_family (out, sums[i][0], "gauge", sums[i][1]);
        ll_textbuf_printf (out, "%s %lld\n", sums[i][0], total[i]);
    }
    if (end && *end) {
        ll_metrics_family (out, "lablink_fleet_scheduled_end_timestamp_seconds",
                           "gauge",
                           "When the fleet is due to be destroyed "
                           "(settings.fleet_scheduled_end).");
        ll_textbuf_printf (out,
                           "lablink_fleet_scheduled_end_timestamp_seconds "
                           "%lld\n",
                           strtoll (end, NULL, 10));
    }
    free (end);
}

int
ll_route_metrics (ll_http_req_t *req)
{
    const char *token =
        ll_http_server_runtime (req->server)->config->app.metrics_token;
    if (*token) {
        const char *auth = ll_http_header (req, "Authorization");
        bool bearer = auth && strncasecmp (auth, "Bearer ", 7) == 0
                      && ll_auth_equal (auth + 7, token);
        if (!bearer && !ll_http_try_admin (req)) {
            static const char body[] =
                "{\"error\":\"Metrics need the Bearer token "
                "(app.metrics_token).\"}";
            return ll_http_send (
                req, 401, "application/json", body, sizeof body - 1,
                "WWW-Authenticate: Bearer realm=\"metrics\"\r\n");
        }
    }
    //  Scraped most when things go wrong: without a socket for the actors
    //  (descriptors exhausted) the fleet parts are left out, the counters
    //  (lablink_http_socket_failures_total among them) still answer
    req->degrade_busy = true;
    char *text = ll_http_server_metrics (req->server);
    ll_textbuf_t buf = {0};
    ll_textbuf_puts (&buf, text);
    char *fleet = s_fleet_gauges (req);
    if (fleet)
        ll_textbuf_puts (&buf, fleet);
    free (fleet);
    free (text);
    s_fleet_metrics (req, &buf);
    int rc = ll_http_send (req, 200, "text/plain; version=0.0.4; charset=utf-8",
                           ll_textbuf_text (&buf), buf.len, NULL);
    ll_textbuf_free (&buf);
    return rc;
}

//  The content types of the assets, by file extension.
static const char *const s_types[][2] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
};

static const char *
s_content_type (const char *name)
{
    const char *dot = strrchr (name, '.');
    for (size_t i = 0; dot && i < sizeof s_types / sizeof s_types[0]; i++)
        if (strcmp (dot, s_types[i][0]) == 0)
            return s_types[i][1];
    return "application/octet-stream";
}

int
ll_http_send_asset (ll_http_req_t *req, const char *name)
{
    const ll_embedded_t *asset = ll_embedded_find (ll_web_assets, name);
    if (!asset)
        return ll_http_error (req, 404, "Not found.");
    return ll_http_send (req, 200, s_content_type (name), asset->data,
                         asset->size, NULL);
}

int
ll_route_index (ll_http_req_t *req)
{
    return ll_http_send_asset (req, "index.html");
}

int
ll_route_static (ll_http_req_t *req)
{
    //  Only files at the top of the assets folder: no "..", no sub-paths
    const char *name = req->params[0];
    if (!name || strchr (name, '/') || strstr (name, ".."))
        return ll_http_error (req, 404, "Not found.");
    return ll_http_send_asset (req, name);
}
