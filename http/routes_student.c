/*  The student side (reference 2.4, 2.6, 9): the request page, claims, the
    available count, and the admin's release of a VM back to the pool.
    Errors are rendered into the index page with a truthful status code
    (JSON {"error": ...} when the client asks for application/json). */
#include "http/page.h"
#include "http/routes.h"
#include "runtime/crd.h"
#include "runtime/metrics.h"
#include "runtime/token.h"

#include <sodium.h>

#define LL_EMAIL_MAX      LL_CLAIM_EMAIL_MAX
#define LL_NO_VMS_RETRY_S 10

#define LL_MSG_REQUIRED  "Email and CRD command are required."
#define LL_MSG_BAD_EMAIL "Invalid email address. Please check it and try again."
#define LL_MSG_BAD_CRD                                                         \
    "Invalid CRD command received. Please ask your instructor for help."
#define LL_MSG_NO_VMS                                                          \
    "No available VMs. Please try again later. Please ask your instructor "    \
    "for help"
#define LL_MSG_CHANGED                                                         \
    "Your VM assignment changed. Please try again \xe2\x80\x94 a fresh VM "    \
    "will be assigned."
#define LL_MSG_UNRECOVERABLE                                                   \
    "Your previous VM could not be recovered. Please wait up to 60 seconds "   \
    "and try again \xe2\x80\x94 a fresh VM will be assigned."
#define LL_MSG_UNEXPECTED                                                      \
    "An unexpected error occurred while processing your request. Please "      \
    "ask your instructor for help."

//  The index page with an error (or none), or the JSON error.
static int
s_index (ll_http_req_t *req,
         int status,
         const char *error,
         const char *email,
         const char *extra_headers)
{
    if (error && ll_http_wants_json (req)) {
        json_t *body = json_pack ("{s:s}", "error", error);
        char *text = json_dumps (body, JSON_COMPACT);
        json_decref (body);
        int rc = ll_http_send (req, status, "application/json", text,
                               strlen (text), extra_headers);
        free (text);
        return rc;
    }
    const char *vars[] = {"error",
                          error ? error : "",
                          "error_hidden",
                          error ? "" : "hidden",
                          "email",
                          email ? email : "",
                          NULL};
    char *html = ll_page_render ("index.html", vars);
    if (!html)
        return ll_http_error (req, 500, "Page template missing.");
    int rc = ll_http_send (req, status, "text/html; charset=utf-8", html,
                           strlen (html), extra_headers);
    free (html);
    return rc;
}

int
ll_route_student_index (ll_http_req_t *req)
{
    return s_index (req, 200, NULL, NULL, NULL);
}

//  A plausible address: one '@', non-empty local part (at most 64) and
//  domain with a dot-free-or-dotted name of printable ASCII, no spaces,
//  quotes or brackets. Students mistype; attackers inject: both stop here.
static bool
s_email_valid (const char *email)
{
    size_t len = strlen (email);
    const char *at = strchr (email, '@');
    if (len < 3 || len > LL_EMAIL_MAX || !at || strchr (at + 1, '@')
        || at == email || at - email > 64 || !at[1])
        return false;
    for (const char *c = email; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f || strchr ("\"'<>()[]\\,;:`", *c))
            return false;
    const char *domain = at + 1;
    return domain[0] != '.' && domain[strlen (domain) - 1] != '.'
           && !strstr (domain, "..");
}

static void
s_trim (char *text)
{
    size_t len = strlen (text);
    while (len && strchr (" \t\r\n", text[len - 1]))
        text[--len] = '\0';
    size_t lead = strspn (text, " \t\r\n");
    memmove (text, text + lead, len - lead + 1);
}

//  A form field of body into out: its length, -1 when absent, -2 when
//  longer than size - 1 or holding a NUL byte (what ll_http_form_field
//  answers).
static int
s_form_field (
    const char *body, size_t len, const char *name, char *out, size_t size)
{
    if (!body)
        return -1;
    int rc = mg_get_var (body, len, name, out, size);
    if (rc > 0 && memchr (out, '\0', (size_t) rc)) {
        out[0] = '\0';
        return -2;
    }
    return rc;
}

int
ll_claim_form_parse (const char *body, size_t len, ll_claim_form_t *out)
{
    memset (out, 0, sizeof *out);
    int el = s_form_field (body, len, "email", out->email, sizeof out->email);
    int cl = s_form_field (body, len, "crd_command", out->command,
                           sizeof out->command);
    if (el >= 0)
        s_trim (out->email);
    if (el == -1 || cl == -1 || (el >= 0 && !*out->email) || cl == 0)
        out->error = LL_MSG_REQUIRED;
    else if (el < 0 || !s_email_valid (out->email))
        out->error = LL_MSG_BAD_EMAIL;
    else if (cl < 0
             || ll_crd_extract_code (out->command, out->code, sizeof out->code)
                    != 0) {
        out->error = LL_MSG_BAD_CRD;
        out->keep_email = true;
    }
    return out->error ? -1 : 0;
}

//  Wipe the command and the code of a claim form.
static void
s_claim_form_wipe (ll_claim_form_t *form)
{
    sodium_memzero (form->command, sizeof form->command);
    sodium_memzero (form->code, sizeof form->code);
}

//  The claim's outcome as /metrics counts it, from the answer sent.
static ll_outcome_t
s_outcome (int status, bool recovering)
{
    if (status == 200)
        return recovering ? LL_OUTCOME_RECOVERING : LL_OUTCOME_ASSIGNED;
    if (status == 400 || status == 409)
        return LL_OUTCOME_REJECTED;
    if (status == 429)
        return LL_OUTCOME_RATE_LIMITED;
    return LL_OUTCOME_ERROR;
}

int
ll_route_request_vm (ll_http_req_t *req)
{
    double t0 = ll_metrics_clock ();
    bool recovering = false, none = false;
    ll_claim_form_t form;
    const char *email = form.email;
    const char *code = form.code;
    int rc;
    if (ll_claim_form_parse (req->body, req->body_len, &form) != 0)
        rc = s_index (req, 400, form.error, form.keep_email ? email : NULL,
                      NULL);
    else {
        char *outcome = NULL, *a = NULL, *b = NULL, *error = NULL;
        ll_ask_vm_claim (&req->client, email, code, req->info->remote_addr,
                         &outcome, &a, &b, &error);
        if (!outcome)
            rc = s_index (req, 503, LL_MSG_UNEXPECTED, email, NULL);
        else if (streq (outcome, LL_CLAIM_ASSIGNED) && a && b) {
            if (ll_http_wants_json (req))
                rc = ll_http_json (req, 200,
                                   json_pack ("{s:s, s:s, s:s}", "status",
                                              "success", "hostname", a, "pin",
                                              b));
            else {
                const char *vars[] = {"host", a, "pin", b, NULL};
                rc = ll_http_page (req, 200, "success.html", vars);
            }
        }
        else if (streq (outcome, LL_CLAIM_RECOVERING) && a && b) {
            recovering = true;
            if (ll_http_wants_json (req))
                rc = ll_http_json (req, 200,
                                   json_pack ("{s:s, s:s, s:s}", "status",
                                              "recovering", "hostname", a,
                                              "vm_status", b));
            else {
                const char *vars[] = {"host", a, "status", b, NULL};
                rc = ll_http_page (req, 200, "recovery.html", vars);
            }
        }
        else if (streq (outcome, LL_CLAIM_NONE)) {
            none = true;
            char headers[64];
            snprintf (headers, sizeof headers, "Retry-After: %d\r\n",
                      LL_NO_VMS_RETRY_S);
            rc = s_index (req, 503, LL_MSG_NO_VMS, email, headers);
        }
        else if (streq (outcome, LL_CLAIM_CHANGED))
            rc = s_index (req, 409, LL_MSG_CHANGED, email, NULL);
        else if (streq (outcome, LL_CLAIM_UNRECOVERABLE))
            rc = s_index (req, 409, LL_MSG_UNRECOVERABLE, email, NULL);
        else if (streq (outcome, LL_CLAIM_LIMITED) && a) {
            char headers[64], text[160];
            long seconds = strtol (a, NULL, 10);
            snprintf (headers, sizeof headers, "Retry-After: %ld\r\n", seconds);
            snprintf (text, sizeof text,
                      "Too many requests. Please wait %ld seconds and try "
                      "again.",
                      seconds);
            rc = s_index (req, 429, text, email, headers);
        }
        else
            rc = s_index (req, 500, LL_MSG_UNEXPECTED, email, NULL);
        if (b)
            sodium_memzero (b, strlen (b));
        free (outcome);
        free (a);
        free (b);
        free (error);
    }
    s_claim_form_wipe (&form);
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    ll_metrics_claim (runtime->metrics,
                      none ? LL_OUTCOME_NO_VM
                           : s_outcome (req->status, recovering),
                      ll_metrics_clock () - t0);
    return rc;
}

int
ll_route_unassigned_count (ll_http_req_t *req)
{
    char *count = NULL, *error = NULL;
    ll_ask_vm_count (&req->client, &count, &error);
    free (error);
    if (!count)
        return ll_http_error (req, 503,
                              "Cannot count VMs now: database unavailable.");
    json_int_t n = strtoll (count, NULL, 10);
    free (count);
    return ll_http_json (req, 200, json_pack ("{s:I}", "count", n));
}

int
ll_route_release_vm (ll_http_req_t *req)
{
    const char *host = req->params[0];
    if (!host || !ll_token_scope_valid (host) || host[0] == '_')
        return ll_http_error (req, 400, "Invalid hostname.");
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    char actor[300];
    snprintf (actor, sizeof actor, "admin:%s", runtime->config->app.admin_user);
    char *error = NULL;
    int rc = ll_ask_vm_release (&req->client, host, actor, &error);
    int status;
    if (rc == 0)
        status = ll_http_json (req, 200,
                               json_pack ("{s:s, s:s}", "message",
                                          "VM released.", "hostname", host));
    else if (streq (error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 404, "VM not found.");
    else
        status = ll_http_error (req, 503,
                                "Cannot release now: database unavailable.");
    free (error);
    return status;
}
