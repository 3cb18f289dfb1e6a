#include "http/agent_api.h"
#include "runtime/logline.h"
#include "runtime/textbuf.h"

#define S_LAMBDA_SCOPE    "_lambda"
#define S_RESULT_TEXT_MAX 1000  //  bytes of a start-host error kept

void
ll_agent_call_refuse (ll_agent_call_t *call, int status, const char *message)
{
    json_decref (call->answer);
    call->status = status;
    call->answer = json_pack ("{s:s}", "error", message);
}

//  Answer {"message": message}
static void
s_say (ll_agent_call_t *call, int status, const char *message)
{
    json_decref (call->answer);
    call->status = status;
    call->answer = json_pack ("{s:s}", "message", message);
}

//  --- the bodies ---------------------------------------------------------------

//  A simple body (ll_agent_body_t, the row's parser): its VM is the
//  token's scope
static int
s_parse_body (ll_agent_call_t *call,
              const char *param,
              const char *body,
              size_t len)
{
    int rc = call->api->body (body, len, &call->body);
    call->scope = call->body.host;
    if (rc != 0) {
        call->check_first = call->body.check_first;
        ll_agent_call_refuse (call, 400, call->body.error);
    }
    return rc;
}

//  /api/vm-metrics/<hostname>: the path names the VM, the body is told
//  after its token check
static int
s_parse_metrics (ll_agent_call_t *call,
                 const char *param,
                 const char *body,
                 size_t len)
{
    call->scope = param;
    if (ll_vm_metrics_parse (body, len, &call->metrics) == 0)
        return 0;
    call->check_first = true;
    ll_agent_call_refuse (call, 400, call->metrics.error);
    return -1;
}

//  /api/vm-logs: the Lambda's token may post for any VM, a VM's only for
//  itself; a CloudWatch control message is the Lambda's alone
static int
s_parse_logs (ll_agent_call_t *call,
              const char *param,
              const char *body,
              size_t len)
{
    if (ll_vm_logs_parse (body, len, &call->logs) != 0) {
        ll_agent_call_refuse (call, 400, call->logs.error);
        return -1;
    }
    call->scope =
        call->logs.control || call->lambda ? S_LAMBDA_SCOPE : call->logs.host;
    return 0;
}

//  --- the actor requests ------------------------------------------------------

//  VM-STATUS-SET, VM-GPU-SET, VM-INUSE-SET: hostname value
static void
s_request_value (ll_agent_call_t *call, const ll_config_t *config)
{
    call->args =
        ll_proto_args (call->api->command, call->body.host, call->body.value);
}

static void
s_request_heartbeat (ll_agent_call_t *call, const ll_config_t *config)
{
    char disk[24] = "";
    if (call->body.number >= 0)
        snprintf (disk, sizeof disk, "%lld", call->body.number);
    //  waiting: absent unless the client waits for an assignment
    call->args = ll_proto_args (LL_CMD_VM_HEARTBEAT, call->body.host,
                                call->body.text, call->body.flag, disk,
                                *call->body.value ? call->body.value : NULL);
}

//  An agent's report, from the agent of the token generation it proved:
//  VM-RESULT hostname 1|0 error generation, or VM-RESET-DONE with the
//  reset's id after the hostname (issue 15 section 3)
static void
s_request_report (ll_agent_call_t *call, const ll_config_t *config)
{
    char text[S_RESULT_TEXT_MAX + 1], gen[24];
    snprintf (text, sizeof text, "%s", call->body.text);
    snprintf (gen, sizeof gen, "%lld", call->generation);
    const ll_agent_body_t *b = &call->body;
    call->args =
        streq (call->api->command, LL_CMD_VM_RESET_DONE)
            ? ll_proto_args (LL_CMD_VM_RESET_DONE, b->host, b->id, b->value,
                             text, gen)
            : ll_proto_args (LL_CMD_VM_RESULT, b->host, b->value, text, gen);
}

static void
s_request_metrics (ll_agent_call_t *call, const ll_config_t *config)
{
    char text[6][32];
    for (int i = 0; i < 6; i++) {
        text[i][0] = '\0';
        if (call->metrics.given[i])
            snprintf (text[i], sizeof text[i], "%.6f", call->metrics.values[i]);
    }
    call->args = ll_proto_args (LL_CMD_VM_METRICS_SET, call->scope, text[0],
                                text[1], text[2], text[3], text[4], text[5]);
}

//  The lines cleaned (ll_logline_clean); nothing left and too many are
//  answered here
static void
s_request_logs (ll_agent_call_t *call, const ll_config_t *config)
{
    ll_vm_logs_t *post = &call->logs;
    if (post->control) {
        s_say (call, 200, "Control message ignored.");
        return;
    }
    ll_textbuf_t lines = {0};
    size_t count = 0;
    size_t i;
    json_t *m;
    json_array_foreach (post->messages, i, m)
    {
        count +=
            ll_logline_clean (json_string_value (m), json_string_length (m),
                              (size_t) config->logs.line_max, &lines, NULL);
    }
    if (count == 0)
        s_say (call, 200, "No log messages after filtering.");
    else if (count > LL_LOG_APPEND_MAX_LINES) {
        char message[96];
        snprintf (message, sizeof message,
                  "Too many log lines in one post (at most %d).",
                  LL_LOG_APPEND_MAX_LINES);
        ll_agent_call_refuse (call, 413, message);
    }
    else {
        call->args =
            ll_proto_args (LL_CMD_LOG_APPEND, post->host, post->stream,
                           post->source, post->seq, lines.data, lines.len);
        call->touch = !call->lambda;
    }
    ll_textbuf_free (&lines);
}

//  --- the answers ------------------------------------------------------------

static json_t *
s_heartbeat_ok (ll_agent_call_t *call, zmsg_t **payload)
{
    return json_pack ("{s:b}", "ok", 1);
}

static json_t *
s_logs_ok (ll_agent_call_t *call, zmsg_t **payload)
{
    char *stored = NULL;
    ll_proto_payload (LL_CMD_LOG_APPEND, payload, &stored);
    bool duplicate = stored && streq (stored, LL_LOG_DUPLICATE);
    json_int_t count =
        duplicate || !stored ? 0 : (json_int_t) strtoll (stored, NULL, 10);
    free (stored);
    return json_pack ("{s:s, s:I, s:b}", "message",
                      "VM logs posted successfully.", "stored", count,
                      "duplicate", duplicate);
}

//  --- the table ------------------------------------------------------------------

static const ll_agent_api_t s_agent_api[] = {
    {"/api/heartbeat", LL_CMD_VM_HEARTBEAT, ll_heartbeat_parse, s_parse_body,
     s_request_heartbeat, s_heartbeat_ok, NULL, "Unknown hostname.",
     "Failed to record heartbeat.", 500},
    {"/api/vm-status", LL_CMD_VM_STATUS_SET, ll_vm_status_parse, s_parse_body,
     s_request_value, NULL, "VM status updated successfully.", "VM not found.",
     "Failed to update VM status.", 500},
    {"/api/vm-logs", LL_CMD_LOG_APPEND, NULL, s_parse_logs, s_request_logs,
     s_logs_ok, NULL, "VM not found.", "Failed to post VM logs.", 500},
    {"/api/gpu_health", LL_CMD_VM_GPU_SET, ll_gpu_health_parse, s_parse_body,
     s_request_value, NULL, "GPU health status updated successfully.",
     "VM not found.", "Failed to update GPU health status.", 500},
    {"/api/update_inuse_status", LL_CMD_VM_INUSE_SET, ll_inuse_status_parse,
     s_parse_body, s_request_value, NULL, "In-use status updated successfully.",
     "VM not found.", "Failed to update in-use status.", 500},
    {"/api/vm-metrics/{}", LL_CMD_VM_METRICS_SET, NULL, s_parse_metrics,
     s_request_metrics, NULL, "VM metrics posted successfully.",
     "VM not found.", "Failed to post VM metrics.", 500},
    {"/api/vm-startup-result", LL_CMD_VM_RESULT, ll_vm_startup_result_parse,
     s_parse_body, s_request_report, NULL, "Result recorded.", "VM not found.",
     "Cannot record now: database unavailable.", 503},
    {"/api/vm-reset-result", LL_CMD_VM_RESET_DONE, ll_vm_reset_result_parse,
     s_parse_body, s_request_report, NULL, "Reset recorded.", "VM not found.",
     "Cannot record now: database unavailable.", 503},
};

const ll_agent_api_t *
ll_agent_api (size_t *count)
{
    *count = sizeof s_agent_api / sizeof *s_agent_api;
    return s_agent_api;
}

const ll_agent_api_t *
ll_agent_api_match (const char *path, char *param, size_t size)
{
    size_t count;
    const ll_agent_api_t *api = ll_agent_api (&count);
    for (size_t i = 0; i < count; i++) {
        char *params[LL_HTTP_MAX_PARAMS];
        int n = 0;
        if (!ll_http_match (api[i].path, path, params, &n))
            continue;
        if (size)
            snprintf (param, size, "%s", n ? params[0] : "");
        for (int k = 0; k < n; k++)
            free (params[k]);
        return &api[i];
    }
    return NULL;
}

int
ll_agent_call_begin (ll_agent_call_t *call,
                     const ll_agent_api_t *api,
                     const char *param,
                     const char *body,
                     size_t len,
                     bool lambda)
{
    memset (call, 0, sizeof *call);
    call->api = api;
    call->lambda = lambda;
    return api->parse (call, param, body, len);
}

int
ll_agent_call_request (ll_agent_call_t *call, const ll_config_t *config)
{
    call->api->request (call, config);
    return call->args ? 0 : -1;
}

void
ll_agent_call_end (ll_agent_call_t *call,
                   int rc,
                   zmsg_t **payload,
                   const char *error)
{
    const ll_agent_api_t *api = call->api;
    if (rc == 0) {
        json_decref (call->answer);
        call->status = 200;
        call->answer = api->ok_body ? api->ok_body (call, payload)
                                    : json_pack ("{s:s}", "message", api->ok);
    }
    else if (error && streq (error, LL_REASON_NOT_FOUND))
        ll_agent_call_refuse (call, 404, api->not_found);
    else if (error && streq (error, LL_REASON_REVOKED))
        ll_agent_call_refuse (call, 401, "token revoked");
    else if (error && streq (error, LL_REASON_STALE))
        ll_agent_call_refuse (call, 409, "This reset is no longer current.");
    else
        ll_agent_call_refuse (call, api->failure_status, api->failure);
    if (payload)
        zmsg_destroy (payload);
}

char *
ll_agent_call_text (ll_agent_call_t *call)
{
    char *text =
        call->answer
            ? json_dumps (call->answer, JSON_COMPACT | JSON_REAL_PRECISION (12))
            : NULL;
    return text ? text : strdup ("{}");
}

void
ll_agent_call_free (ll_agent_call_t *call)
{
    json_decref (call->answer);
    call->answer = NULL;
    zmsg_destroy (&call->args);
    ll_agent_body_free (&call->body);
    ll_vm_logs_free (&call->logs);
}
