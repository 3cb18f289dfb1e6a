/*  What every actor shares (runtime/actor.h), on a stand-in actor over its
    real pipe and ROUTER: START answered once, VERBOSE logs each request,
    an unknown pipe command is refused ($STOPPING is neither answered nor
    refused); on the ROUTER an unknown command,
    a malformed request and a handler that forgets to answer are each
    answered ERROR and logged with the actor's name; a kept request is
    answered later, by its keeper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "runtime/actor.h"
#include "runtime/log.h"

#define ENDPOINT LL_ENDPOINT_REGISTRY  //  the stand-in serves its commands

typedef struct {
    ll_actor_t actor;    //  the shared part
    ll_request_t *kept;  //  a parked VM-STATUS-GET, or NULL
    int starts;          //  times its START work ran
} self_t;

static const char *
s_start (void *arg)
{
    self_t *self = arg;
    self->starts++;
    self->actor.router = zsock_new_router (ENDPOINT);
    return self->actor.router ? NULL : "cannot bind";
}

//  VM-STATUS-GET: parked, answered by the next VM-TOUCH
static void
s_handle_get (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *host = NULL;
    if (ll_request_take (req, &host) != 0)
        return;
    free (host);
    self->kept = ll_request_keep (req);
}

static void
s_handle_touch (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *host = NULL;
    if (ll_request_take (req, &host) != 0)
        return;
    if (self->kept) {
        ll_request_answer (self->kept, host, "0");
        ll_request_destroy (&self->kept);
    }
    free (host);
    ll_request_answer (req);
}

//  HEALTH: forgets to answer
static void
s_handle_forgetful (void *arg, ll_request_t *req)
{}

static const ll_handler_t s_handlers[] = {
    {LL_CMD_VM_STATUS_GET, s_handle_get},
    {LL_CMD_VM_TOUCH, s_handle_touch},
    {LL_CMD_HEALTH, s_handle_forgetful},
    {NULL, NULL},
};

static void
s_stand_in (zsock_t *pipe, void *args)
{
    self_t self = {.kept = NULL};
    ll_actor_init (&self.actor, "stand-in", pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self.actor.terminated) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe) {
            bool was = self.actor.started;
            ll_actor_handle_pipe (&self.actor, s_start, NULL, &self);
            if (!was && self.actor.started)
                zpoller_add (poller, self.actor.router);
        }
        else if (which)
            ll_actor_serve (&self.actor, s_handlers, &self, false);
        else
            break;
    }
    zpoller_destroy (&poller);
    ll_request_destroy (&self.kept);
    zsock_destroy (&self.actor.router);
}

//  stderr into a file while the test runs: the log lines
static int s_saved_stderr = -1;

static char *
s_log_text (const char *path)
{
    fflush (stderr);
    FILE *file = fopen (path, "r");
    char *text = calloc (1, 65536);
    size_t n = file ? fread (text, 1, 65535, file) : 0;
    text[n] = '\0';
    if (file)
        fclose (file);
    return text;
}

static void
test_shared_actor (void **state)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/actor.log",
              getenv ("LABLINK_TEST_DIR") ? getenv ("LABLINK_TEST_DIR")
                                          : "/tmp");
    fflush (stderr);
    s_saved_stderr = dup (2);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2 (fd, 2);
    close (fd);

    ll_runtime_t runtime = {0};
    zactor_t *actor = zactor_new (s_stand_in, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 5000, &error), 0);
    //  A second START is refused: the endpoints are bound once
    assert_int_equal (ll_actor_start (actor, 5000, &error), -1);
    assert_string_equal (error, "already started");
    free (error);
    //  Unknown pipe commands are refused, not ignored
    zstr_send (actor, "FROBNICATE");
    char *status = NULL, *reason = NULL;
    zsock_set_rcvtimeo (zactor_sock (actor), 2000);
    zstr_recvx (actor, &status, &reason, NULL);
    assert_string_equal (status, "ERROR");
    assert_string_equal (reason, LL_REASON_UNKNOWN);
    free (status);
    free (reason);
    //  $STOPPING (the process stops) is never answered nor refused: the
    //  next answer on the pipe is the next command's
    zstr_send (actor, LL_CMD_STOPPING);
    zstr_send (actor, "FROBNICATE");
    zstr_recvx (actor, &status, &reason, NULL);
    assert_string_equal (status, "ERROR");
    free (status);
    free (reason);
    zsock_set_rcvtimeo (zactor_sock (actor), 300);
    assert_null (zstr_recv (actor));
    zstr_send (actor, LL_CMD_VERBOSE);

    zsock_t *dealer = zsock_new_dealer (ENDPOINT);
    ll_client_t client = ll_client_dealer (dealer);
    //  Unknown command
    zmsg_t *reply = NULL;
    assert_int_equal (ll_call (dealer, "NONSENSE", NULL, 2000, &reply, &error),
                      -1);
    assert_string_equal (error, LL_REASON_UNKNOWN);
    free (error);
    //  Malformed: VM-TOUCH without its hostname
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_TOUCH, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    //  A handler that forgets to answer: the caller still hears
    assert_int_equal (ll_ask_health (&client, &error), -1);
    assert_string_equal (error, LL_REASON_UNANSWERED);
    free (error);
    //  Kept: parked by VM-STATUS-GET, answered when VM-TOUCH comes
    zsock_t *second = zsock_new_dealer (ENDPOINT);
    ll_client_t other = ll_client_dealer (second);
    assert_int_equal (
        ll_proto_send (dealer, LL_CMD_VM_STATUS_GET, "77", "vm-9"), 0);
    zclock_sleep (100);
    assert_int_equal (ll_ask_vm_touch (&other, "vm-9", &error), 0);
    zsock_set_rcvtimeo (dealer, 2000);
    char *st = NULL, *stale = NULL;
    ll_answer_t answer;
    assert_int_equal (ll_answer_recv (&answer, dealer), 0);
    assert_string_equal (answer.command, LL_CMD_VM_STATUS_GET);
    assert_string_equal (answer.id, "77");
    assert_int_equal (
        ll_proto_payload (LL_CMD_VM_STATUS_GET, &answer.payload, &st, &stale),
        0);
    assert_string_equal (st, "vm-9");
    free (st);
    free (stale);
    ll_answer_free (&answer);
    zsock_destroy (&second);
    zsock_destroy (&dealer);
    zactor_destroy (&actor);

    //  Every refusal named the actor
    char *log = s_log_text (path);
    dup2 (s_saved_stderr, 2);
    close (s_saved_stderr);
    assert_non_null (strstr (log, "stand-in: unknown pipe command FROBNICATE"));
    assert_null (strstr (log, "$STOPPING"));
    assert_non_null (strstr (log, "stand-in: unknown command NONSENSE"));
    assert_non_null (strstr (log, "stand-in: malformed VM-TOUCH request"));
    assert_non_null (strstr (log, "stand-in: HEALTH was not answered"));
    assert_non_null (strstr (log, "stand-in: verbose"));
    assert_non_null (strstr (log, "stand-in: VM-STATUS-GET 77"));
    free (log);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shared_actor),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
