/*  The listener actor over its pipe and PUB socket with a real PostgreSQL:
    RESYNC once LISTEN is in place, VM-ASSIGNED from an assignment's NOTIFY
    (the trigger's payload: host, pin, command, token generation), a
    notification without a command or over the payload cap publishes
    nothing, a replaced token is VM-REVOKED with the new generation, and
    after PostgreSQL restarts the listener LISTENs again and says
    RESYNC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/listener.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

//  The next event (new string) and its frames; VM-REVOKED's generation
//  comes in *pin
static char *
s_event_gen (
    zsock_t *sub, char **host, char **pin, char **command, char **generation)
{
    *host = *pin = *command = *generation = NULL;
    zmsg_t *msg = zmsg_recv (sub);
    if (!msg)
        return NULL;
    char *event = zmsg_popstr (msg);
    assert_int_equal (
        ll_proto_decode (event, msg, host, pin, command, generation), 0);
    zmsg_destroy (&msg);
    return event;
}

static char *
s_event (zsock_t *sub, char **host, char **pin, char **command)
{
    char *generation = NULL;
    char *event = s_event_gen (sub, host, pin, command, &generation);
    free (generation);
    return event;
}

static void
test_listener (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    //  The subscriber connects first: the START's RESYNC is not missed
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_subscribe (sub, "");
    zsock_set_rcvtimeo (sub, 10000);
    zsock_connect (sub, LL_ENDPOINT_EVENTS);
    zactor_t *actor = zactor_new (listener_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    char *host, *pin, *command;
    char *event = s_event (sub, &host, &pin, &command);
    assert_non_null (event);
    assert_string_equal (event, LL_EVT_RESYNC);
    free (event);

    free (ll_test_sql (config, "INSERT INTO vms (hostname, status, "
                               "token_hash, token_generation) VALUES "
                               "('l-vm-1', 'running', "
                               "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                               "aaaaaaaaaaaaaaaaaa', 5)"));
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=x', pin "
                               "= '424242' WHERE hostname = 'l-vm-1'"));
    char *generation = NULL;
    event = s_event_gen (sub, &host, &pin, &command, &generation);
    assert_string_equal (event, LL_EVT_VM_ASSIGNED);
    assert_string_equal (host, "l-vm-1");
    assert_string_equal (pin, "424242");
    assert_string_equal (command, "--code=x");
    assert_string_equal (generation, "5");
    free (event);
    free (host);
    free (pin);
    free (command);
    free (generation);
    //  A new token: VM-REVOKED host new-generation
    free (ll_test_sql (
        config,
        "UPDATE vms SET token_hash = "
        "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', "
        "token_generation = 6 WHERE hostname = "
        "'l-vm-1'"));
    event = s_event (sub, &host, &pin, &command);
    assert_string_equal (event, LL_EVT_VM_REVOKED);
    assert_string_equal (host, "l-vm-1");
    assert_string_equal (pin, "6");
    free (event);
    free (host);
    free (pin);

    //  Not an assignment, or over the cap: nothing; then a sound one
    free (ll_test_sql (config, "SELECT pg_notify('vm_updates', "
                               "'{\"HostName\":\"l-vm-1\"}')"));
    free (ll_test_sql (config, "SELECT pg_notify('vm_updates', "
                               "json_build_object('HostName', 'l-vm-1', "
                               "'CrdCommand', repeat('x', 9000))::text)"));
    free (ll_test_sql (config, "SELECT pg_notify('vm_updates', "
                               "'{\"HostName\":\"l-vm-2\",\"CrdCommand\":"
                               "\"--code=y\"}')"));
    event = s_event (sub, &host, &pin, &command);
    assert_string_equal (event, LL_EVT_VM_ASSIGNED);
    assert_string_equal (host, "l-vm-2");  //  the two before: nothing
    assert_null (pin);  //  no pin in that payload: the host only
    free (event);
    free (host);

    //  PostgreSQL restarts: LISTEN again, RESYNC (missed notifications)
    assert_int_equal (ll_test_pg ("stop"), 0);
    assert_int_equal (ll_test_pg ("start"), 0);
    event = s_event (sub, &host, &pin, &command);
    assert_non_null (event);
    assert_string_equal (event, LL_EVT_RESYNC);
    free (event);
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=z' "
                               "WHERE hostname = 'l-vm-1'"));
    event = s_event (sub, &host, &pin, &command);
    assert_string_equal (event, LL_EVT_VM_ASSIGNED);
    assert_string_equal (command, "--code=z");
    free (event);
    free (host);
    free (pin);
    free (command);

    zactor_destroy (&actor);
    zsock_destroy (&sub);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_listener),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
