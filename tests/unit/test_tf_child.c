/*  The terraform actor's child process (actors/terraform/child.h): output
    on two pipes, exit status, exec errors, the environment, the working
    folder, a group stopped with grace then SIGKILL, no zombie left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <czmq.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "actors/terraform/child.h"
#include "runtime/msg.h"

//  Everything the child writes on both pipes until both close.
static void
s_drain (tf_child_t *child, char *out, char *err, size_t size)
{
    size_t len[2] = {0, 0};
    char *buffers[2] = {out, err};
    while (tf_child_fd (child, TF_CHILD_OUT) >= 0
           || tf_child_fd (child, TF_CHILD_ERR) >= 0) {
        struct pollfd fds[2] = {{tf_child_fd (child, TF_CHILD_OUT), POLLIN, 0},
                                {tf_child_fd (child, TF_CHILD_ERR), POLLIN, 0}};
        assert_true (poll (fds, 2, 5000) > 0);
        for (int i = 0; i < 2; i++) {
            ssize_t n = tf_child_read (child, (tf_child_pipe_t) i,
                                       buffers[i] + len[i], size - 1 - len[i]);
            if (n > 0)
                len[i] += (size_t) n;
        }
    }
    out[len[0]] = '\0';
    err[len[1]] = '\0';
}

static void
test_output_and_status (void **state)
{
    (void) state;
    const char *argv[] = {"sh", "-c",
                          "echo \"out $LL_CHILD_X $(pwd)\"; echo err >&2; "
                          "[ -z \"$LL_CHILD_GONE\" ] && [ \"$TF_INPUT\" = 0 ] "
                          "&& exit 3",
                          NULL};
    setenv ("LL_CHILD_GONE", "here", 1);
    const char *env[] = {"LL_CHILD_X=x1", "LL_CHILD_GONE", NULL};
    char reason[256];
    tf_child_t *child =
        tf_child_start (argv, env, "/tmp", true, reason, sizeof reason);
    unsetenv ("LL_CHILD_GONE");
    assert_non_null (child);
    char out[256], err[256];
    s_drain (child, out, err, sizeof out);
    assert_string_equal (out, "out x1 /tmp\n");
    assert_string_equal (err, "err\n");
    tf_child_wait (child);
    assert_true (tf_child_exited (child));
    assert_int_equal (tf_child_exit_code (child), 3);
    assert_int_equal (tf_child_signo (child), 0);
    tf_child_destroy (&child);
    assert_null (child);
}

static void
test_exec_error (void **state)
{
    (void) state;
    char reason[256];
    const char *missing[] = {"lablink-no-such-program", NULL};
    assert_null (
        tf_child_start (missing, NULL, NULL, true, reason, sizeof reason));
    assert_non_null (strstr (reason, "cannot run lablink-no-such-program"));
    //  found, but execve refuses it: the error comes back through the pipe
    const char *not_exec[] = {"/dev/null", NULL};
    assert_null (
        tf_child_start (not_exec, NULL, NULL, true, reason, sizeof reason));
    assert_non_null (strstr (reason, "cannot run /dev/null: Permission"));
    const char *bad_cwd[] = {"true", NULL};
    assert_null (tf_child_start (bad_cwd, NULL, "/lablink-no-such-folder", true,
                                 reason, sizeof reason));
    assert_non_null (strstr (reason, "No such file"));
    assert_int_equal (waitpid (-1, NULL, WNOHANG), -1);  //  nothing left
}

//  A child that ignores the first signal and has a grandchild in its
//  group: terminate, then SIGKILL after the grace period reaches both.
static void
test_terminate_grace (void **state)
{
    (void) state;
    const char *argv[] = {"sh", "-c",
                          "trap '' TERM; sleep 30 & echo $!; wait; wait", NULL};
    char reason[256];
    tf_child_t *child =
        tf_child_start (argv, NULL, NULL, true, reason, sizeof reason);
    assert_non_null (child);
    char line[64] = "";
    size_t len = 0;
    while (!strchr (line, '\n')) {
        struct pollfd fd = {tf_child_fd (child, TF_CHILD_OUT), POLLIN, 0};
        assert_true (poll (&fd, 1, 5000) > 0);
        ssize_t n = tf_child_read (child, TF_CHILD_OUT, line + len,
                                   sizeof line - 1 - len);
        assert_true (n >= 0);
        len += (size_t) n;
        line[len] = '\0';
    }
    pid_t grandchild = (pid_t) strtol (line, NULL, 10);
    assert_true (grandchild > 0);
    int64_t now = ll_now_ms ();
    assert_false (tf_child_reap (child, now));
    tf_child_terminate (child, SIGTERM, 300, now);
    assert_true (tf_child_terminated (child));
    assert_false (tf_child_escalate (child, now + 100));  //  in grace
    zclock_sleep (200);
    assert_false (tf_child_reap (child, ll_now_ms ()));  //  TERM ignored
    assert_true (tf_child_escalate (child, now + 300));
    assert_false (tf_child_escalate (child, now + 400));  //  once
    tf_child_wait (child);
    assert_int_equal (tf_child_signo (child), SIGKILL);
    assert_int_equal (tf_child_exit_code (child), -1);
    //  the grandchild got it too (it is gone, or a zombie of init's)
    zclock_sleep (100);
    char path[64], stat_line[256] = "";
    snprintf (path, sizeof path, "/proc/%d/stat", (int) grandchild);
    FILE *file = fopen (path, "r");
    if (file) {
        if (!fgets (stat_line, sizeof stat_line, file))
            stat_line[0] = '\0';
        fclose (file);
        char *end = strrchr (stat_line, ')');
        assert_true (end && end[2] == 'Z');
    }
    tf_child_destroy (&child);
}

//  The blocking stop (the allocator stopping): SIGINT, then SIGKILL.
static void
test_stop_wait (void **state)
{
    (void) state;
    const char *gentle[] = {"sleep", "30", NULL};
    char reason[256];
    tf_child_t *child =
        tf_child_start (gentle, NULL, NULL, true, reason, sizeof reason);
    assert_non_null (child);
    int64_t started = ll_now_ms ();
    tf_child_stop_wait (child, SIGINT, 2000);
    assert_true (ll_now_ms () - started < 1500);  //  SIGINT was enough
    assert_int_equal (tf_child_signo (child), SIGINT);
    tf_child_destroy (&child);

    const char *stubborn[] = {"sh", "-c", "trap '' INT; sleep 30; sleep 30",
                              NULL};
    child = tf_child_start (stubborn, NULL, NULL, true, reason, sizeof reason);
    assert_non_null (child);
    zclock_sleep (100);  //  the trap is set
    tf_child_stop_wait (child, SIGINT, 200);
    assert_int_equal (tf_child_signo (child), SIGKILL);
    tf_child_destroy (&child);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_output_and_status),
        cmocka_unit_test (test_exec_error),
        cmocka_unit_test (test_terminate_grace),
        cmocka_unit_test (test_stop_wait),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
