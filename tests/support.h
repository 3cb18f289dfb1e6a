/*  Helpers shared by the C tests (header-only on purpose: tests are single
    files). */
#ifndef LL_TESTS_SUPPORT_H
#define LL_TESTS_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/config.h"

//  A config for tests: defaults, the test's PostgreSQL (run-test exports
//  LABLINK_DB_HOST/PORT), an admin password, listening on a free port.
static inline ll_config_t *
ll_test_config (void)
{
    ll_config_t *c = ll_config_new_defaults ();
    free (c->db.host);
    c->db.host = strdup (getenv ("LABLINK_DB_HOST") ? getenv ("LABLINK_DB_HOST")
                                                    : "127.0.0.1");
    const char *port = getenv ("LABLINK_DB_PORT");
    c->db.port = port ? (int) strtol (port, NULL, 10) : 5432;
    free (c->app.admin_password);
    c->app.admin_password = strdup ("test-admin-password");
    free (c->app.listen);
    c->app.listen = strdup ("127.0.0.1:0");
    free (c->provider.kind);
    c->provider.kind = strdup ("local");
    return c;
}

//  Run a shell-free command: tests/harness/pg start|stop|kill.
static inline int
ll_test_pg (const char *action)
{
    char cmd[4096];
    snprintf (cmd, sizeof cmd, "%s/tests/harness/pg",
              getenv ("LABLINK_SOURCE_DIR"));
    pid_t pid = fork ();
    if (pid == 0) {
        execl (cmd, cmd, action, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

//  Run one SQL statement on the test's PostgreSQL (schema set up by an
//  actor's connect): the first column of the first row (new string, ""
//  when no row), or NULL when it failed.
static inline char *
ll_test_sql (const ll_config_t *config, const char *sql)
{
    char *conninfo = ll_config_conninfo (config);
    PGconn *conn = PQconnectdb (conninfo);
    free (conninfo);
    char *value = NULL;
    if (PQstatus (conn) == CONNECTION_OK) {
        PGresult *res = PQexec (conn, sql);
        ExecStatusType status = PQresultStatus (res);
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
            value = strdup (PQntuples (res) > 0 && PQnfields (res) > 0
                                ? PQgetvalue (res, 0, 0)
                                : "");
        PQclear (res);
    }
    PQfinish (conn);
    return value;
}

#ifdef cmocka_unit_test
//  Assert that sql's first value is want (cmocka tests).
static inline void
ll_test_expect_sql (const ll_config_t *config,
                    const char *sql,
                    const char *want)
{
    char *got = ll_test_sql (config, sql);
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}
#endif

//  The terraform actor's settings for a test: its working directory in the
//  test's scratch folder, the local module, terraform_bin the program it
//  runs (a stand-in, or one that cannot run).
static inline void
ll_test_terraform_config (ll_config_t *config, const char *terraform_bin)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/work", getenv ("LABLINK_TEST_DIR"));
    free (config->provider.work_dir);
    config->provider.work_dir = strdup (dir);
    snprintf (dir, sizeof dir, "%s/terraform/local",
              getenv ("LABLINK_SOURCE_DIR"));
    free (config->provider.terraform_dir);
    config->provider.terraform_dir = strdup (dir);
    free (config->provider.terraform_bin);
    config->provider.terraform_bin = strdup (terraform_bin);
}

#endif
