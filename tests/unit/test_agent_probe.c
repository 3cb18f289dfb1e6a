/*  The agent's probes: process scan against real child processes and a
    fake /proc tree, the GPU probe against stand-in nvidia-smi scripts (one
    per exit code, printing the real H200 outputs in tests/fixtures), the
    spawn helper (stdin, output cap, timeout), disk and boot id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/probe.h"
#include "agent/spawn.h"

extern char **environ;

//  A process whose command line holds marker: sleep under that name. Not
//  a shell running sleep: the shell's forked child carries the shell's
//  command line until it execs, so a scan made then (on a loaded machine)
//  found a second process with the marker.
static pid_t
s_start (const char *marker)
{
    char *argv[] = {(char *) marker, "30", NULL};
    pid_t pid;
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    posix_spawnattr_setpgroup (&attr, 0);  //  its own group: killed whole
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP);
    assert_int_equal (
        posix_spawn (&pid, "/bin/sleep", NULL, &attr, argv, environ), 0);
    posix_spawnattr_destroy (&attr);
    return pid;
}

static void
s_stop (pid_t pid)
{
    kill (-pid, SIGKILL);
    waitpid (pid, NULL, 0);
}

static void
test_proc_scan_real (void **state)
{
    char marker[64];
    snprintf (marker, sizeof marker, "sleap-marker-%d", (int) getpid ());
    assert_int_equal (agent_proc_find ("/proc", marker, getpid ()), 0);
    pid_t child = s_start (marker);
    //  The child may not have exec'd yet: give it a moment
    int found = 0;
    for (int i = 0; i < 100 && found != 1; i++) {
        found = agent_proc_find ("/proc", marker, getpid ());
        if (found != 1)
            usleep (20000);
    }
    assert_int_equal (found, 1);
    //  A substring of the command line is enough (upstream's rule)
    assert_int_equal (agent_proc_find ("/proc", "marker-", getpid ()), 1);
    //  Skipping itself: the only match is the skipped process
    assert_int_equal (agent_proc_find ("/proc", marker, child), 0);
    s_stop (child);
    assert_int_equal (agent_proc_find ("/proc", marker, getpid ()), 0);
    //  An empty needle never matches; an unreadable root is an error
    assert_int_equal (agent_proc_find ("/proc", "", getpid ()), 0);
    assert_int_equal (agent_proc_find ("/nonexistent", "x", getpid ()), -1);
}

static void
s_write (const char *path, const char *data, size_t len)
{
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fwrite (data, 1, len, file);
    fclose (file);
}

static void
test_proc_scan_fake (void **state)
{
    char root[1024], path[1200];
    snprintf (root, sizeof root, "%s/proc", getenv ("LABLINK_TEST_DIR"));
    mkdir (root, 0755);
    const char *dirs[] = {"1", "42", "77", "self", "abc"};
    for (size_t i = 0; i < 5; i++) {
        snprintf (path, sizeof path, "%s/%s", root, dirs[i]);
        mkdir (path, 0755);
    }
    snprintf (path, sizeof path, "%s/1/cmdline", root);
    s_write (path, "/sbin/init\0", 11);
    snprintf (path, sizeof path, "%s/42/cmdline", root);
    s_write (path, "python\0-m\0sleap.gui\0", 20);  //  NULs joined
    snprintf (path, sizeof path, "%s/abc/cmdline", root);
    s_write (path, "napari\0", 7);  //  not a pid: ignored
    //  77 has no cmdline (vanished): ignored
    assert_int_equal (agent_proc_find (root, "-m sleap", 1), 1);
    assert_int_equal (agent_proc_find (root, "sleap", 42), 0);
    assert_int_equal (agent_proc_find (root, "napari", 1), 0);
}

//  Write a stand-in nvidia-smi printing a fixture and exiting with rc.
static void
s_standin (char *out, size_t size, const char *fixture, const char *body)
{
    const char *dir = getenv ("LABLINK_TEST_DIR");
    static int n;
    snprintf (out, size, "%s/nvidia-smi-%d", dir, n++);
    FILE *file = fopen (out, "w");
    assert_non_null (file);
    fprintf (file, "#!/bin/sh\n");
    if (fixture)
        fprintf (file, "sed '$d' '%s/tests/fixtures/nvidia-smi/%s'\n",
                 getenv ("LABLINK_SOURCE_DIR"), fixture);
    fprintf (file, "%s\n", body);
    fclose (file);
    chmod (out, 0755);
}

static void
test_gpu_probe (void **state)
{
    char smi[1024];
    s_standin (smi, sizeof smi, "healthy-plain.txt", "exit 0");
    assert_string_equal (agent_gpu_probe (smi, 5000, NULL), "Healthy");
    s_standin (smi, sizeof smi, "bad-field.txt", "exit 2");
    assert_string_equal (agent_gpu_probe (smi, 5000, NULL), "Unhealthy");
    //  nvidia-smi's "no devices / driver not loaded" exit codes
    s_standin (smi, sizeof smi, NULL, "echo 'NVIDIA-SMI has failed'; exit 9");
    assert_string_equal (agent_gpu_probe (smi, 5000, NULL), "Unhealthy");
    s_standin (smi, sizeof smi, NULL, "exit 127");
    assert_string_equal (agent_gpu_probe (smi, 5000, NULL), "N/A");
    s_standin (smi, sizeof smi, NULL, "kill -SEGV $$");
    assert_string_equal (agent_gpu_probe (smi, 5000, NULL), "Unhealthy");
    s_standin (smi, sizeof smi, "list.txt", "exec sleep 30");
    assert_string_equal (agent_gpu_probe (smi, 300, NULL), "Unhealthy");
    //  Not installed
    assert_string_equal (
        agent_gpu_probe ("/nonexistent/nvidia-smi", 5000, NULL), "N/A");
    assert_string_equal (
        agent_gpu_probe ("nvidia-smi-not-on-path-xyz", 5000, NULL), "N/A");
    assert_string_equal (agent_gpu_probe ("", 5000, NULL), "N/A");
    //  Not executable
    char plain[1200];
    snprintf (plain, sizeof plain, "%s/tests/fixtures/nvidia-smi/list.txt",
              getenv ("LABLINK_SOURCE_DIR"));
    assert_string_equal (agent_gpu_probe (plain, 5000, NULL), "N/A");
}

static void
test_spawn (void **state)
{
    agent_run_t run;
    char *cat[] = {"cat", NULL};
    assert_int_equal (agent_run (cat, NULL, "one\ntwo\n", 5000, NULL, &run), 0);
    assert_string_equal (run.output, "one\ntwo\n");
    //  Output is capped, never overflows
    char *yes[] = {"sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x", NULL};
    assert_int_equal (agent_run (yes, NULL, NULL, 5000, NULL, &run), 0);
    assert_int_equal (run.output_len, AGENT_OUTPUT_MAX - 1);
    //  Extra environment overrides ours
    setenv ("AGENT_TEST_VAR", "ours", 1);
    char *env[] = {"AGENT_TEST_VAR=theirs", NULL};
    char *echo[] = {"sh", "-c", "printf %s \"$AGENT_TEST_VAR\"", NULL};
    assert_int_equal (agent_run (echo, env, NULL, 5000, NULL, &run), 0);
    assert_string_equal (run.output, "theirs");
    //  A child that never reads its stdin does not hang us
    char *ignore[] = {"sh", "-c", "exit 4", NULL};
    char big[200000];
    memset (big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal (agent_run (ignore, NULL, big, 5000, NULL, &run), -1);
    assert_int_equal (run.exit_code, 4);
    assert_false (run.timed_out);
    //  Timeout kills the whole process group
    char *slow[] = {"sh", "-c", "sleep 30; echo late", NULL};
    assert_int_equal (agent_run (slow, NULL, NULL, 200, NULL, &run), -1);
    assert_true (run.timed_out);
    //  Stop ends a run at once
    agent_stop_t stop;
    agent_stop_init (&stop);
    agent_stop_request (&stop);
    assert_int_equal (agent_run (slow, NULL, NULL, 30000, &stop, &run), -1);
    assert_true (run.timed_out);
    agent_stop_fini (&stop);
}

static void
test_disk_and_boot (void **state)
{
    int pct = agent_disk_free_pct ("/");
    assert_true (pct >= 0 && pct <= 100);
    assert_int_equal (agent_disk_free_pct ("/nonexistent/dir"), -1);
    char boot[64];
    agent_boot_id (boot, sizeof boot);
    assert_int_equal (strlen (boot), 36);
}

static void
test_backoff (void **state)
{
    int64_t current = 0;
    int64_t first = agent_backoff_next (&current, 100, 1000);
    assert_true (first >= 100 && first <= 150);
    for (int i = 0; i < 10; i++)
        agent_backoff_next (&current, 100, 1000);
    assert_int_equal (current, 1000);
    int64_t capped = agent_backoff_next (&current, 100, 1000);
    assert_true (capped >= 1000 && capped <= 1500);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_proc_scan_real),
        cmocka_unit_test (test_proc_scan_fake),
        cmocka_unit_test (test_gpu_probe),
        cmocka_unit_test (test_spawn),
        cmocka_unit_test (test_disk_and_boot),
        cmocka_unit_test (test_backoff),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
