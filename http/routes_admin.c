/*  The admin console: login and logout, the admin pages (reference section
    9) and their JSON forms (Accept: application/json). The pages are
    templates in http/assets/admin*.html with their behaviour in
    http/assets/admin*.js; they call the JSON APIs of the other areas
    (operations, VM status and logs, export, release). */
#include "http/auth.h"
#include "http/page.h"
#include "http/routes.h"
#include "runtime/log.h"

#include <sodium.h>

#define S_AUDIT_PAGE 200  //  entries per audit page

//  The outcome of a call to the admin actor (rc, error taken): 0, or -1
//  (logged).
static int
s_admin_done (const char *command, int rc, char *error)
{
    if (rc != 0)
        ll_warn ("http: admin %s failed: %s", command, error);
    free (error);
    return rc;
}

//  The value a call to the admin actor answered (rc, value and error
//  taken), or NULL after answering 503 (logged).
static char *
s_admin_value (
    ll_http_req_t *req, const char *command, int rc, char *value, char *error)
{
    if (s_admin_done (command, rc, error) == 0)
        return value;
    ll_http_error (req, 503, "Database unavailable.");
    return NULL;
}

//  Send an admin page (content template in the shared layout).
static int
s_admin_page (ll_http_req_t *req,
              int status,
              const char *template_name,
              const char *title,
              const char *nav,
              const char *script,
              const char *const *extra)
{
    const ll_admin_page_t page = {template_name, title, nav, script, true};
    return ll_http_admin_page (req, status, &page, extra);
}

//  --- login and logout ---------------------------------------------------

static const char *
s_next_or_default (const char *next)
{
    return ll_safe_next (next) ? next : "/admin";
}

int
ll_route_admin_login_page (ll_http_req_t *req)
{
    char next[600] = "", out[16] = "";
    ll_http_query_field (req, "next", next, sizeof next);
    ll_http_query_field (req, "logged_out", out, sizeof out);
    const char *vars[] = {"next",    s_next_or_default (next),
                          "message", *out ? "You have been logged out." : "",
                          "error",   "",
                          NULL};
    return ll_http_page (req, 200, "admin-login.html", vars);
}

static int
s_login_refused (ll_http_req_t *req,
                 int status,
                 const char *message,
                 const char *next,
                 const char *headers)
{
    if (ll_http_wants_json (req))
        return ll_http_error_with (req, status, message, headers);
    const char *vars[] = {"next", next, "error", message, NULL};
    return ll_http_page_with (req, status, "admin-login.html", vars, headers);
}

int
ll_route_admin_login (ll_http_req_t *req)
{
    char user[64] = "", password[512] = "", next_raw[600] = "";
    ll_http_form_field (req, "next", next_raw, sizeof next_raw);
    const char *next = s_next_or_default (next_raw);
    //  Login CSRF: only our own login page may post here
    const char *site = ll_http_header (req, "Sec-Fetch-Site");
    if ((site && strcmp (site, "same-origin") != 0
         && strcmp (site, "none") != 0)
        || !ll_same_origin (ll_http_header (req, "Origin"),
                            ll_http_header (req, "Host")))
        return s_login_refused (req, 403, "Cross-site login refused.", next,
                                NULL);
    int retry = 0;
    if (ll_http_login_throttled (req, &retry)) {
        char headers[64], message[128];
        snprintf (headers, sizeof headers, "Retry-After: %d\r\n", retry);
        snprintf (message, sizeof message,
                  "Too many failed logins. Try again in %d s.", retry);
        ll_http_audit (req, "login", NULL, "throttled", req->address);
        return s_login_refused (req, 429, message, next, headers);
    }
    bool ok =
        ll_http_form_field (req, "username", user, sizeof user) > 0
        && ll_http_form_field (req, "password", password, sizeof password) > 0
        && ll_admin_auth_verify (ll_http_server_auth (req->server), user,
                                 password);
    sodium_memzero (password, sizeof password);
    ll_http_login_result (req, ok);
    if (!ok) {
        snprintf (req->actor, sizeof req->actor, "%s", *user ? user : "?");
        ll_http_audit (req, "login", NULL, "failure", req->address);
        return s_login_refused (req, 401, "Invalid user name or password.",
                                next, NULL);
    }
    char id[LL_SESSION_ID_HEX + 1], hash[LL_SESSION_HASH_HEX + 1];
    ll_session_new (id, hash);
    snprintf (req->actor, sizeof req->actor, "%s", user);
    char *error = NULL;
    int rc =
        ll_ask_session_new (&req->client, hash, user, req->address, &error);
    if (s_admin_done (LL_CMD_SESSION_NEW, rc, error) != 0) {
        sodium_memzero (id, sizeof id);
        return ll_http_error (req, 503, "Database unavailable.");
    }
    ll_http_audit (req, "login", NULL, "success", req->address);
    bool secure = ll_http_behind_tls (req);
    char headers[1024];
    snprintf (headers, sizeof headers,
              "Set-Cookie: " LL_SESSION_COOKIE
              "=%s; Path=/; HttpOnly; SameSite=Strict%s\r\n"
              "%s%s%s",
              id, secure ? "; Secure" : "",
              ll_http_wants_json (req) ? "" : "Location: ",
              ll_http_wants_json (req) ? "" : next,
              ll_http_wants_json (req) ? "" : "\r\n");
    sodium_memzero (id, sizeof id);
    if (ll_http_wants_json (req)) {
        static const char body[] = "{\"status\":\"ok\"}";
        rc = ll_http_send (req, 200, "application/json", body, sizeof body - 1,
                           headers);
    }
    else
        rc = ll_http_send (req, 303, "text/plain; charset=utf-8", "", 0,
                           headers);
    sodium_memzero (headers, sizeof headers);
    return rc;
}

int
ll_route_admin_logout (ll_http_req_t *req)
{
    if (*req->session_hash) {
        char *error = NULL;
        int rc = ll_ask_session_end (&req->client, req->session_hash, &error);
        if (s_admin_done (LL_CMD_SESSION_END, rc, error) != 0)
            return ll_http_error (req, 503, "Database unavailable.");
    }
    static const char clear[] =
        "Set-Cookie: " LL_SESSION_COOKIE
        "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\r\n";
    if (ll_http_wants_json (req)) {
        static const char body[] = "{\"status\":\"logged out\"}";
        return ll_http_send (req, 200, "application/json", body,
                             sizeof body - 1, clear);
    }
    char headers[256];
    snprintf (headers, sizeof headers,
              "%sLocation: /admin/login?logged_out=1\r\n", clear);
    return ll_http_send (req, 303, "text/plain; charset=utf-8", "", 0, headers);
}

//  --- pages ----------------------------------------------------------------

int
ll_route_admin (ll_http_req_t *req)
{
    if (ll_http_wants_json (req))
        return ll_http_json (
            req, 200,
            json_pack ("{s:s, s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},"
                       "{s:s,s:s}]}",
                       "user", req->actor, "dashboard", "/api/dashboard",
                       "pages", "href", "/admin/instances", "title",
                       "View Current Instances", "href", "/admin/create",
                       "title", "Create New VM Instance", "href",
                       "/admin/instances/delete", "title",
                       "Extract or Delete VM Data", "href",
                       "/admin/scheduled-destruction", "title",
                       "Schedule Destructions", "href", "/admin/audit", "title",
                       "Audit Log"));
    return s_admin_page (req, 200, "admin.html", "LabLink Admin Panel",
                         "dashboard", "admin-dashboard.js admin-claims.js",
                         NULL);
}

int
ll_route_admin_create (ll_http_req_t *req)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    if (ll_http_wants_json (req))
        return ll_http_json (req, 200,
                             json_pack ("{s:s, s:i}", "launch", "/api/launch",
                                        "max_vms", config->app.max_vms));
    char max[16];
    snprintf (max, sizeof max, "%d", config->app.max_vms);
    const char *extra[] = {"max_vms", max, NULL};
    return s_admin_page (req, 200, "admin-create.html",
                         "VM Allocator Dashboard", "create", "admin-create.js",
                         extra);
}

//  A list the admin actor answered (JSON text, taken): {"count", key: the
//  list} for a JSON client, else page with the text as {{key}}.
static int
s_list_or_page (ll_http_req_t *req,
                const char *key,
                char *text,
                const ll_admin_page_t *page)
{
    int rc;
    if (ll_http_wants_json (req)) {
        json_t *list = json_loads (text, 0, NULL);
        if (!json_is_array (list)) {
            json_decref (list);
            list = json_array ();
        }
        rc = ll_http_json (req, 200,
                           json_pack ("{s:i, s:o}", "count",
                                      (int) json_array_size (list), key, list));
    }
    else {
        const char *extra[] = {key, text, NULL};
        rc = ll_http_admin_page (req, 200, page, extra);
    }
    free (text);
    return rc;
}

int
ll_route_admin_instances (ll_http_req_t *req)
{
    char *vms = NULL, *error = NULL;
    int call = ll_ask_admin_vms (&req->client, NULL, &vms, &error);
    vms = s_admin_value (req, LL_CMD_ADMIN_VMS, call, vms, error);
    if (!vms)
        return req->status;
    const ll_admin_page_t page = {"admin-instances.html", "VM Instances",
                                  "instances", "admin-instances.js", true};
    return s_list_or_page (req, "vms", vms, &page);
}

int
ll_route_admin_delete (ll_http_req_t *req)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    if (ll_http_wants_json (req))
        return ll_http_json (req, 200,
                             json_pack ("{s:s, s:s, s:s}", "extension",
                                        config->machine.extension, "destroy",
                                        "/destroy", "export",
                                        "/api/scp-client"));
    const char *extra[] = {"extension", config->machine.extension, NULL};
    return s_admin_page (req, 200, "admin-delete.html", "Delete Instances",
                         "delete", "admin-delete.js", extra);
}

int
ll_route_admin_logs (ll_http_req_t *req)
{
    const char *hostname = req->params[0];
    if (strlen (hostname) > 253)
        return ll_http_error (req, 404, "VM not found.");
    char *exists = NULL, *error = NULL;
    int call = ll_ask_admin_vm_exists (&req->client, hostname, &exists, &error);
    exists = s_admin_value (req, LL_CMD_ADMIN_VM_EXISTS, call, exists, error);
    if (!exists)
        return req->status;
    bool found = strcmp (exists, "1") == 0;
    free (exists);
    if (!found)
        return ll_http_error (req, 404, "VM not found.");
    if (ll_http_wants_json (req)) {
        size_t size = strlen (hostname) * 3 + 1;
        char *encoded = malloc (size);
        mg_url_encode (hostname, encoded, size);
        char logs[1024];
        snprintf (logs, sizeof logs, "/api/vm-logs/%s", encoded);
        free (encoded);
        return ll_http_json (
            req, 200,
            json_pack ("{s:s, s:s}", "hostname", hostname, "logs", logs));
    }
    char title[300];
    snprintf (title, sizeof title, "VM Logs - %s", hostname);
    const char *extra[] = {"hostname", hostname, NULL};
    return s_admin_page (req, 200, "admin-logs.html", title, "instances",
                         "admin-logs.js", extra);
}

int
ll_route_admin_audit (ll_http_req_t *req)
{
    char before[24] = "0", limit[16];
    if (ll_http_query_field (req, "before", before, sizeof before) < 0)
        snprintf (before, sizeof before, "0");
    char *end = NULL;
    long long id = strtoll (before, &end, 10);
    if (!end || *end || id < 0)
        return ll_http_error (req, 400, "before must be an entry id.");
    snprintf (limit, sizeof limit, "%d", S_AUDIT_PAGE);
    char *entries = NULL, *error = NULL;
    int call =
        ll_ask_audit_list (&req->client, limit, before, &entries, &error);
    entries = s_admin_value (req, LL_CMD_AUDIT_LIST, call, entries, error);
    if (!entries)
        return req->status;
    const ll_admin_page_t page = {"admin-audit.html", "Audit Log", "audit",
                                  "admin-audit.js", true};
    return s_list_or_page (req, "entries", entries, &page);
}
