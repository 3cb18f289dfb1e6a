#include "actors/admin.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"

#define LL_ADMIN_TICK_MS      500
#define LL_ADMIN_SWEEP_MS     60000
#define LL_ADMIN_FAILURE_KEEP "86400"  //  seconds failed logins are kept
#define LL_ADMIN_MAX_ARG      512      //  longest argument frame accepted

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_ADMIN
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  our PostgreSQL connection
    int64_t next_sweep_ms;  //  when expired rows are deleted next
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->router);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_ADMIN) != 0)
        return "cannot bind " LL_ENDPOINT_ADMIN;
    self->db = ll_db_new (self->runtime->config, self->runtime->stats, "admin");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("admin: postgresql unavailable, will retry: %s",
                 ll_db_error (self->db));
    self->started = true;
    self->next_sweep_ms = ll_now_ms () + LL_ADMIN_SWEEP_MS;
    return NULL;
}

static void
s_self_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, LL_CMD_TERM))
        self->terminated = true;
    else if (command && streq (command, LL_CMD_START))
        ll_actor_started (self->pipe, s_self_start (self));
    free (command);
    zmsg_destroy (&msg);
}

//  Pop up to n argument frames into args (new strings, "" when missing);
//  false when any is longer than LL_ADMIN_MAX_ARG.
static bool
s_args (ll_request_t *req, char **args, int n)
{
    bool ok = true;
    for (int i = 0; i < n; i++) {
        args[i] = zmsg_popstr (req->args);
        if (!args[i])
            args[i] = strdup ("");
        if (strlen (args[i]) > LL_ADMIN_MAX_ARG)
            ok = false;
    }
    return ok;
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
    const char *error = ll_db_error (self->db);
    return *error ? error : "database unavailable";
}

//  Run statement with the n args; reply OK (no payload) or ERROR.
static void
s_exec_reply (self_t *self,
              ll_request_t *req,
              const char *statement,
              const char *const *values,
              int n)
{
    ll_db_ensure (self->db);
    PGresult *res = ll_db_exec (self->db, statement, n, values);
    if (res)
        ll_request_reply_ok (req, self->router, NULL);
    else
        ll_request_reply_error (req, self->router, s_db_reason (self));
    PQclear (res);
}

//  Run statement and reply OK with the first column of the first row.
static void
s_value_reply (self_t *self,
               ll_request_t *req,
               const char *statement,
               const char *const *values,
               int n)
{
    ll_db_ensure (self->db);
    PGresult *res = ll_db_exec (self->db, statement, n, values);
    if (res && PQntuples (res) == 1) {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    else
        ll_request_reply_error (req, self->router, s_db_reason (self));
    PQclear (res);
}

static void
s_handle_session_check (self_t *self, ll_request_t *req, char **args)
{
    ll_db_ensure (self->db);
    const char *values[] = {args[0], args[1], args[2]};
    PGresult *res = ll_db_exec (self->db, "admin_session_touch", 3, values);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (PQntuples (res) != 1)
        ll_request_reply_error (req, self->router, "expired");
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
}

static void
s_handle_login_check (self_t *self, ll_request_t *req, char **args)
{
    ll_db_ensure (self->db);
    const char *values[] = {args[0], args[1]};
    PGresult *res =
        ll_db_exec (self->db, "admin_login_failure_count", 2, values);
    if (res && PQntuples (res) == 1) {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        zmsg_addstr (payload, PQgetvalue (res, 0, 1));
        ll_request_reply_ok (req, self->router, &payload);
    }
    else
        ll_request_reply_error (req, self->router, s_db_reason (self));
    PQclear (res);
}

static void
s_handle_vm_exists (self_t *self, ll_request_t *req, char **args)
{
    ll_db_ensure (self->db);
    const char *values[] = {args[0]};
    PGresult *res = ll_db_exec (self->db, "admin_vm_exists", 1, values);
    if (res) {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQntuples (res) > 0 ? "1" : "0");
        ll_request_reply_ok (req, self->router, &payload);
    }
    else
        ll_request_reply_error (req, self->router, s_db_reason (self));
    PQclear (res);
}

static void
s_self_handle_router (self_t *self)
{
    ll_request_t *req = ll_request_recv (self->router);
    if (!req)
        return;
    char *args[5] = {NULL};
    const char *cmd = req->command;
    int n = streq (cmd, LL_CMD_AUDIT)             ? 5
            : streq (cmd, LL_CMD_SESSION_NEW)     ? 3
            : streq (cmd, LL_CMD_SESSION_CHECK)   ? 3
            : streq (cmd, LL_CMD_LOGIN_CHECK)     ? 2
            : streq (cmd, LL_CMD_AUDIT_LIST)      ? 2
            : streq (cmd, LL_CMD_SESSION_END)     ? 1
            : streq (cmd, LL_CMD_LOGIN_FAILED)    ? 1
            : streq (cmd, LL_CMD_LOGIN_OK)        ? 1
            : streq (cmd, LL_CMD_ADMIN_VM_EXISTS) ? 1
            : streq (cmd, LL_CMD_ARCHIVE_GET)     ? 1
            : streq (cmd, LL_CMD_VM_PROGRESS)     ? 1
            : streq (cmd, LL_CMD_ARCHIVE_DONE)    ? 1
            : streq (cmd, LL_CMD_ARCHIVE_DELETE)  ? 1
            : streq (cmd, LL_CMD_ADMIN_VMS)       ? 0
            : streq (cmd, LL_CMD_ARCHIVES)        ? 0
                                                  : -1;
    const char *const *v = (const char *const *) args;
    if (n < 0)
        ll_request_reply_error (req, self->router, "unknown command");
    else if (!s_args (req, args, n))
        ll_request_reply_error (req, self->router, "argument too long");
    else if (streq (cmd, LL_CMD_SESSION_NEW))
        s_exec_reply (self, req, "admin_session_create", v, 3);
    else if (streq (cmd, LL_CMD_SESSION_CHECK))
        s_handle_session_check (self, req, args);
    else if (streq (cmd, LL_CMD_SESSION_END))
        s_exec_reply (self, req, "admin_session_delete", v, 1);
    else if (streq (cmd, LL_CMD_LOGIN_CHECK))
        s_handle_login_check (self, req, args);
    else if (streq (cmd, LL_CMD_LOGIN_FAILED))
        s_exec_reply (self, req, "admin_login_failure_add", v, 1);
    else if (streq (cmd, LL_CMD_LOGIN_OK))
        s_exec_reply (self, req, "admin_login_failure_clear", v, 1);
    else if (streq (cmd, LL_CMD_AUDIT)) {
        //  Empty target and detail are stored as NULL
        const char *values[] = {args[0], args[1], *args[2] ? args[2] : NULL,
                                args[3], *args[4] ? args[4] : NULL};
        s_exec_reply (self, req, "admin_audit_add", values, 5);
    }
    else if (streq (cmd, LL_CMD_AUDIT_LIST))
        s_value_reply (self, req, "admin_audit_list", v, 2);
    else if (streq (cmd, LL_CMD_ADMIN_VMS)) {
        //  ADMIN-VMS [hostname]: every VM, or that one
        char stale[16];
        snprintf (stale, sizeof stale, "%d",
                  self->runtime->config->agent.stale_after_s);
        char *host = zmsg_popstr (req->args);
        const char *values[] = {stale, host && *host ? host : NULL};
        if (host && strlen (host) > LL_ADMIN_MAX_ARG)
            ll_request_reply_error (req, self->router, "argument too long");
        else
            s_value_reply (self, req, "admin_vm_list", values, 2);
        free (host);
    }
    else if (streq (cmd, LL_CMD_ADMIN_VM_EXISTS))
        s_handle_vm_exists (self, req, args);
    else if (streq (cmd, LL_CMD_VM_PROGRESS)) {
        char stale[16];
        snprintf (stale, sizeof stale, "%d",
                  self->runtime->config->agent.stale_after_s);
        const char *values[] = {args[0], stale};
        ll_db_ensure (self->db);
        PGresult *res = ll_db_exec (self->db, "admin_vm_progress", 2, values);
        if (!res)
            ll_request_reply_error (req, self->router, s_db_reason (self));
        else {
            zmsg_t *payload = zmsg_new ();
            zmsg_addstr (payload,
                         PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "");
            ll_request_reply_ok (req, self->router, &payload);
        }
        PQclear (res);
    }
    else if (streq (cmd, LL_CMD_ARCHIVES))
        s_value_reply (self, req, "admin_archive_list", NULL, 0);
    else if (streq (cmd, LL_CMD_ARCHIVE_DONE))
        s_exec_reply (self, req, "admin_archive_downloaded", v, 1);
    else if (streq (cmd, LL_CMD_ARCHIVE_GET)
             || streq (cmd, LL_CMD_ARCHIVE_DELETE)) {
        //  OK allocator / OK name, or ERROR "not found"
        ll_db_ensure (self->db);
        PGresult *res = ll_db_exec (self->db,
                                    streq (cmd, LL_CMD_ARCHIVE_GET)
                                        ? "admin_archive_get"
                                        : "admin_archive_delete",
                                    1, v);
        if (!res)
            ll_request_reply_error (req, self->router, s_db_reason (self));
        else if (PQntuples (res) != 1)
            ll_request_reply_error (req, self->router, "not found");
        else {
            zmsg_t *payload = zmsg_new ();
            zmsg_addstr (payload, PQgetvalue (res, 0, 0));
            ll_request_reply_ok (req, self->router, &payload);
        }
        PQclear (res);
    }
    s_args_free (args, n > 0 ? n : 0);
    ll_request_destroy (&req);
}

//  Delete sessions past their lifetime and failures past a day.
static void
s_self_sweep (self_t *self)
{
    if (ll_db_ensure (self->db) != 0)
        return;
    char idle[16];
    snprintf (idle, sizeof idle, "%d",
              self->runtime->config->app.session_idle_s);
    char max[16];
    snprintf (max, sizeof max, "%d", LL_ADMIN_SESSION_MAX_S);
    const char *sessions[] = {idle, max};
    PQclear (ll_db_exec (self->db, "admin_session_expire", 2, sessions));
    const char *failures[] = {LL_ADMIN_FAILURE_KEEP};
    PQclear (ll_db_exec (self->db, "admin_login_failure_expire", 1, failures));
}

void
admin_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self->terminated) {
        void *which = zpoller_wait (poller, LL_ADMIN_TICK_MS);
        if (which == pipe) {
            bool was_started = self->started;
            s_self_handle_pipe (self);
            if (!was_started && self->started)
                zpoller_add (poller, self->router);
        }
        else if (self->router && which == self->router)
            s_self_handle_router (self);
        else if (zpoller_terminated (poller))
            break;
        else if (self->started) {
            ll_db_ensure (self->db);  //  idle tick: reconnect in background
            if (ll_now_ms () >= self->next_sweep_ms) {
                s_self_sweep (self);
                self->next_sweep_ms = ll_now_ms () + LL_ADMIN_SWEEP_MS;
            }
        }
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
