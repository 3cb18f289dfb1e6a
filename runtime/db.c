#include "runtime/db.h"
#include "runtime/embedded.h"
#include "runtime/log.h"
#include "runtime/msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LL_DB_BACKOFF_MIN_MS 100
#define LL_DB_BACKOFF_MAX_MS 2000

struct ll_db {
    const ll_config_t *config;       //  connection settings (not owned)
    ll_stats_t *stats;               //  shared counters, may be NULL
    char *name;                      //  owner's name for log lines
    PGconn *conn;                    //  NULL while disconnected
    ll_sql_statement_t *statements;  //  parsed named statements
    size_t statement_count;          //  entries in statements
    int64_t next_attempt_ms;         //  earliest reconnect time
    int backoff_ms;                  //  current reconnect delay
    bool ever_connected;             //  to count reconnections
    char error[512];                 //  last error text
};

static void
s_set_error (ll_db_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof self->error, format, args);
    va_end (args);
    //  libpq messages span lines; the first says what happened
    char *eol = strchr (self->error, '\n');
    if (eol)
        *eol = '\0';
    size_t len = strlen (self->error);
    while (len && self->error[len - 1] == ' ')
        self->error[--len] = '\0';
}

//  Server notices ("relation already exists, skipping") are not errors.
static void
s_notice (void *arg, const char *message)
{
    ll_debug ("%s: postgresql notice: %s", (const char *) arg, message);
}

ll_db_t *
ll_db_new (const ll_config_t *config, ll_stats_t *stats, const char *name)
{
    ll_db_t *self = calloc (1, sizeof *self);
    self->config = config;
    self->stats = stats;
    self->name = strdup (name);
    self->backoff_ms = LL_DB_BACKOFF_MIN_MS;
    self->statements = ll_sql_statements_load (&self->statement_count,
                                               self->error, sizeof self->error);
    if (!self->statements) {
        ll_error ("%s: embedded SQL is invalid: %s", name, self->error);
        ll_db_destroy (&self);
    }
    return self;
}

bool
ll_db_connected (ll_db_t *self)
{
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

const char *
ll_db_error (ll_db_t *self)
{
    return self->error;
}

PGconn *
ll_db_conn (ll_db_t *self)
{
    return ll_db_connected (self) ? self->conn : NULL;
}

void
ll_db_disconnect (ll_db_t *self)
{
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
        self->next_attempt_ms = ll_now_ms () + self->backoff_ms;
    }
}

static int
s_prepare_all (ll_db_t *self)
{
    for (size_t i = 0; i < self->statement_count; i++) {
        PGresult *res = PQprepare (self->conn, self->statements[i].name,
                                   self->statements[i].sql, 0, NULL);
        bool ok = PQresultStatus (res) == PGRES_COMMAND_OK;
        if (!ok)
            s_set_error (self, "cannot prepare %s: %s",
                         self->statements[i].name, PQerrorMessage (self->conn));
        PQclear (res);
        if (!ok)
            return -1;
    }
    return 0;
}

int
ll_db_connect (ll_db_t *self)
{
    ll_db_disconnect (self);
    char *conninfo = ll_config_conninfo (self->config);
    self->conn = PQconnectdb (conninfo);
    free (conninfo);
    PQsetNoticeProcessor (self->conn, s_notice, self->name);
    int rc = -1;
    if (PQstatus (self->conn) != CONNECTION_OK)
        s_set_error (self, "cannot connect: %s", PQerrorMessage (self->conn));
    else if (ll_db_migrate (self->conn, self->config, self->error,
                            sizeof self->error)
             != 0)
        ;
    else if (s_prepare_all (self) == 0)
        rc = 0;
    if (rc != 0) {
        if (self->stats)
            atomic_fetch_add (&self->stats->pg_failures, 1);
        PQfinish (self->conn);
        self->conn = NULL;
        self->next_attempt_ms = ll_now_ms () + self->backoff_ms;
        self->backoff_ms *= 2;
        if (self->backoff_ms > LL_DB_BACKOFF_MAX_MS)
            self->backoff_ms = LL_DB_BACKOFF_MAX_MS;
        return -1;
    }
    if (self->ever_connected) {
        if (self->stats)
            atomic_fetch_add (&self->stats->pg_reconnects, 1);
        ll_info ("%s: reconnected to postgresql", self->name);
    }
    self->ever_connected = true;
    self->backoff_ms = LL_DB_BACKOFF_MIN_MS;
    self->error[0] = '\0';
    return 0;
}

int
ll_db_ensure (ll_db_t *self)
{
    if (ll_db_connected (self))
        return 0;
    if (self->conn)
        ll_db_disconnect (self);
    if (ll_now_ms () < self->next_attempt_ms)
        return -1;
    return ll_db_connect (self);
}

//  After a failed call: drop the connection if the failure broke it.
static void
s_check_broken (ll_db_t *self)
{
    if (self->conn && PQstatus (self->conn) != CONNECTION_OK) {
        ll_warn ("%s: postgresql connection lost: %s", self->name, self->error);
        ll_db_disconnect (self);
    }
}

PGresult *
ll_db_exec (ll_db_t *self,
            const char *statement,
            int nparams,
            const char *const *values)
{
    if (ll_db_ensure (self) != 0)
        return NULL;
    PGresult *res =
        PQexecPrepared (self->conn, statement, nparams, values, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return res;
    s_set_error (self, "%s: %s", statement, PQerrorMessage (self->conn));
    PQclear (res);
    s_check_broken (self);
    return NULL;
}

PGresult *
ll_db_exec_retry (ll_db_t *self,
                  const char *statement,
                  int nparams,
                  const char *const *values)
{
    bool was_connected = ll_db_connected (self);
    PGresult *res = ll_db_exec (self, statement, nparams, values);
    if (!res && was_connected && !ll_db_connected (self)
        && ll_db_connect (self) == 0)
        res = ll_db_exec (self, statement, nparams, values);
    return res;
}

int
ll_db_retry (ll_db_t *self, int (*fn) (ll_db_t *db, void *arg), void *arg)
{
    bool was_connected = ll_db_connected (self);
    int rc = fn (self, arg);
    if (rc != 0 && was_connected && !ll_db_connected (self)
        && ll_db_connect (self) == 0)
        rc = fn (self, arg);
    return rc;
}

int
ll_db_command (ll_db_t *self, const char *command)
{
    if (ll_db_ensure (self) != 0)
        return -1;
    PGresult *res = PQexec (self->conn, command);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        s_set_error (self, "%s: %s", command, PQerrorMessage (self->conn));
    PQclear (res);
    if (rc != 0)
        s_check_broken (self);
    return rc;
}

void
ll_db_destroy (ll_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_db_t *self = *self_p;
    if (self->conn)
        PQfinish (self->conn);
    ll_sql_statements_free (self->statements, self->statement_count);
    free (self->name);
    free (self);
    *self_p = NULL;
}

//  --- embedded SQL ------------------------------------------------------

static int
s_add_statement (ll_sql_statement_t **list,
                 size_t *count,
                 size_t *cap,
                 const char *name,
                 size_t name_len,
                 const char *sql,
                 size_t sql_len,
                 char *error,
                 size_t errsize)
{
    for (size_t i = 0; i < *count; i++)
        if (strlen ((*list)[i].name) == name_len
            && strncmp ((*list)[i].name, name, name_len) == 0) {
            snprintf (error, errsize, "duplicate statement name %.*s",
                      (int) name_len, name);
            return -1;
        }
    //  Trim whitespace and one trailing semicolon
    while (sql_len && strchr (" \t\r\n", sql[sql_len - 1]))
        sql_len--;
    if (sql_len && sql[sql_len - 1] == ';')
        sql_len--;
    if (sql_len == 0) {
        snprintf (error, errsize, "statement %.*s is empty", (int) name_len,
                  name);
        return -1;
    }
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *list = realloc (*list, *cap * sizeof **list);
    }
    (*list)[*count].name = strndup (name, name_len);
    (*list)[*count].sql = strndup (sql, sql_len);
    (*count)++;
    return 0;
}

ll_sql_statement_t *
ll_sql_statements_load (size_t *count, char *error, size_t errsize)
{
    static const char marker[] = "-- name:";
    ll_sql_statement_t *list = NULL;
    size_t cap = 0;
    *count = 0;
    for (const ll_embedded_t *file = ll_sql_queries; file->name; file++) {
        const char *text = (const char *) file->data;
        const char *name = NULL, *body = NULL;
        size_t name_len = 0;
        const char *line = text;
        while (*line) {
            const char *eol = strchr (line, '\n');
            const char *next = eol ? eol + 1 : line + strlen (line);
            if (strncmp (line, marker, sizeof marker - 1) == 0) {
                if (name
                    && s_add_statement (&list, count, &cap, name, name_len,
                                        body, (size_t) (line - body), error,
                                        errsize)
                           != 0)
                    goto fail;
                name = line + sizeof marker - 1;
                while (*name == ' ')
                    name++;
                name_len = (size_t) ((eol ? eol : next) - name);
                while (name_len && strchr (" \t\r", name[name_len - 1]))
                    name_len--;
                body = next;
            }
            line = next;
        }
        if (name
            && s_add_statement (&list, count, &cap, name, name_len, body,
                                (size_t) (line - body), error, errsize)
                   != 0)
            goto fail;
    }
    if (!list)
        list = calloc (1, sizeof *list);
    return list;
fail:
    ll_sql_statements_free (list, *count);
    *count = 0;
    return NULL;
}

void
ll_sql_statements_free (ll_sql_statement_t *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (list[i].name);
        free (list[i].sql);
    }
    free (list);
}

static const char *
s_sql_text (ll_sql_statement_t *list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp (list[i].name, name) == 0)
            return list[i].sql;
    return NULL;
}

//  Run one statement by text with parameters; 0 or -1.
static int
s_run (PGconn *conn,
       const char *sql,
       int n,
       const char *const *values,
       PGresult **out,
       char *error,
       size_t errsize)
{
    PGresult *res = PQexecParams (conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus (res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf (error, errsize, "migration failed: %s",
                  PQerrorMessage (conn));
        PQclear (res);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear (res);
    return 0;
}

int
ll_db_migrate (PGconn *conn,
               const ll_config_t *config,
               char *error,
               size_t errsize)
{
    size_t count = 0;
    ll_sql_statement_t *list = ll_sql_statements_load (&count, error, errsize);
    if (!list)
        return -1;
    const char *lock = s_sql_text (list, count, "migrate_lock");
    const char *create = s_sql_text (list, count, "migrate_create_table");
    const char *applied = s_sql_text (list, count, "migrate_applied");
    const char *record = s_sql_text (list, count, "migrate_record");
    const char *setting = s_sql_text (list, count, "settings_put");
    int rc = -1;
    PGresult *res = NULL;
    if (!lock || !create || !applied || !record || !setting) {
        snprintf (error, errsize,
                  "migration statements missing from sql/queries");
        goto done;
    }
    PQclear (PQexec (conn, "BEGIN"));
    if (s_run (conn, lock, 0, NULL, NULL, error, errsize) != 0
        || s_run (conn, create, 0, NULL, NULL, error, errsize) != 0
        || s_run (conn, applied, 0, NULL, &res, error, errsize) != 0)
        goto rollback;
    for (const ll_embedded_t *m = ll_sql_migrations; m->name; m++) {
        //  File names are NNNN_what.sql; the number is the version
        char version[16];
        size_t digits = strspn (m->name, "0123456789");
        if (digits == 0 || digits >= sizeof version) {
            snprintf (error, errsize, "migration %s has no version number",
                      m->name);
            goto rollback;
        }
        memcpy (version, m->name, digits);
        version[digits] = '\0';
        bool done_before = false;
        for (int row = 0; row < PQntuples (res); row++)
            if (strtol (PQgetvalue (res, row, 0), NULL, 10)
                == strtol (version, NULL, 10))
                done_before = true;
        if (done_before)
            continue;
        PGresult *r = PQexec (conn, (const char *) m->data);
        bool ok = PQresultStatus (r) == PGRES_COMMAND_OK
                  || PQresultStatus (r) == PGRES_TUPLES_OK;
        PQclear (r);
        if (!ok) {
            snprintf (error, errsize, "migration %s failed: %s", m->name,
                      PQerrorMessage (conn));
            goto rollback;
        }
        const char *values[] = {version, m->name};
        if (s_run (conn, record, 2, values, NULL, error, errsize) != 0)
            goto rollback;
        ll_info ("db: applied migration %s", m->name);
    }
    {
        const char *values[] = {"message_channel", config->db.message_channel};
        if (s_run (conn, setting, 2, values, NULL, error, errsize) != 0)
            goto rollback;
    }
    PGresult *commit = PQexec (conn, "COMMIT");
    rc = PQresultStatus (commit) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        snprintf (error, errsize, "migration commit failed: %s",
                  PQerrorMessage (conn));
    PQclear (commit);
    goto done;
rollback:
    PQclear (PQexec (conn, "ROLLBACK"));
done:
    PQclear (res);
    ll_sql_statements_free (list, count);
    return rc;
}
