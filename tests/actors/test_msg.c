/*  The request/reply convention over real inproc sockets: replies matched
    by request id, late replies of timed-out calls dropped, ERROR reasons
    passed through, START handshake failures reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "runtime/msg.h"
#include "runtime/protocol.h"

#define ENDPOINT "inproc://test-msg"

static void
test_reply_ok_and_error (void **state)
{
    zsock_t *router = zsock_new_router (ENDPOINT);
    zsock_t *dealer = zsock_new_dealer (ENDPOINT);
    zsock_set_rcvtimeo (router, 2000);

    //  Serve one OK and one ERROR from a second thread-free loop: send first
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, "hello");
    zmsg_t *reply = NULL;
    char *error = NULL;
    //  The call times out because nobody answers yet
    assert_int_equal (ll_call (dealer, "ECHO", &args, 100, &reply, &error), -1);
    assert_null (args);
    assert_string_equal (error, "timeout");
    free (error);

    //  The router now answers the stale request; then a fresh one
    ll_request_t *late = ll_request_recv (router);
    assert_non_null (late);
    assert_string_equal (late->command, "ECHO");
    char *word = zmsg_popstr (late->args);
    assert_string_equal (word, "hello");
    free (word);
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, "stale");
    ll_request_reply_ok (late, router, &payload);
    assert_null (payload);
    ll_request_destroy (&late);
    ll_request_destroy (&late);  //  safe twice

    //  A new call: the stale reply must be skipped, the right one taken
    zsock_t *server_side = router;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "ping");
    //  Send the request ourselves to control the order
    zmsg_pushstr (msg, "42");
    zmsg_pushstr (msg, "ECHO");
    zmsg_send (&msg, dealer);
    ll_request_t *req = ll_request_recv (server_side);
    assert_string_equal (req->request_id, "42");
    ll_request_reply_error (req, server_side, "no such thing");
    ll_request_destroy (&req);
    //  Drain by hand: first the stale OK, then the ERROR
    zmsg_t *first = zmsg_recv (dealer);
    assert_int_equal (zmsg_size (first), 4);  //  ECHO id OK stale
    zframe_t *status = zmsg_first (first);
    status = zmsg_next (first);
    status = zmsg_next (first);
    assert_true (zframe_streq (status, "OK"));
    zmsg_destroy (&first);
    zmsg_t *second = zmsg_recv (dealer);
    assert_int_equal (zmsg_size (second), 4);
    zmsg_destroy (&second);

    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

//  A server actor that answers ECHO after a short delay, to show that
//  ll_call skips a reply meant for an earlier call.
static void
s_echo_actor (zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new_router (ENDPOINT "-actor");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        ll_request_t *req = ll_request_recv (router);
        if (!req)
            continue;
        char *word = zmsg_popstr (req->args);
        if (word && streq (word, "slow"))
            zclock_sleep (300);
        if (word && streq (word, "fail"))
            ll_request_reply_error (req, router, "asked to fail");
        else {
            zmsg_t *payload = zmsg_new ();
            zmsg_addstr (payload, word ? word : "");
            ll_request_reply_ok (req, router, &payload);
        }
        free (word);
        ll_request_destroy (&req);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

static int
s_call (
    zsock_t *dealer, const char *word, int timeout, char **out, char **error)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, word);
    zmsg_t *reply = NULL;
    int rc = ll_call (dealer, "ECHO", &args, timeout, &reply, error);
    *out = rc == 0 ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    return rc;
}

static void
test_stale_replies_dropped (void **state)
{
    zactor_t *actor = zactor_new (s_echo_actor, NULL);
    zsock_t *dealer = zsock_new_dealer (ENDPOINT "-actor");
    zsock_set_rcvtimeo (dealer, 1234);
    char *out = NULL, *error = NULL;
    assert_int_equal (s_call (dealer, "slow", 50, &out, &error), -1);
    assert_string_equal (error, "timeout");
    free (error);
    error = NULL;
    //  The slow reply arrives during this call and must be ignored
    assert_int_equal (s_call (dealer, "fast", 2000, &out, &error), 0);
    assert_string_equal (out, "fast");
    free (out);
    assert_int_equal (s_call (dealer, "fail", 2000, &out, &error), -1);
    assert_string_equal (error, "asked to fail");
    free (error);
    //  A call waits with its own timeout and leaves the socket's as it was
    assert_int_equal (zsock_rcvtimeo (dealer), 1234);
    zsock_destroy (&dealer);
    zactor_destroy (&actor);
}

static void
s_refusing_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    while (true) {
        char *command = zstr_recv (pipe);
        if (!command)
            break;
        bool term = streq (command, LL_CMD_TERM);
        if (streq (command, LL_CMD_START))
            ll_actor_started (pipe, "resource unavailable");
        free (command);
        if (term)
            break;
    }
}

//  The drain loops' receive: NULL at once when nothing waits, malformed
//  messages dropped, requests in order, the socket's timeout left as it was
static void
test_recv_nowait (void **state)
{
    zsock_t *router = zsock_new_router (ENDPOINT "-nowait");
    zsock_t *dealer = zsock_new_dealer (ENDPOINT "-nowait");
    zsock_set_rcvtimeo (router, 5000);
    int64_t started = zclock_mono ();
    assert_null (ll_request_recv_nowait (router));
    assert_true (zclock_mono () - started < 1000);

    zstr_send (dealer, "MALFORMED");  //  one frame: no request id
    zstr_sendm (dealer, "ECHO");
    zstr_send (dealer, "7");
    zstr_sendm (dealer, "ECHO");
    zstr_send (dealer, "8");
    zclock_sleep (100);  //  inproc delivery is asynchronous
    ll_request_t *req = ll_request_recv_nowait (router);
    assert_non_null (req);
    assert_string_equal (req->request_id, "7");
    ll_request_destroy (&req);
    req = ll_request_recv_nowait (router);
    assert_non_null (req);
    assert_string_equal (req->request_id, "8");
    ll_request_destroy (&req);
    assert_null (ll_request_recv_nowait (router));
    assert_int_equal (zsock_rcvtimeo (router), 5000);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

static void
test_start_failure_reported (void **state)
{
    zactor_t *actor = zactor_new (s_refusing_actor, NULL);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 2000, &error), -1);
    assert_string_equal (error, "resource unavailable");
    free (error);
    zactor_destroy (&actor);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reply_ok_and_error),
        cmocka_unit_test (test_stale_replies_dropped),
        cmocka_unit_test (test_recv_nowait),
        cmocka_unit_test (test_start_failure_reported),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
