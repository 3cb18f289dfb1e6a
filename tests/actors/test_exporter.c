/*  The exporter actor over its pipe and ROUTER with a real PostgreSQL
    (no VM to reach: the SSH side is tests/integration/test_export.sh's):
    no VM at all is "no-vms"; a VM without an address fails at once, the
    export ends EMPTY with the reason, EXPORT-STATUS keeps the figures of
    the last export; reads and cancels of another export are told so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/exporter/exporter.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

static void
test_exporter (void **state)
{
    ll_config_t *config = ll_test_config ();
    free (config->export.key_file);
    config->export.key_file =
        zsys_sprintf ("%s/export_ed25519", getenv ("LABLINK_TEST_DIR"));
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (exporter_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_EXPORTER);
    ll_client_t exporter = ll_client_dealer (dealer);
    //  The client key was made at START
    assert_true (zsys_file_exists (config->export.key_file));

    char *id = NULL, *filename = NULL;
    assert_int_equal (
        ll_ask_export_start (&exporter, "admin", NULL, &id, &filename, &error),
        -1);
    assert_string_equal (error, LL_REASON_NO_VMS);
    free (error);

    free (ll_test_sql (config, "INSERT INTO vms (hostname, status) VALUES "
                               "('x-vm-1', 'running')"));
    assert_int_equal (
        ll_ask_export_start (&exporter, "tester", NULL, &id, &filename, &error),
        0);
    assert_int_equal (strlen (id), 32);
    assert_int_equal (strncmp (filename, "lablink_data", 12), 0);
    char *kind = NULL;
    zmsg_t *rest = NULL;
    //  Another export's id is refused; the running one is read to its end
    assert_int_equal (
        ll_ask_export_read (&exporter, "0123", &kind, &rest, &error), -1);
    assert_string_equal (error, LL_REASON_NO_EXPORT);
    free (error);
    int64_t until = ll_now_ms () + 10000;
    while (ll_now_ms () < until) {
        assert_int_equal (
            ll_ask_export_read (&exporter, id, &kind, &rest, &error), 0);
        if (!streq (kind, LL_EXPORT_WAIT))
            break;
        free (kind);
        zmsg_destroy (&rest);
    }
    assert_string_equal (kind, LL_EXPORT_EMPTY);
    char *failed = NULL, *reason = NULL;
    assert_int_equal (ll_msg_take (rest, "ss", &failed, &reason), 0);
    assert_string_equal (failed, "1");
    assert_non_null (strstr (reason, "no address"));
    free (failed);
    free (reason);
    free (kind);
    zmsg_destroy (&rest);

    //  The last export's figures
    zmsg_t *status = NULL;
    assert_int_equal (ll_ask_export_status (&exporter, &status, &error), 0);
    char *f[7] = {NULL}, *v[5] = {NULL};
    assert_int_equal (ll_msg_row (status, "sssssss", &f[0], &f[1], &f[2], &f[3],
                                  &f[4], &f[5], &f[6]),
                      0);
    assert_string_equal (f[0], "0");  //  not running
    assert_string_equal (f[1], "1");  //  done
    assert_string_equal (f[2], "1");  //  of
    assert_string_equal (f[5], "1");  //  failed
    assert_string_equal (f[6], filename);
    assert_int_equal (
        ll_msg_take (status, "sssss", &v[0], &v[1], &v[2], &v[3], &v[4]), 0);
    assert_string_equal (v[0], "x-vm-1");
    assert_string_equal (v[1], "failed");
    for (int i = 0; i < 7; i++)
        free (f[i]);
    for (int i = 0; i < 5; i++)
        free (v[i]);
    zmsg_destroy (&status);
    //  A cancel of what no longer runs is harmless
    assert_int_equal (ll_ask_export_cancel (&exporter, id, &error), 0);
    free (id);
    free (filename);
    char *audit =
        ll_test_sql (config, "SELECT outcome FROM audit_log WHERE "
                             "actor = 'tester' AND action = 'export'");
    assert_string_equal (audit, "empty");
    free (audit);

    zmsg_t *reply = NULL;
    assert_int_equal (
        ll_call (dealer, LL_CMD_EXPORT_READ, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    assert_int_equal (
        ll_call (dealer, LL_CMD_LAUNCH, NULL, 2000, &reply, &error), -1);
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
        cmocka_unit_test (test_exporter),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
