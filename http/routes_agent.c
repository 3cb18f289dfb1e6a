/*  Delivery to the VM (reference 2.4 /vm_startup, 5.3; brief "interfaces"):
    the agent long-polls /vm_startup with its Bearer token and gets its
    assignment, then reports the outcome of start-host. */
#include "http/routes.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/token.h"

#include <sodium.h>

#define LL_WAIT_SLACK_MS   3000
#define LL_QUICK_TIMEOUT   3000
#define LL_RESULT_TEXT_MAX 1000

void
ll_agent_body_free (ll_agent_body_t *self)
{
    json_decref (self->doc);
    self->doc = NULL;
}

int
ll_agent_body_begin (const char *body, size_t len, ll_agent_body_t *out)
{
    memset (out, 0, sizeof *out);
    out->number = -1;
    out->doc = ll_http_json_parse (body, len);
    if (!out->doc) {
        out->error = LL_HTTP_NOT_JSON;
        return -1;
    }
    return 0;
}

//  The body's "hostname": a string naming a VM (0), else -1 with the 400
//  message in out->error.
static int
s_hostname (ll_agent_body_t *out)
{
    json_t *host = json_object_get (out->doc, "hostname");
    if (!json_is_string (host) || json_string_length (host) == 0) {
        out->error = "Hostname is required.";
        return -1;
    }
    const char *name = json_string_value (host);
    if (strlen (name) != json_string_length (host)
        || !ll_token_scope_valid (name) || name[0] == '_') {
        out->error = "Invalid hostname.";
        return -1;
    }
    out->host = name;
    return 0;
}

int
ll_vm_startup_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    return s_hostname (out);
}

int
ll_vm_startup_result_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_agent_body_begin (body, len, out) != 0)
        return -1;
    json_t *success = json_object_get (out->doc, "success");
    json_t *text = json_object_get (out->doc, "error");
    if (!json_is_boolean (success)) {
        out->error = "success must be true or false.";
        return -1;
    }
    if (text && !json_is_string (text) && !json_is_null (text)) {
        out->error = "error must be a string.";
        return -1;
    }
    out->value = json_is_true (success) ? "1" : "0";
    out->text = json_is_string (text) ? json_string_value (text) : "";
    return s_hostname (out);
}

int
ll_vm_reset_result_parse (const char *body, size_t len, ll_agent_body_t *out)
{
    if (ll_vm_startup_result_parse (body, len, out) != 0)
        return -1;
    json_t *id = json_object_get (out->doc, "reset_id");
    const char *text = json_is_string (id) ? json_string_value (id) : "";
    if (strlen (text) != 32 || strspn (text, "0123456789abcdef") != 32) {
        out->error = "reset_id must be the reset's id.";
        return -1;
    }
    out->id = text;
    return 0;
}

//  -1 after answering 400 when the body was refused (parsed != 0), else
//  the token check of the VM it names (0 when it is the VM's own token).
static int
s_checked (ll_http_req_t *req, ll_agent_body_t *in, int parsed)
{
    if (parsed != 0) {
        ll_http_error (req, 400, in->error);
        return -1;
    }
    return ll_http_agent_check (req, in->host);
}

int
ll_route_vm_startup (ll_http_req_t *req)
{
    ll_agent_body_t in;
    if (s_checked (req, &in,
                   ll_vm_startup_parse (req->body, req->body_len, &in))
        != 0) {
        ll_agent_body_free (&in);
        return req->status;
    }
    const char *host = in.host;
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    int wait_ms = runtime->config->agent.long_poll_s * 1000;
    char timeout[16];
    snprintf (timeout, sizeof timeout, "%d", wait_ms);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, host);
    zmsg_addstr (args, timeout);
    zmsg_addstr (args, "http");
    zmsg_addstrf (args, "%lld", req->agent_generation);
    zmsg_t *reply = NULL;
    char *error = NULL;
    char id[32] = "";
    int rc = ll_http_call_watch (req, LL_ENDPOINT_WAITERS, LL_CMD_VM_WAIT,
                                 &args, wait_ms + LL_WAIT_SLACK_MS, id,
                                 sizeof id, &reply, &error);
    ll_agent_body_free (&in);
    char *what = rc == 0 ? zmsg_popstr (reply) : NULL;
    int status;
    if (rc != 0) {
        bool gone = error && streq (error, "hangup");
        if (gone || (error && streq (error, "timeout"))) {
            //  Free the slot; a reply already on its way is dropped
            zmsg_t *cancel = zmsg_new ();
            zmsg_addstr (cancel, id);
            zmsg_t *ack = NULL;
            char *ignored = NULL;
            ll_http_call (req, LL_ENDPOINT_WAITERS, LL_CMD_VM_UNWAIT, &cancel,
                          LL_QUICK_TIMEOUT, &ack, &ignored);
            zmsg_destroy (&ack);
            free (ignored);
        }
        if (gone)
            status = req->status = 499;  //  nobody to answer
        else if (error && streq (error, "timeout"))
            status = ll_http_send (req, 204, "application/json", "", 0, NULL);
        else
            status = ll_http_error (req, 503, "Cannot wait now.");
    }
    else if (what && streq (what, LL_WAIT_ASSIGN)) {
        char *pin = zmsg_popstr (reply);
        char *command = zmsg_popstr (reply);
        status = ll_http_json (req, 200,
                               json_pack ("{s:s, s:s, s:s}", "status",
                                          "success", "pin", pin ? pin : "",
                                          "command", command ? command : ""));
        if (pin)
            sodium_memzero (pin, strlen (pin));
        if (command)
            sodium_memzero (command, strlen (command));
        free (pin);
        free (command);
    }
    else if (what && streq (what, LL_WAIT_RESET)) {
        char *reset_id = zmsg_popstr (reply);
        status =
            ll_http_json (req, 200,
                          json_pack ("{s:s, s:s}", "status", "reset",
                                     "reset_id", reset_id ? reset_id : ""));
        free (reset_id);
    }
    else if (what && streq (what, LL_WAIT_UNKNOWN))
        status = ll_http_error (req, 404, "VM not found.");
    else if (what && streq (what, LL_WAIT_REVOKED))
        status = ll_http_error (req, 401, "token revoked");
    else if (what && streq (what, LL_WAIT_FULL)) {
        char *seconds = zmsg_popstr (reply);
        char headers[64];
        snprintf (headers, sizeof headers, "Retry-After: %ld\r\n",
                  seconds ? strtol (seconds, NULL, 10) : 5);
        free (seconds);
        status = ll_http_send (req, 204, "application/json", "", 0, headers);
    }
    else  //  TIMEOUT: the agent re-polls at once
        status = ll_http_send (req, 204, "application/json", "", 0, NULL);
    free (what);
    free (error);
    zmsg_destroy (&reply);
    return status;
}

//  An agent's report (a body parsed into in, parsed its result) handed to
//  the assigner as command: host [reset id] 1|0 text generation. 200
//  {"message": recorded}, 409 when the report is stale, 401 when the token
//  was revoked meanwhile, 404, 503.
static int
s_report (ll_http_req_t *req,
          ll_agent_body_t *in,
          int parsed,
          const char *command,
          const char *recorded)
{
    if (s_checked (req, in, parsed) != 0) {
        ll_agent_body_free (in);
        return req->status;
    }
    char detail[LL_RESULT_TEXT_MAX + 1] = "";
    snprintf (detail, sizeof detail, "%s", in->text);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, in->host);
    if (in->id)
        zmsg_addstr (args, in->id);
    zmsg_addstr (args, in->value);
    zmsg_addstr (args, detail);
    zmsg_addstrf (args, "%lld", req->agent_generation);
    ll_agent_body_free (in);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int rc = ll_http_call (req, LL_ENDPOINT_ASSIGNER, command, &args,
                           LL_QUICK_TIMEOUT, &reply, &error);
    zmsg_destroy (&reply);
    int status;
    if (rc == 0)
        status =
            ll_http_json (req, 200, json_pack ("{s:s}", "message", recorded));
    else if (error && streq (error, "stale"))
        status = ll_http_error (req, 409, "This reset is no longer current.");
    else if (error && streq (error, LL_REASON_NOT_FOUND))
        status = ll_http_error (req, 404, "VM not found.");
    else if (error && streq (error, LL_REASON_REVOKED))
        status = ll_http_error (req, 401, "token revoked");
    else
        status = ll_http_error (req, 503,
                                "Cannot record now: database unavailable.");
    free (error);
    return status;
}

int
ll_route_vm_startup_result (ll_http_req_t *req)
{
    ll_agent_body_t in;
    int parsed = ll_vm_startup_result_parse (req->body, req->body_len, &in);
    return s_report (req, &in, parsed, LL_CMD_VM_RESULT, "Result recorded.");
}

int
ll_route_vm_reset_result (ll_http_req_t *req)
{
    ll_agent_body_t in;
    int parsed = ll_vm_reset_result_parse (req->body, req->body_len, &in);
    return s_report (req, &in, parsed, LL_CMD_VM_RESET_DONE, "Reset recorded.");
}
