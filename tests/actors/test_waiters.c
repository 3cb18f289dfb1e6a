/*  The waiters actor (with the listener feeding it events) over its pipe
    and ROUTER with a real PostgreSQL: an unknown VM is UNKNOWN, a stored
    assignment is answered at once, a parked wait is answered by the NOTIFY
    of a new assignment, an HTTP wait times out, the parked HTTP waiters are
    capped (FULL), VM-UNWAIT forgets a wait that is then never answered,
    and only the agent of the VM's current token generation waits: another
    generation is REVOKED at once, and a parked waiter is REVOKED when a
    new token replaces its own (the listener's VM-REVOKED). A burst of
    waits (drained together, one statement for their rows) is answered as
    each alone would be; when the process stops ($STOPPING) every parked
    wait is answered TIMEOUT at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/listener.h"
#include "actors/waiters.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

//  Send VM-WAIT host timeout kind generation with request id
static void
s_wait_gen (zsock_t *dealer,
            const char *id,
            const char *host,
            const char *ms,
            const char *kind,
            const char *gen)
{
    assert_int_equal (
        ll_proto_send (dealer, LL_CMD_VM_WAIT, id, host, ms, kind, gen), 0);
}

//  The same with the test VMs' token generation, 1
static void
s_wait (zsock_t *dealer,
        const char *id,
        const char *host,
        const char *ms,
        const char *kind)
{
    s_wait_gen (dealer, id, host, ms, kind, "1");
}

//  The next VM-WAIT answer: its request id and what (new strings)
static void
s_answer (zsock_t *dealer, char **id, char **what, char **a, char **b)
{
    ll_answer_t answer;
    assert_int_equal (ll_answer_recv (&answer, dealer), 0);
    assert_string_equal (answer.command, LL_CMD_VM_WAIT);
    assert_int_equal (
        ll_proto_payload (LL_CMD_VM_WAIT, &answer.payload, what, a, b), 0);
    *id = answer.id;
    answer.id = NULL;
    ll_answer_free (&answer);
}

static void
test_waiters (void **state)
{
    ll_config_t *config = ll_test_config ();
    config->agent.max_parked = 2;
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    const ll_actor_def_t table[] = {{"listener", listener_actor, false},
                                    {"waiters", waiters_actor, false}};
    ll_supervisor_t *actors = ll_supervisor_new (table, 2, &runtime);
    char *error = NULL;
    assert_int_equal (ll_supervisor_start (actors, false, &error), 0);
    free (ll_test_sql (
        config,
        "INSERT INTO vms (hostname, status, last_seen_at, "
        "token_generation, token_hash) "
        "VALUES ('w-vm-1', 'running', now(), 1, NULL), "
        "('w-vm-2', 'running', now(), 1, NULL), "
        "('w-vm-3', 'running', now(), 1, NULL), "
        "('w-vm-4', 'running', now(), 1, "
        "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')"));
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=stored', "
                               "pin = '111111' WHERE hostname = 'w-vm-3'"));
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_WAITERS);
    zsock_set_rcvtimeo (dealer, 10000);
    char *id = NULL, *what = NULL, *a = NULL, *b = NULL;

    //  Unknown VM; a stored, undelivered assignment at once
    s_wait (dealer, "1", "no-such-vm", "5000", "http");
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "1");
    assert_string_equal (what, LL_WAIT_UNKNOWN);
    free (id);
    free (what);
    s_wait (dealer, "2", "w-vm-3", "5000", "http");
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (what, LL_WAIT_ASSIGN);
    assert_string_equal (a, "111111");
    assert_string_equal (b, "--code=stored");
    free (id);
    free (what);
    free (a);
    free (b);

    //  Parked (ZeroMQ kind, no timeout) until an assignment's NOTIFY
    s_wait (dealer, "3", "w-vm-1", "0", "zmq");
    zclock_sleep (300);
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=new', "
                               "pin = '222222' WHERE hostname = 'w-vm-1'"));
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "3");
    assert_string_equal (what, LL_WAIT_ASSIGN);
    assert_string_equal (a, "222222");
    assert_string_equal (b, "--code=new");
    free (id);
    free (what);
    free (a);
    free (b);

    //  HTTP waiters: capped at agent.max_parked, timed out
    s_wait (dealer, "4", "w-vm-2", "600", "http");
    s_wait (dealer, "5", "w-vm-2", "600", "http");
    s_wait (dealer, "6", "w-vm-2", "600", "http");
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "6");
    assert_string_equal (what, LL_WAIT_FULL);
    assert_true (strtol (a, NULL, 10) >= 1);
    free (id);
    free (what);
    free (a);
    for (int i = 0; i < 2; i++) {
        s_answer (dealer, &id, &what, &a, &b);
        assert_string_equal (what, LL_WAIT_TIMEOUT);
        free (id);
        free (what);
    }

    //  VM-UNWAIT: the wait is forgotten and never answered
    s_wait (dealer, "7", "w-vm-2", "0", "zmq");
    ll_client_t waiters = ll_client_dealer (dealer);
    assert_int_equal (ll_ask_vm_unwait (&waiters, "7", &error), 0);
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=late', "
                               "pin = '333333' WHERE hostname = 'w-vm-2'"));
    zsock_set_rcvtimeo (dealer, 1500);
    zmsg_t *nothing = zmsg_recv (dealer);
    assert_null (nothing);

    //  Another generation than the VM's current one: REVOKED at once
    zsock_set_rcvtimeo (dealer, 10000);
    s_wait_gen (dealer, "8", "w-vm-4", "5000", "http", "2");
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "8");
    assert_string_equal (what, LL_WAIT_REVOKED);
    free (id);
    free (what);
    //  Parked with the current token, which a new one replaces: REVOKED,
    //  and the new assignment's PIN never reaches it
    s_wait (dealer, "9", "w-vm-4", "0", "zmq");
    zclock_sleep (300);
    free (ll_test_sql (
        config,
        "UPDATE vms SET token_hash = "
        "'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', "
        "token_generation = 2 WHERE hostname = "
        "'w-vm-4'"));
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "9");
    assert_string_equal (what, LL_WAIT_REVOKED);
    assert_null (a);
    free (id);
    free (what);
    //  The current generation's waiter gets the assignment
    s_wait_gen (dealer, "10", "w-vm-4", "0", "zmq", "2");
    zclock_sleep (300);
    free (ll_test_sql (config, "UPDATE vms SET crd_command = '--code=four', "
                               "pin = '444444' WHERE hostname = 'w-vm-4'"));
    s_answer (dealer, &id, &what, &a, &b);
    assert_string_equal (id, "10");
    assert_string_equal (what, LL_WAIT_ASSIGN);
    assert_string_equal (a, "444444");
    free (id);
    free (what);
    free (a);
    free (b);

    //  Refused
    zsock_set_rcvtimeo (dealer, 5000);
    zmsg_t *reply = NULL;
    zmsg_t *args =
        ll_proto_args (LL_CMD_VM_WAIT, "w-vm-2", "10", "carrier", "1");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_WAIT, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_CLAIM, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_UNKNOWN);
    free (error);

    //  A burst, sent before any is answered: each answered in order as if
    //  alone (unknown, stored assignment, old generation)
    zsock_set_rcvtimeo (dealer, 10000);
    s_wait (dealer, "11", "no-such-vm", "5000", "http");
    s_wait (dealer, "12", "w-vm-3", "5000", "http");
    s_wait_gen (dealer, "13", "w-vm-4", "5000", "zmq", "1");
    const char *burst[][2] = {{"11", LL_WAIT_UNKNOWN},
                              {"12", LL_WAIT_ASSIGN},
                              {"13", LL_WAIT_REVOKED}};
    for (int i = 0; i < 3; i++) {
        s_answer (dealer, &id, &what, &a, &b);
        assert_string_equal (id, burst[i][0]);
        assert_string_equal (what, burst[i][1]);
        if (i == 1)
            assert_string_equal (a, "111111");
        free (id);
        free (what);
        free (a);
        free (b);
        a = b = NULL;
    }

    //  The process stops: the parked waits (never timing out) are all
    //  answered TIMEOUT before the actors end, so the HTTP workers and
    //  agents they hold are free at once
    free (ll_test_sql (config, "INSERT INTO vms (hostname, status, "
                               "last_seen_at, token_generation) VALUES "
                               "('w-vm-5', 'running', now(), 1)"));
    s_wait (dealer, "14", "w-vm-5", "0", "zmq");
    s_wait (dealer, "15", "w-vm-5", "0", "http");
    zclock_sleep (300);
    ll_supervisor_destroy (&actors);
    for (int i = 0; i < 2; i++) {
        s_answer (dealer, &id, &what, &a, &b);
        assert_string_equal (what, LL_WAIT_TIMEOUT);
        free (id);
        free (what);
    }

    zsock_destroy (&dealer);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_waiters),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
