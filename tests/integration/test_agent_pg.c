/*  lablink-agent with LABLINK_TRANSPORT=pg: a direct LISTEN on the
    assignment channel of the test's real PostgreSQL (trusted networks
    only). Payloads for other VMs are ignored, ours runs start-host and the
    result goes to the (fake) allocator over HTTP; malformed payloads are
    survived; the agent listens again after PostgreSQL restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "agent_test_support.h"
#include "support.h"

static PGconn *
s_connect (void)
{
    char conninfo[256];
    snprintf (conninfo, sizeof conninfo,
              "host=127.0.0.1 port=%s user=lablink dbname=lablink_db",
              getenv ("LABLINK_DB_PORT"));
    PGconn *conn = PQconnectdb (conninfo);
    assert_int_equal (PQstatus (conn), CONNECTION_OK);
    return conn;
}

//  True when some session's last statement was the agent's LISTEN.
static bool
s_listening (void)
{
    PGconn *conn = s_connect ();
    PGresult *result = PQexec (conn, "SELECT count(*) FROM pg_stat_activity "
                                     "WHERE query = 'LISTEN vm_updates'");
    bool listening = PQresultStatus (result) == PGRES_TUPLES_OK
                     && strcmp (PQgetvalue (result, 0, 0), "0") != 0;
    PQclear (result);
    PQfinish (conn);
    return listening;
}

static void
s_wait_listening (void)
{
    for (int i = 0; i < 300; i++) {
        if (s_listening ())
            return;
        usleep (100000);
    }
    fail_msg ("the agent never listened");
}

static void
s_notify (const char *payload)
{
    PGconn *conn = s_connect ();
    const char *values[] = {payload};
    PGresult *result = PQexecParams (conn, "SELECT pg_notify('vm_updates', $1)",
                                     1, NULL, values, NULL, NULL, 0);
    assert_int_equal (PQresultStatus (result), PGRES_TUPLES_OK);
    PQclear (result);
    PQfinish (conn);
}

static void
test_agent_over_pg (void **state)
{
    fake_t *fake = fake_new (TOKEN);
    assert_int_equal (fake_start (fake), 0);
    char home[1200], log[1200], standin_log[1200], conninfo[256];
    s_agent_env (fake, "lablink-vm-pg-1", home, sizeof home);
    setenv ("LABLINK_TRANSPORT", "pg", 1);
    snprintf (conninfo, sizeof conninfo,
              "host=127.0.0.1 port=%s user=lablink dbname=lablink_db",
              getenv ("LABLINK_DB_PORT"));
    setenv ("LABLINK_PG_CONNINFO", conninfo, 1);
    setenv ("LABLINK_NVIDIA_SMI", "", 1);
    snprintf (log, sizeof log, "%s/agent-pg.log", s_dir);
    snprintf (standin_log, sizeof standin_log,
              "%s/start-host-lablink-vm-pg-1.log", s_dir);
    pid_t agent = s_agent_start (log);
    WAIT_FOR (fake, s_has_status (fake, "lablink-vm-pg-1 running"), 20);
    s_wait_listening ();

    //  Another VM's assignment is not ours; junk is survived
    s_notify ("{\"HostName\":\"lablink-vm-pg-2\",\"CrdCommand\":"
              "\"--code=4/not-mine\",\"Pin\":\"121212\"}");
    s_notify ("not json at all");
    s_notify ("{\"HostName\":\"lablink-vm-pg-1\",\"CrdCommand\":7}");
    s_notify ("{\"HostName\":\"lablink-vm-pg-1\",\"CrdCommand\":"
              "\"--code=4/pg-code\",\"Pin\":\"424242\"}");
    WAIT_FOR (fake, fake->results == 1, 20);
    assert_true (fake->last_result_ok);
    char *standin = s_read (standin_log);
    assert_int_equal (s_count (standin, "arg: --code=4/pg-code\n"), 1);
    assert_int_equal (s_count (standin, "stdin: 424242\n"), 2);
    assert_null (strstr (standin, "not-mine"));
    free (standin);

    //  PostgreSQL restarts: the agent listens again
    assert_int_equal (ll_test_pg ("kill"), 0);
    usleep (500000);
    assert_int_equal (ll_test_pg ("start"), 0);
    s_wait_listening ();
    s_notify ("{\"HostName\":\"lablink-vm-pg-1\",\"CrdCommand\":"
              "\"--code=4/pg-code-two\",\"Pin\":\"434343\"}");
    WAIT_FOR (fake, fake->results == 2, 20);
    assert_true (fake->last_result_ok);
    assert_true (s_alive (agent));

    long ms;
    assert_int_equal (s_agent_stop (agent, &ms), 0);
    char *text = s_read (log);
    assert_null (strstr (text, "pg-code"));
    assert_null (strstr (text, "424242"));
    free (text);
    s_no_sanitizer_report (log);
    fake_destroy (&fake);
}

int
main (void)
{
    if (s_setup () != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agent_over_pg),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
