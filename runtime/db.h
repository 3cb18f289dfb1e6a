/*  PostgreSQL access for one actor: one connection, reconnect with backoff,
    migrations applied once per process (main runs them while the actors
    start, and their connections wait for the end; if the database was
    down then, the first connection that succeeds does; under an advisory lock, in one transaction), and every
    named statement in sql/queries prepared on a connection the first time
    it runs there (preparing all 81 on every connect cost each actor's
    start tens of milliseconds; tests/integration/test_db prepares them
    all against a real PostgreSQL). */
#ifndef LL_DB_H
#define LL_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "runtime/config.h"
#include "runtime/stats.h"

typedef struct ll_db ll_db_t;

//  name: who owns it, for logs ("registry"). stats may be NULL.
ll_db_t *
ll_db_new (const ll_config_t *config, ll_stats_t *stats, const char *name);

//  Connect when not connected and the backoff allows; 0 when connected.
int ll_db_ensure (ll_db_t *self);

//  Connect now, ignoring the backoff (an actor's first connection).
int ll_db_connect (ll_db_t *self);

//  ll_db_ensure (and so ll_db_exec) fails without connecting until the
//  next ll_db_connect (an actor's START: it connects once answered).
void ll_db_hold (ll_db_t *self);

//  Connect, apply the pending migrations and disconnect (main, while the
//  actors start: their connections wait for the end, then skip the
//  migrations; a stop ends the wait). 0 or -1 (ll_db_error).
int ll_db_migrate_once (ll_db_t *self);

//  ll_db_migrate_once (self) is about to run in another thread: from now
//  on connections wait for it (main calls this before it starts actors).
void ll_db_migrate_announce (ll_db_t *self);

bool ll_db_connected (ll_db_t *self);

//  The last error text ("" when none).
const char *ll_db_error (ll_db_t *self);

//  The connection, or NULL while disconnected.
PGconn *ll_db_conn (ll_db_t *self);

//  Prepare a named statement on the connection unless it is (ll_db_exec
//  does this itself; for callers that use ll_db_conn directly, e.g. COPY).
//  0, or -1 with ll_db_error (not connected, unknown name, SQL error).
int ll_db_prepare (ll_db_t *self, const char *statement);

//  Every named statement (tests). 0 or -1 with ll_db_error.
int ll_db_prepare_all (ll_db_t *self);

//  Run a named prepared statement with text parameters (NULL = SQL NULL).
//  Returns a result whose status is COMMAND_OK or TUPLES_OK (caller clears),
//  or NULL on failure; a broken connection is dropped so the next
//  ll_db_ensure reconnects.
PGresult *ll_db_exec (ll_db_t *self,
                      const char *statement,
                      int nparams,
                      const char *const *values);

//  ll_db_exec that, when the statement failed because the connection broke
//  under it (PostgreSQL restarted), reconnects at once and runs it once
//  more: a restart costs the caller nothing it could notice.
PGresult *ll_db_exec_retry (ll_db_t *self,
                            const char *statement,
                            int nparams,
                            const char *const *values);

//  The same for work of several statements (a transaction): fn (self, arg)
//  returns 0 or -1; after a -1 that broke the connection it runs once more
//  on a new one. fn's result.
int ll_db_retry (ll_db_t *self, int (*fn) (ll_db_t *db, void *arg), void *arg);

//  Same, with a command run without parameters (BEGIN, COMMIT, ROLLBACK).
int ll_db_command (ll_db_t *self, const char *command);

//  Drop the connection (the next ensure reconnects after backoff).
void ll_db_disconnect (ll_db_t *self);

void ll_db_destroy (ll_db_t **self_p);

//  The process stops: from now on no connection is attempted (connect and
//  ensure fail at once) and the attempts under way are cut. Established
//  connections keep working, so that work in flight can finish.
void ll_db_stopping (void);

//  Cut every connection of the process now (shutdown(2) of its socket): a
//  query waiting on a database that does not answer fails at once.
void ll_db_cut_all (void);

//  --- the embedded SQL -------------------------------------------------
//  Named statements parsed from the files in sql/queries ("-- name: x" markers).
typedef struct {
    char *name;  //  statement name
    char *sql;   //  its text
} ll_sql_statement_t;

//  Parse every embedded query file; *count receives the number. Returns an
//  array the caller frees with ll_sql_statements_free, or NULL on a
//  malformed file or duplicate name (reason in error).
ll_sql_statement_t *
ll_sql_statements_load (size_t *count, char *error, size_t errsize);

void ll_sql_statements_free (ll_sql_statement_t *list, size_t count);

//  Apply pending migrations on conn; 0 or -1 with reason in error.
int ll_db_migrate (PGconn *conn,
                   const ll_config_t *config,
                   char *error,
                   size_t errsize);

#endif
