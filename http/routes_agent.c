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

//  The body's "hostname": a string naming a VM, else the 400 is sent and
//  NULL returned. Then the token must be that VM's (401/403 sent).
static const char *
s_hostname (ll_http_req_t *req, json_t *body)
{
    json_t *host = json_object_get (body, "hostname");
    if (!json_is_string (host) || json_string_length (host) == 0) {
        ll_http_error (req, 400, "Hostname is required.");
        return NULL;
    }
    const char *name = json_string_value (host);
    if (strlen (name) != json_string_length (host)
        || !ll_token_scope_valid (name) || name[0] == '_') {
        ll_http_error (req, 400, "Invalid hostname.");
        return NULL;
    }
    if (ll_http_agent_check (req, name) != 0)
        return NULL;
    return name;
}

int
ll_route_vm_startup (ll_http_req_t *req)
{
    json_t *body = ll_http_json_body (req);
    if (!body)
        return req->status;
    const char *host = s_hostname (req, body);
    if (!host) {
        json_decref (body);
        return req->status;
    }
    const ll_runtime_t *runtime = ll_http_server_runtime (req->server);
    int wait_ms = runtime->config->agent.long_poll_s * 1000;
    char timeout[16];
    snprintf (timeout, sizeof timeout, "%d", wait_ms);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, host);
    zmsg_addstr (args, timeout);
    zmsg_addstr (args, "http");
    zmsg_t *reply = NULL;
    char *error = NULL;
    char id[32] = "";
    int rc = ll_http_call_watch (req, LL_ENDPOINT_WAITERS, LL_CMD_VM_WAIT,
                                 &args, wait_ms + LL_WAIT_SLACK_MS, id,
                                 sizeof id, &reply, &error);
    json_decref (body);
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
    else if (what && streq (what, LL_WAIT_UNKNOWN))
        status = ll_http_error (req, 404, "VM not found.");
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

int
ll_route_vm_startup_result (ll_http_req_t *req)
{
    json_t *body = ll_http_json_body (req);
    if (!body)
        return req->status;
    json_t *success = json_object_get (body, "success");
    json_t *text = json_object_get (body, "error");
    const char *host = NULL;
    if (!json_is_boolean (success))
        ll_http_error (req, 400, "success must be true or false.");
    else if (text && !json_is_string (text) && !json_is_null (text))
        ll_http_error (req, 400, "error must be a string.");
    else
        host = s_hostname (req, body);
    if (!host) {
        json_decref (body);
        return req->status;
    }
    char detail[LL_RESULT_TEXT_MAX + 1] = "";
    if (json_is_string (text))
        snprintf (detail, sizeof detail, "%s", json_string_value (text));
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, host);
    zmsg_addstr (args, json_is_true (success) ? "1" : "0");
    zmsg_addstr (args, detail);
    json_decref (body);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int rc = ll_http_call (req, LL_ENDPOINT_ASSIGNER, LL_CMD_VM_RESULT, &args,
                           LL_QUICK_TIMEOUT, &reply, &error);
    zmsg_destroy (&reply);
    int status;
    if (rc == 0)
        status = ll_http_json (
            req, 200, json_pack ("{s:s}", "message", "Result recorded."));
    else if (error && streq (error, "not found"))
        status = ll_http_error (req, 404, "VM not found.");
    else
        status = ll_http_error (req, 503,
                                "Cannot record now: database unavailable.");
    free (error);
    return status;
}
