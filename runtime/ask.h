/*  The exchanges of runtime/protocol.h, typed: one function per command,
    each ll_proto_ask with its command (written here once, inline, so that a
    new exchange's call is one place: its row in LL_EXCHANGES and its
    function here). Included by runtime/protocol.h. */
#ifndef LL_ASK_H
#define LL_ASK_H

#include "runtime/protocol.h"

//  Every function: 0 on OK (the payload in the pointers, new strings), or
//  -1 with *error (new string: the actor's reason or the call's failure).

//  registry
static inline int
ll_ask_health (ll_client_t *client, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_HEALTH);
}

static inline int
ll_ask_secret (ll_client_t *client, char **secret, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SECRET, secret);
}

//  hash: the agent token's (ll_token_hash); generation: the VM's current
static inline int
ll_ask_vm_auth (ll_client_t *client,
                const char *hostname,
                const char *hash,
                char **generation,
                char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_AUTH, hostname, hash,
                         generation);
}

static inline int
ll_ask_vm_status_set (ll_client_t *client,
                      const char *hostname,
                      const char *status,
                      char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_SET, hostname, status);
}

static inline int
ll_ask_vm_gpu_set (ll_client_t *client,
                   const char *hostname,
                   const char *gpu,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_GPU_SET, hostname, gpu);
}

static inline int
ll_ask_vm_inuse_set (ll_client_t *client,
                     const char *hostname,
                     bool in_use,
                     char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_INUSE_SET, hostname,
                         in_use ? "1" : "0");
}

//  crd_active "1", "0" or ""; disk_free_pct -1 when not given; waiting:
//  the VM's client waits for an assignment (last_polled_at)
static inline int
ll_ask_vm_heartbeat (ll_client_t *client,
                     const char *hostname,
                     const char *boot_id,
                     const char *crd_active,
                     long long disk_free_pct,
                     bool waiting,
                     char **error)
{
    char disk[24] = "";
    if (disk_free_pct >= 0)
        snprintf (disk, sizeof disk, "%lld", disk_free_pct);
    return ll_proto_ask (client, error, LL_CMD_VM_HEARTBEAT, hostname, boot_id,
                         crd_active, disk, waiting ? "1" : NULL);
}

static inline int
ll_ask_vm_touch (ll_client_t *client, const char *hostname, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_TOUCH, hostname);
}

//  values: the six metrics as text, "" when not given
static inline int
ll_ask_vm_metrics_set (ll_client_t *client,
                       const char *hostname,
                       const char *const values[6],
                       char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_METRICS_SET, hostname,
                         values[0], values[1], values[2], values[3], values[4],
                         values[5], NULL);
}

static inline int
ll_ask_vm_status_get (ll_client_t *client,
                      const char *hostname,
                      char **status,
                      char **stale,
                      char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_GET, hostname, status,
                         stale);
}

//  rows: [hostname status stale]...
static inline int
ll_ask_vm_status_all (ll_client_t *client, zmsg_t **rows, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_ALL, rows);
}

static inline int
ll_ask_vm_export (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_EXPORT, json);
}

//  scheduled_end: epoch seconds or ""; rows: [status count assigned stale
//  free undelivered]... (status "" = none)
static inline int
ll_ask_vm_fleet (ll_client_t *client,
                 char **scheduled_end,
                 zmsg_t **rows,
                 char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_FLEET, scheduled_end, rows);
}

//  hash: the new token's; actor "" when the caller audits; generation:
//  the new token's; created: "1" when the row was made, "0" when it existed
static inline int
ll_ask_vm_register (ll_client_t *client,
                    const char *hostname,
                    const char *hash,
                    const char *actor,
                    char **generation,
                    char **created,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_REGISTER, hostname, hash,
                         actor, generation, created);
}

//  assigner: outcome, then a, b and secret as VM-CLAIM says (NULL when
//  absent); proof: the claim secret shown or ""; access: the access code
//  typed or ""
static inline int
ll_ask_vm_claim (ll_client_t *client,
                 const char *email,
                 const char *code,
                 const char *address,
                 const char *proof,
                 const char *access,
                 char **outcome,
                 char **a,
                 char **b,
                 char **secret,
                 char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_CLAIM, email, code, address,
                         proof, access, outcome, a, b, secret);
}

static inline int
ll_ask_vm_count (ll_client_t *client, char **count, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_COUNT, count);
}

//  mode: reset, replace or reuse (claim.on_release); idle_s > 0: only
//  while the VM is still held and unused that long (the idle rule)
static inline int
ll_ask_vm_release (ll_client_t *client,
                   const char *hostname,
                   const char *actor,
                   int idle_s,
                   char **mode,
                   char **error)
{
    char idle[24];
    snprintf (idle, sizeof idle, "%d", idle_s);
    return ll_proto_ask (client, error, LL_CMD_VM_RELEASE, hostname, actor,
                         idle_s > 0 ? idle : NULL, mode);
}

//  generation: of the token the agent proved
static inline int
ll_ask_vm_reset_done (ll_client_t *client,
                      const char *hostname,
                      const char *reset_id,
                      bool ok,
                      const char *text,
                      long long generation,
                      char **error)
{
    char gen[24];
    snprintf (gen, sizeof gen, "%lld", generation);
    return ll_proto_ask (client, error, LL_CMD_VM_RESET_DONE, hostname,
                         reset_id, ok ? "1" : "0", text, gen);
}

//  hosts: the student's hostnames, one frame each
static inline int
ll_ask_claim_reset (ll_client_t *client,
                    const char *email,
                    const char *actor,
                    char **secret,
                    zmsg_t **hosts,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_CLAIM_RESET, email, actor,
                         secret, hosts);
}

//  hash: the secret's (ll_recovery_hash); first: the email, or LIMITED
//  with the seconds in rest; rest: [hostname status]...
static inline int
ll_ask_claim_who (ll_client_t *client,
                  const char *hash,
                  const char *address,
                  char **first,
                  zmsg_t **rest,
                  char **error)
{
    return ll_proto_ask (client, error, LL_CMD_CLAIM_WHO, hash, address, first,
                         rest);
}

//  generation: of the token the agent proved
static inline int
ll_ask_vm_result (ll_client_t *client,
                  const char *hostname,
                  bool ok,
                  const char *text,
                  long long generation,
                  char **error)
{
    char gen[24];
    snprintf (gen, sizeof gen, "%lld", generation);
    return ll_proto_ask (client, error, LL_CMD_VM_RESULT, hostname,
                         ok ? "1" : "0", text, gen);
}

//  waiters (VM-WAIT is a long call: ll_proto_args and ll_proto_payload)
static inline int
ll_ask_vm_unwait (ll_client_t *client,
                  const char *wait_request_id,
                  char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_UNWAIT, wait_request_id);
}

//  ingest
static inline int
ll_ask_log_append (ll_client_t *client,
                   const char *hostname,
                   const char *stream,
                   const char *source,
                   const char *seq,
                   const void *lines,
                   size_t size,
                   char **stored,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_LOG_APPEND, hostname, stream,
                         source, seq, lines, size, stored);
}

static inline int
ll_ask_log_read (ll_client_t *client,
                 const char *hostname,
                 const char *after,
                 int limit,
                 char **status,
                 zframe_t **rows,
                 char **error)
{
    char text[16];
    snprintf (text, sizeof text, "%d", limit);
    return ll_proto_ask (client, error, LL_CMD_LOG_READ, hostname, after, text,
                         status, rows);
}

//  terraform: LAUNCH, DESTROY, DESTROY-VM, REPLACE-VM answer the new
//  operation's id; OP-GET's op: the 11 fields, line-count, lines; OP-LIST's
//  rows: 10 fields per operation
static inline int
ll_ask_launch (ll_client_t *client,
               long long count,
               const char *who,
               char **id,
               char **error)
{
    char text[24];
    snprintf (text, sizeof text, "%lld", count);
    return ll_proto_ask (client, error, LL_CMD_LAUNCH, text, who, id);
}

static inline int
ll_ask_destroy (ll_client_t *client, const char *who, char **id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_DESTROY, who, id);
}

//  command: LL_CMD_DESTROY_VM, LL_CMD_REPLACE_VM, LL_CMD_REBOOT_VM (hosts:
//  1 to LL_BULK_MAX names, NULL-terminated) or LL_CMD_MOVE_VM (one name)
static inline int
ll_ask_vm_operation (ll_client_t *client,
                     const char *command,
                     const char *const *hosts,
                     const char *who,
                     char **id,
                     char **error)
{
    bool one = streq (command, LL_CMD_MOVE_VM);
    if (!one && !streq (command, LL_CMD_DESTROY_VM)
        && !streq (command, LL_CMD_REPLACE_VM)
        && !streq (command, LL_CMD_REBOOT_VM)) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    if (one)
        return ll_proto_ask (client, error, command, hosts[0], who, id);
    zmsg_t *more = zmsg_new ();
    for (size_t i = 1; hosts[0] && hosts[i]; i++)
        zmsg_addstr (more, hosts[i]);
    return ll_proto_ask (client, error, command, hosts[0], who, &more, id);
}

static inline int
ll_ask_export_destroy (ll_client_t *client,
                       const char *who,
                       char **id,
                       char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_DESTROY, who, id);
}

static inline int
ll_ask_op_get (ll_client_t *client,
               long long id,
               long long after,
               zmsg_t **op,
               char **error)
{
    char id_text[24], after_text[24];
    snprintf (id_text, sizeof id_text, "%lld", id);
    snprintf (after_text, sizeof after_text, "%lld", after);
    return ll_proto_ask (client, error, LL_CMD_OP_GET, id_text, after_text, op);
}

static inline int
ll_ask_op_list (ll_client_t *client,
                const char *limit,
                zmsg_t **rows,
                char **error)
{
    return ll_proto_ask (client, error, LL_CMD_OP_LIST, limit, rows);
}

//  exporter: EXPORT-READ's kind (DATA, WAIT, END, EMPTY) and what follows
//  it; EXPORT-STATUS's status: its 7 fields, then 5 per VM
//  filters: "host:<name>" / "email:<address>" frames (taken), or NULL for
//  every VM
static inline int
ll_ask_export_start (ll_client_t *client,
                     const char *who,
                     zmsg_t **filters,
                     char **id,
                     char **filename,
                     char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_START, who, filters, id,
                         filename);
}

static inline int
ll_ask_export_read (ll_client_t *client,
                    const char *id,
                    char **kind,
                    zmsg_t **rest,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_READ, id, kind, rest);
}

static inline int
ll_ask_export_cancel (ll_client_t *client, const char *id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_CANCEL, id);
}

static inline int
ll_ask_export_status (ll_client_t *client, zmsg_t **status, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_STATUS, status);
}

//  admin
static inline int
ll_ask_session_new (ll_client_t *client,
                    const char *id_hash,
                    const char *actor,
                    const char *address,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SESSION_NEW, id_hash, actor,
                         address);
}

static inline int
ll_ask_session_check (ll_client_t *client,
                      const char *id_hash,
                      int idle_s,
                      int max_s,
                      char **actor,
                      char **error)
{
    char idle[16], max[16];
    snprintf (idle, sizeof idle, "%d", idle_s);
    snprintf (max, sizeof max, "%d", max_s);
    return ll_proto_ask (client, error, LL_CMD_SESSION_CHECK, id_hash, idle,
                         max, actor);
}

static inline int
ll_ask_session_end (ll_client_t *client, const char *id_hash, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SESSION_END, id_hash);
}

static inline int
ll_ask_login_check (ll_client_t *client,
                    const char *address,
                    int window_s,
                    char **failures,
                    char **retry_after_s,
                    char **error)
{
    char window[16];
    snprintf (window, sizeof window, "%d", window_s);
    return ll_proto_ask (client, error, LL_CMD_LOGIN_CHECK, address, window,
                         failures, retry_after_s);
}

//  command: LL_CMD_LOGIN_FAILED or LL_CMD_LOGIN_OK
static inline int
ll_ask_login_result (ll_client_t *client,
                     const char *command,
                     const char *address,
                     char **error)
{
    if (!streq (command, LL_CMD_LOGIN_FAILED)
        && !streq (command, LL_CMD_LOGIN_OK)) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    return ll_proto_ask (client, error, command, address);
}

static inline int
ll_ask_audit (ll_client_t *client,
              const char *actor,
              const char *action,
              const char *target,
              const char *outcome,
              const char *detail,
              char **error)
{
    return ll_proto_ask (client, error, LL_CMD_AUDIT, actor, action, target,
                         outcome, detail);
}

static inline int
ll_ask_audit_list (ll_client_t *client,
                   const char *limit,
                   const char *before_id,
                   char **json,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_AUDIT_LIST, limit, before_id,
                         json);
}

//  hostname NULL: every VM
static inline int
ll_ask_admin_vms (ll_client_t *client,
                  const char *hostname,
                  char **json,
                  char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ADMIN_VMS, hostname, json);
}

//  json "" when there is no such VM
static inline int
ll_ask_vm_progress (ll_client_t *client,
                    const char *hostname,
                    char **json,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_PROGRESS, hostname, json);
}

static inline int
ll_ask_archives (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ARCHIVES, json);
}

//  command: LL_CMD_ARCHIVE_GET (value: the allocator keeping it),
//  LL_CMD_ARCHIVE_DELETE (value: the name) or LL_CMD_ARCHIVE_DONE (value
//  NULL)
static inline int
ll_ask_archive (ll_client_t *client,
                const char *command,
                const char *name,
                char **value,
                char **error)
{
    if (streq (command, LL_CMD_ARCHIVE_DONE))
        return ll_proto_ask (client, error, command, name);
    if (!streq (command, LL_CMD_ARCHIVE_GET)
        && !streq (command, LL_CMD_ARCHIVE_DELETE)) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    return ll_proto_ask (client, error, command, name, value);
}

//  scheduler
static inline int
ll_ask_dashboard (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_DASHBOARD, json);
}

//  epoch "" when no teardown is scheduled
static inline int
ll_ask_class_end (ll_client_t *client, char **epoch, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_CLASS_END, epoch);
}

//  values: name epoch rule who notify hours export, as SCHEDULE-ADD says
static inline int
ll_ask_schedule_add (ll_client_t *client,
                     const char *const values[7],
                     char **id,
                     char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SCHEDULE_ADD, values[0],
                         values[1], values[2], values[3], values[4], values[5],
                         values[6], id);
}

//  command: LL_CMD_SCHEDULE_LIST (arg: status), LL_CMD_SCHEDULE_GET (arg:
//  id): the JSON
static inline int
ll_ask_schedule_read (ll_client_t *client,
                      const char *command,
                      const char *arg,
                      char **json,
                      char **error)
{
    if (!streq (command, LL_CMD_SCHEDULE_LIST)
        && !streq (command, LL_CMD_SCHEDULE_GET)) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    return ll_proto_ask (client, error, command, arg, json);
}

static inline int
ll_ask_schedule_cancel (ll_client_t *client, const char *id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SCHEDULE_CANCEL, id);
}

static inline int
ll_ask_admin_vm_exists (ll_client_t *client,
                        const char *hostname,
                        char **exists,
                        char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ADMIN_VM_EXISTS, hostname,
                         exists);
}

#endif
