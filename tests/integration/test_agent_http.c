/*  lablink-agent over HTTP against a fake allocator speaking the brief's
    interface (agent_fake_allocator.h): the container start sequence,
    initial telemetry, assignment and reassignment through the real
    start-host stand-in, the allocator restarted mid-wait, malformed and
    oversized answers, the allocator down for a while (no lost status
    change, no lost or duplicated log line, rotation), SIGTERM with a final
    log flush, the one-shot subcommands, and STARTUP_ON_ERROR. No secret
    may appear in the agent's own log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent_test_support.h"

static pid_t
s_marker_process (void)
{
    char marker[64];
    snprintf (marker, sizeof marker, "sleap-it-%d", (int) getpid ());
    char *argv[] = {"/bin/sh", "-c", "sleep 60", marker, NULL};
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    posix_spawnattr_setpgroup (&attr, 0);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    assert_int_equal (posix_spawn (&pid, "/bin/sh", NULL, &attr, argv, environ),
                      0);
    posix_spawnattr_destroy (&attr);
    return pid;
}

static void
test_agent_over_http (void **state)
{
    fake_t *fake = fake_new (TOKEN);
    assert_int_equal (fake_start (fake), 0);
    char home[1200], path[1400], agent_log[1200], standin_log[1200];
    s_agent_env (fake, "lablink-vm-it-1", home, sizeof home);
    snprintf (agent_log, sizeof agent_log, "%s/agent-1.log", s_dir);
    snprintf (standin_log, sizeof standin_log,
              "%s/start-host-lablink-vm-it-1.log", s_dir);

    //  GPU stand-in whose exit code the test controls
    char gpu_rc[1200];
    snprintf (gpu_rc, sizeof gpu_rc, "%s/gpu-rc", s_dir);
    s_write (gpu_rc, "0\n", "w");
    snprintf (path, sizeof path, "%s/nvidia-smi", s_dir);
    char script[2600];
    snprintf (script, sizeof script,
              "#!/bin/sh\nsed '$d' '%s/tests/fixtures/nvidia-smi/"
              "healthy-plain.txt'\nexit $(cat '%s')\n",
              s_src, gpu_rc);
    s_write (path, script, "w");
    chmod (path, 0755);

    //  A local repository to clone, and a startup script that takes a while
    char repo[1200];
    snprintf (repo, sizeof repo, "%s/tutorial.git", s_dir);
    char *init[] = {"git", "init", "-q", "--bare", repo, NULL};
    assert_int_equal (s_run (init, NULL), 0);
    setenv ("TUTORIAL_REPO_TO_CLONE", repo, 1);
    char marker[1200];
    snprintf (marker, sizeof marker, "%s/startup-done", s_dir);
    snprintf (path, sizeof path, "%s/startup.sh", s_dir);
    snprintf (script, sizeof script, "sleep 1\ntouch '%s'\n", marker);
    s_write (path, script, "w");
    setenv ("LABLINK_STARTUP_SCRIPT", path, 1);
    snprintf (fake->running_marker, sizeof fake->running_marker, "%s", marker);

    //  A log file with a few lines already, and a second one appearing later
    char cloud_log[1200], docker_log[1200], files[2500];
    snprintf (cloud_log, sizeof cloud_log, "%s/cloud-init-output.log", s_dir);
    snprintf (docker_log, sizeof docker_log, "%s/container.log", s_dir);
    s_write (cloud_log, "boot-1\nboot-2\nboot-3\n", "w");
    snprintf (files, sizeof files, "%s,docker=%s", cloud_log, docker_log);
    setenv ("LABLINK_LOG_FILES", files, 1);

    pid_t agent = s_agent_start (agent_log);

    //  Start sequence: initializing, then running only once the startup
    //  script finished; container timings; initial in-use and GPU state;
    //  heartbeats with a boot id; every call with the bearer token.
    WAIT_FOR (fake, s_has_status (fake, "lablink-vm-it-1 running"), 20);
    WAIT_FOR (fake,
              fake->metrics_count >= 1 && fake->inuse_count >= 1
                  && fake->gpu_count >= 1 && fake->heartbeats >= 1
                  && fake->line_count >= 3,
              20);
    pthread_mutex_lock (&fake->lock);
    assert_string_equal (fake->statuses[0], "lablink-vm-it-1 initializing");
    assert_false (fake->running_before_marker);
    assert_non_null (strstr (fake->metrics[0], "lablink-vm-it-1 {"));
    assert_non_null (strstr (fake->metrics[0], "\"container_start\":"));
    assert_non_null (
        strstr (fake->metrics[0], "\"container_startup_duration_seconds\":"));
    assert_int_equal (fake->inuse[0], 0);
    assert_string_equal (fake->gpu[0], "Healthy");
    assert_int_equal (strlen (fake->last_boot_id), 36);
    assert_int_equal (fake_line_count (fake, "boot-1"), 1);
    assert_int_equal (fake_line_count (fake, "boot-3"), 1);
    assert_int_equal (fake->unauthorized, 0);
    pthread_mutex_unlock (&fake->lock);
    snprintf (path, sizeof path, "%s/Desktop/tutorial", home);
    assert_int_equal (access (path, F_OK), 0);  //  cloned into Desktop

    //  Assignment delivered: start-host gets the code, name, PIN twice
    fake_assign (fake, "111222",
                 "DISPLAY= /opt/google/chrome-remote-desktop/start-host "
                 "--code=\"4/first-code_A\" --redirect-url=\"https://x/\" "
                 "--name=$(hostname)");
    WAIT_FOR (fake, fake->results == 1, 20);
    assert_true (fake->last_result_ok);
    char *standin = s_read (standin_log);
    assert_non_null (strstr (standin, "arg: --code=4/first-code_A\n"));
    assert_non_null (strstr (
        standin, "arg: --redirect-url=https://remotedesktop.google.com/_/"
                 "oauthredirect\narg: --name=lablink-vm-it-1\n"));
    assert_non_null (strstr (standin, "env DISPLAY=\n"));
    assert_int_equal (s_count (standin, "stdin: 111222\n"), 2);
    free (standin);

    //  Reassignment without a restart
    fake_assign (fake, "333444", "--code=4/second-code");
    WAIT_FOR (fake, fake->results == 2, 20);
    assert_true (fake->last_result_ok);
    standin = s_read (standin_log);
    assert_int_equal (s_count (standin, "arg: --code=4/second-code\n"), 1);
    assert_int_equal (s_count (standin, "stdin: 333444\n"), 2);
    assert_int_equal (s_count (standin, "\nend\n"), 2);
    free (standin);

    //  The allocator restarted while the agent waits
    WAIT_FOR (fake, fake->parked == 1, 10);
    fake_stop (fake);
    assert_int_equal (fake_start (fake), 0);
    fake_assign (fake, "555666", "--code=4/third-code");
    WAIT_FOR (fake, fake->results == 3, 30);
    assert_true (fake->last_result_ok);

    //  Malformed, oversized, mistyped answers, errors and Retry-After: the
    //  agent survives each and still takes the next assignment
    fake_mode_t modes[] = {FAKE_GARBAGE, FAKE_HUGE, FAKE_WRONG_TYPES,
                           FAKE_RETRY_AFTER, FAKE_ERROR_500};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        pthread_mutex_lock (&fake->lock);
        int polls = fake->polls;
        fake->next_mode = modes[i];
        pthread_mutex_unlock (&fake->lock);
        WAIT_FOR (fake, fake->polls >= polls + 2, 20);
        assert_true (s_alive (agent));
    }
    pthread_mutex_lock (&fake->lock);
    assert_int_equal (fake->results, 3);  //  none of them ran start-host
    pthread_mutex_unlock (&fake->lock);
    //  A command outside the allow-list is refused and reported
    fake_assign (fake, "777888", "--code=x;touch${IFS}/tmp/pwned");
    WAIT_FOR (fake, fake->results == 4, 20);
    assert_false (fake->last_result_ok);
    assert_non_null (strstr (fake->last_result_error, "rejected"));
    standin = s_read (standin_log);
    assert_int_equal (s_count (standin, "\nend\n"), 3);
    free (standin);
    fake_assign (fake, "999000", "--code=4/fourth-code");
    WAIT_FOR (fake, fake->results == 5, 20);
    assert_true (fake->last_result_ok);

    //  The allocator away for 5 s: state changes and log lines made
    //  meanwhile arrive when it is back, each line once, also across a
    //  rotation and a lost acknowledgement
    fake_stop (fake);
    pid_t busy = s_marker_process ();
    s_write (gpu_rc, "3\n", "w");
    char line[64];
    for (int i = 0; i < 300; i++) {
        snprintf (line, sizeof line, "down-%d\n", i);
        s_write (cloud_log, line, "a");
    }
    usleep (1500000);
    snprintf (path, sizeof path, "%s.1", cloud_log);
    assert_int_equal (rename (cloud_log, path), 0);  //  rotation
    for (int i = 300; i < 400; i++) {
        snprintf (line, sizeof line, "down-%d\n", i);
        s_write (path, line, "a");  //  late writes to the rotated file
    }
    for (int i = 400; i < 600; i++) {
        snprintf (line, sizeof line, "down-%d\n", i);
        s_write (cloud_log, line, "a");
    }
    s_write (docker_log, "container-1\ncontainer-2\n", "w");
    sleep (3);
    pthread_mutex_lock (&fake->lock);
    fake->fail_next_log_ack = 1;
    pthread_mutex_unlock (&fake->lock);
    assert_int_equal (fake_start (fake), 0);
    WAIT_FOR (fake,
              fake->inuse_count >= 2 && fake->inuse[fake->inuse_count - 1] == 1
                  && fake->gpu_count >= 2
                  && strcmp (fake->gpu[fake->gpu_count - 1], "Unhealthy") == 0
                  && fake_line_count (fake, "down-599") == 1
                  && fake_line_count (fake, "container-2") == 1
                  && fake->duplicate_batches >= 1,  //  the resend arrives last
              30);
    pthread_mutex_lock (&fake->lock);
    for (int i = 0; i < 600; i++) {
        snprintf (line, sizeof line, "down-%d", i);
        if (fake_line_count (fake, line) != 1)
            fail_msg ("%s stored %d times", line, fake_line_count (fake, line));
    }
    assert_int_equal (fake_line_count (fake, "boot-1"), 1);
    assert_true (fake->duplicate_batches >= 1);  //  the resent batch
    pthread_mutex_unlock (&fake->lock);

    //  In-use back to false, GPU back to healthy: each change reported
    kill (-busy, SIGKILL);
    waitpid (busy, NULL, 0);
    s_write (gpu_rc, "0\n", "w");
    WAIT_FOR (fake,
              fake->inuse[fake->inuse_count - 1] == 0
                  && strcmp (fake->gpu[fake->gpu_count - 1], "Healthy") == 0,
              20);

    //  SIGTERM: lines written just before are flushed, exit 0 quickly
    s_write (docker_log, "final-1\nfinal-2\n", "a");
    long ms = 0;
    assert_int_equal (s_agent_stop (agent, &ms), 0);
    printf ("# agent exited %ld ms after SIGTERM\n", ms);
    assert_true (ms < 5000);  //  2 s is the goal; slack for a loaded machine
    pthread_mutex_lock (&fake->lock);
    assert_int_equal (fake_line_count (fake, "final-2"), 1);
    assert_int_equal (fake->unauthorized, 0);
    pthread_mutex_unlock (&fake->lock);

    //  A restarted agent resumes its files where the accepted batches
    //  ended: nothing is shipped twice
    s_write (docker_log, "after-restart-1\n", "a");
    s_write (cloud_log, "after-restart-2\n", "a");
    agent = s_agent_start (agent_log);
    WAIT_FOR (fake,
              fake_line_count (fake, "after-restart-1") == 1
                  && fake_line_count (fake, "after-restart-2") == 1,
              20);
    //  Truncated in place (copytruncate): read again from the start
    s_write (docker_log, "after-truncate-1\n", "w");
    WAIT_FOR (fake, fake_line_count (fake, "after-truncate-1") == 1, 20);
    assert_int_equal (s_agent_stop (agent, &ms), 0);
    pthread_mutex_lock (&fake->lock);
    assert_int_equal (fake_line_count (fake, "final-1"), 1);
    assert_int_equal (fake_line_count (fake, "after-restart-1"), 1);
    assert_int_equal (fake_line_count (fake, "down-599"), 1);
    assert_int_equal (fake_line_count (fake, "container-1"), 1);
    assert_int_equal (fake_line_count (fake, "after-restart-2"), 1);
    pthread_mutex_unlock (&fake->lock);

    //  Nothing secret in the agent's own log
    char *text = s_read (agent_log);
    const char *secrets[] = {TOKEN,    "first-code",  "second-code", "111222",
                             "333444", "fourth-code", "999000"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strstr (text, secrets[i]))
            fail_msg ("agent log shows %s:\n%s", secrets[i], text);
    free (text);
    s_no_sanitizer_report (agent_log);
    fake_destroy (&fake);
}

static void
test_oneshots_and_startup_errors (void **state)
{
    fake_t *fake = fake_new (TOKEN);
    assert_int_equal (fake_start (fake), 0);
    char home[1200], out[1200], path[1400];
    s_agent_env (fake, "lablink-vm-it-2", home, sizeof home);
    snprintf (out, sizeof out, "%s/oneshot.log", s_dir);

    char *status[] = {s_bin, "status", "initializing", NULL};
    assert_int_equal (s_run (status, out), 0);
    char *metrics[] = {s_bin,        "metrics", "cloud-init", "--start",
                       "1700000000", "--end",   "1700000042", NULL};
    assert_int_equal (s_run (metrics, out), 0);
    pthread_mutex_lock (&fake->lock);
    assert_true (s_has_status (fake, "lablink-vm-it-2 initializing"));
    assert_non_null (strstr (fake->metrics[0], "lablink-vm-it-2 {"));
    assert_non_null (
        strstr (fake->metrics[0], "\"cloud_init_duration_seconds\":42"));
    pthread_mutex_unlock (&fake->lock);
    char *bad_status[] = {s_bin, "status", "sleeping", NULL};
    assert_int_equal (s_run (bad_status, out), 2);
    char *bad_metrics[] = {s_bin, "metrics", "cloud-init", "--start",
                           "x",   "--end",   "1",          NULL};
    assert_int_equal (s_run (bad_metrics, out), 2);
    char *version[] = {s_bin, "version", NULL};
    assert_int_equal (s_run (version, out), 0);
    char *text = s_read (out);
    assert_non_null (strstr (text, "lablink-agent "));
    free (text);
    //  A missing variable: one line naming it, exit 2
    unsetenv ("API_TOKEN");
    assert_int_equal (s_run (status, out), 2);
    text = s_read (out);
    assert_string_equal (text,
                         "lablink-agent: missing required setting API_TOKEN\n");
    free (text);
    setenv ("API_TOKEN", TOKEN, 1);

    //  A failing clone and a failing script with STARTUP_ON_ERROR=continue:
    //  the VM still comes up
    setenv ("TUTORIAL_REPO_TO_CLONE", "/nonexistent/repo.git", 1);
    snprintf (path, sizeof path, "%s/failing.sh", s_dir);
    s_write (path, "echo failing on purpose\nexit 3\n", "w");
    setenv ("LABLINK_STARTUP_SCRIPT", path, 1);
    setenv ("STARTUP_ON_ERROR", "continue", 1);
    setenv ("LABLINK_NVIDIA_SMI", "", 1);
    snprintf (out, sizeof out, "%s/agent-2.log", s_dir);
    pid_t agent = s_agent_start (out);
    WAIT_FOR (fake, s_has_status (fake, "lablink-vm-it-2 running"), 20);
    WAIT_FOR (fake, fake->gpu_count >= 1, 20);
    assert_string_equal (fake->gpu[0], "N/A");
    long ms;
    assert_int_equal (s_agent_stop (agent, &ms), 0);
    s_no_sanitizer_report (out);

    //  STARTUP_ON_ERROR=fail: status error, exit non-zero, never running
    s_agent_env (fake, "lablink-vm-it-3", home, sizeof home);
    setenv ("LABLINK_STARTUP_SCRIPT", path, 1);
    setenv ("STARTUP_ON_ERROR", "fail", 1);
    snprintf (out, sizeof out, "%s/agent-3.log", s_dir);
    agent = s_agent_start (out);
    int exit_status = 0;
    for (int i = 0; i < 400; i++) {
        if (waitpid (agent, &exit_status, WNOHANG) == agent)
            break;
        usleep (50000);
    }
    assert_true (WIFEXITED (exit_status));
    assert_int_equal (WEXITSTATUS (exit_status), 1);
    pthread_mutex_lock (&fake->lock);
    assert_true (s_has_status (fake, "lablink-vm-it-3 error"));
    assert_false (s_has_status (fake, "lablink-vm-it-3 running"));
    pthread_mutex_unlock (&fake->lock);
    s_no_sanitizer_report (out);
    fake_destroy (&fake);
}

int
main (void)
{
    if (s_setup () != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agent_over_http),
        cmocka_unit_test (test_oneshots_and_startup_errors),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
