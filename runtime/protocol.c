/*  The codec of runtime/protocol.h: every exchange's pictures in one table,
    the functions that put values into frames and take them out, and the
    typed form of each exchange. */
#include "runtime/protocol.h"
#include "runtime/log.h"

#include <stdarg.h>

//  Every exchange of protocol.h's table
static const ll_exchange_t s_exchanges[] = {
#define S_ROW(command, endpoint, request, reply, timeout)                      \
    {command, endpoint, request, reply, timeout},
    LL_EXCHANGES (S_ROW)
#undef S_ROW
};

const ll_exchange_t *
ll_exchange (const char *command)
{
    for (size_t i = 0; command && i < sizeof s_exchanges / sizeof *s_exchanges;
         i++)
        if (streq (s_exchanges[i].command, command))
            return &s_exchanges[i];
    return NULL;
}

//  --- pictures ----------------------------------------------------------------

//  Add the values of args to msg per picture; -1 for a bad picture. Every
//  value is read from args (also those not sent), so what follows them
//  stays in place.
static int
s_put (zmsg_t *msg, const char *picture, va_list *args)
{
    bool optional = false, stop = false;
    for (const char *p = picture; *p; p++) {
        if (*p == '?')
            optional = true;
        else if (*p == 's') {
            const char *value = va_arg (*args, const char *);
            stop = stop || (optional && !value);
            if (!stop)
                zmsg_addstr (msg, value ? value : "");
        }
        else if (*p == 'b') {
            const void *data = va_arg (*args, const void *);
            size_t size = va_arg (*args, size_t);
            zmsg_addmem (msg, size ? data : NULL, size);
        }
        else if (*p == 'm') {
            zmsg_t **rest = va_arg (*args, zmsg_t **);
            zframe_t *frame;
            while (rest && *rest && (frame = zmsg_pop (*rest)))
                zmsg_append (msg, &frame);
            if (rest)
                zmsg_destroy (rest);
        }
        else
            return -1;
    }
    return 0;
}

//  True when the frames of msg fit picture (counts only: frames are bytes);
//  a row (prefix) may have more frames after its own.
static bool
s_fits (zmsg_t *msg, const char *picture, bool prefix)
{
    size_t needed = 0, most = 0;
    bool optional = false, rest = false;
    for (const char *p = picture; *p; p++) {
        if (*p == '?')
            optional = true;
        else if (*p == 'm')
            rest = true;
        else if (*p == 's' || *p == 'b') {
            most++;
            needed += optional ? 0 : 1;
        }
        else
            return false;
    }
    size_t frames = msg ? zmsg_size (msg) : 0;
    return frames >= needed && (rest || prefix || frames <= most);
}

//  Set every pointer of args to NULL (nothing was taken).
static void
s_clear (const char *picture, va_list *args)
{
    for (const char *p = picture; *p; p++)
        if (*p == 's' || *p == 'b' || *p == 'm') {
            void **out = va_arg (*args, void **);
            if (out)
                *out = NULL;
        }
}

//  Take the frames of msg into the pointers of args per picture: 0, or -1
//  (every pointer NULL) when they do not fit.
static int
s_take (zmsg_t *msg, const char *picture, bool prefix, va_list *args)
{
    if (!s_fits (msg, picture, prefix)) {
        s_clear (picture, args);
        return -1;
    }
    for (const char *p = picture; *p; p++) {
        if (*p == 's') {
            char **out = va_arg (*args, char **);
            char *value = zmsg_popstr (msg);
            if (out)
                *out = value;
            else
                free (value);
        }
        else if (*p == 'b') {
            zframe_t **out = va_arg (*args, zframe_t **);
            zframe_t *frame = zmsg_pop (msg);
            if (out)
                *out = frame;
            else
                zframe_destroy (&frame);
        }
        else if (*p == 'm') {
            zmsg_t **out = va_arg (*args, zmsg_t **);
            zmsg_t *rest = zmsg_new ();
            zframe_t *frame;
            while ((frame = zmsg_pop (msg)))
                zmsg_append (rest, &frame);
            if (out)
                *out = rest;
            else
                zmsg_destroy (&rest);
        }
    }
    return 0;
}

int
ll_msg_put (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_put (msg, picture, &args);
    va_end (args);
    return rc;
}

int
ll_msg_take (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_take (msg, picture, false, &args);
    va_end (args);
    return rc;
}

int
ll_msg_row (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_take (msg, picture, true, &args);
    va_end (args);
    return rc;
}

//  --- requests, replies, events -----------------------------------------------

zmsg_t *
ll_proto_args (const char *command, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return NULL;
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, command);
    s_put (msg, x->request, &args);
    va_end (args);
    return msg;
}

int
ll_proto_decode (const char *command, zmsg_t *msg, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    va_list args;
    va_start (args, msg);
    int rc = s_take (msg, x->request, false, &args);
    va_end (args);
    return rc;
}

int
ll_proto_payload (const char *command, zmsg_t **payload, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    va_list args;
    va_start (args, payload);
    int rc = x && x->reply ? s_take (*payload, x->reply, false, &args) : -1;
    va_end (args);
    zmsg_destroy (payload);
    return rc;
}

int
ll_proto_send (zsock_t *dealer,
               const char *command,
               const char *request_id,
               ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, request_id);
    va_list args;
    va_start (args, request_id);
    s_put (msg, x->request, &args);
    va_end (args);
    int rc = zmsg_send (&msg, dealer);
    zmsg_destroy (&msg);
    return rc;
}

int
ll_proto_recv (zsock_t *dealer,
               char **command,
               char **request_id,
               zmsg_t **payload,
               char **error)
{
    *command = *request_id = *error = NULL;
    *payload = NULL;
    zmsg_t *msg = zmsg_recv (dealer);
    char *status = NULL;
    if (!msg
        || ll_msg_take (msg, "sssm", command, request_id, &status, payload)
               != 0) {
        zmsg_destroy (&msg);
        *error = strdup (LL_REASON_BAD_REPLY);
        return -1;
    }
    zmsg_destroy (&msg);
    int rc = 0;
    if (!streq (status, "OK")) {
        *error = zmsg_popstr (*payload);
        if (!*error)
            *error = strdup (LL_REASON_BAD_REPLY);
        zmsg_destroy (payload);
        rc = -1;
    }
    free (status);
    return rc;
}

int
ll_proto_publish (zsock_t *pub, const char *command, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    va_list args;
    va_start (args, command);
    s_put (msg, x->request, &args);
    va_end (args);
    int rc = zmsg_send (&msg, pub);
    zmsg_destroy (&msg);
    return rc;
}

int
ll_proto_ask (ll_client_t *client, char **error, const char *command, ...)
{
    *error = NULL;
    const ll_exchange_t *x = ll_exchange (command);
    if (!x || !x->reply) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    va_list args;
    va_start (args, command);
    zmsg_t *msg = zmsg_new ();
    s_put (msg, x->request, &args);
    zmsg_t *reply = NULL;
    int rc = client->call (client, x->endpoint, command, &msg, x->timeout_ms,
                           &reply, error);
    if (rc != 0)
        s_clear (x->reply, &args);
    else if (s_take (reply, x->reply, false, &args) != 0) {
        *error = strdup (LL_REASON_BAD_REPLY);
        rc = -1;
    }
    va_end (args);
    zmsg_destroy (&msg);
    zmsg_destroy (&reply);
    return rc;
}

static int
s_dealer_call (ll_client_t *self,
               const char *endpoint,
               const char *command,
               zmsg_t **args,
               int timeout_ms,
               zmsg_t **reply,
               char **error)
{
    return ll_call (self->handle, command, args, timeout_ms, reply, error);
}

ll_client_t
ll_client_dealer (zsock_t *dealer)
{
    return (ll_client_t){.call = s_dealer_call, .handle = dealer};
}

//  --- the actor's side ---------------------------------------------------------

int
ll_request_take (ll_request_t *self, ...)
{
    const ll_exchange_t *x = ll_exchange (self->command);
    va_list args;
    va_start (args, self);
    int rc = x ? s_take (self->args, x->request, false, &args) : -1;
    va_end (args);
    if (rc != 0) {
        ll_warn ("%s: malformed %.40s request refused",
                 self->actor ? self->actor : "actor", self->command);
        ll_request_fail (self, LL_REASON_MALFORMED);
    }
    return rc;
}

int
ll_request_answer (ll_request_t *self, ...)
{
    const ll_exchange_t *x = ll_exchange (self->command);
    zmsg_t *payload = zmsg_new ();
    va_list args;
    va_start (args, self);
    if (x && x->reply)
        s_put (payload, x->reply, &args);
    va_end (args);
    return ll_request_reply_ok (self, self->router, &payload);
}

int
ll_request_fail (ll_request_t *self, const char *reason)
{
    return ll_request_reply_error (self, self->router, reason);
}

//  --- the exchanges, typed ------------------------------------------------------

int
ll_ask_health (ll_client_t *client, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_HEALTH);
}

int
ll_ask_secret (ll_client_t *client, char **secret, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SECRET, secret);
}

int
ll_ask_vm_auth (ll_client_t *client,
                const char *hostname,
                const char *hash,
                char **generation,
                char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_AUTH, hostname, hash,
                         generation);
}

int
ll_ask_vm_status_set (ll_client_t *client,
                      const char *hostname,
                      const char *status,
                      char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_SET, hostname, status);
}

int
ll_ask_vm_gpu_set (ll_client_t *client,
                   const char *hostname,
                   const char *gpu,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_GPU_SET, hostname, gpu);
}

int
ll_ask_vm_inuse_set (ll_client_t *client,
                     const char *hostname,
                     bool in_use,
                     char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_INUSE_SET, hostname,
                         in_use ? "1" : "0");
}

int
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

int
ll_ask_vm_touch (ll_client_t *client, const char *hostname, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_TOUCH, hostname);
}

int
ll_ask_vm_metrics_set (ll_client_t *client,
                       const char *hostname,
                       const char *const values[6],
                       char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_METRICS_SET, hostname,
                         values[0], values[1], values[2], values[3], values[4],
                         values[5], NULL);
}

int
ll_ask_vm_status_get (ll_client_t *client,
                      const char *hostname,
                      char **status,
                      char **stale,
                      char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_GET, hostname, status,
                         stale);
}

int
ll_ask_vm_status_all (ll_client_t *client, zmsg_t **rows, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_STATUS_ALL, rows);
}

int
ll_ask_vm_export (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_EXPORT, json);
}

int
ll_ask_vm_fleet (ll_client_t *client,
                 char **scheduled_end,
                 zmsg_t **rows,
                 char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_FLEET, scheduled_end, rows);
}

int
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

int
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

int
ll_ask_vm_count (ll_client_t *client, char **count, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_COUNT, count);
}

int
ll_ask_vm_release (ll_client_t *client,
                   const char *hostname,
                   const char *actor,
                   char **mode,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_RELEASE, hostname, actor,
                         mode);
}

int
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

int
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

int
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

int
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

int
ll_ask_vm_unwait (ll_client_t *client,
                  const char *wait_request_id,
                  char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_UNWAIT, wait_request_id);
}

int
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

int
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

int
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

int
ll_ask_destroy (ll_client_t *client, const char *who, char **id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_DESTROY, who, id);
}

int
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

int
ll_ask_export_destroy (ll_client_t *client,
                       const char *who,
                       char **id,
                       char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_DESTROY, who, id);
}

int
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

int
ll_ask_op_list (ll_client_t *client,
                const char *limit,
                zmsg_t **rows,
                char **error)
{
    return ll_proto_ask (client, error, LL_CMD_OP_LIST, limit, rows);
}

int
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

int
ll_ask_export_read (ll_client_t *client,
                    const char *id,
                    char **kind,
                    zmsg_t **rest,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_READ, id, kind, rest);
}

int
ll_ask_export_cancel (ll_client_t *client, const char *id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_CANCEL, id);
}

int
ll_ask_export_status (ll_client_t *client, zmsg_t **status, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_EXPORT_STATUS, status);
}

int
ll_ask_session_new (ll_client_t *client,
                    const char *id_hash,
                    const char *actor,
                    const char *address,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SESSION_NEW, id_hash, actor,
                         address);
}

int
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

int
ll_ask_session_end (ll_client_t *client, const char *id_hash, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SESSION_END, id_hash);
}

int
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

int
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

int
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

int
ll_ask_audit_list (ll_client_t *client,
                   const char *limit,
                   const char *before_id,
                   char **json,
                   char **error)
{
    return ll_proto_ask (client, error, LL_CMD_AUDIT_LIST, limit, before_id,
                         json);
}

int
ll_ask_admin_vms (ll_client_t *client,
                  const char *hostname,
                  char **json,
                  char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ADMIN_VMS, hostname, json);
}

int
ll_ask_vm_progress (ll_client_t *client,
                    const char *hostname,
                    char **json,
                    char **error)
{
    return ll_proto_ask (client, error, LL_CMD_VM_PROGRESS, hostname, json);
}

int
ll_ask_archives (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ARCHIVES, json);
}

int
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

int
ll_ask_dashboard (ll_client_t *client, char **json, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_DASHBOARD, json);
}

int
ll_ask_class_end (ll_client_t *client, char **epoch, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_CLASS_END, epoch);
}

int
ll_ask_schedule_add (ll_client_t *client,
                     const char *const values[7],
                     char **id,
                     char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SCHEDULE_ADD, values[0],
                         values[1], values[2], values[3], values[4], values[5],
                         values[6], id);
}

int
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

int
ll_ask_schedule_cancel (ll_client_t *client, const char *id, char **error)
{
    return ll_proto_ask (client, error, LL_CMD_SCHEDULE_CANCEL, id);
}

int
ll_ask_admin_vm_exists (ll_client_t *client,
                        const char *hostname,
                        char **exists,
                        char **error)
{
    return ll_proto_ask (client, error, LL_CMD_ADMIN_VM_EXISTS, hostname,
                         exists);
}
