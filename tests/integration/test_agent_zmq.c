/*  lablink-agent with LABLINK_TRANSPORT=zmq against a fake gateway (a CURVE
    ROUTER speaking the brief's frames): HELLO with the token first, WAIT,
    telemetry and log batches as POST frames, ASSIGN -> start-host ->
    RESULT -> WAIT again, and a gateway restart (new socket, our session
    unknown) after which the agent says HELLO and WAIT again and takes the
    next assignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <czmq.h>

#include "agent_test_support.h"

typedef struct {
    zsock_t *router;        //  the gateway socket
    char endpoint[64];      //  where it is bound
    zframe_t *agent;        //  identity of the agent after HELLO
    bool hello_ok;          //  HELLO accepted on this socket
    int hellos;             //  HELLO frames accepted
    int waits;              //  WAIT frames
    bool waiting;           //  a WAIT not yet answered
    int results;            //  RESULT frames
    char last_result[256];  //  the last RESULT frame
    int posts;              //  POST frames
    int pings;              //  PING frames
    int errors_sent;        //  ERROR frames sent
    char statuses[4096];    //  bodies of POST /api/vm-status, joined
    char logs[65536];       //  bodies of POST /api/vm-logs, joined
} gateway_t;

static void
s_gateway_bind (gateway_t *self, zcert_t *cert, int port)
{
    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (self->router, 0);
    zcert_apply (cert, self->router);
    zsock_set_curve_server (self->router, 1);
    int rc = -1;
    for (int i = 0; i < 50 && rc < 0; i++) {
        if (port)
            rc = zsock_bind (self->router, "tcp://127.0.0.1:%d", port);
        else
            rc = zsock_bind (self->router, "tcp://127.0.0.1:*");
        if (rc < 0)
            usleep (100000);
    }
    assert_true (rc > 0);
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", rc);
    self->hello_ok = false;
    self->waiting = false;
    zframe_destroy (&self->agent);
}

static void
s_send (gateway_t *self, zframe_t *to, const char *text)
{
    zframe_t *copy = zframe_dup (to);
    zframe_send (&copy, self->router, ZFRAME_MORE);
    zstr_send (self->router, text);
}

//  Serve frames for ms milliseconds.
static void
s_pump (gateway_t *self, int ms)
{
    int64_t until = zclock_mono () + ms;
    while (zclock_mono () < until) {
        zmq_pollitem_t item = {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        zframe_t *from = zframe_recv (self->router);
        char *text = zstr_recv (self->router);
        if (!from || !text) {
            zframe_destroy (&from);
            zstr_free (&text);
            continue;
        }
        if (strcmp (text, "PING") == 0) {
            //  Answered with or without HELLO, as the real gateway does
            self->pings++;
            s_send (self, from, "PONG");
        }
        else if (strncmp (text, "HELLO ", 6) == 0) {
            char expected[512];
            snprintf (expected, sizeof expected, "HELLO lablink-vm-zmq-1 %s",
                      TOKEN);
            if (strcmp (text, expected) == 0) {
                zframe_destroy (&self->agent);
                self->agent = zframe_dup (from);
                self->hello_ok = true;
                self->hellos++;
                s_send (self, from, "HELLO-OK");
            }
            else
                s_send (self, from, "ERROR bad token");
        }
        else if (!self->hello_ok || !zframe_eq (from, self->agent)) {
            self->errors_sent++;
            s_send (self, from, "ERROR say HELLO first");
        }
        else if (strcmp (text, "WAIT") == 0) {
            self->waits++;
            self->waiting = true;
        }
        else if (strncmp (text, "RESULT ", 7) == 0) {
            self->results++;
            snprintf (self->last_result, sizeof self->last_result, "%s", text);
            s_send (self, from, "RESULT-OK");
        }
        else if (strncmp (text, "POST ", 5) == 0) {
            self->posts++;
            char *body = strchr (text + 5, ' ');
            if (body && strncmp (text + 5, "/api/vm-status ", 15) == 0)
                strncat (self->statuses, body,
                         sizeof self->statuses - strlen (self->statuses) - 1);
            if (body && strncmp (text + 5, "/api/vm-logs ", 13) == 0)
                strncat (self->logs, body,
                         sizeof self->logs - strlen (self->logs) - 1);
            s_send (self, from, "REPLY 200 {\"message\":\"ok\"}");
        }
        zframe_destroy (&from);
        zstr_free (&text);
    }
}

#define PUMP_UNTIL(gw, cond, seconds)                                          \
    do {                                                                       \
        int64_t until_ = zclock_mono () + (seconds) *1000;                     \
        while (!(cond) && zclock_mono () < until_)                             \
            s_pump ((gw), 50);                                                 \
        if (!(cond))                                                           \
            fail_msg ("timed out waiting for %s", #cond);                      \
    } while (0)

static void
s_assign (gateway_t *self, const char *pin, const char *command)
{
    PUMP_UNTIL (self, self->waiting, 20);
    char frame[512];
    snprintf (frame, sizeof frame, "ASSIGN %s %s", pin, command);
    s_send (self, self->agent, frame);
    self->waiting = false;
}

static void
test_agent_over_zmq (void **state)
{
    zsys_init ();
    zsys_handler_set (NULL);
    zcert_t *cert = zcert_new ();
    gateway_t gw;
    memset (&gw, 0, sizeof gw);
    s_gateway_bind (&gw, cert, 0);
    int port = (int) strtol (strrchr (gw.endpoint, ':') + 1, NULL, 10);

    //  The HTTP URL is still required by the settings but never used
    fake_t unused;
    unused.port = 9;
    char home[1200], log[1200], standin_log[1200], lines[1400];
    s_agent_env (&unused, "lablink-vm-zmq-1", home, sizeof home);
    setenv ("LABLINK_TRANSPORT", "zmq", 1);
    setenv ("LABLINK_ZMQ_ENDPOINT", gw.endpoint, 1);
    setenv ("LABLINK_ZMQ_SERVER_KEY", zcert_public_txt (cert), 1);
    setenv ("LABLINK_NVIDIA_SMI", "", 1);
    snprintf (lines, sizeof lines, "%s/zmq-cloud-init.log", s_dir);
    s_write (lines, "zmq-line-1\nzmq-line-2\n", "w");
    setenv ("LABLINK_LOG_FILES", lines, 1);
    snprintf (log, sizeof log, "%s/agent-zmq.log", s_dir);
    snprintf (standin_log, sizeof standin_log,
              "%s/start-host-lablink-vm-zmq-1.log", s_dir);
    pid_t agent = s_agent_start (log);

    PUMP_UNTIL (&gw, gw.hellos == 1 && gw.waits >= 1, 20);
    PUMP_UNTIL (&gw, strstr (gw.statuses, "\"running\""), 20);
    PUMP_UNTIL (&gw, strstr (gw.logs, "zmq-line-2"), 20);
    PUMP_UNTIL (&gw, gw.pings >= 1, 20);

    s_assign (&gw, "515151", "--code=4/zmq-code");
    PUMP_UNTIL (&gw, gw.results == 1, 20);
    assert_string_equal (gw.last_result, "RESULT lablink-vm-zmq-1 1 ");
    PUMP_UNTIL (&gw, gw.waits >= 2, 20);  //  WAIT again after RESULT-OK
    char *standin = s_read (standin_log);
    assert_int_equal (s_count (standin, "arg: --code=4/zmq-code\n"), 1);
    assert_int_equal (s_count (standin, "stdin: 515151\n"), 2);
    free (standin);

    //  A refused command is reported as a failure
    s_assign (&gw, "525252", "--code=$(id)");
    PUMP_UNTIL (&gw, gw.results == 2, 20);
    assert_non_null (strstr (gw.last_result, "RESULT lablink-vm-zmq-1 0 "));

    //  The gateway restarts and forgets the agent: HELLO and WAIT again
    zsock_destroy (&gw.router);
    usleep (300000);
    s_gateway_bind (&gw, cert, port);
    PUMP_UNTIL (&gw, gw.hellos == 2, 30);
    s_assign (&gw, "535353", "--code=4/zmq-after-restart");
    PUMP_UNTIL (&gw, gw.results == 3, 20);
    assert_string_equal (gw.last_result, "RESULT lablink-vm-zmq-1 1 ");

    s_write (lines, "zmq-line-3\n", "a");
    PUMP_UNTIL (&gw, strstr (gw.logs, "zmq-line-3"), 20);
    kill (agent, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200 && waitpid (agent, &status, WNOHANG) != agent; i++)
        s_pump (&gw, 25);  //  keep answering during the final flush
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    char *text = s_read (log);
    assert_null (strstr (text, TOKEN));
    assert_null (strstr (text, "zmq-code"));
    assert_null (strstr (text, "515151"));
    free (text);
    s_no_sanitizer_report (log);
    zsock_destroy (&gw.router);
    zframe_destroy (&gw.agent);
    zcert_destroy (&cert);
}

int
main (void)
{
    if (s_setup () != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agent_over_zmq),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
