/*  Running a class from the console (issue 16): upstream's reboot API
    (reference 2.6: POST /api/reboot-vm, GET /api/reboot-vm/<hostname>) and
    the instances page's bulk actions. Reboots, replacements and destroys
    are operations of the terraform actor (one at a time, audited, followed
    live on /api/operations/<id>/events); a release is immediate. */
#include "http/routes.h"
#include "http/sse.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/release.h"
#include "runtime/token.h"


//  Who is acting, for operations.created_by and the audit log.
static const char *
s_who (ll_http_req_t *req)
{
    return *req->actor
               ? req->actor
               : ll_http_server_runtime (req->server)->config->app.admin_user;
}

static bool
s_hostname_valid (const char *host)
{
    return host && ll_token_scope_valid (host) && host[0] != '_';
}

int
ll_route_reboot_vm (ll_http_req_t *req)
{
    json_t *body = ll_http_json_body (req);
    if (!body)
        return req->status;
    json_t *value = json_object_get (body, "hostname");
    const char *host = json_is_string (value) ? json_string_value (value) : "";
    int rc;
    if (!*host)
        rc = ll_http_error (req, 400, "Hostname is required.");
    else if (!s_hostname_valid (host))
        rc = ll_http_error (req, 400, "Invalid hostname.");
    else {
        const char *hosts[] = {host, NULL};
        char *id = NULL, *error = NULL;
        if (ll_ask_vm_operation (&req->client, LL_CMD_REBOOT_VM, hosts,
                                 s_who (req), &id, &error)
            == 0) {
            char message[320];
            snprintf (message, sizeof message, "Reboot initiated for VM '%s'.",
                      host);
            rc = ll_http_json (
                req, 200,
                json_pack ("{s:s, s:I}", "message", message, "operation_id",
                           (json_int_t) (id ? strtoll (id, NULL, 10) : 0)));
            free (id);
        }
        else if (error && strncmp (error, LL_REASON_UNKNOWN_VM, 10) == 0)
            rc = ll_http_error (req, 404, "VM not found.");
        else if (error && strncmp (error, "busy ", 5) == 0) {
            json_int_t busy = strtoll (error + 5, NULL, 10);
            char message[128];
            snprintf (message, sizeof message,
                      "Another operation is running (operation %lld).",
                      (long long) busy);
            rc = ll_http_json (req, 409,
                               json_pack ("{s:s, s:I}", "error", message,
                                          "operation_id", busy));
        }
        else {
            ll_warn ("http: reboot of %s not started: %s", host,
                     error ? error : "no answer");
            rc = ll_http_error (req, 500, "Failed to initiate reboot.");
        }
        free (error);
    }
    json_decref (body);
    return rc;
}

//  One VM as the admin actor sees it (ADMIN-VMS host): a new JSON object,
//  NULL when there is no such VM, or NULL after answering 503 (*failed).
static json_t *
s_vm_get (ll_http_req_t *req, const char *host, bool *failed)
{
    *failed = false;
    char *text = NULL, *error = NULL;
    ll_ask_admin_vms (&req->client, host, &text, &error);
    text = ll_http_answer_text (req, text, error, "Database unavailable.");
    if (!text) {
        *failed = true;
        return NULL;
    }
    json_t *list = json_loads (text, 0, NULL);
    free (text);
    json_t *vm = json_array_get (list, 0);
    json_incref (vm);
    json_decref (list);
    return vm;
}

int
ll_route_reboot_info (ll_http_req_t *req)
{
    const char *host = req->params[0];
    if (!s_hostname_valid (host))
        return ll_http_error (req, 400, "Invalid hostname.");
    bool failed;
    json_t *vm = s_vm_get (req, host, &failed);
    if (failed)
        return req->status;
    if (!vm)
        return ll_http_error (req, 404, "VM not found.");
    json_t *count = json_object_get (vm, "reboot_count");
    json_t *last = json_object_get (vm, "last_reboot_time");
    json_t *out = json_pack ("{s:s, s:O, s:O}", "hostname", host,
                             "reboot_count", count ? count : json_integer (0),
                             "last_reboot_time", last ? last : json_null ());
    json_decref (vm);
    return ll_http_json (req, 200, out);
}

//  --- bulk actions --------------------------------------------------------

#define S_BULK_ACTIONS "reboot, replace, destroy, release"

//  release each host (VM-RELEASE): 200 with what was released and what
//  was not found; 503 when none could be asked.
static int
s_bulk_release (ll_http_req_t *req, json_t *hosts, const char *const *names)
{
    char actor[300];
    snprintf (actor, sizeof actor, "admin:%s", s_who (req));
    ll_release_t release;
    ll_release_vms (&release, &req->client, &req->client, names, actor, 0);
    size_t failed = 0, i;
    json_t *h;
    json_t *released = json_array (), *missing = json_array ();
    json_array_foreach (hosts, i, h)
    {
        const ll_release_vm_t *vm = &release.vms[i];
        if (vm->rc == 0)
            json_array_append (released, h);
        else if (vm->error && streq (vm->error, LL_REASON_NOT_FOUND))
            json_array_append (missing, h);
        else
            failed++;
    }
    if (failed == json_array_size (hosts)) {
        ll_release_free (&release);
        json_decref (released);
        json_decref (missing);
        return ll_http_error (req, 503,
                              "Cannot release now: database unavailable.");
    }
    //  claim.on_release: destroy: the released VMs are replaced, in one
    //  operation (until then they stay out of the pool)
    size_t n_replace = release.replaced;
    json_int_t replace_op = 0;
    if (release.operation_id)
        replace_op = strtoll (release.operation_id, NULL, 10);
    else if (n_replace > 0)
        ll_warn ("http: released VMs not replaced (%s): they stay out of "
                 "the pool until replaced",
                 release.operation_error ? release.operation_error
                                         : "no answer");
    ll_release_free (&release);
    char message[96];
    snprintf (message, sizeof message, "%zu VM%s released.",
              json_array_size (released),
              json_array_size (released) == 1 ? "" : "s");
    json_t *answer = json_pack ("{s:s, s:o, s:o, s:I}", "message", message,
                                "released", released, "not_found", missing,
                                "failed", (json_int_t) failed);
    if (n_replace > 0)  //  0: asked but not started (stay withheld)
        json_object_set_new (answer, "replace_operation_id",
                             json_integer (replace_op));
    return ll_http_json (req, 200, answer);
}

//  REBOOT-VM, REPLACE-VM or DESTROY-VM of names: an operation (202).
static int
s_bulk_operation (ll_http_req_t *req,
                  const char *a,
                  const char *command,
                  json_t *hosts,
                  const char *const *names)
{
    char title[64];
    snprintf (title, sizeof title, "%c%s %zu VMs", a[0] - 'a' + 'A', a + 1,
              json_array_size (hosts));
    return ll_operation_vms (req, title, command, names, s_who (req));
}

int
ll_route_vms_bulk (ll_http_req_t *req)
{
    json_t *body = ll_http_json_body (req);
    if (!body)
        return req->status;
    json_t *action = json_object_get (body, "action");
    json_t *hosts = json_object_get (body, "hostnames");
    const char *a = json_is_string (action) ? json_string_value (action) : "";
    const char *command = streq (a, "reboot")    ? LL_CMD_REBOOT_VM
                          : streq (a, "replace") ? LL_CMD_REPLACE_VM
                          : streq (a, "destroy") ? LL_CMD_DESTROY_VM
                                                 : NULL;
    int rc;
    size_t i;
    json_t *h;
    bool valid = json_is_array (hosts) && json_array_size (hosts) > 0;
    json_array_foreach (hosts, i, h) valid =
        valid && json_is_string (h) && s_hostname_valid (json_string_value (h));
    if (!command && !streq (a, "release"))
        rc = ll_http_error (req, 400,
                            "action must be one of: " S_BULK_ACTIONS ".");
    else if (!valid)
        rc = ll_http_error (req, 400,
                            "hostnames must be a non-empty list of hostnames.");
    else if (json_array_size (hosts) > LL_BULK_MAX) {
        char message[64];
        snprintf (message, sizeof message, "At most %d VMs at once.",
                  LL_BULK_MAX);
        rc = ll_http_error (req, 400, message);
    }
    else {
        const char *names[LL_BULK_MAX + 1] = {NULL};
        for (i = 0; i < json_array_size (hosts); i++)
            names[i] = json_string_value (json_array_get (hosts, i));
        rc = command ? s_bulk_operation (req, a, command, hosts, names)
                     : s_bulk_release (req, hosts, names);
    }
    json_decref (body);
    return rc;
}

//  --- the dashboard -------------------------------------------------------

#define S_DASH_POLL_MS 2000  //  figures re-read at least this often
#define S_DASH_MAX_S   3600  //  one stream's longest life (it reconnects)

//  The scheduler's DASHBOARD figures (new string), or NULL.
static char *
s_dashboard (ll_http_req_t *req)
{
    char *text = NULL, *error = NULL;
    if (ll_ask_dashboard (&req->client, &text, &error) != 0)
        ll_warn ("http: dashboard: %s", error);
    free (error);
    return text;
}

int
ll_route_dashboard (ll_http_req_t *req)
{
    char *text = s_dashboard (req);
    json_t *body = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    if (!body)
        return ll_http_error (req, 503, "The dashboard is unavailable now.");
    return ll_http_json (req, 200, body);
}

//  Server-Sent Events: "dashboard" with the figures whenever they change
//  (read every 2 s, and at once when an operation here reports progress),
//  a keep-alive comment every second otherwise.
int
ll_route_dashboard_events (ll_http_req_t *req)
{
    char *text = s_dashboard (req);
    if (!text)
        return ll_http_error (req, 503, "The dashboard is unavailable now.");
    //  Within the socket budget, as every stream's subscription: a failure
    //  is logged and counted in /metrics (never an abort), and the figures
    //  are then read every second
    void *sub =
        ll_http_subscribe (req, LL_ENDPOINT_OPERATIONS, LL_OP_TOPIC_PREFIX);
    if (sub)
        zsock_set_rcvtimeo (sub, 1000);
    bool alive = ll_sse_begin (req) == 0
                 && ll_sse_event_text (req, "dashboard", -1, text);
    int64_t poll_at = ll_now_ms () + S_DASH_POLL_MS;
    int64_t end_at = ll_now_ms () + (int64_t) S_DASH_MAX_S * 1000;
    while (alive && !ll_http_stopping (req) && ll_now_ms () < end_at) {
        bool changed = false;
        zmsg_t *msg = sub ? zmsg_recv (sub) : NULL;
        if (!sub)
            zclock_sleep (1000);
        if (msg) {
            //  progress or an end: read the figures now
            changed = true;
            zmsg_destroy (&msg);
            while (zsock_events (sub) & ZMQ_POLLIN) {
                msg = zmsg_recv (sub);
                zmsg_destroy (&msg);
            }
        }
        else
            alive = ll_sse_comment (req, "keep-alive");
        if (alive && (changed || ll_now_ms () >= poll_at)) {
            char *fresh = s_dashboard (req);
            if (fresh && strcmp (fresh, text) != 0) {
                alive = ll_sse_event_text (req, "dashboard", -1, fresh);
                free (text);
                text = fresh;
            }
            else
                free (fresh);
            poll_at = ll_now_ms () + S_DASH_POLL_MS;
        }
    }
    free (text);
    ll_socket_close (&sub);
    return 200;
}
