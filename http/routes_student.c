/*  The student side (reference 2.4, 2.6, 9): the request page, claims, the
    available count, and the admin's release of a VM back to the pool.
    Errors are rendered into the index page with a truthful status code
    (JSON {"error": ...} when the client asks for application/json). */
#include "http/auth.h"
#include "http/page.h"
#include "http/routes.h"
#include "runtime/crd.h"
#include "runtime/metrics.h"
#include "runtime/recovery.h"
#include "runtime/release.h"
#include "runtime/secret.h"
#include "runtime/token.h"

#include <ctype.h>
#include <sodium.h>
#include <strings.h>

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
#define LL_MSG_DENIED                                                          \
    "This email already has a VM. Use the recovery code from your first "      \
    "claim, or ask your instructor."
#define LL_MSG_REFUSED_CODE                                                    \
    "The class access code is missing or wrong. Ask your instructor for it."
#define LL_MSG_REFUSED_EMAIL                                                   \
    "This email is not on the class roster. Use the address your "             \
    "instructor registered, or ask your instructor."
#define LL_MSG_REFUSED_DOMAIN                                                  \
    "Addresses of this email domain may not claim a VM in this class. Use "    \
    "your school address, or ask your instructor."
#define LL_MSG_NO_CLAIM                                                        \
    "No claim is remembered in this browser: enter your recovery code."
#define LL_MSG_BAD_RECOVERY                                                    \
    "Unknown recovery code, or its VM was released. Ask your instructor."

//  The index page with an error (or none), or the JSON error.
static int
s_index (ll_http_req_t *req,
         int status,
         const char *error,
         const char *email,
         const char *extra_headers)
{
    if (error && ll_http_wants_json (req))
        return ll_http_error_with (req, status, error, extra_headers);
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    const char *vars[] = {"error",
                          error ? error : "",
                          "error_hidden",
                          error ? "" : "hidden",
                          "email",
                          email ? email : "",
                          "access_hidden",
                          *config->claim.access_code ? "" : "hidden",
                          NULL};
    return ll_http_page_with (req, status, "index.html", vars, extra_headers);
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

int
ll_claim_form_parse (const char *body, size_t len, ll_claim_form_t *out)
{
    memset (out, 0, sizeof *out);
    int el =
        ll_http_form_var (body, len, "email", out->email, sizeof out->email);
    int cl = ll_http_form_var (body, len, "crd_command", out->command,
                               sizeof out->command);
    char typed[LL_RECOVERY_INPUT_MAX + 2];
    if (ll_http_form_var (body, len, "recovery_code", typed, sizeof typed) > 0)
        ll_recovery_canonical (typed, out->recovery);
    sodium_memzero (typed, sizeof typed);
    if (ll_http_form_var (body, len, "access_code", out->access,
                          sizeof out->access)
        < 0)
        out->access[0] = '\0';  //  absent, or too long to be right
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

//  Wipe the secrets of a claim form.
static void
s_claim_form_wipe (ll_claim_form_t *form)
{
    sodium_memzero (form->command, sizeof form->command);
    sodium_memzero (form->code, sizeof form->code);
    sodium_memzero (form->recovery, sizeof form->recovery);
    sodium_memzero (form->access, sizeof form->access);
}

//  The claim secret this browser holds (the cookie), canonical, or "".
static void
s_cookie_secret (ll_http_req_t *req, char *out)
{
    char value[LL_RECOVERY_INPUT_MAX + 2];
    out[0] = '\0';
    if (ll_cookie_get (ll_http_header (req, "Cookie"), LL_RECOVERY_COOKIE,
                       value, sizeof value)
        >= 0)
        ll_recovery_canonical (value, out);
    sodium_memzero (value, sizeof value);
}

//  The Set-Cookie header line that hands the claim secret to the browser.
static void
s_claim_cookie (ll_http_req_t *req, const char *secret, char *out, size_t size)
{
    snprintf (out, size,
              "Set-Cookie: " LL_RECOVERY_COOKIE
              "=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s\r\n",
              secret, LL_RECOVERY_COOKIE_S,
              ll_http_behind_tls (req) ? "; Secure" : "");
}

//  Send json (reference stolen) with extra headers.
static int
s_json_headers (ll_http_req_t *req, int status, json_t *json, const char *h)
{
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    if (!text)
        return ll_http_error (req, 500, "encoding failed");
    int rc =
        ll_http_send (req, status, "application/json", text, strlen (text), h);
    ll_secret_free (&text);
    return rc;
}

//  A claim that went through: the page (or JSON) with the claim secret as
//  a cookie and as the recovery code, with the live progress link. kind:
//  "success" or "recovering"; value: the PIN or the VM's status.
static int
s_claimed (ll_http_req_t *req,
           const char *kind,
           const char *host,
           const char *value,
           const char *secret,
           const char *email)
{
    char shown[LL_RECOVERY_SHOWN_LEN + 1], cookie[256];
    ll_recovery_show (secret, shown);
    s_claim_cookie (req, secret, cookie, sizeof cookie);
    bool success = streq (kind, "success");
    int rc;
    if (ll_http_wants_json (req))
        rc = s_json_headers (req, 200,
                             json_pack ("{s:s, s:s, s:s, s:s}", "status", kind,
                                        "hostname", host,
                                        success ? "pin" : "vm_status", value,
                                        "recovery_code", shown),
                             cookie);
    else {
        //  The live progress link (routes_progress.c)
        char token[40] = "";
        ll_progress_link (req, host, token, sizeof token);
        const char *vars[10 + LL_LIVE_VARS + 1] = {"host",
                                                   host,
                                                   success ? "pin" : "status",
                                                   value,
                                                   "recovery_code",
                                                   shown,
                                                   "token",
                                                   token,
                                                   "email",
                                                   email};
        ll_progress_live (NULL, vars, sizeof vars / sizeof *vars);
        rc = ll_http_page_with (
            req, 200, success ? "success.html" : "recovery.html", vars, cookie);
    }
    sodium_memzero (shown, sizeof shown);
    sodium_memzero (cookie, sizeof cookie);
    return rc;
}

//  The message of a roster refusal: names the rule, never the roster.
static const char *
s_refusal (const char *rule)
{
    if (rule && streq (rule, "code"))
        return LL_MSG_REFUSED_CODE;
    if (rule && streq (rule, "domain"))
        return LL_MSG_REFUSED_DOMAIN;
    return LL_MSG_REFUSED_EMAIL;
}

//  The claim's outcome as /metrics counts it, from the answer sent.
static ll_outcome_t
s_outcome (int status, bool recovering)
{
    if (status == 200)
        return recovering ? LL_OUTCOME_RECOVERING : LL_OUTCOME_ASSIGNED;
    if (status == 400 || status == 403 || status == 409)
        return LL_OUTCOME_REJECTED;  //  403: no claim secret, or the roster
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
        //  The proof: a recovery code typed now, else this browser's cookie
        char proof[LL_RECOVERY_LEN + 1];
        if (*form.recovery)
            snprintf (proof, sizeof proof, "%s", form.recovery);
        else
            s_cookie_secret (req, proof);
        char *outcome = NULL, *a = NULL, *b = NULL, *secret = NULL,
             *error = NULL;
        ll_ask_vm_claim (&req->client, email, code, req->address, proof,
                         form.access, &outcome, &a, &b, &secret, &error);
        sodium_memzero (proof, sizeof proof);
        if (!outcome)
            rc = s_index (req, 503, LL_MSG_UNEXPECTED, email, NULL);
        else if (streq (outcome, LL_CLAIM_ASSIGNED) && a && b && secret)
            rc = s_claimed (req, "success", a, b, secret, email);
        else if (streq (outcome, LL_CLAIM_RECOVERING) && a && b && secret) {
            recovering = true;
            rc = s_claimed (req, "recovering", a, b, secret, email);
        }
        else if (streq (outcome, LL_CLAIM_DENIED))
            rc = s_index (req, 403, LL_MSG_DENIED, email, NULL);
        else if (streq (outcome, LL_CLAIM_REFUSED))
            rc = s_index (req, 403, s_refusal (a), email, NULL);
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
        free (outcome);
        free (a);
        ll_secret_free (&b);
        ll_secret_free (&secret);
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
    count = ll_http_answer_text (req, count, error,
                                 "Cannot count VMs now: database unavailable.");
    if (!count)
        return req->status;
    json_int_t n = strtoll (count, NULL, 10);
    free (count);
    return ll_http_json (req, 200, json_pack ("{s:I}", "count", n));
}

//  claim.on_release: destroy. The released VM is being replaced by
//  terraform (202), or stays out of the pool until it is replaced (409).
static int
s_release_replace (ll_http_req_t *req,
                   const char *host,
                   const ll_release_t *release)
{
    if (release->operation_id)
        return ll_http_json (
            req, 202,
            json_pack ("{s:s, s:s, s:s, s:I}", "message",
                       "VM released: it is being replaced.", "hostname", host,
                       "on_release", "destroy", "operation_id",
                       (json_int_t) strtoll (release->operation_id, NULL, 10)));
    const char *error = release->operation_error;
    char text[400];
    long long busy = error && strncmp (error, "busy ", 5) == 0
                         ? strtoll (error + 5, NULL, 10)
                         : 0;
    snprintf (text, sizeof text,
              "VM released, but it cannot be replaced now (%s): it stays "
              "out of the pool until it is replaced (POST "
              "/api/vms/%s/replace).",
              busy ? "another operation is running"
              : error && streq (error, LL_REASON_UNKNOWN_VM)
                  ? "it is not in the fleet"
                  : "terraform does not answer",
              host);
    json_t *body = json_pack ("{s:s, s:s}", "error", text, "hostname", host);
    if (busy)
        json_object_set_new (body, "operation_id", json_integer (busy));
    return ll_http_json (req, 409, body);
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
    const char *hosts[] = {host, NULL};
    ll_release_t release;
    ll_release_vms (&release, &req->client, &req->client, hosts, actor, 0);
    const ll_release_vm_t *vm = &release.vms[0];
    int status;
    if (release.replaced > 0)
        status = s_release_replace (req, host, &release);
    else if (vm->rc == 0)
        status = ll_http_json (
            req, 200,
            json_pack ("{s:s, s:s, s:s}", "message",
                       streq (vm->mode, "reset")
                           ? "VM released: it returns to the pool once its "
                             "agent has reset the desktop."
                           : "VM released.",
                       "hostname", host, "on_release", vm->mode));
    else if (streq (vm->error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 404, "VM not found.");
    else
        status = ll_http_error (req, 503,
                                "Cannot release now: database unavailable.");
    ll_release_free (&release);
    return status;
}

//  A field of a JSON body (a string) or of a form: its length into out, -1
//  absent, -2 too long or not a string.
static int
s_body_field (ll_http_req_t *req, const char *name, char *out, size_t size)
{
    const char *type = ll_http_header (req, "Content-Type");
    out[0] = '\0';
    if (!type || strncasecmp (type, "application/json", 16) != 0)
        return ll_http_form_field (req, name, out, size);
    json_t *body = ll_http_json_parse (req->body, req->body_len);
    json_t *value = json_object_get (body, name);
    int rc = -1;
    if (value && !json_is_string (value))
        rc = -2;
    else if (value && json_string_length (value) < size
             && strlen (json_string_value (value))
                    == json_string_length (value))
        rc = snprintf (out, size, "%s", json_string_value (value));
    else if (value)
        rc = -2;
    json_decref (body);
    return rc;
}

int
ll_route_claim_reset (ll_http_req_t *req)
{
    char email[LL_CLAIM_EMAIL_MAX + 2];
    int got = s_body_field (req, "email", email, sizeof email);
    if (got >= 0)
        s_trim (email);
    if (got < 0 || !s_email_valid (email))
        return ll_http_error (req, 400, LL_MSG_BAD_EMAIL);
    char actor[300];
    snprintf (
        actor, sizeof actor, "admin:%s",
        *req->actor
            ? req->actor
            : ll_http_server_runtime (req->server)->config->app.admin_user);
    char *secret = NULL, *error = NULL;
    zmsg_t *reply = NULL;
    ll_ask_claim_reset (&req->client, email, actor, &secret, &reply, &error);
    int status;
    if (secret && strlen (secret) == LL_RECOVERY_LEN) {
        char shown[LL_RECOVERY_SHOWN_LEN + 1];
        ll_recovery_show (secret, shown);
        json_t *hosts = json_array ();
        char *host;
        while ((host = zmsg_popstr (reply))) {
            json_array_append_new (hosts, json_string (host));
            free (host);
        }
        for (char *c = email; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        status = s_json_headers (req, 200,
                                 json_pack ("{s:s, s:o, s:s}", "email", email,
                                            "hostnames", hosts, "recovery_code",
                                            shown),
                                 NULL);
        sodium_memzero (shown, sizeof shown);
    }
    else if (error && streq (error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 404, "No VM is claimed by this email.");
    else
        status = ll_http_error (req, 503,
                                "Cannot reset the claim now: database "
                                "unavailable.");
    ll_secret_free (&secret);
    free (error);
    zmsg_destroy (&reply);
    return status;
}

//  The claim a canonical secret proves, as JSON (and the cookie, when
//  set_cookie: the code was typed in another browser).
static int
s_claim_show (ll_http_req_t *req, const char *secret, bool set_cookie)
{
    char hash[LL_RECOVERY_HASH_HEX + 1];
    ll_recovery_hash (secret, hash);
    char *first = NULL, *error = NULL;
    zmsg_t *reply = NULL;
    ll_ask_claim_who (&req->client, hash, req->address, &first, &reply, &error);
    int status;
    if (first && streq (first, LL_CLAIM_LIMITED)) {
        char *seconds = zmsg_popstr (reply);
        char headers[64];
        snprintf (headers, sizeof headers, "Retry-After: %ld\r\n",
                  seconds ? strtol (seconds, NULL, 10) : 60);
        free (seconds);
        status = s_json_headers (
            req, 429,
            json_pack ("{s:s}", "error",
                       "Too many requests. Please wait and try again."),
            headers);
    }
    else if (first) {
        //  Each VM with the address of its own page (routes_progress.c),
        //  where the student sends a new command or releases it
        json_t *vms = json_array ();
        char *host, *vm_status, page[400] = "";
        while ((host = zmsg_popstr (reply))) {
            vm_status = zmsg_popstr (reply);
            json_t *vm = json_pack ("{s:s, s:s}", "hostname", host, "status",
                                    vm_status ? vm_status : "");
            char token[40];
            if (ll_progress_link (req, host, token, sizeof token) == 0) {
                char link[400];
                snprintf (link, sizeof link, "/vm/%s?t=%s", host, token);
                json_object_set_new (vm, "page", json_string (link));
                if (!*page)
                    snprintf (page, sizeof page, "%s", link);
            }
            json_array_append_new (vms, vm);
            free (host);
            free (vm_status);
        }
        char headers[700] = "";
        if (set_cookie)
            s_claim_cookie (req, secret, headers, 256);
        //  A browser's form (the home page's "open my VM's page") goes
        //  straight to the page of the student's first VM
        const char *accept = ll_http_header (req, "Accept");
        if (*page && set_cookie && accept && strstr (accept, "text/html")) {
            size_t used = strlen (headers);
            snprintf (headers + used, sizeof headers - used, "Location: %s\r\n",
                      page);
            json_decref (vms);
            status = ll_http_send (req, 303, "text/plain; charset=utf-8", "", 0,
                                   headers);
        }
        else
            status = s_json_headers (
                req, 200, json_pack ("{s:s, s:o}", "email", first, "vms", vms),
                *headers ? headers : NULL);
        sodium_memzero (headers, sizeof headers);
    }
    else if (error && streq (error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 403, LL_MSG_BAD_RECOVERY);
    else
        status = ll_http_error (req, 503,
                                "Cannot look the claim up now: database "
                                "unavailable.");
    free (first);
    free (error);
    zmsg_destroy (&reply);
    return status;
}

int
ll_route_claim_get (ll_http_req_t *req)
{
    char secret[LL_RECOVERY_LEN + 1];
    s_cookie_secret (req, secret);
    int status = *secret ? s_claim_show (req, secret, false)
                         : ll_http_error (req, 401, LL_MSG_NO_CLAIM);
    sodium_memzero (secret, sizeof secret);
    return status;
}

int
ll_route_claim_post (ll_http_req_t *req)
{
    char typed[LL_RECOVERY_INPUT_MAX + 2], secret[LL_RECOVERY_LEN + 1];
    int got = s_body_field (req, "recovery_code", typed, sizeof typed);
    int status;
    if (got <= 0)
        status = ll_http_error (req, 400, "recovery_code is required.");
    else if (ll_recovery_canonical (typed, secret) != 0)
        status = ll_http_error (req, 403, LL_MSG_BAD_RECOVERY);
    else
        status = s_claim_show (req, secret, true);
    sodium_memzero (typed, sizeof typed);
    sodium_memzero (secret, sizeof secret);
    return status;
}
