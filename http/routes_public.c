/*  Public routes: health, metrics, the student page and static assets.
    Health tells an anonymous caller only up or down; its details (the
    database's error, uptime) need the admin. Metrics need the Bearer token
    app.metrics_token when one is set (or the admin). */
#include "http/auth.h"
#include "http/routes.h"
#include "runtime/embedded.h"
#include "runtime/metrics.h"

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
    const char *status = rc == 0 ? "healthy" : "unhealthy";
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

//  The fleet gauges, from the registry (the database); database_up 0 and
//  no fleet series when it cannot answer.
static void
s_fleet_metrics (ll_http_req_t *req, ll_textbuf_t *out)
{
    static const char *const statuses[] = {"initializing", "running",   "error",
                                           "unknown",      "rebooting", "none"};
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
    long long count[6] = {0}, assigned = 0, stale = 0, free_vms = 0,
              undelivered = 0;
    char *f[6];
    while (ll_msg_row (rows, "ssssss", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5])
           == 0) {
        int k = 5;  //  "none": no status yet, or one we do not know
        for (int i = 0; i < 5; i++)
            if (streq (f[0], statuses[i]))
                k = i;
        count[k] += strtoll (f[1], NULL, 10);
        assigned += strtoll (f[2], NULL, 10);
        stale += strtoll (f[3], NULL, 10);
        free_vms += strtoll (f[4], NULL, 10);
        undelivered += strtoll (f[5], NULL, 10);
        for (int i = 0; i < 6; i++)
            free (f[i]);
    }
    zmsg_destroy (&rows);
    ll_metrics_family (out, "lablink_vms", "gauge",
                       "Client VMs by the status they reported.");
    for (int i = 0; i < 6; i++)
        ll_textbuf_printf (out, "lablink_vms{status=\"%s\"} %lld\n",
                           statuses[i], count[i]);
    ll_metrics_family (out, "lablink_vms_assigned", "gauge",
                       "VMs held by a student.");
    ll_textbuf_printf (out, "lablink_vms_assigned %lld\n", assigned);
    ll_metrics_family (out, "lablink_vms_stale", "gauge",
                       "VMs silent for longer than agent.stale_after_s.");
    ll_textbuf_printf (out, "lablink_vms_stale %lld\n", stale);
    ll_metrics_family (out, "lablink_vms_free", "gauge",
                       "VMs a student's claim would get now.");
    ll_textbuf_printf (out, "lablink_vms_free %lld\n", free_vms);
    ll_metrics_family (out, "lablink_vms_undelivered", "gauge",
                       "Assignments the VM has not acknowledged yet.");
    ll_textbuf_printf (out, "lablink_vms_undelivered %lld\n", undelivered);
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
    char *text = ll_http_server_metrics (req->server);
    ll_textbuf_t buf = {0};
    ll_textbuf_puts (&buf, text);
    free (text);
    s_fleet_metrics (req, &buf);
    int rc = ll_http_send (req, 200, "text/plain; version=0.0.4; charset=utf-8",
                           ll_textbuf_text (&buf), buf.len, NULL);
    ll_textbuf_free (&buf);
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
