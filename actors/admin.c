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

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->next_sweep_ms = ll_now_ms () + LL_ADMIN_SWEEP_MS;
}

//  How a query's result is answered
typedef enum {
    S_DONE,   //  OK with no payload
    S_VALUE,  //  OK with the first column of its one row
    S_ROW,    //  the same, ERROR missing when there is no row
    S_MAYBE,  //  the same, "" when there is no row
    S_PAIR,   //  OK with the two columns of its one row
    S_EXISTS  //  OK "1" when it has rows, else "0"
} s_answer_t;

//  Where the stale_after_s setting goes among the query's values
typedef enum { S_STALE_NONE, S_STALE_FIRST, S_STALE_LAST } s_stale_t;

//  A command served by one prepared statement (sql/queries/admin.sql)
typedef struct {
    const char *command;    //  runtime/protocol.h
    const char *statement;  //  its query
    int args;               //  the request's arguments, in order
    unsigned nulls;         //  bit i: argument i travels as NULL when empty
    s_stale_t stale;        //  the stale seconds among the values
    s_answer_t answer;      //  how its result is answered
    const char *missing;    //  S_ROW: the reason when there is no row
} s_query_t;

static const s_query_t s_queries[] = {
    {LL_CMD_SESSION_CHECK, "admin_session_touch", 3, 0, S_STALE_NONE, S_ROW,
     LL_REASON_EXPIRED},
    //  Empty target and detail are stored as NULL
    {LL_CMD_AUDIT, "admin_audit_add", 5, 1 << 2 | 1 << 4, S_STALE_NONE, S_DONE,
     NULL},
    {LL_CMD_SESSION_NEW, "admin_session_create", 3, 0, S_STALE_NONE, S_DONE,
     NULL},
    {LL_CMD_SESSION_END, "admin_session_delete", 1, 0, S_STALE_NONE, S_DONE,
     NULL},
    {LL_CMD_LOGIN_CHECK, "admin_login_failure_count", 2, 0, S_STALE_NONE,
     S_PAIR, NULL},
    {LL_CMD_LOGIN_FAILED, "admin_login_failure_add", 1, 0, S_STALE_NONE, S_DONE,
     NULL},
    {LL_CMD_LOGIN_OK, "admin_login_failure_clear", 1, 0, S_STALE_NONE, S_DONE,
     NULL},
    {LL_CMD_AUDIT_LIST, "admin_audit_list", 2, 0, S_STALE_NONE, S_VALUE, NULL},
    //  ADMIN-VMS [hostname]: every VM, or that one
    {LL_CMD_ADMIN_VMS, "admin_vm_list", 1, 1 << 0, S_STALE_FIRST, S_VALUE,
     NULL},
    {LL_CMD_ADMIN_VM_EXISTS, "admin_vm_exists", 1, 0, S_STALE_NONE, S_EXISTS,
     NULL},
    //  VM-PROGRESS hostname: the row's JSON, "" when there is no such VM
    {LL_CMD_VM_PROGRESS, "admin_vm_progress", 1, 0, S_STALE_LAST, S_MAYBE,
     NULL},
    {LL_CMD_ARCHIVES, "admin_archive_list", 0, 0, S_STALE_NONE, S_VALUE, NULL},
    //  ARCHIVE-GET / ARCHIVE-DELETE name: OK allocator / OK name
    {LL_CMD_ARCHIVE_GET, "admin_archive_get", 1, 0, S_STALE_NONE, S_ROW,
     LL_REASON_NOT_FOUND},
    {LL_CMD_ARCHIVE_DONE, "admin_archive_downloaded", 1, 0, S_STALE_NONE,
     S_DONE, NULL},
    {LL_CMD_ARCHIVE_DELETE, "admin_archive_delete", 1, 0, S_STALE_NONE, S_ROW,
     LL_REASON_NOT_FOUND},
};

//  Take the request's n arguments into args (new strings, NULL when an
//  optional one is absent): 0, or -1 when they do not fit or one is longer
//  than LL_ADMIN_MAX_ARG (answered).
static int
s_args (ll_request_t *req, char **args, int n)
{
    if (ll_request_take (req, &args[0], &args[1], &args[2], &args[3], &args[4])
        != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (args[i] && strlen (args[i]) > LL_ADMIN_MAX_ARG) {
            ll_request_fail (req, LL_REASON_TOO_LONG);
            return -1;
        }
    return 0;
}

//  Answer req with res (cleared) as query says
static void
s_answer (self_t *self,
          ll_request_t *req,
          const s_query_t *query,
          PGresult *res)
{
    int rows = res ? PQntuples (res) : 0;
    if (query->answer == S_VALUE) {
        ll_actor_answer_value (&self->actor, req, res);
        return;
    }
    if (!res || (query->answer == S_PAIR && rows != 1))
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    else if (query->answer == S_DONE)
        ll_request_answer (req);
    else if (query->answer == S_EXISTS)
        ll_request_answer (req, rows > 0 ? "1" : "0");
    else if (query->answer == S_PAIR)
        ll_request_answer (req, PQgetvalue (res, 0, 0), PQgetvalue (res, 0, 1));
    else if (rows == 1)
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    else if (query->answer == S_MAYBE)
        ll_request_answer (req, "");
    else
        ll_request_fail (req, query->missing);
    PQclear (res);
}

//  Every command: its query of s_queries, run with the request's
//  arguments, answered as it says
static void
s_handle_query (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const s_query_t *query = s_queries;
    while (!streq (query->command, req->command))
        query++;
    char *args[5] = {NULL};
    if (s_args (req, args, query->args) == 0) {
        char stale[16];
        ll_actor_stale (&self->actor, stale);
        const char *values[6];
        int n = 0;
        if (query->stale == S_STALE_FIRST)
            values[n++] = stale;
        for (int i = 0; i < query->args; i++)
            values[n++] = (query->nulls & 1u << i) && !(args[i] && *args[i])
                              ? NULL
                              : args[i];
        if (query->stale == S_STALE_LAST)
            values[n++] = stale;
        ll_db_ensure (self->actor.db);
        s_answer (self, req, query,
                  ll_db_exec (self->actor.db, query->statement, n, values));
    }
    for (int i = 0; i < 5; i++)
        free (args[i]);
}

//  Served on LL_ENDPOINT_ADMIN
static const ll_handler_t s_handlers[] = {
    {LL_CMD_SESSION_CHECK, s_handle_query},
    {LL_CMD_AUDIT, s_handle_query},
    {LL_CMD_SESSION_NEW, s_handle_query},
    {LL_CMD_SESSION_END, s_handle_query},
    {LL_CMD_LOGIN_CHECK, s_handle_query},
    {LL_CMD_LOGIN_FAILED, s_handle_query},
    {LL_CMD_LOGIN_OK, s_handle_query},
    {LL_CMD_AUDIT_LIST, s_handle_query},
    {LL_CMD_ADMIN_VMS, s_handle_query},
    {LL_CMD_ADMIN_VM_EXISTS, s_handle_query},
    {LL_CMD_VM_PROGRESS, s_handle_query},
    {LL_CMD_ARCHIVES, s_handle_query},
    {LL_CMD_ARCHIVE_GET, s_handle_query},
    {LL_CMD_ARCHIVE_DONE, s_handle_query},
    {LL_CMD_ARCHIVE_DELETE, s_handle_query},
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

static const ll_actor_kind_t s_kind = {
    .name = "admin",
    .size = sizeof (self_t),
    .init = s_self_init,
    .class =
        {
            .endpoint = LL_ENDPOINT_ADMIN,
            .database = true,
            .handlers = s_handlers,
            .tick_ms = LL_ADMIN_TICK_MS,
            .tick = s_self_tick,
        },
};

void
admin_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
