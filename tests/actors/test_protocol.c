/*  The codec of runtime/protocol.h over real inproc sockets: every picture
    kind round-trips (strings, bytes, the rest, optional frames), requests
    whose frames do not fit their command's picture are refused (logged,
    answered ERROR malformed), replies that do not fit fail the call, and
    the typed calls carry what the actor answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "runtime/protocol.h"

#define ENDPOINT "inproc://test-protocol"

static void
test_pictures_round_trip (void **state)
{
    zmsg_t *msg = zmsg_new ();
    assert_int_equal (ll_msg_put (msg, "sbs?ss", "one", "\0two", (size_t) 4,
                                  NULL, "opt", NULL),
                      0);
    //  NULL sends "", the optional frames stop at the first NULL
    assert_int_equal (zmsg_size (msg), 4);
    char *a = NULL, *c = NULL, *d = NULL, *e = (char *) "x";
    zframe_t *b = NULL;
    assert_int_equal (ll_msg_take (msg, "sbs?ss", &a, &b, &c, &d, &e), 0);
    assert_string_equal (a, "one");
    assert_int_equal (zframe_size (b), 4);
    assert_memory_equal (zframe_data (b), "\0two", 4);
    assert_string_equal (c, "");
    assert_string_equal (d, "opt");
    assert_null (e);
    assert_int_equal (zmsg_size (msg), 0);
    free (a);
    free (c);
    free (d);
    zframe_destroy (&b);

    //  The rest: taken on the way in, a new message on the way out
    zmsg_t *rest = zmsg_new ();
    zmsg_addstr (rest, "r1");
    zmsg_addstr (rest, "r2");
    assert_int_equal (ll_msg_put (msg, "sm", "head", &rest), 0);
    assert_null (rest);
    zmsg_t *tail = NULL;
    assert_int_equal (ll_msg_take (msg, "sm", &a, &tail), 0);
    assert_string_equal (a, "head");
    assert_int_equal (zmsg_size (tail), 2);
    free (a);
    zmsg_destroy (&tail);
    zmsg_destroy (&msg);
}

static void
test_fit (void **state)
{
    //  One frame missing, one too many, the optional ones absent
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "only");
    char *a = (char *) "untouched", *b = (char *) "untouched";
    assert_int_equal (ll_msg_take (msg, "ss", &a, &b), -1);
    assert_null (a);
    assert_null (b);
    assert_int_equal (zmsg_size (msg), 1);  //  nothing taken
    zmsg_addstr (msg, "two");
    zmsg_addstr (msg, "three");
    assert_int_equal (ll_msg_take (msg, "ss", &a, &b), -1);
    assert_int_equal (ll_msg_take (msg, "s?ss", &a, NULL, &b), 0);
    assert_string_equal (a, "only");
    assert_string_equal (b, "three");
    free (a);
    free (b);
    assert_int_equal (zmsg_size (msg), 0);
    assert_int_equal (ll_msg_take (msg, "?s", &a), 0);
    assert_null (a);
    //  The rest takes anything, nothing too
    assert_int_equal (ll_msg_take (msg, "m", NULL), 0);
    assert_int_equal (ll_msg_take (msg, "x", &a), -1);  //  not a picture
    zmsg_destroy (&msg);
}

//  The codec knows every command of protocol.h and only those
static void
test_exchanges (void **state)
{
    const char *commands[] = {
        LL_CMD_HEALTH,          LL_CMD_SECRET,          LL_CMD_VM_STATUS_SET,
        LL_CMD_VM_GPU_SET,      LL_CMD_VM_INUSE_SET,    LL_CMD_VM_HEARTBEAT,
        LL_CMD_VM_TOUCH,        LL_CMD_VM_METRICS_SET,  LL_CMD_VM_STATUS_GET,
        LL_CMD_VM_STATUS_ALL,   LL_CMD_VM_EXPORT,       LL_CMD_VM_CLAIM,
        LL_CMD_VM_COUNT,        LL_CMD_VM_RELEASE,      LL_CMD_VM_RESULT,
        LL_CMD_VM_SEEN,         LL_CMD_VM_WAIT,         LL_CMD_VM_UNWAIT,
        LL_CMD_LOG_APPEND,      LL_CMD_LOG_READ,        LL_CMD_LAUNCH,
        LL_CMD_DESTROY,         LL_CMD_DESTROY_VM,      LL_CMD_REPLACE_VM,
        LL_CMD_OP_GET,          LL_CMD_OP_LIST,         LL_CMD_EXPORT_START,
        LL_CMD_EXPORT_READ,     LL_CMD_EXPORT_CANCEL,   LL_CMD_EXPORT_STATUS,
        LL_CMD_SESSION_NEW,     LL_CMD_SESSION_CHECK,   LL_CMD_SESSION_END,
        LL_CMD_LOGIN_CHECK,     LL_CMD_LOGIN_FAILED,    LL_CMD_LOGIN_OK,
        LL_CMD_AUDIT,           LL_CMD_AUDIT_LIST,      LL_CMD_ADMIN_VMS,
        LL_CMD_ADMIN_VM_EXISTS, LL_CMD_VM_REGISTER,     LL_CMD_VM_AUTH,
        LL_CMD_REBOOT_VM,       LL_CMD_MOVE_VM,         LL_CMD_EXPORT_DESTROY,
        LL_CMD_VM_PROGRESS,     LL_CMD_ARCHIVES,        LL_CMD_ARCHIVE_GET,
        LL_CMD_ARCHIVE_DONE,    LL_CMD_ARCHIVE_DELETE,  LL_CMD_DASHBOARD,
        LL_CMD_CLASS_END,       LL_CMD_SCHEDULE_ADD,    LL_CMD_SCHEDULE_LIST,
        LL_CMD_SCHEDULE_GET,    LL_CMD_SCHEDULE_CANCEL, LL_CMD_VM_FLEET,
        LL_CMD_VM_RESET_DONE,   LL_CMD_CLAIM_RESET,     LL_CMD_CLAIM_WHO,
        LL_CMD_VM_POLLED};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const ll_exchange_t *x = ll_exchange (commands[i]);
        assert_non_null (x);
        assert_non_null (x->reply);
        assert_int_equal (strncmp (x->endpoint, "inproc://", 9), 0);
    }
    assert_null (ll_exchange ("NONSENSE"));
    assert_null (ll_exchange (NULL));
    assert_null (ll_exchange (LL_EVT_RESYNC)->reply);
    assert_null (ll_exchange (LL_EVT_VM_REVOKED)->reply);
    assert_null (ll_proto_args ("NONSENSE"));
}

//  The console's requests: a bulk action names its hosts after who, an
//  export its filters after who, ADMIN-VMS its host or none
static void
test_console_requests (void **state)
{
    (void) state;
    zmsg_t *more = zmsg_new ();
    zmsg_addstr (more, "vm-2");
    zmsg_addstr (more, "vm-3");
    zmsg_t *msg = ll_proto_args (LL_CMD_REBOOT_VM, "vm-1", "ann", &more);
    assert_null (more);
    assert_int_equal (zmsg_size (msg), 4);
    char *host = NULL, *who = NULL;
    zmsg_t *rest = NULL;
    assert_int_equal (
        ll_proto_decode (LL_CMD_REBOOT_VM, msg, &host, &who, &rest), 0);
    assert_string_equal (host, "vm-1");
    assert_string_equal (who, "ann");
    assert_int_equal (zmsg_size (rest), 2);
    free (host);
    free (who);
    zmsg_destroy (&rest);
    zmsg_destroy (&msg);
    //  one host alone is a whole request; no host is not
    msg = ll_proto_args (LL_CMD_DESTROY_VM, "vm-1", "ann", NULL);
    assert_int_equal (
        ll_proto_decode (LL_CMD_DESTROY_VM, msg, &host, &who, &rest), 0);
    assert_int_equal (zmsg_size (rest), 0);
    free (host);
    free (who);
    zmsg_destroy (&rest);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, "vm-1");
    assert_int_equal (
        ll_proto_decode (LL_CMD_REPLACE_VM, msg, &host, &who, &rest), -1);
    zmsg_destroy (&msg);
    //  MOVE-VM names exactly one
    msg = ll_proto_args (LL_CMD_MOVE_VM, "vm-1", "ann");
    zmsg_addstr (msg, "vm-2");
    assert_int_equal (ll_proto_decode (LL_CMD_MOVE_VM, msg, &host, &who), -1);
    zmsg_destroy (&msg);
    //  EXPORT-START who [filters...]
    zmsg_t *filters = zmsg_new ();
    zmsg_addstr (filters, "email:a@b.c");
    msg = ll_proto_args (LL_CMD_EXPORT_START, "ann", &filters);
    assert_int_equal (ll_proto_decode (LL_CMD_EXPORT_START, msg, &who, &rest),
                      0);
    assert_string_equal (who, "ann");
    char *first = zmsg_popstr (rest);
    assert_string_equal (first, "email:a@b.c");
    free (first);
    free (who);
    zmsg_destroy (&rest);
    zmsg_destroy (&msg);
    //  ADMIN-VMS [hostname]
    msg = ll_proto_args (LL_CMD_ADMIN_VMS, NULL);
    assert_int_equal (zmsg_size (msg), 0);
    assert_int_equal (ll_proto_decode (LL_CMD_ADMIN_VMS, msg, &host), 0);
    assert_null (host);
    zmsg_destroy (&msg);
    msg = ll_proto_args (LL_CMD_ADMIN_VMS, "vm-1");
    assert_int_equal (ll_proto_decode (LL_CMD_ADMIN_VMS, msg, &host), 0);
    assert_string_equal (host, "vm-1");
    free (host);
    zmsg_destroy (&msg);
    //  SCHEDULE-ADD has seven arguments, no fewer
    msg =
        ll_proto_args (LL_CMD_SCHEDULE_ADD, "n", "1", "", "ann", "0", "1", "1");
    assert_int_equal (zmsg_size (msg), 7);
    free (zmsg_popstr (msg));
    char *a[7] = {NULL};
    assert_int_equal (ll_proto_decode (LL_CMD_SCHEDULE_ADD, msg, &a[0], &a[1],
                                       &a[2], &a[3], &a[4], &a[5], &a[6]),
                      -1);
    zmsg_destroy (&msg);
}

//  A stand-in actor serving VM-STATUS-GET, VM-CLAIM and LOG-READ with the
//  codec's actor side, and answering a malformed reply to VM-COUNT.
static void
s_server (zsock_t *pipe, void *args)
{
    zsock_t *router = zsock_new_router (ENDPOINT);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (zpoller_wait (poller, -1) == router) {
        ll_request_t *req = ll_request_recv (router);
        if (!req)
            continue;
        req->actor = "test";
        char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        if (streq (req->command, LL_CMD_VM_STATUS_GET)) {
            if (ll_request_take (req, &a) == 0)
                ll_request_answer (req, a, "1");
        }
        else if (streq (req->command, LL_CMD_VM_CLAIM)) {
            if (ll_request_take (req, &a, &b, &c, &d, &e) == 0)
                ll_request_answer (req, LL_CLAIM_LIMITED, "7", NULL, NULL);
        }
        else if (streq (req->command, LL_CMD_LOG_READ)) {
            if (ll_request_take (req, &a, &b, &c) == 0)
                ll_request_answer (req, "running", "1\tagent\tx\n",
                                   (size_t) 11);
        }
        else if (streq (req->command, LL_CMD_VM_COUNT)) {
            zmsg_t *payload = zmsg_new ();  //  two frames where one fits
            zmsg_addstr (payload, "1");
            zmsg_addstr (payload, "2");
            ll_request_reply_ok (req, router, &payload);
        }
        else
            ll_request_fail (req, LL_REASON_UNKNOWN);
        assert_true (req->answered);
        free (a);
        free (b);
        free (c);
        free (d);
        free (e);
        ll_request_destroy (&req);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

static void
test_typed_calls (void **state)
{
    zactor_t *server = zactor_new (s_server, NULL);
    zsock_t *dealer = zsock_new_dealer (ENDPOINT);
    ll_client_t client = ll_client_dealer (dealer);
    char *status = NULL, *stale = NULL, *error = NULL;
    assert_int_equal (
        ll_ask_vm_status_get (&client, "vm-1", &status, &stale, &error), 0);
    assert_string_equal (status, "vm-1");
    assert_string_equal (stale, "1");
    free (status);
    free (stale);

    char *outcome = NULL, *a = NULL, *b = (char *) "x", *secret = (char *) "x";
    assert_int_equal (ll_ask_vm_claim (&client, "s@x.org", "code", "1.2.3.4",
                                       "", "", &outcome, &a, &b, &secret,
                                       &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_LIMITED);
    assert_string_equal (a, "7");
    assert_null (b);
    assert_null (secret);
    free (outcome);
    free (a);

    zframe_t *rows = NULL;
    assert_int_equal (
        ll_ask_log_read (&client, "vm-1", "", 5, &status, &rows, &error), 0);
    assert_string_equal (status, "running");
    assert_int_equal (zframe_size (rows), 11);
    free (status);
    zframe_destroy (&rows);

    //  A reply that does not fit fails the call; the outputs stay NULL
    char *count = (char *) "x";
    assert_int_equal (ll_ask_vm_count (&client, &count, &error), -1);
    assert_string_equal (error, LL_REASON_BAD_REPLY);
    assert_null (count);
    free (error);
    error = NULL;

    //  The actor's own refusal comes back as the error
    assert_int_equal (ll_ask_health (&client, &error), -1);
    assert_string_equal (error, LL_REASON_UNKNOWN);
    free (error);
    error = NULL;

    //  Requests whose frames do not fit: refused, not half-read
    zmsg_t *args = zmsg_new ();  //  VM-STATUS-GET without its hostname
    zmsg_t *reply = NULL;
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_STATUS_GET, &args, 2000, &reply, &error),
        -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    args = ll_proto_args (LL_CMD_VM_CLAIM, "a", "b", "c", "", "");
    zmsg_addstr (args, "one too many");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_CLAIM, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);

    zsock_destroy (&dealer);
    zactor_destroy (&server);
}

//  Events and asynchronous requests carry the same pictures
static void
test_publish_and_send (void **state)
{
    zsock_t *pub = zsock_new_pub (ENDPOINT "-pub");
    zsock_t *sub = zsock_new_sub (ENDPOINT "-pub", "");
    zsock_set_rcvtimeo (sub, 2000);
    zclock_sleep (100);
    assert_int_equal (
        ll_proto_publish (pub, LL_EVT_VM_ASSIGNED, "vm-1", NULL, NULL, NULL),
        0);
    zmsg_t *msg = zmsg_recv (sub);
    assert_non_null (msg);
    char *event = zmsg_popstr (msg);
    assert_string_equal (event, LL_EVT_VM_ASSIGNED);
    char *host = NULL, *pin = (char *) "x", *command = (char *) "x",
         *gen = (char *) "x";
    assert_int_equal (ll_proto_decode (event, msg, &host, &pin, &command, &gen),
                      0);
    assert_string_equal (host, "vm-1");
    assert_null (pin);
    assert_null (command);
    assert_null (gen);
    free (event);
    free (host);
    zmsg_destroy (&msg);

    zsock_t *router = zsock_new_router (ENDPOINT "-async");
    zsock_t *dealer = zsock_new_dealer (ENDPOINT "-async");
    zsock_set_rcvtimeo (router, 2000);
    assert_int_equal (ll_proto_send (dealer, LL_CMD_VM_RESULT, "peer-7", "vm-2",
                                     "1", "", "3"),
                      0);
    ll_request_t *req = ll_request_recv (router);
    assert_non_null (req);
    assert_string_equal (req->request_id, "peer-7");
    char *h = NULL, *ok = NULL, *text = NULL, *g = NULL;
    assert_int_equal (ll_request_take (req, &h, &ok, &text, &g), 0);
    assert_string_equal (h, "vm-2");
    assert_string_equal (ok, "1");
    assert_string_equal (text, "");
    assert_string_equal (g, "3");
    free (h);
    free (ok);
    free (text);
    free (g);
    ll_request_answer (req);
    ll_request_destroy (&req);
    zmsg_t *reply = zmsg_recv (dealer);
    assert_int_equal (zmsg_size (reply), 3);  //  command, id, OK
    zmsg_destroy (&reply);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pictures_round_trip),
        cmocka_unit_test (test_fit),
        cmocka_unit_test (test_exchanges),
        cmocka_unit_test (test_console_requests),
        cmocka_unit_test (test_typed_calls),
        cmocka_unit_test (test_publish_and_send),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
