/*  The agent's reset (agent/reset.h) on a real folder and real processes:
    what it refuses to touch, what it removes, what it keeps, and that it
    never ends a process outside the session it leads. Each case runs in a
    child that leads a session of its own (setsid), as the local provider's
    agent does, so nothing of the test runner is ever at risk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/reset.h"

static char s_dir[64];  //  this test's scratch folder

static void
s_write (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

static void
s_settings (agent_settings_t *s, const char *home)
{
    memset (s, 0, sizeof *s);
    snprintf (s->home, sizeof s->home, "%s", home);
    s->home_set = true;
    snprintf (s->proc_root, sizeof s->proc_root, "/proc");
    snprintf (s->state_dir, sizeof s->state_dir, "%s/.lablink-agent", home);
    snprintf (s->skeleton_dir, sizeof s->skeleton_dir, "%s/skel", s_dir);
    s->log_count = 1;
    snprintf (s->logs[0].path, sizeof s->logs[0].path, "%s/logs/cloud.log",
              home);
}

//  Run the reset in a child leading its own session; its exit status: 0
//  reset done, 1 refused (the reason on stderr), 2 other.
static int
s_reset_in_session (const agent_settings_t *s, bool lead)
{
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        if (lead && setsid () < 0)
            _exit (2);
        agent_stop_t stop;
        agent_stop_init (&stop);
        char error[256];
        int rc = agent_reset_desktop (s, &stop, error, sizeof error);
        if (rc != 0)
            fprintf (stderr, "reset refused: %s\n", error);
        _exit (rc == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 3;
}

static void
test_refusals (void **state)
{
    agent_settings_t s;
    //  System folders and an unset HOME are never emptied
    const char *homes[] = {"/", "/tmp", "/home", "/root", "relative"};
    for (size_t i = 0; i < sizeof homes / sizeof homes[0]; i++) {
        s_settings (&s, homes[i]);
        assert_int_equal (s_reset_in_session (&s, true), 1);
    }
    char home[128], path[200];
    snprintf (home, sizeof home, "%s/home", s_dir);
    mkdir (home, 0755);
    snprintf (path, sizeof path, "%s/keep-me", home);
    s_write (path, "x");
    s_settings (&s, home);
    s.home_set = false;  //  HOME unset: the agent would use /tmp
    assert_int_equal (s_reset_in_session (&s, true), 1);
    //  An agent that does not lead its session ends nothing and refuses
    s_settings (&s, home);
    assert_int_equal (s_reset_in_session (&s, false), 1);
    assert_true (s_exists (path));  //  nothing was removed by a refusal
}

static void
test_wipe (void **state)
{
    char home[128], path[256], outside[128];
    snprintf (home, sizeof home, "%s/wipe", s_dir);
    snprintf (outside, sizeof outside, "%s/outside.txt", s_dir);
    s_write (outside, "not the student's");
    mkdir (home, 0755);
    const char *dirs[] = {"Desktop", "nested",         "nested/deeper",
                          "logs",    ".lablink-agent", "locked",
                          NULL};
    for (int i = 0; dirs[i]; i++) {
        snprintf (path, sizeof path, "%s/%s", home, dirs[i]);
        assert_int_equal (mkdir (path, 0755), 0);
    }
    const char *files[] = {"Desktop/results.slp",
                           ".history",
                           "nested/deeper/f",
                           "logs/cloud.log",
                           "logs/other.log",
                           ".lablink-agent/logs.state",
                           "locked/f",
                           NULL};
    for (int i = 0; files[i]; i++) {
        snprintf (path, sizeof path, "%s/%s", home, files[i]);
        s_write (path, "data");
    }
    snprintf (path, sizeof path, "%s/locked", home);
    chmod (path, 0500);
    snprintf (path, sizeof path, "%s/link-out", home);
    assert_int_equal (symlink (outside, path), 0);
    snprintf (path, sizeof path, "%s/Desktop/link-dir", home);
    assert_int_equal (symlink (s_dir, path), 0);
    //  The skeleton
    snprintf (path, sizeof path, "%s/skel/Desktop", s_dir);
    assert_true (mkdir (path, 0755) == 0 || errno == EEXIST);
    snprintf (path, sizeof path, "%s/skel/.profile", s_dir);
    s_write (path, "# the image's\n");

    agent_settings_t s;
    s_settings (&s, home);
    assert_int_equal (s_reset_in_session (&s, true), 0);
    const char *gone[] = {
        "Desktop/results.slp", ".history",       "nested", "locked", "link-out",
        "Desktop/link-dir",    "logs/other.log", NULL};
    for (int i = 0; gone[i]; i++) {
        snprintf (path, sizeof path, "%s/%s", home, gone[i]);
        if (s_exists (path))
            fail_msg ("~/%s survived the reset", gone[i]);
    }
    const char *kept[] = {"logs/cloud.log", ".lablink-agent/logs.state",
                          "Desktop", ".profile", NULL};
    for (int i = 0; kept[i]; i++) {
        snprintf (path, sizeof path, "%s/%s", home, kept[i]);
        if (!s_exists (path))
            fail_msg ("~/%s is missing after the reset", kept[i]);
    }
    assert_true (s_exists (outside));  //  links were not followed
    snprintf (path, sizeof path, "%s/skel/.profile", s_dir);
    assert_true (s_exists (path));
}

static void
test_processes (void **state)
{
    //  A child leading its own session starts a "desktop session" process
    //  (a grandchild in its own group, like start-host's daemon) and resets:
    //  the grandchild is ended, the test's own sleeper outside is not
    pid_t outsider = fork ();
    if (outsider == 0) {
        execlp ("sleep", "sleep", "30", (char *) NULL);
        _exit (127);
    }
    int pipefd[2];
    assert_int_equal (pipe (pipefd), 0);
    pid_t leader = fork ();
    if (leader == 0) {
        setsid ();
        pid_t mid = fork ();
        if (mid == 0) {  //  start-host: leaves a daemon behind and exits
            setpgid (0, 0);
            pid_t daemon = fork ();
            if (daemon == 0) {
                execlp ("sleep", "sleep", "30", (char *) NULL);
                _exit (127);
            }
            if (write (pipefd[1], &daemon, sizeof daemon) != sizeof daemon)
                _exit (2);
            _exit (0);
        }
        waitpid (mid, NULL, 0);
        agent_settings_t s;
        char home[128];
        snprintf (home, sizeof home, "%s/proc-home", s_dir);
        mkdir (home, 0755);
        s_settings (&s, home);
        usleep (100000);
        _exit (agent_reset_processes (&s) >= 1 ? 0 : 1);
    }
    pid_t daemon = 0;
    assert_int_equal (read (pipefd[0], &daemon, sizeof daemon), sizeof daemon);
    int status = 0;
    waitpid (leader, &status, 0);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  The daemon was reparented away from us: it is gone or a zombie
    //  for init to reap; the outsider still runs
    usleep (200000);
    char stat_path[64], text[256] = "";
    snprintf (stat_path, sizeof stat_path, "/proc/%d/stat", (int) daemon);
    FILE *f = fopen (stat_path, "r");
    if (f) {
        if (!fgets (text, sizeof text, f))
            text[0] = '\0';
        fclose (f);
        const char *close = strrchr (text, ')');
        assert_true (close && close[2] == 'Z');
    }
    assert_int_equal (kill (outsider, 0), 0);
    kill (outsider, SIGKILL);
    waitpid (outsider, NULL, 0);
    close (pipefd[0]);
    close (pipefd[1]);
}

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/agent-reset-XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    char skel[96];
    snprintf (skel, sizeof skel, "%s/skel", s_dir);
    return mkdir (skel, 0755);
}

static int
s_teardown (void **state)
{
    pid_t pid = fork ();
    if (pid == 0) {
        execlp ("rm", "rm", "-rf", "--", s_dir, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    waitpid (pid, &status, 0);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_wipe),
        cmocka_unit_test (test_processes),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
