/*  The one route table of the allocator. Every route the HTTP edge serves is
    listed in http/routes.c with its auth class, so none can be missed.
    Handlers live in http/routes_<audience>.c. */
#ifndef LL_HTTP_ROUTES_H
#define LL_HTTP_ROUTES_H

#include "http/auth.h"
#include "http/server.h"
#include "runtime/crd.h"
#include "runtime/recovery.h"

//  The table and its length.
const ll_route_t *ll_routes (size_t *count);

//  routes_public.c
int ll_route_health (ll_http_req_t *req);
int ll_route_metrics (ll_http_req_t *req);
int ll_route_index (ll_http_req_t *req);
int ll_route_static (ll_http_req_t *req);

//  routes_admin.c: login, logout and the admin console pages
int ll_route_admin_login_page (ll_http_req_t *req);
int ll_route_admin_login (ll_http_req_t *req);
int ll_route_admin_logout (ll_http_req_t *req);
int ll_route_admin (ll_http_req_t *req);
int ll_route_admin_create (ll_http_req_t *req);
int ll_route_admin_instances (ll_http_req_t *req);
int ll_route_admin_delete (ll_http_req_t *req);
int ll_route_admin_logs (ll_http_req_t *req);
int ll_route_admin_audit (ll_http_req_t *req);

//  routes_student.c
int ll_route_student_index (ll_http_req_t *req);
int ll_route_request_vm (ll_http_req_t *req);
int ll_route_unassigned_count (ll_http_req_t *req);
int ll_route_release_vm (ll_http_req_t *req);
int ll_route_claim_reset (ll_http_req_t *req);
int ll_route_claim_get (ll_http_req_t *req);
int ll_route_claim_post (ll_http_req_t *req);

//  routes_agent.c: /vm_startup, and every POST of the agent API
//  (http/agent_api.h's table: the route's pattern picks the row)
int ll_route_vm_startup (ll_http_req_t *req);
int ll_route_agent (ll_http_req_t *req);

//  routes_credentials.c
int ll_route_vm_register (ll_http_req_t *req);

//  routes_operations.c (provision)
int ll_route_launch (ll_http_req_t *req);
int ll_route_destroy (ll_http_req_t *req);
int ll_route_vm_destroy (ll_http_req_t *req);
int ll_route_vm_replace (ll_http_req_t *req);
int ll_route_operations (ll_http_req_t *req);
int ll_route_operation (ll_http_req_t *req);
int ll_route_operation_events (ll_http_req_t *req);
int ll_route_operation_page (ll_http_req_t *req);
//  The id in the path (its first parameter): a positive integer of at most
//  digits digits, else -1 (routes_schedule.c too).
long long ll_route_path_id (ll_http_req_t *req, size_t digits);
//  Answer the terraform actor's answer to a command that starts an
//  operation (rc, the new id and error: taken; ll_ask_launch...) the way
//  the client wants it: JSON 202 {"operation_id"} or the progress page;
//  409 busy (with the running operation's id) or over budget, 404 unknown
//  VM, 503.
int ll_operation_start (
    ll_http_req_t *req, const char *title, int rc, char *id_text, char *error);
//  Ask the terraform actor for command (REBOOT-VM, REPLACE-VM, DESTROY-VM)
//  on hosts (NULL-terminated) for who, and answer as ll_operation_start.
int ll_operation_vms (ll_http_req_t *req,
                      const char *title,
                      const char *command,
                      const char *const *hosts,
                      const char *who);

//  routes_console.c: running a class (issue 16)
int ll_route_reboot_vm (ll_http_req_t *req);
int ll_route_reboot_info (ll_http_req_t *req);
int ll_route_vms_bulk (ll_http_req_t *req);
int ll_route_dashboard (ll_http_req_t *req);
int ll_route_dashboard_events (ll_http_req_t *req);

//  routes_progress.c: the student's live view of their VM
int ll_route_vm_progress (ll_http_req_t *req);
int ll_route_vm_page (ll_http_req_t *req);
int ll_route_vm_student_release (ll_http_req_t *req);
//  The token of a progress link: HMAC of host, the student's email and the
//  assignment's time (microseconds since 1970, as text); 32 hex characters
//  into out. 0 or -1.
int ll_progress_token (ll_http_req_t *req,
                       const char *host,
                       const char *email,
                       const char *assigned_us,
                       char *out,
                       size_t size);
//  The token of host's current assignment (reads the row); 0 or -1.
int
ll_progress_link (ll_http_req_t *req, const char *host, char *out, size_t size);
//  Append the values of the live partial (http/assets/vm-live.html: PIN,
//  steps, message, todo, new-command form) for a VM view (NULL: just
//  claimed, nothing delivered yet) to the NULL terminated page values vars
//  (size entries, LL_LIVE_VARS of them free).
#define LL_LIVE_VARS 20
void ll_progress_live (json_t *view, const char **vars, size_t size);
//  Plain words for the agent's start-host failure text, and what the
//  student should do (static strings).
void
ll_start_host_advice (const char *error, const char **plain, const char **todo);

//  routes_schedule.c: scheduled teardown (upstream's API) and its page
int ll_route_schedule_create (ll_http_req_t *req);
int ll_route_schedule_list (ll_http_req_t *req);
int ll_route_schedule_get (ll_http_req_t *req);
int ll_route_schedule_cancel (ll_http_req_t *req);
int ll_route_schedule_page (ll_http_req_t *req);
int ll_route_class_end (ll_http_req_t *req);

//  routes_export.c
int ll_route_export_zip (ll_http_req_t *req);
int ll_route_export_status (ll_http_req_t *req);
int ll_route_exports (ll_http_req_t *req);
int ll_route_export_file (ll_http_req_t *req);
int ll_route_export_delete (ll_http_req_t *req);
int ll_route_export_destroy (ll_http_req_t *req);

//  A Range header ("bytes=a-b", "bytes=a-", "bytes=-n") for a file of size
//  bytes: 1 with the inclusive range in *from..*to, 0 when it is absent or
//  not understood (RFC 9110: the whole file then), -1 when unsatisfiable
//  (416).
int ll_http_range_parse (const char *header,
                         uint64_t size,
                         uint64_t *from,
                         uint64_t *to);

//  routes_telemetry.c
int ll_route_vm_status_all (ll_http_req_t *req);
int ll_route_vm_status_get (ll_http_req_t *req);
int ll_route_export_metrics (ll_http_req_t *req);

//  routes_logs.c
int ll_route_vm_logs_get (ll_http_req_t *req);
int ll_route_vm_logs_events (ll_http_req_t *req);

//  Shared by routes_telemetry.c and routes_logs.c (defined in the first):
//  the outcome of an actor call (rc, error taken): 0, or -1 with
//  *not_found telling whether the actor said LL_REASON_NOT_FOUND;
int ll_route_outcome (int rc, char *error, bool *not_found);
//  record that a VM called (last_seen_at) when it authenticated with its
//  own token (writes of the registry do it themselves);
void ll_route_touch (ll_http_req_t *req, const char *hostname);
//  the string member key of obj, or NULL when absent, null, not a string
//  or empty.
const char *ll_route_string (json_t *obj, const char *key);

//  --- agent route bodies, checked without any I/O (tests/fuzz) ----------
//  Each parser reads len bytes of a request body; 0 when it is sound, else
//  -1 with error set to the 400 message. Handlers send nothing else.

//  A simple agent route's body once checked; strings borrow from doc.
typedef struct {
    json_t *doc;        //  the parsed body (owned), NULL when not JSON
    const char *error;  //  the 400 message, NULL when the body is sound
    bool check_first;   //  error is told only after the token check
    const char *host;   //  the VM the body is about (the token's scope)
    const char *value;  //  the new state: status, gpu_status, "1" / "0"
    const char *text;   //  result error text, heartbeat boot_id ("" none)
    const char *flag;   //  heartbeat crd_active: "1", "0" or "" (none)
    long long number;   //  heartbeat disk_free_pct, -1 when absent
    const char *id;     //  reset result: the reset_id (32 hex)
} ll_agent_body_t;

//  Parse body into out (cleared first); 0, or -1 with out->error when it is
//  not a JSON object.
int ll_agent_body_begin (const char *body, size_t len, ll_agent_body_t *out);

void ll_agent_body_free (ll_agent_body_t *self);

//  routes_agent.c: /vm_startup (hostname), /api/vm-startup-result
int ll_vm_startup_parse (const char *body, size_t len, ll_agent_body_t *out);
int
ll_vm_startup_result_parse (const char *body, size_t len, ll_agent_body_t *out);
//  /api/vm-reset-result: hostname, reset_id, success (value "1" / "0"),
//  error (text)
int
ll_vm_reset_result_parse (const char *body, size_t len, ll_agent_body_t *out);

//  routes_telemetry.c: /api/vm-status, /api/gpu_health,
//  /api/update_inuse_status, /api/heartbeat
int ll_vm_status_parse (const char *body, size_t len, ll_agent_body_t *out);
int ll_gpu_health_parse (const char *body, size_t len, ll_agent_body_t *out);
int ll_inuse_status_parse (const char *body, size_t len, ll_agent_body_t *out);
int ll_heartbeat_parse (const char *body, size_t len, ll_agent_body_t *out);

//  /api/vm-metrics/<hostname>: six values (cloud-init start, end,
//  duration, container start, end, duration) and which were given.
typedef struct {
    double values[6];  //  epoch seconds or seconds
    bool given[6];     //  the value was in the body
    char error[160];   //  the 400 message or ""
} ll_vm_metrics_t;

int ll_vm_metrics_parse (const char *body, size_t len, ll_vm_metrics_t *out);

//  routes_logs.c: /api/vm-logs, the Lambda's, the agent's or the raw
//  CloudWatch shape
//  (awslogs.data decoded and mapped onto the Lambda's names).
typedef struct {
    json_t *doc;         //  the parsed body (owned)
    json_t *decoded;     //  the CloudWatch payload, mapped (owned) or NULL
    bool control;        //  a CloudWatch CONTROL_MESSAGE: nothing to store
    char error[128];     //  the 400 message or ""
    const char *group;   //  log_group
    const char *host;    //  log_stream = the VM
    json_t *messages;    //  array of strings (borrowed)
    const char *stream;  //  cloud_init | docker | agent
    char source[17];     //  agent batch source or ""
    char seq[24];        //  agent batch sequence or ""
} ll_vm_logs_t;

int ll_vm_logs_parse (const char *body, size_t len, ll_vm_logs_t *out);
void ll_vm_logs_free (ll_vm_logs_t *self);

//  routes_student.c: the claim form (email, crd_command, and the optional
//  recovery_code and access_code), checked without I/O. 0 with email
//  (trimmed) and code; -1 with error set to the message the page shows
//  (with the email shown back when keep_email). A recovery code that is
//  not one is kept as "" (the claim then proves nothing).
#define LL_CLAIM_EMAIL_MAX  254
#define LL_CLAIM_ACCESS_MAX 256
typedef struct {
    char email[LL_CLAIM_EMAIL_MAX + 2];    //  trimmed
    char command[LL_CRD_COMMAND_MAX + 2];  //  as posted
    char code[LL_CRD_CODE_MAX + 1];        //  the validated CRD code
    char recovery[LL_RECOVERY_LEN + 1];    //  canonical recovery code or ""
    char access[LL_CLAIM_ACCESS_MAX + 2];  //  the class access code or ""
    const char *error;                     //  NULL, or the page's message
    bool keep_email;                       //  show the email back
} ll_claim_form_t;

int ll_claim_form_parse (const char *body, size_t len, ll_claim_form_t *out);

//  Send an embedded asset by name (404 when absent).
int ll_http_send_asset (ll_http_req_t *req, const char *name);

#endif
