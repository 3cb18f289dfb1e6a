#include "runtime/db.h"
#include "runtime/embedded.h"
#include "runtime/log.h"
#include "runtime/msg.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LL_DB_BACKOFF_MIN_MS 100
#define LL_DB_BACKOFF_MAX_MS 2000
//  A connection attempt gives up after this (libpq's connect_timeout does
//  not apply to the asynchronous connect used here)
#define LL_DB_CONNECT_MS 2000

struct ll_db {
    const ll_config_t *config;       //  connection settings (not owned)
    ll_stats_t *stats;               //  shared counters, may be NULL
    char *name;                      //  owner's name for log lines
    PGconn *conn;                    //  NULL while disconnected
    ll_sql_statement_t *statements;  //  parsed named statements
    size_t statement_count;          //  entries in statements
    bool *prepared;                  //  per statement: on this connection
    int64_t next_attempt_ms;         //  earliest reconnect time
    int backoff_ms;                  //  current reconnect delay
    bool ever_connected;             //  to count reconnections
    char error[512];                 //  last error text
    int sock;         //  socket while connecting or connected, else -1
    bool connecting;  //  sock is a connection attempt's
                      //  (both under s_all_lock)
    ll_db_t *next;    //  in s_all
};

//  Every ll_db_t of the process, so that a stop can end their waits at
//  once: an actor blocked in a query to a database that hangs, or in a
//  connect, cannot read its pipe. Process-wide, like the signal that asks
//  for the stop.
static pthread_mutex_t s_all_lock = PTHREAD_MUTEX_INITIALIZER;
static ll_db_t *s_all;              //  linked through next
static atomic_bool s_all_stopping;  //  no connection attempts any more
//  The database (conninfo and channel) this process migrated: later
//  connections to it skip the migrations (main runs them once while the
//  actors start). Guarded by s_all_lock.
static char *s_migrated_for;
//  Main's migrations run: a connection waits for them to end (on
//  s_migrated) rather than query an older schema. Guarded by s_all_lock.
static bool s_migrating;
static pthread_cond_t s_migrated = PTHREAD_COND_INITIALIZER;

//  Record the socket a stop would cut (-1: none).
static void
s_track (ll_db_t *self, int sock, bool connecting)
{
    pthread_mutex_lock (&s_all_lock);
    self->sock = sock;
    self->connecting = connecting;
    pthread_mutex_unlock (&s_all_lock);
}

//  Cut the recorded sockets: connecting ones only, or all. A blocked read
//  or poll on a cut socket returns at once with an error. (While libpq
//  moves a connect to the host's next address, the recorded descriptor is
//  a closed one for a moment; a stop then may cut whatever reused it: the
//  process is stopping anyway.)
static void
s_cut (bool established_too)
{
    pthread_mutex_lock (&s_all_lock);
    for (ll_db_t *db = s_all; db; db = db->next)
        if (db->sock >= 0 && (established_too || db->connecting))
            shutdown (db->sock, SHUT_RDWR);
    pthread_mutex_unlock (&s_all_lock);
}

void
ll_db_stopping (void)
{
    atomic_store (&s_all_stopping, true);
    s_cut (false);
    pthread_mutex_lock (&s_all_lock);
    pthread_cond_broadcast (&s_migrated);  //  no wait for them either
    pthread_mutex_unlock (&s_all_lock);
}

void
ll_db_cut_all (void)
{
    atomic_store (&s_all_stopping, true);
    s_cut (true);
}

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
    self->sock = -1;
    pthread_mutex_lock (&s_all_lock);
    self->next = s_all;
    s_all = self;
    pthread_mutex_unlock (&s_all_lock);
    self->statements = ll_sql_statements_load (&self->statement_count,
                                               self->error, sizeof self->error);
    if (!self->statements) {
        ll_error ("%s: embedded SQL is invalid: %s", name, self->error);
        ll_db_destroy (&self);
    }
    else
        self->prepared = calloc (self->statement_count + 1, sizeof (bool));
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
        s_track (self, -1, false);
        PQfinish (self->conn);
        self->conn = NULL;
        self->next_attempt_ms = ll_now_ms () + self->backoff_ms;
    }
}

//  Prepare statement i on this connection unless it is; 0 or -1.
static int
s_prepare (ll_db_t *self, size_t i)
{
    if (self->prepared[i])
        return 0;
    PGresult *res = PQprepare (self->conn, self->statements[i].name,
                               self->statements[i].sql, 0, NULL);
    self->prepared[i] = PQresultStatus (res) == PGRES_COMMAND_OK;
    if (!self->prepared[i])
        s_set_error (self, "cannot prepare %s: %s", self->statements[i].name,
                     PQerrorMessage (self->conn));
    PQclear (res);
    return self->prepared[i] ? 0 : -1;
}

int
ll_db_prepare (ll_db_t *self, const char *statement)
{
    if (!ll_db_connected (self)) {
        s_set_error (self, "%s: not connected", statement);
        return -1;
    }
    for (size_t i = 0; i < self->statement_count; i++)
        if (strcmp (self->statements[i].name, statement) == 0)
            return s_prepare (self, i);
    s_set_error (self, "no statement named %s in sql/queries", statement);
    return -1;
}

int
ll_db_prepare_all (ll_db_t *self)
{
    if (!ll_db_connected (self))
        return -1;
    for (size_t i = 0; i < self->statement_count; i++)
        if (s_prepare (self, i) != 0)
            return -1;
    return 0;
}

//  libpq's connect, step by step, so that a stop can cut it (s_track):
//  PQconnectdb would block up to connect_timeout on a server that accepts
//  and never answers. NULL with *why when no connection was made, else the
//  connection (maybe failed: PQerrorMessage says why).
static PGconn *
s_connect_start (ll_db_t *self, const char *conninfo, const char **why)
{
    PGconn *conn = PQconnectStart (conninfo);
    *why = "out of memory";
    int64_t deadline = ll_now_ms () + LL_DB_CONNECT_MS;
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    while (conn && PQstatus (conn) != CONNECTION_BAD
           && state != PGRES_POLLING_OK && state != PGRES_POLLING_FAILED) {
        s_track (self, PQsocket (conn), true);
        int64_t left = deadline - ll_now_ms ();
        if (atomic_load (&s_all_stopping) || left <= 0) {
            *why = left <= 0 ? "timed out" : "the process is stopping";
            s_track (self, -1, false);
            PQfinish (conn);
            return NULL;
        }
        struct pollfd item = {PQsocket (conn),
                              state == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                              0};
        int rc = poll (&item, 1, (int) left);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0)
            state = PQconnectPoll (conn);
    }
    s_track (self,
             conn && PQstatus (conn) == CONNECTION_OK ? PQsocket (conn) : -1,
             false);
    return conn;
}

//  The database a migration is about: its conninfo and the channel the
//  migration records (new string).
static char *
s_migration_key (ll_db_t *self, const char *conninfo)
{
    size_t len =
        strlen (conninfo) + strlen (self->config->db.message_channel) + 2;
    char *key = malloc (len);
    snprintf (key, len, "%s\n%s", conninfo, self->config->db.message_channel);
    return key;
}

//  Record that key's database is migrated (or being migrated by main);
//  key NULL forgets it (a failed migration).
static void
s_migration_mark (const char *key)
{
    pthread_mutex_lock (&s_all_lock);
    free (s_migrated_for);
    s_migrated_for = key ? strdup (key) : NULL;
    pthread_mutex_unlock (&s_all_lock);
}

static bool
s_migration_marked (const char *key)
{
    pthread_mutex_lock (&s_all_lock);
    bool marked = s_migrated_for && strcmp (s_migrated_for, key) == 0;
    pthread_mutex_unlock (&s_all_lock);
    return marked;
}

//  Main's migrations begin (migrating) or end: the connections waiting
//  for them go on.
static void
s_migration_running (bool migrating)
{
    pthread_mutex_lock (&s_all_lock);
    s_migrating = migrating;
    if (!migrating)
        pthread_cond_broadcast (&s_migrated);
    pthread_mutex_unlock (&s_all_lock);
}

//  Wait while main's migrations run (a stop ends the wait).
static void
s_migration_wait (void)
{
    pthread_mutex_lock (&s_all_lock);
    while (s_migrating && !atomic_load (&s_all_stopping))
        pthread_cond_wait (&s_migrated, &s_all_lock);
    pthread_mutex_unlock (&s_all_lock);
}

//  A new connection in self->conn, the migrations applied unless this
//  process marked them done (always when force); 0 or -1 with self->error
//  (self->conn NULL).
static int
s_open (ll_db_t *self, bool force)
{
    ll_db_disconnect (self);
    if (!force)
        s_migration_wait ();
    if (atomic_load (&s_all_stopping)) {
        s_set_error (self, "cannot connect: the process is stopping");
        return -1;
    }
    char *conninfo = ll_config_conninfo (self->config);
    char *key = s_migration_key (self, conninfo);
    const char *why = NULL;
    self->conn = s_connect_start (self, conninfo, &why);
    sodium_memzero (conninfo, strlen (conninfo));
    free (conninfo);
    int rc = -1;
    if (!self->conn)
        s_set_error (self, "cannot connect: %s", why);
    else if (PQstatus (self->conn) != CONNECTION_OK)
        s_set_error (self, "cannot connect: %s", PQerrorMessage (self->conn));
    else {
        PQsetNoticeProcessor (self->conn, s_notice, self->name);
        memset (self->prepared, 0, self->statement_count * sizeof (bool));
        //  Two first connections may both migrate: the advisory lock and
        //  the applied list make the second a no-op
        rc = !force && s_migration_marked (key)
                 ? 0
                 : ll_db_migrate (self->conn, self->config, self->error,
                                  sizeof self->error);
        if (rc == 0)
            s_migration_mark (key);
    }
    sodium_memzero (key, strlen (key));
    free (key);
    if (rc != 0) {
        s_track (self, -1, false);
        PQfinish (self->conn);
        self->conn = NULL;
    }
    return rc;
}

//  Mark self's database as migrated by this process (new key string).
static char *
s_migration_claim (ll_db_t *self)
{
    char *conninfo = ll_config_conninfo (self->config);
    char *key = s_migration_key (self, conninfo);
    sodium_memzero (conninfo, strlen (conninfo));
    free (conninfo);
    s_migration_mark (key);
    return key;
}

void
ll_db_migrate_announce (ll_db_t *self)
{
    char *key = s_migration_claim (self);
    sodium_memzero (key, strlen (key));
    free (key);
    s_migration_running (true);
}

int
ll_db_migrate_once (ll_db_t *self)
{
    //  Marked first: the actors connecting meanwhile wait for the end,
    //  then skip the migrations
    char *key = s_migration_claim (self);
    s_migration_running (true);
    int rc = s_open (self, true);
    if (rc != 0 && s_migration_marked (key))
        s_migration_mark (NULL);
    s_migration_running (false);
    sodium_memzero (key, strlen (key));
    free (key);
    ll_db_disconnect (self);
    self->next_attempt_ms = 0;
    return rc;
}

int
ll_db_connect (ll_db_t *self)
{
    if (s_open (self, false) != 0) {
        if (self->stats)
            atomic_fetch_add (&self->stats->pg_failures, 1);
        s_track (self, -1, false);
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

void
ll_db_hold (ll_db_t *self)
{
    self->next_attempt_ms = INT64_MAX;
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
    if (ll_db_prepare (self, statement) != 0) {
        s_check_broken (self);
        return NULL;
    }
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
    pthread_mutex_lock (&s_all_lock);
    for (ll_db_t **link = &s_all; *link; link = &(*link)->next)
        if (*link == self) {
            *link = self->next;
            break;
        }
    self->sock = -1;
    pthread_mutex_unlock (&s_all_lock);
    if (self->conn)
        PQfinish (self->conn);
    free (self->prepared);
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
