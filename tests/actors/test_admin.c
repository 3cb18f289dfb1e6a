/*  The admin actor over its pipe and ROUTER with a real PostgreSQL:
    sessions live, expire and end; failed logins are counted per address
    and forgotten on success; audit rows come back newest first; the VM
    reads; oversized, malformed and unknown requests are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/admin.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

#define HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void
test_admin (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (admin_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_ADMIN);
    ll_client_t admin = ll_client_dealer (dealer);

    //  A session: made, checked (the actor it names), ended, then expired
    char *who = NULL;
    assert_int_equal (
        ll_ask_session_new (&admin, HASH, "admin", "10.0.0.7", &error), 0);
    assert_int_equal (
        ll_ask_session_check (&admin, HASH, 1800, 43200, &who, &error), 0);
    assert_string_equal (who, "admin");
    free (who);
    assert_int_equal (ll_ask_session_end (&admin, HASH, &error), 0);
    assert_int_equal (
        ll_ask_session_check (&admin, HASH, 1800, 43200, &who, &error), -1);
    assert_string_equal (error, LL_REASON_EXPIRED);
    free (error);
    error = NULL;
    //  A session idle longer than allowed has expired
    assert_int_equal (
        ll_ask_session_new (&admin, HASH, "admin", "10.0.0.7", &error), 0);
    zclock_sleep (1100);
    assert_int_equal (
        ll_ask_session_check (&admin, HASH, 1, 43200, &who, &error), -1);
    assert_string_equal (error, LL_REASON_EXPIRED);
    free (error);
    error = NULL;

    //  Failed logins per address, forgotten on success
    char *failures = NULL, *retry = NULL;
    for (int i = 0; i < 3; i++)
        assert_int_equal (ll_ask_login_result (&admin, LL_CMD_LOGIN_FAILED,
                                               "10.0.0.8", &error),
                          0);
    assert_int_equal (
        ll_ask_login_check (&admin, "10.0.0.8", 300, &failures, &retry, &error),
        0);
    assert_string_equal (failures, "3");
    assert_true (strtol (retry, NULL, 10) > 0);
    free (failures);
    free (retry);
    assert_int_equal (
        ll_ask_login_check (&admin, "10.0.0.9", 300, &failures, &retry, &error),
        0);
    assert_string_equal (failures, "0");  //  another address
    free (failures);
    free (retry);
    assert_int_equal (
        ll_ask_login_result (&admin, LL_CMD_LOGIN_OK, "10.0.0.8", &error), 0);
    assert_int_equal (
        ll_ask_login_check (&admin, "10.0.0.8", 300, &failures, &retry, &error),
        0);
    assert_string_equal (failures, "0");
    free (failures);
    free (retry);

    //  Audit rows, newest first; empty target and detail stored as NULL
    assert_int_equal (ll_ask_audit (&admin, "admin", "POST /destroy", "",
                                    "success", "", &error),
                      0);
    assert_int_equal (ll_ask_audit (&admin, "admin", "POST /api/launch", "vm-1",
                                    "failure", "HTTP 503", &error),
                      0);
    char *json = NULL;
    assert_int_equal (ll_ask_audit_list (&admin, "10", "0", &json, &error), 0);
    char *launch = strstr (json, "POST /api/launch");
    char *destroy = strstr (json, "POST /destroy");
    assert_non_null (launch);
    assert_non_null (destroy);
    assert_true (launch < destroy);
    free (json);

    //  The VM reads
    char *exists = NULL;
    assert_int_equal (
        ll_ask_admin_vm_exists (&admin, "no-such-vm", &exists, &error), 0);
    assert_string_equal (exists, "0");
    free (exists);
    free (ll_test_sql (config, "INSERT INTO vms (hostname, status) VALUES "
                               "('adm-vm-1', 'running')"));
    assert_int_equal (
        ll_ask_admin_vm_exists (&admin, "adm-vm-1", &exists, &error), 0);
    assert_string_equal (exists, "1");
    free (exists);
    assert_int_equal (ll_ask_admin_vms (&admin, NULL, &json, &error), 0);
    assert_non_null (strstr (json, "adm-vm-1"));
    assert_null (strstr (json, "crd_command"));
    free (json);
    //  ADMIN-VMS hostname: that VM only
    free (ll_test_sql (config, "INSERT INTO vms (hostname, status) VALUES "
                               "('adm-vm-2', 'running')"));
    assert_int_equal (ll_ask_admin_vms (&admin, "adm-vm-2", &json, &error), 0);
    assert_non_null (strstr (json, "adm-vm-2"));
    assert_null (strstr (json, "adm-vm-1"));
    free (json);

    //  VM-PROGRESS: the row for the student's page, "" for no such VM
    assert_int_equal (ll_ask_vm_progress (&admin, "adm-vm-1", &json, &error),
                      0);
    assert_non_null (strstr (json, "\"hostname\" : \"adm-vm-1\""));
    free (json);
    assert_int_equal (ll_ask_vm_progress (&admin, "no-such-vm", &json, &error),
                      0);
    assert_string_equal (json, "");
    free (json);

    //  The kept exports: listed, found, marked downloaded, deleted once
    static const char zip[] = "lablink_data20261202_101010.zip";
    free (ll_test_sql (config, "INSERT INTO export_archives (name, bytes, "
                               "allocator) VALUES "
                               "('lablink_data20261202_101010.zip', 10, "
                               "'alloc-a')"));
    assert_int_equal (ll_ask_archives (&admin, &json, &error), 0);
    assert_non_null (strstr (json, zip));
    free (json);
    char *value = NULL;
    assert_int_equal (
        ll_ask_archive (&admin, LL_CMD_ARCHIVE_GET, zip, &value, &error), 0);
    assert_string_equal (value, "alloc-a");
    free (value);
    assert_int_equal (
        ll_ask_archive (&admin, LL_CMD_ARCHIVE_DONE, zip, NULL, &error), 0);
    char *done = ll_test_sql (config, "SELECT downloaded_at IS NOT NULL FROM "
                                      "export_archives");
    assert_string_equal (done, "t");
    free (done);
    assert_int_equal (
        ll_ask_archive (&admin, LL_CMD_ARCHIVE_DELETE, zip, &value, &error), 0);
    assert_string_equal (value, zip);
    free (value);
    assert_int_equal (
        ll_ask_archive (&admin, LL_CMD_ARCHIVE_DELETE, zip, &value, &error),
        -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    assert_int_equal (
        ll_ask_archive (&admin, LL_CMD_ARCHIVE_GET, zip, &value, &error), -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    error = NULL;

    //  Refused: an argument over 512 bytes, a missing argument, a command
    //  served elsewhere
    char long_address[600];
    memset (long_address, 'a', sizeof long_address - 1);
    long_address[sizeof long_address - 1] = '\0';
    assert_int_equal (
        ll_ask_login_result (&admin, LL_CMD_LOGIN_FAILED, long_address, &error),
        -1);
    assert_string_equal (error, LL_REASON_TOO_LONG);
    free (error);
    zmsg_t *reply = NULL;
    assert_int_equal (
        ll_call (dealer, LL_CMD_SESSION_NEW, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_CLAIM, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_UNKNOWN);
    free (error);

    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_admin),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
