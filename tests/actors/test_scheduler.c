/*  The scheduler actor over its pipe and ROUTER with a real PostgreSQL:
    schedules are added (a name once), listed, read and cancelled (once);
    the class's end is the next schedule's time; the dashboard's figures
    come back as one object; malformed, oversized and unknown requests are
    refused. (The schedules running on time, the rules and the budget are
    tested against the whole allocator: tests/integration/test_console_*.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/scheduler.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

static void
test_scheduler (void **state)
{
    (void) state;
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (scheduler_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_SCHEDULER);
    ll_client_t scheduler = ll_client_dealer (dealer);

    //  No schedule: no end of class
    char *epoch = NULL;
    assert_int_equal (ll_ask_class_end (&scheduler, &epoch, &error), 0);
    assert_string_equal (epoch, "");
    free (epoch);

    //  A schedule an hour away; its name only once
    char at[24];
    snprintf (at, sizeof at, "%lld", (long long) time (NULL) + 3600);
    const char *values[] = {"end of class", at, "", "ann", "1", "2", "0"};
    char *id = NULL;
    assert_int_equal (ll_ask_schedule_add (&scheduler, values, &id, &error), 0);
    assert_true (strtol (id, NULL, 10) > 0);
    char *again = NULL;
    assert_int_equal (ll_ask_schedule_add (&scheduler, values, &again, &error),
                      -1);
    assert_string_equal (error, LL_REASON_DUPLICATE_NAME);
    free (error);
    assert_int_equal (ll_ask_class_end (&scheduler, &epoch, &error), 0);
    assert_string_equal (epoch, at);
    free (epoch);

    //  Listed (all, by status), read alone (an object), unknown ids
    char *json = NULL;
    assert_int_equal (ll_ask_schedule_read (&scheduler, LL_CMD_SCHEDULE_LIST,
                                            "", &json, &error),
                      0);
    assert_int_equal (json[0], '[');
    assert_non_null (strstr (json, "end of class"));
    free (json);
    assert_int_equal (ll_ask_schedule_read (&scheduler, LL_CMD_SCHEDULE_LIST,
                                            "cancelled", &json, &error),
                      0);
    assert_string_equal (json, "[]");
    free (json);
    assert_int_equal (ll_ask_schedule_read (&scheduler, LL_CMD_SCHEDULE_GET, id,
                                            &json, &error),
                      0);
    assert_int_equal (json[0], '{');
    assert_non_null (strstr (json, "\"created_by\":\"ann\""));
    free (json);
    assert_int_equal (ll_ask_schedule_read (&scheduler, LL_CMD_SCHEDULE_GET,
                                            "999999", &json, &error),
                      -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);

    //  The dashboard: counts by state, the next teardown, the estimate
    assert_int_equal (ll_ask_dashboard (&scheduler, &json, &error), 0);
    assert_non_null (strstr (json, "\"counts\":{"));
    assert_non_null (strstr (json, "\"name\":\"end of class\""));
    assert_non_null (strstr (json, "\"estimate\":true"));
    free (json);

    //  Cancelled once; then its status says why not again
    assert_int_equal (ll_ask_schedule_cancel (&scheduler, id, &error), 0);
    assert_int_equal (ll_ask_schedule_cancel (&scheduler, id, &error), -1);
    assert_string_equal (error, LL_REASON_STATUS " cancelled");
    free (error);
    assert_int_equal (ll_ask_schedule_cancel (&scheduler, "999999", &error),
                      -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    assert_int_equal (ll_ask_class_end (&scheduler, &epoch, &error), 0);
    assert_string_equal (epoch, "");
    free (epoch);
    free (id);

    //  Refused: a missing argument, one over 512 bytes, a command served
    //  elsewhere
    zmsg_t *reply = NULL;
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, "only a name");
    assert_int_equal (
        ll_call (dealer, LL_CMD_SCHEDULE_ADD, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    char long_status[600];
    memset (long_status, 'a', sizeof long_status - 1);
    long_status[sizeof long_status - 1] = '\0';
    assert_int_equal (ll_ask_schedule_read (&scheduler, LL_CMD_SCHEDULE_LIST,
                                            long_status, &json, &error),
                      -1);
    assert_string_equal (error, LL_REASON_TOO_LONG);
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
        cmocka_unit_test (test_scheduler),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
