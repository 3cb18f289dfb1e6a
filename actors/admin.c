#include "actors/admin.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"

#define LL_ADMIN_TICK_MS      500
#define LL_ADMIN_SWEEP_MS     60000
#define LL_ADMIN_FAILURE_KEEP "86400"  //  seconds failed logins are kept
#define LL_ADMIN_MAX_ARG      512      //  longest argument frame accepted

typedef struct {
    ll_actor_t actor;       //  pipe, ROUTER LL_ENDPOINT_ADMIN, database
    int64_t next_sweep_ms;  //  when expired rows are deleted next
} self_t;

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    ll_actor_init (&self->actor, "admin", pipe, runtime);
    self->next_sweep_ms = ll_now_ms () + LL_ADMIN_SWEEP_MS;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    ll_actor_fini (&self->actor);
    free (self);
    *self_p = NULL;
}

//  Take the request's n arguments into args (new strings): 0, or -1 when
//  they do not fit or one is longer than LL_ADMIN_MAX_ARG (answered).
static int
s_args (ll_request_t *req, char **args, int n)
{
    if (ll_request_take (req, &args[0], &args[1], &args[2], &args[3], &args[4])
        != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (strlen (args[i]) > LL_ADMIN_MAX_ARG) {
            ll_request_fail (req, LL_REASON_TOO_LONG);
            return -1;
        }
    return 0;
}

static void
s_args_free (char **args, int n)
{
    for (int i = 0; i < n; i++)
        free (args[i]);
}

static const char *
s_db_reason (self_t *self)
{
    const char *error = ll_db_error (self->actor.db);
    return *error ? error : LL_REASON_DATABASE;
}

//  Run statement with the request's n arguments; reply OK with no payload,
//  with the first column of the first row (value), or ERROR.
static void
s_run (
    self_t *self, ll_request_t *req, const char *statement, int n, bool value)
{
    char *args[5] = {NULL};
    if (s_args (req, args, n) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    PGresult *res =
        ll_db_exec (self->actor.db, statement, n, (const char *const *) args);
    if (res && !value)
        ll_request_answer (req);
    else if (res && PQntuples (res) == 1)
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    else
        ll_request_fail (req, s_db_reason (self));
    PQclear (res);
done:
    s_args_free (args, n);
}

static void
s_handle_session_new (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_session_create", 3, false);
}

static void
s_handle_session_end (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_session_delete", 1, false);
}

static void
s_handle_login_failed (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_login_failure_add", 1, false);
}

static void
s_handle_login_ok (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_login_failure_clear", 1, false);
}

static void
s_handle_audit_list (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_audit_list", 2, true);
}

//  ADMIN-VMS [hostname]: every VM, or that one
static void
s_handle_vms (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *host = NULL;
    if (ll_request_take (req, &host) != 0)
        return;
    if (host && strlen (host) > LL_ADMIN_MAX_ARG)
        ll_request_fail (req, LL_REASON_TOO_LONG);
    else {
        char stale[16];
        snprintf (stale, sizeof stale, "%d",
                  self->actor.runtime->config->agent.stale_after_s);
        const char *values[] = {stale, host && *host ? host : NULL};
        ll_db_ensure (self->actor.db);
        PGresult *res = ll_db_exec (self->actor.db, "admin_vm_list", 2, values);
        if (res && PQntuples (res) == 1)
            ll_request_answer (req, PQgetvalue (res, 0, 0));
        else
            ll_request_fail (req, s_db_reason (self));
        PQclear (res);
    }
    free (host);
}

static void
s_handle_archives (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_archive_list", 0, true);
}

static void
s_handle_archive_done (void *self, ll_request_t *req)
{
    s_run (self, req, "admin_archive_downloaded", 1, false);
}

//  ARCHIVE-GET / ARCHIVE-DELETE name: OK allocator / OK name, or ERROR
//  "not found"
static void
s_archive_row (self_t *self, ll_request_t *req, const char *statement)
{
    char *args[1] = {NULL};
    if (s_args (req, args, 1) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    const char *values[] = {args[0]};
    PGresult *res = ll_db_exec (self->actor.db, statement, 1, values);
    if (!res)
        ll_request_fail (req, s_db_reason (self));
    else if (PQntuples (res) != 1)
        ll_request_fail (req, LL_REASON_NOT_FOUND);
    else
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    PQclear (res);
done:
    s_args_free (args, 1);
}

static void
s_handle_archive_get (void *self, ll_request_t *req)
{
    s_archive_row (self, req, "admin_archive_get");
}

static void
s_handle_archive_delete (void *self, ll_request_t *req)
{
    s_archive_row (self, req, "admin_archive_delete");
}

//  VM-PROGRESS hostname: the row's JSON, "" when there is no such VM
static void
s_handle_vm_progress (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *args[1] = {NULL};
    if (s_args (req, args, 1) != 0)
        goto done;
    char stale[16];
    snprintf (stale, sizeof stale, "%d",
              self->actor.runtime->config->agent.stale_after_s);
    const char *values[] = {args[0], stale};
    ll_db_ensure (self->actor.db);
    PGresult *res = ll_db_exec (self->actor.db, "admin_vm_progress", 2, values);
    if (!res)
        ll_request_fail (req, s_db_reason (self));
    else
        ll_request_answer (req,
                           PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "");
    PQclear (res);
done:
    s_args_free (args, 1);
}

static void
s_handle_session_check (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *args[3] = {NULL};
    if (s_args (req, args, 3) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    const char *values[] = {args[0], args[1], args[2]};
    PGresult *res =
        ll_db_exec (self->actor.db, "admin_session_touch", 3, values);
    if (!res)
        ll_request_fail (req, s_db_reason (self));
    else if (PQntuples (res) != 1)
        ll_request_fail (req, LL_REASON_EXPIRED);
    else
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    PQclear (res);
done:
    s_args_free (args, 3);
}

static void
s_handle_login_check (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *args[2] = {NULL};
    if (s_args (req, args, 2) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    const char *values[] = {args[0], args[1]};
    PGresult *res =
        ll_db_exec (self->actor.db, "admin_login_failure_count", 2, values);
    if (res && PQntuples (res) == 1)
        ll_request_answer (req, PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
    else
        ll_request_fail (req, s_db_reason (self));
    PQclear (res);
done:
    s_args_free (args, 2);
}

static void
s_handle_audit (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *args[5] = {NULL};
    if (s_args (req, args, 5) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    //  Empty target and detail are stored as NULL
    const char *values[] = {args[0], args[1], *args[2] ? args[2] : NULL,
                            args[3], *args[4] ? args[4] : NULL};
    PGresult *res = ll_db_exec (self->actor.db, "admin_audit_add", 5, values);
    if (res)
        ll_request_answer (req);
    else
        ll_request_fail (req, s_db_reason (self));
    PQclear (res);
done:
    s_args_free (args, 5);
}

static void
s_handle_vm_exists (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *args[1] = {NULL};
    if (s_args (req, args, 1) != 0)
        goto done;
    ll_db_ensure (self->actor.db);
    const char *values[] = {args[0]};
    PGresult *res = ll_db_exec (self->actor.db, "admin_vm_exists", 1, values);
    if (res)
        ll_request_answer (req, PQntuples (res) > 0 ? "1" : "0");
    else
        ll_request_fail (req, s_db_reason (self));
    PQclear (res);
done:
    s_args_free (args, 1);
}

//  Served on LL_ENDPOINT_ADMIN
static const ll_handler_t s_handlers[] = {
    {LL_CMD_SESSION_CHECK, s_handle_session_check},
    {LL_CMD_AUDIT, s_handle_audit},
    {LL_CMD_SESSION_NEW, s_handle_session_new},
    {LL_CMD_SESSION_END, s_handle_session_end},
    {LL_CMD_LOGIN_CHECK, s_handle_login_check},
    {LL_CMD_LOGIN_FAILED, s_handle_login_failed},
    {LL_CMD_LOGIN_OK, s_handle_login_ok},
    {LL_CMD_AUDIT_LIST, s_handle_audit_list},
    {LL_CMD_ADMIN_VMS, s_handle_vms},
    {LL_CMD_ADMIN_VM_EXISTS, s_handle_vm_exists},
    {LL_CMD_VM_PROGRESS, s_handle_vm_progress},
    {LL_CMD_ARCHIVES, s_handle_archives},
    {LL_CMD_ARCHIVE_GET, s_handle_archive_get},
    {LL_CMD_ARCHIVE_DONE, s_handle_archive_done},
    {LL_CMD_ARCHIVE_DELETE, s_handle_archive_delete},
    {NULL, NULL},
};

//  Every minute: delete sessions past their lifetime and failures past a
//  day.
static void
s_self_tick (void *arg)
{
    self_t *self = arg;
    if (ll_now_ms () < self->next_sweep_ms
        || ll_db_ensure (self->actor.db) != 0)
        return;
    self->next_sweep_ms = ll_now_ms () + LL_ADMIN_SWEEP_MS;
    char idle[16];
    snprintf (idle, sizeof idle, "%d",
              self->actor.runtime->config->app.session_idle_s);
    char max[16];
    snprintf (max, sizeof max, "%d", LL_ADMIN_SESSION_MAX_S);
    const char *sessions[] = {idle, max};
    PQclear (ll_db_exec (self->actor.db, "admin_session_expire", 2, sessions));
    const char *failures[] = {LL_ADMIN_FAILURE_KEEP};
    PQclear (
        ll_db_exec (self->actor.db, "admin_login_failure_expire", 1, failures));
}

static const ll_actor_class_t s_class = {
    .endpoint = LL_ENDPOINT_ADMIN,
    .database = true,
    .handlers = s_handlers,
    .tick_ms = LL_ADMIN_TICK_MS,
    .tick = s_self_tick,
};

void
admin_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    ll_actor_run (&self->actor, &s_class, self);
    s_self_destroy (&self);
}
