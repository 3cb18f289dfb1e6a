/*  The student's view of their VM (issue 16): after a claim the success
    page, and the page it links to (/vm/<hostname>?t=<token>), follow the
    VM live: the code delivered, start-host's result (a failure in plain
    words with what to do), the desktop online. The link's token is an HMAC
    of the hostname, the student's email and the time of the assignment,
    keyed with the server secret: only the student's success page hands it
    out; it survives a reboot or a replacement of the VM, and dies with the
    assignment (a release, a renewal, another claim). Without JavaScript
    the page refreshes itself. */
#include "http/page.h"
#include "http/routes.h"
#include "runtime/log.h"
#include "runtime/protocol.h"
#include "runtime/release.h"
#include "runtime/schedule.h"
#include "runtime/secret.h"
#include "runtime/token.h"

#include <assert.h>
#include <sodium.h>
#include <time.h>

#define S_TOKEN_HEX    32    //  hex characters of the link's token
#define S_BANNER_S     1800  //  the end-of-class banner shows from here
#define S_CRD_HEADLESS "https://remotedesktop.google.com/headless"
#define S_MSG_WAITING                                                          \
    "Waiting for your VM to take your code (usually a few seconds)."

void
ll_start_host_advice (const char *error, const char **plain, const char **todo)
{
    static const char paste[] =
        "Make a new command at remotedesktop.google.com/headless (choose "
        "Debian Linux) and paste it below: you keep this VM.";
    if (!error || !*error) {
        *plain = "Setting up Chrome Remote Desktop failed, without a reason.";
        *todo = paste;
    }
    else if (strncmp (error, "start-host exited", 17) == 0) {
        *plain = "Chrome Remote Desktop did not accept your code. A code "
                 "works once, and only for a few minutes after you make it.";
        *todo = paste;
    }
    else if (strncmp (error, "start-host timed out", 20) == 0) {
        *plain = "Chrome Remote Desktop did not answer in time.";
        *todo = paste;
    }
    else if (strncmp (error, "start-host could not be executed", 32) == 0) {
        *plain = "Chrome Remote Desktop is not installed correctly on this "
                 "VM.";
        *todo = "Ask your instructor: the VM needs to be replaced (you keep "
                "your place).";
    }
    else if (strncmp (error, "rejected CRD command", 20) == 0) {
        *plain = "The command you pasted was not accepted.";
        *todo = "Copy the whole Debian Linux command shown at "
                "remotedesktop.google.com/headless and paste it below.";
    }
    else {
        *plain = "Setting up Chrome Remote Desktop failed.";
        *todo = paste;
    }
}

int
ll_progress_token (ll_http_req_t *req,
                   const char *host,
                   const char *email,
                   const char *assigned_us,
                   char *out,
                   size_t size)
{
    char message[700], mac[65];
    snprintf (message, sizeof message, "lablink-progress-v1:%s:%s:%s", host,
              email, assigned_us);
    if (size < S_TOKEN_HEX + 1
        || ll_http_secret_mac (req, message, mac, sizeof mac) != 0)
        return -1;
    snprintf (out, size, "%.*s", S_TOKEN_HEX, mac);
    sodium_memzero (mac, sizeof mac);
    return 0;
}

//  The VM-PROGRESS row of host (new JSON), NULL when there is none, or
//  NULL with *failed after answering 503.
static json_t *
s_row (ll_http_req_t *req, const char *host, bool *failed)
{
    *failed = false;
    char *text = NULL, *error = NULL;
    ll_ask_vm_progress (&req->client, host, &text, &error);
    text = ll_http_answer_text (req, text, error,
                                "Cannot tell now: please reload in a minute.");
    if (!text) {
        *failed = true;
        return NULL;
    }
    json_t *row = *text ? json_loads (text, 0, NULL) : NULL;
    ll_secret_free (&text);
    return row;
}

//  The link's token of the assignment in row; 0 or -1 (none).
static int
s_row_token (
    ll_http_req_t *req, const char *host, json_t *row, char *out, size_t size)
{
    const char *email = json_string_value (json_object_get (row, "user_email"));
    const char *us = json_string_value (json_object_get (row, "assigned_us"));
    if (!email || !us)
        return -1;
    return ll_progress_token (req, host, email, us, out, size);
}

int
ll_progress_link (ll_http_req_t *req, const char *host, char *out, size_t size)
{
    bool failed;
    json_t *row = s_row (req, host, &failed);
    int rc = row ? s_row_token (req, host, row, out, size) : -1;
    json_decref (row);
    return rc;
}

//  The VM-PROGRESS row of host when token is its link's (new JSON), NULL
//  after answering: 404 when the VM or the token is wrong (the same
//  answer: nothing to learn), 503.
static json_t *
s_linked_row (ll_http_req_t *req, const char *host, const char *token)
{
    if (!host || !ll_token_scope_valid (host) || host[0] == '_'
        || strlen (token) != S_TOKEN_HEX) {
        ll_http_error (req, 404, "This link is not valid (any more).");
        return NULL;
    }
    bool failed;
    json_t *row = s_row (req, host, &failed);
    if (failed)
        return NULL;
    char want[S_TOKEN_HEX + 1];
    bool ok = row && s_row_token (req, host, row, want, sizeof want) == 0
              && sodium_memcmp (want, token, S_TOKEN_HEX) == 0;
    if (!ok) {
        json_decref (row);
        ll_http_error (req, 404, "This link is not valid (any more).");
        return NULL;
    }
    return row;
}

//  The student's view of host (new JSON), NULL after answering (404, 503).
static json_t *
s_view (ll_http_req_t *req, const char *host)
{
    char token[S_TOKEN_HEX + 2] = "";
    ll_http_query_field (req, "t", token, sizeof token);
    json_t *row = s_linked_row (req, host, token);
    if (!row)
        return NULL;
    //  The steps and what to say, from the row
    const char *status = json_string_value (json_object_get (row, "status"));
    const char *state = json_string_value (json_object_get (row, "state"));
    bool delivered = json_is_string (json_object_get (row, "delivered_at"));
    json_t *sh = json_object_get (row, "start_host_ok");
    const char *sh_error =
        json_string_value (json_object_get (row, "start_host_error"));
    bool online =
        delivered && json_is_true (json_object_get (row, "crd_active"));
    bool has_code = json_is_true (json_object_get (row, "has_code"));
    const char *plain = NULL, *todo = NULL, *message;
    bool needs_command = false;
    if (state && (streq (state, "error") || streq (state, "stale")))
        message = "Your VM stopped answering. Ask your instructor, or request "
                  "a VM again with the same email.";
    else if (status
             && (streq (status, "rebooting") || streq (status, "initializing")))
        message = "Your VM is restarting. This page updates when it is back.";
    else if (json_is_false (sh)) {
        ll_start_host_advice (sh_error, &plain, &todo);
        message = plain;
        needs_command = true;
    }
    else if (!has_code && !delivered) {
        message = "Your VM was replaced or restarted and needs a new "
                  "command.";
        todo = "Make a new command at remotedesktop.google.com/headless "
               "(choose Debian Linux) and paste it below: you keep this VM.";
        needs_command = true;
    }
    else if (!delivered)
        message = S_MSG_WAITING;
    else if (!online)
        message = "Chrome Remote Desktop is connecting your VM to your Google "
                  "account.";
    else
        message = "Your desktop is online: open Chrome Remote Desktop and "
                  "choose this VM.";
    json_t *view = json_pack (
        "{s:s, s:O, s:O, s:s*, s:{s:b, s:s, s:b}, s:s, s:s*, s:b, s:s*}",
        "hostname", host, "pin", json_object_get (row, "pin"), "email",
        json_object_get (row, "user_email"), "status", status, "steps",
        "delivered", delivered, "start_host",
        json_is_true (sh)    ? "ok"
        : json_is_false (sh) ? "failed"
                             : "waiting",
        "online", online, "message", message, "todo", todo, "needs_command",
        needs_command, "start_host_error",
        json_is_false (sh) ? sh_error : NULL);
    json_decref (row);
    return view;
}

//  POST /vm/<hostname>/release, form field t: the student gives the VM
//  back (claim.on_release applies); the link dies with the assignment.
int
ll_route_vm_student_release (ll_http_req_t *req)
{
    const char *host = req->params[0];
    char token[S_TOKEN_HEX + 2] = "";
    ll_http_form_field (req, "t", token, sizeof token);
    json_t *row = s_linked_row (req, host, token);
    if (!row)
        return req->status;
    const char *email = json_string_value (json_object_get (row, "user_email"));
    char actor[300];
    snprintf (actor, sizeof actor, "student:%s", email ? email : "");
    const char *hosts[] = {host, NULL};
    ll_release_t release;
    ll_release_vms (&release, &req->client, &req->client, hosts, actor, 0);
    int rc = release.vms[0].rc;
    const char *error = release.vms[0].error;
    //  claim.on_release: destroy (withheld until replaced)
    if (release.replaced > 0 && !release.operation_id)
        ll_warn ("http: %s released by its student, not replaced (%s)", host,
                 release.operation_error ? release.operation_error
                                         : "no answer");
    if (rc == 0) {
        char *ignored = NULL;
        ll_ask_audit (&req->client, actor, "student-release", host, "success",
                      "", &ignored);
        free (ignored);
    }
    else
        ll_warn ("http: student release of %s: %s", host, error);
    int status;
    if (rc == 0 && ll_http_wants_json (req))
        status = ll_http_json (
            req, 200,
            json_pack ("{s:s, s:s}", "status", "released", "hostname", host));
    else if (rc == 0) {
        const char *vars[] = {"host", host, NULL};
        status = ll_http_page (req, 200, "released.html", vars);
    }
    else if (streq (error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 404, "This link is not valid (any more).");
    else
        status = ll_http_error (
            req, 503, "Cannot release now: please try again in a minute.");
    ll_release_free (&release);
    json_decref (row);
    return status;
}

int
ll_route_vm_progress (ll_http_req_t *req)
{
    json_t *view = s_view (req, req->params[0]);
    return view ? ll_http_json (req, 200, view) : req->status;
}

//  The seconds until the class ends when that is within the banner's time,
//  else -1.
static long long
s_class_end_soon (ll_http_req_t *req)
{
    char *text = NULL, *error = NULL;
    long long left = -1;
    if (ll_ask_class_end (&req->client, &text, &error) == 0) {
        if (*text) {
            long long at = strtoll (text, NULL, 10);
            long long now = (long long) time (NULL);
            if (at - now <= S_BANNER_S)
                left = at > now ? at - now : 0;
        }
        free (text);
    }
    free (error);
    return left;
}

void
ll_progress_live (json_t *view, const char **vars, size_t size)
{
    size_t at = 0;
    while (at < size && vars[at])
        at++;
    assert (at + LL_LIVE_VARS < size);
    json_t *steps = json_object_get (view, "steps");
    bool delivered = json_is_true (json_object_get (steps, "delivered"));
    const char *sh = json_string_value (json_object_get (steps, "start_host"));
    bool online = json_is_true (json_object_get (steps, "online"));
    const char *start_host = !sh                    ? NULL
                             : streq (sh, "ok")     ? "done"
                             : streq (sh, "failed") ? "failed"
                                                    : NULL;
    const char *message =
        view ? json_string_value (json_object_get (view, "message"))
             : S_MSG_WAITING;
    const char *todo = json_string_value (json_object_get (view, "todo"));
    bool needs_command = json_is_true (json_object_get (view, "needs_command"));
    const char *const steps_values[] = {
        "delivered_class",  delivered ? "done" : "",
        "delivered_note",   delivered ? "done" : "waiting",
        "start_host_class", start_host ? start_host : "",
        "start_host_note",  start_host ? start_host : "waiting",
        "online_class",     online ? "done" : "",
        "online_note",      online ? "online" : "not yet"};
    const char *const said[] = {"message",     message,
                                "todo",        todo ? todo : "",
                                "todo_hidden", todo ? "" : "hidden",
                                "form_hidden", needs_command ? "" : "hidden"};
    _Static_assert(sizeof steps_values + sizeof said
                       == LL_LIVE_VARS * sizeof (const char *),
                   "LL_LIVE_VARS counts the values");
    memcpy (vars + at, steps_values, sizeof steps_values);
    memcpy (vars + at + sizeof steps_values / sizeof *steps_values, said,
            sizeof said);
}

int
ll_route_vm_page (ll_http_req_t *req)
{
    const char *host = req->params[0];
    json_t *view = s_view (req, host);
    if (!view)
        return req->status;
    char token[S_TOKEN_HEX + 2] = "";
    ll_http_query_field (req, "t", token, sizeof token);
    const char *email = json_string_value (json_object_get (view, "email"));
    char banner[160] = "";
    long long left = s_class_end_soon (req);
    if (left >= 0)
        snprintf (banner, sizeof banner,
                  "The class ends in %lld min: save your work now. The VMs "
                  "are deleted then.",
                  (left + 59) / 60);
    const char *vars[12 + LL_LIVE_VARS + 1] = {
        "host",
        host,
        "token",
        token,
        "pin",
        json_is_string (json_object_get (view, "pin"))
            ? json_string_value (json_object_get (view, "pin"))
            : "(none yet)",
        "email",
        email ? email : "",
        "banner",
        banner,
        "banner_hidden",
        *banner ? "" : "hidden"};
    ll_progress_live (view, vars, sizeof vars / sizeof *vars);
    int rc = ll_http_page (req, 200, "vm.html", vars);
    json_decref (view);
    return rc;
}
