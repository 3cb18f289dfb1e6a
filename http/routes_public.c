/*  Public routes: health, metrics, the student page and static assets. */
#include "http/routes.h"
#include "runtime/embedded.h"

int
ll_route_health (ll_http_req_t *req)
{
    char *error = NULL;
    int rc = ll_ask_health (&req->client, &error);
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    double uptime = (double) (ll_now_ms () - runtime->started_ms) / 1000.0;
    json_t *checks = json_object ();
    if (rc == 0)
        json_object_set_new (checks, "database", json_string ("ok"));
    else {
        char text[600];
        snprintf (text, sizeof text, "unavailable: %s", error);
        json_object_set_new (checks, "database", json_string (text));
    }
    free (error);
    json_t *body = json_pack ("{s:s, s:o, s:f}", "status",
                              rc == 0 ? "healthy" : "unhealthy", "checks",
                              checks, "uptime_seconds", uptime);
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
             "# HELP lablink_fleet_vm_hours VM-hours of the current fleet so "
             "far.\n"
             "# TYPE lablink_fleet_vm_hours gauge\n"
             "lablink_fleet_vm_hours %.4f\n"
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
             json_number_value (json_object_get (cost, "vm_hours")),
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

int
ll_route_metrics (ll_http_req_t *req)
{
    char *text = ll_http_server_metrics (req->server);
    char *fleet = s_fleet_gauges (req);
    if (fleet) {
        size_t a = strlen (text), b = strlen (fleet);
        text = realloc (text, a + b + 1);
        memcpy (text + a, fleet, b + 1);
        free (fleet);
    }
    int rc = ll_http_send (req, 200, "text/plain; version=0.0.4", text,
                           strlen (text), NULL);
    free (text);
    return rc;
}

static const char *
s_content_type (const char *name)
{
    const char *dot = strrchr (name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp (dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp (dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp (dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp (dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp (dot, ".png") == 0)
        return "image/png";
    if (strcmp (dot, ".ico") == 0)
        return "image/x-icon";
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
