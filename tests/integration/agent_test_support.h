/*  Helpers for the agent's integration tests (header-only: tests are
    single files): files, child processes, the agent's environment. */
#ifndef LL_TESTS_AGENT_TEST_SUPPORT_H
#define LL_TESTS_AGENT_TEST_SUPPORT_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "agent_fake_allocator.h"

extern char **environ;

#define TOKEN "lablink-vm-it-1.0123456789abcdef0123456789abcdef"

#define WAIT_FOR(fake, cond, seconds)                                          \
    do {                                                                       \
        bool ok_ = false;                                                      \
        for (int i_ = 0; i_ < (seconds) *20 && !ok_; i_++) {                   \
            pthread_mutex_lock (&(fake)->lock);                                \
            ok_ = (cond);                                                      \
            pthread_mutex_unlock (&(fake)->lock);                              \
            if (!ok_)                                                          \
                usleep (50000);                                                \
        }                                                                      \
        if (!ok_)                                                              \
            fail_msg ("timed out waiting for %s", #cond);                      \
    } while (0)

//  Set by s_setup from run-test's environment
static char s_dir[1024];  //  the test's scratch folder
static char s_src[1024];  //  the source tree
static char s_bin[1024];  //  lablink-agent

static inline void
s_write (const char *path, const char *text, const char *mode)
{
    FILE *file = fopen (path, mode);
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
}

static inline char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = calloc (1, (size_t) size + 1);
    size_t n = fread (text, 1, (size_t) size, file);
    text[n] = '\0';
    fclose (file);
    return text;
}

static inline int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

//  Run a command to completion (argv, no shell); its exit code.
static inline int
s_run (char *const argv[], const char *out)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, out ? out : "/dev/null",
                                      O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    pid_t pid;
    int rc = posix_spawnp (&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    assert_int_equal (rc, 0);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

//  Start lablink-agent run with the environment set up by the caller.
static inline pid_t
s_agent_start (const char *log)
{
    char *argv[] = {s_bin, "run", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, log,
                                      O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2 (&actions, 1, 2);
    pid_t pid;
    assert_int_equal (posix_spawn (&pid, s_bin, &actions, NULL, argv, environ),
                      0);
    posix_spawn_file_actions_destroy (&actions);
    return pid;
}

static inline bool
s_alive (pid_t pid)
{
    return waitpid (pid, NULL, WNOHANG) == 0;
}

//  SIGTERM; returns the exit code and the milliseconds it took.
static inline int
s_agent_stop (pid_t pid, long *ms)
{
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    kill (pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; i++) {
        if (waitpid (pid, &status, WNOHANG) == pid)
            break;
        usleep (10000);
    }
    clock_gettime (CLOCK_MONOTONIC, &t1);
    *ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static inline void
s_no_sanitizer_report (const char *log)
{
    char *text = s_read (log);
    if (strstr (text, "AddressSanitizer") || strstr (text, "LeakSanitizer")
        || strstr (text, "ThreadSanitizer") || strstr (text, "runtime error:"))
        fail_msg ("sanitizer report in %s:\n%s", log, text);
    free (text);
}

//  The common environment of an agent named name.
static inline void
s_agent_env (fake_t *fake, const char *name, char *home, size_t size)
{
    char value[2048];
    setenv ("VM_NAME", name, 1);
    setenv ("API_TOKEN", TOKEN, 1);
    snprintf (value, sizeof value, "http://127.0.0.1:%d/", fake->port);
    setenv ("ALLOCATOR_URL", value, 1);
    snprintf (home, size, "%s/home-%s", s_dir, name);
    mkdir (home, 0755);
    setenv ("HOME", home, 1);
    setenv ("LABLINK_INTERVAL_SCALE", "0.05", 1);
    setenv ("LABLINK_POLL_TIMEOUT_S", "10", 1);
    setenv ("LABLINK_REQUEST_TIMEOUT_S", "5", 1);
    snprintf (value, sizeof value, "%s/agent/standins/start-host", s_src);
    setenv ("LABLINK_CRD_START_HOST", value, 1);
    snprintf (value, sizeof value, "%s/start-host-%s.log", s_dir, name);
    setenv ("LABLINK_STANDIN_LOG", value, 1);
    snprintf (value, sizeof value, "%s/nvidia-smi", s_dir);
    setenv ("LABLINK_NVIDIA_SMI", value, 1);
    snprintf (value, sizeof value, "sleap-it-%d", (int) getpid ());
    setenv ("SUBJECT_SOFTWARE", value, 1);
    unsetenv ("LABLINK_LOG_FILES");
    unsetenv ("TUTORIAL_REPO_TO_CLONE");
    unsetenv ("STARTUP_ON_ERROR");
    snprintf (value, sizeof value, "%s/no-startup-script", s_dir);
    setenv ("LABLINK_STARTUP_SCRIPT", value, 1);
}

static inline bool
s_has_status (fake_t *fake, const char *entry)
{
    for (int i = 0; i < fake->status_count; i++)
        if (strcmp (fake->statuses[i], entry) == 0)
            return true;
    return false;
}

//  Read run-test's environment. 0 or -1.
static inline int
s_setup (void)
{
    const char *dir = getenv ("LABLINK_TEST_DIR");
    const char *src = getenv ("LABLINK_SOURCE_DIR");
    const char *build = getenv ("LABLINK_BUILD_DIR");
    if (!dir || !src || !build) {
        fprintf (stderr, "run me through tests/harness/run-test\n");
        return -1;
    }
    snprintf (s_dir, sizeof s_dir, "%s", dir);
    snprintf (s_src, sizeof s_src, "%s", src);
    snprintf (s_bin, sizeof s_bin, "%s/lablink-agent", build);
    signal (SIGPIPE, SIG_IGN);
    return 0;
}

#endif
