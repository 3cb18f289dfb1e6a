/*  The database layer against a real PostgreSQL: migrations apply once and
    are recorded, every named statement prepares, and the crd_command
    trigger's NOTIFY carries upstream's payload on the configured channel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include <czmq.h>

#include "runtime/db.h"
#include "runtime/embedded.h"
#include "support.h"

static void
test_migrate_and_prepare (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_db_t *db = ll_db_new (config, NULL, "test");
    assert_non_null (db);
    //  Every named statement prepares (the actors prepare each on first
    //  use), and an unknown name is refused
    assert_int_equal (ll_db_connect (db), 0);
    assert_int_equal (ll_db_prepare_all (db), 0);
    assert_int_equal (ll_db_prepare (db, "no_such_statement"), -1);
    assert_non_null (strstr (ll_db_error (db), "no statement named"));
    size_t count = 0;
    char error[256];
    ll_sql_statement_t *list =
        ll_sql_statements_load (&count, error, sizeof error);
    PGresult *res =
        PQexec (ll_db_conn (db), "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_int_equal (strtol (PQgetvalue (res, 0, 0), NULL, 10), (long) count);
    PQclear (res);
    ll_sql_statements_free (list, count);

    //  A second connection migrates nothing and records nothing twice
    ll_db_t *db2 = ll_db_new (config, NULL, "test2");
    assert_int_equal (ll_db_connect (db2), 0);
    int migrations = 0;
    for (const ll_embedded_t *m = ll_sql_migrations; m->name; m++)
        migrations++;
    res = ll_db_exec (db2, "migrate_applied", 0, NULL);
    assert_non_null (res);
    assert_int_equal (PQntuples (res), migrations);
    PQclear (res);

    //  Migrations run once per process (main, before the actors connect):
    //  a later connection does not even look (a record removed stays so)
    assert_int_equal (ll_db_migrate_once (db2), 0);
    PQclear (PQexec (ll_db_conn (db), "DELETE FROM schema_migrations WHERE "
                                      "version = (SELECT max(version) FROM "
                                      "schema_migrations)"));
    ll_db_t *db3 = ll_db_new (config, NULL, "test3");
    assert_int_equal (ll_db_connect (db3), 0);
    res = ll_db_exec (db3, "migrate_applied", 0, NULL);
    assert_non_null (res);
    assert_int_equal (PQntuples (res), migrations - 1);
    PQclear (res);
    ll_db_destroy (&db3);
    ll_db_destroy (&db2);
    ll_db_destroy (&db);
    ll_config_destroy (&config);
}

static json_t *
s_wait_notify (PGconn *conn, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        PQconsumeInput (conn);
        PGnotify *n = PQnotifies (conn);
        if (n) {
            json_t *json = json_loads (n->extra, 0, NULL);
            PQfreemem (n);
            return json;
        }
        fd_set fds;
        FD_ZERO (&fds);
        FD_SET (PQsocket (conn), &fds);
        struct timeval tv = {0, 100000};
        select (PQsocket (conn) + 1, &fds, NULL, NULL, &tv);
    }
    return NULL;
}

static void
test_trigger_payload (void **state)
{
    ll_config_t *config = ll_test_config ();
    free (config->db.message_channel);
    config->db.message_channel = strdup ("custom_channel");
    ll_db_t *db = ll_db_new (config, NULL, "test");
    assert_int_equal (ll_db_connect (db), 0);

    char *conninfo = ll_config_conninfo (config);
    PGconn *listener = PQconnectdb (conninfo);
    free (conninfo);
    assert_int_equal (PQstatus (listener), CONNECTION_OK);
    PQclear (PQexec (listener, "LISTEN custom_channel"));

    //  A row without a command does not notify
    PQclear (PQexec (
        ll_db_conn (db),
        "INSERT INTO vms (hostname, status) VALUES ('vm-1', 'running')"));
    assert_null (s_wait_notify (listener, 300));

    PGresult *res =
        PQexec (ll_db_conn (db),
                "UPDATE vms SET crd_command = '--code=4/abc', pin = '123456',"
                " user_email = 'a@b.c' WHERE hostname = 'vm-1'");
    assert_int_equal (PQresultStatus (res), PGRES_COMMAND_OK);
    PQclear (res);
    json_t *payload = s_wait_notify (listener, 3000);
    assert_non_null (payload);
    //  Upstream's three keys, and the token generation the assignment is
    //  for (migration 0012; null: this row never had a token)
    assert_int_equal (json_object_size (payload), 4);
    assert_true (json_is_null (json_object_get (payload, "Generation")));
    assert_string_equal (
        json_string_value (json_object_get (payload, "HostName")), "vm-1");
    assert_string_equal (
        json_string_value (json_object_get (payload, "CrdCommand")),
        "--code=4/abc");
    assert_string_equal (json_string_value (json_object_get (payload, "Pin")),
                         "123456");
    json_decref (payload);

    //  Constraints hold: a half assignment and a bad status are refused
    res = PQexec (ll_db_conn (db),
                  "UPDATE vms SET pin = NULL WHERE hostname = 'vm-1'");
    assert_int_equal (PQresultStatus (res), PGRES_FATAL_ERROR);
    PQclear (res);
    res = PQexec (ll_db_conn (db),
                  "UPDATE vms SET status = 'bogus' WHERE hostname = 'vm-1'");
    assert_int_equal (PQresultStatus (res), PGRES_FATAL_ERROR);
    PQclear (res);

    //  The total startup time is derived by the database
    res = PQexec (
        ll_db_conn (db),
        "UPDATE vms SET terraform_duration_seconds = 1.5, "
        "cloud_init_duration_seconds = 2, container_duration_seconds = 0.5 "
        "WHERE hostname = 'vm-1' RETURNING total_startup_seconds");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "4");
    PQclear (res);

    //  A second running operation is refused by the database
    PQclear (PQexec (ll_db_conn (db),
                     "INSERT INTO operations (kind) VALUES ('launch')"));
    res = PQexec (ll_db_conn (db),
                  "INSERT INTO operations (kind) VALUES ('destroy')");
    assert_int_equal (PQresultStatus (res), PGRES_FATAL_ERROR);
    PQclear (res);

    PQfinish (listener);
    ll_db_destroy (&db);
    ll_config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_migrate_and_prepare),
        cmocka_unit_test (test_trigger_payload),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
