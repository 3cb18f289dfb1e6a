/*  The agent's routes: delivery (reference 2.4 /vm_startup, 5.3; brief
    "interfaces": the agent long-polls /vm_startup with its Bearer token
    and gets its assignment) and every POST of the agent API
    (http/agent_api.h: the start-host outcome, status, GPU health, in-use,
    heartbeat, startup metrics, logs), served from its table. */
#include "http/agent_api.h"
#include "runtime/secret.h"
#include "runtime/token.h"

#define LL_WAIT_SLACK_MS 3000
#define S_LAMBDA_SCOPE   "_lambda"

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
    //  A long wait that ends when the agent goes away: not an ll_ask
    char gen[24];
    snprintf (gen, sizeof gen, "%lld", req->agent_generation);
    zmsg_t *args = ll_proto_args (LL_CMD_VM_WAIT, host, timeout, "http", gen);
    zmsg_t *reply = NULL;
    char *error = NULL;
    char id[32] = "";
    int rc = ll_http_call_watch (req, LL_ENDPOINT_WAITERS, LL_CMD_VM_WAIT,
                                 &args, wait_ms + LL_WAIT_SLACK_MS, id,
                                 sizeof id, &reply, &error);
    ll_agent_body_free (&in);
    char *what = NULL, *pin = NULL, *command = NULL;
    if (rc == 0
        && ll_proto_payload (LL_CMD_VM_WAIT, &reply, &what, &pin, &command)
               != 0) {
        rc = -1;
        error = strdup (LL_REASON_BAD_REPLY);
    }
    int status;
    if (rc != 0) {
        bool gone = streq (error, LL_REASON_HANGUP);
        if (gone || streq (error, LL_REASON_TIMEOUT)) {
            //  Free the slot; a reply already on its way is dropped
            char *ignored = NULL;
            ll_ask_vm_unwait (&req->client, id, &ignored);
            free (ignored);
        }
        if (gone)
            status = req->status = 499;  //  nobody to answer
        else if (streq (error, LL_REASON_TIMEOUT))
            status = ll_http_send (req, 204, "application/json", "", 0, NULL);
        else
            status = ll_http_error (req, 503, "Cannot wait now.");
    }
    else if (streq (what, LL_WAIT_ASSIGN))
        status = ll_http_json (req, 200,
                               json_pack ("{s:s, s:s, s:s}", "status",
                                          "success", "pin", pin ? pin : "",
                                          "command", command ? command : ""));
    else if (streq (what, LL_WAIT_RESET))
        status = ll_http_json (req, 200,
                               json_pack ("{s:s, s:s}", "status", "reset",
                                          "reset_id", pin ? pin : ""));
    else if (streq (what, LL_WAIT_UNKNOWN))
        status = ll_http_error (req, 404, "VM not found.");
    else if (streq (what, LL_WAIT_REVOKED))
        status = ll_http_error (req, 401, "token revoked");
    else if (streq (what, LL_WAIT_FULL)) {
        char headers[64];
        snprintf (headers, sizeof headers, "Retry-After: %ld\r\n",
                  pin ? strtol (pin, NULL, 10) : 5);  //  the seconds
        status = ll_http_send (req, 204, "application/json", "", 0, headers);
    }
    else  //  TIMEOUT: the agent re-polls at once
        status = ll_http_send (req, 204, "application/json", "", 0, NULL);
    ll_secret_free (&pin);
    ll_secret_free (&command);
    free (what);
    free (error);
    return status;
}

//  The row of the route's pattern
static const ll_agent_api_t *
s_agent_api (ll_http_req_t *req)
{
    size_t count;
    const ll_agent_api_t *api = ll_agent_api (&count);
    for (size_t i = 0; i < count; i++)
        if (streq (api[i].path, req->route->pattern))
            return &api[i];
    return NULL;
}

int
ll_route_agent (ll_http_req_t *req)
{
    const ll_agent_api_t *api = s_agent_api (req);
    if (!api)
        return ll_http_error (req, 404, "Not found.");
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    ll_agent_call_t call;
    //  The Lambda's token may post logs for any VM the allocator launched
    //  (ingest answers 404 for any other stream), a VM's only for itself
    bool lambda = ll_http_agent_service (req, S_LAMBDA_SCOPE);
    int rc = ll_agent_call_begin (&call, api,
                                  req->param_count ? req->params[0] : NULL,
                                  req->body, req->body_len, lambda);
    call.generation = req->agent_generation;
    if (rc == 0 || call.check_first) {
        bool own = lambda && call.scope && streq (call.scope, S_LAMBDA_SCOPE);
        if (!own && ll_http_agent_check (req, call.scope) != 0) {
            ll_agent_call_free (&call);
            return req->status;  //  refused
        }
        if (rc == 0 && ll_agent_call_request (&call, config) == 0) {
            const ll_exchange_t *x = ll_exchange (api->command);
            zmsg_t *reply = NULL;
            char *error = NULL;
            rc = req->client.call (&req->client, x->endpoint, api->command,
                                   &call.args, x->timeout_ms, &reply, &error);
            ll_agent_call_end (&call, rc, &reply, error);
            free (error);
            if (rc == 0 && call.touch && call.scope[0] != '_') {
                ll_ask_vm_touch (&req->client, call.scope, &error);
                free (error);
            }
        }
    }
    int status = ll_http_json (req, call.status, call.answer);
    call.answer = NULL;  //  taken
    ll_agent_call_free (&call);
    return status;
}
