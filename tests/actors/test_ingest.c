/*  The ingest actor over its pipe, ROUTER and PUB with a real PostgreSQL:
    lines are stored and acknowledged after their commit, read back oldest
    first (newest N, or after an id), published on the tail to the VM's
    subscribers only; an agent batch sent twice is stored once; unknown
    VMs, bad streams, invalid UTF-8 and too many lines are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/ingest.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

static void
test_ingest (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (ingest_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    free (ll_test_sql (config,
                       "INSERT INTO vms (hostname, status) VALUES "
                       "('i-vm-1', 'running'), ('i-vm-10', 'running')"));
    zsock_t *tail = zsock_new_sub (LL_ENDPOINT_LOG_TAIL, "i-vm-1\t");
    zsock_set_rcvtimeo (tail, 10000);
    zclock_sleep (200);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_LOGS);
    ll_client_t ingest = ll_client_dealer (dealer);

    char *stored = NULL;
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-10", "docker", "", "",
                                         "other\n", 6, &stored, &error),
                      0);
    free (stored);
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "cloud_init", "",
                                         "", "one\ntwo\n", 8, &stored, &error),
                      0);
    assert_string_equal (stored, "2");
    free (stored);
    //  The tail: this VM's rows only (i-vm-10 is another topic)
    zmsg_t *msg = zmsg_recv (tail);
    assert_non_null (msg);
    char *topic = NULL;
    zframe_t *rows = NULL;
    assert_int_equal (ll_msg_take (msg, "sb", &topic, &rows), 0);
    assert_string_equal (topic, "i-vm-1\t");
    char *text = zframe_strdup (rows);
    assert_non_null (strstr (text, "\tcloud_init\tone\n"));
    assert_non_null (strstr (text, "\tcloud_init\ttwo\n"));
    assert_null (strstr (text, "other"));
    long long first = strtoll (text, NULL, 10);
    free (text);
    free (topic);
    zframe_destroy (&rows);
    zmsg_destroy (&msg);

    //  An agent batch twice: stored once
    const char *source = "0123456789abcdef";
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "agent", source,
                                         "7", "three\n", 6, &stored, &error),
                      0);
    assert_string_equal (stored, "1");
    free (stored);
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "agent", source,
                                         "7", "three\n", 6, &stored, &error),
                      0);
    assert_string_equal (stored, LL_LOG_DUPLICATE);
    free (stored);

    //  Reads: the newest two, then after the first id
    char *status = NULL;
    assert_int_equal (
        ll_ask_log_read (&ingest, "i-vm-1", "", 2, &status, &rows, &error), 0);
    assert_string_equal (status, "running");
    text = zframe_strdup (rows);
    assert_null (strstr (text, "\tone\n"));
    assert_non_null (strstr (text, "\ttwo\n"));
    assert_non_null (strstr (text, "\tagent\tthree\n"));
    assert_true (strstr (text, "two") < strstr (text, "three"));
    free (text);
    free (status);
    zframe_destroy (&rows);
    char after[24];
    snprintf (after, sizeof after, "%lld", first);
    assert_int_equal (
        ll_ask_log_read (&ingest, "i-vm-1", after, 10, &status, &rows, &error),
        0);
    text = zframe_strdup (rows);
    assert_null (strstr (text, "\tone\n"));
    assert_non_null (strstr (text, "\ttwo\n"));
    free (text);
    free (status);
    zframe_destroy (&rows);

    //  Refused, nothing stored
    assert_int_equal (ll_ask_log_append (&ingest, "no-such-vm", "agent", "", "",
                                         "x\n", 2, &stored, &error),
                      -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "syslog", "", "",
                                         "x\n", 2, &stored, &error),
                      -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "agent", "", "",
                                         "\xff\xfe\n", 3, &stored, &error),
                      -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    size_t many = LL_LOG_APPEND_MAX_LINES + 1;
    char *lines = malloc (many * 2);
    for (size_t i = 0; i < many; i++)
        memcpy (lines + 2 * i, "x\n", 2);
    assert_int_equal (ll_ask_log_append (&ingest, "i-vm-1", "agent", "", "",
                                         lines, many * 2, &stored, &error),
                      -1);
    assert_string_equal (error, LL_REASON_LINES);
    free (error);
    free (lines);
    char *count = ll_test_sql (
        config, "SELECT count(*) FROM vm_logs WHERE hostname = 'i-vm-1'");
    assert_string_equal (count, "3");
    free (count);
    assert_int_equal (
        ll_ask_log_read (&ingest, "no-such-vm", "", 5, &status, &rows, &error),
        -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    zmsg_t *reply = NULL;
    assert_int_equal (
        ll_call (dealer, LL_CMD_LOG_READ, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);

    zsock_destroy (&dealer);
    zsock_destroy (&tail);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ingest),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
