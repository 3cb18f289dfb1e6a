#define _GNU_SOURCE  //  pipe2 (O_CLOEXEC pipes: no leak into other spawns)
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/clock.h"

extern char **environ;

#define S_ENV_MAX 512  //  most environment entries passed on

//  Build the child's environment: ours, with extra overriding. The array
//  points into environ and extra; caller frees only the array.
static char **
s_env_build (char *const extra[])
{
    size_t ours = 0, more = 0;
    while (environ[ours] && ours < S_ENV_MAX)
        ours++;
    while (extra && extra[more])
        more++;
    char **env = calloc (ours + more + 1, sizeof (char *));
    if (!env)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < ours; i++) {
        const char *eq = strchr (environ[i], '=');
        size_t len = eq ? (size_t) (eq - environ[i]) : strlen (environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < more; j++)
            if (strncmp (extra[j], environ[i], len) == 0
                && extra[j][len] == '=')
                overridden = true;
        if (!overridden)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < more; j++)
        env[n++] = extra[j];
    env[n] = NULL;
    return env;
}

//  write() that turns a closed pipe into EPIPE without SIGPIPE, whatever
//  the process's disposition of SIGPIPE.
static ssize_t
s_write_nosigpipe (int fd, const void *data, size_t len)
{
    sigset_t pipe_set, old;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write (fd, data, len);
    if (n < 0 && errno == EPIPE) {
        int saved = errno;
        struct timespec zero = {0, 0};
        sigset_t pending;
        sigpending (&pending);
        if (sigismember (&pending, SIGPIPE))
            sigtimedwait (&pipe_set, NULL, &zero);
        errno = saved;
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    return n;
}

int
agent_run (char *const argv[],
           char *const extra_env[],
           const char *input,
           int timeout_ms,
           agent_stop_t *stop,
           agent_run_t *result)
{
    memset (result, 0, sizeof *result);
    result->exit_code = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipe2 (in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2 (out, O_CLOEXEC) != 0) {
        close (in[0]);
        close (in[1]);
        return -1;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, in[0], 0);
    posix_spawn_file_actions_adddup2 (&actions, out[1], 1);
    posix_spawn_file_actions_adddup2 (&actions, out[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    sigset_t none, defaults;
    sigemptyset (&none);
    sigemptyset (&defaults);
    sigaddset (&defaults, SIGPIPE);
    sigaddset (&defaults, SIGTERM);
    sigaddset (&defaults, SIGINT);
    sigaddset (&defaults, SIGHUP);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &defaults);
    posix_spawnattr_setpgroup (&attr, 0);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK
                                         | POSIX_SPAWN_SETSIGDEF
                                         | POSIX_SPAWN_SETPGROUP);
    char **env = s_env_build (extra_env);
    pid_t pid = -1;
    int rc = -1;
    if (env) {
        if (strchr (argv[0], '/'))
            rc = posix_spawn (&pid, argv[0], &actions, &attr, argv, env);
        else
            rc = posix_spawnp (&pid, argv[0], &actions, &attr, argv, env);
    }
    free (env);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    close (in[0]);
    close (out[1]);
    if (rc != 0) {
        result->not_found = rc == ENOENT || rc == EACCES || rc == ENOTDIR;
        close (in[1]);
        close (out[0]);
        return -1;
    }
    //  Feed stdin without blocking: the child may never read it.
    size_t in_len = input ? strlen (input) : 0, in_done = 0;
    fcntl (in[1], F_SETFL, O_NONBLOCK);
    if (in_len == 0) {
        close (in[1]);
        in[1] = -1;
    }
    int64_t deadline = ll_now_ms () + timeout_ms;
    bool exited = false, eof = false;
    int status = 0;
    int64_t exited_at = 0;
    while (!exited || !eof) {
        if (!exited) {
            pid_t w = waitpid (pid, &status, WNOHANG);
            if (w == pid) {
                exited = true;
                exited_at = ll_now_ms ();
            }
        }
        //  A daemon it left behind may hold the pipe: stop reading soon
        if (exited && ll_now_ms () - exited_at > 500)
            break;
        bool late =
            ll_now_ms () >= deadline || (stop && agent_stop_requested (stop));
        if (late && !result->timed_out) {
            result->timed_out = true;
            kill (-pid, SIGKILL);
            kill (pid, SIGKILL);
        }
        if (result->timed_out && exited)
            break;  //  a grandchild may hold the pipe: do not wait for it
        struct pollfd fds[2];
        int nfds = 0;
        if (!eof)
            fds[nfds++] = (struct pollfd){out[0], POLLIN, 0};
        if (in[1] >= 0)
            fds[nfds++] = (struct pollfd){in[1], POLLOUT, 0};
        if (nfds == 0) {
            if (!exited)
                usleep (10000);
            continue;
        }
        if (poll (fds, (nfds_t) nfds, 20) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < nfds; i++) {
            if (fds[i].fd == out[0] && fds[i].revents) {
                char chunk[1024];
                ssize_t n = read (out[0], chunk, sizeof chunk);
                if (n <= 0)
                    eof = true;
                else {
                    size_t room =
                        sizeof result->output - 1 - result->output_len;
                    size_t take = (size_t) n < room ? (size_t) n : room;
                    memcpy (result->output + result->output_len, chunk, take);
                    result->output_len += take;
                    result->output[result->output_len] = '\0';
                }
            }
            else if (fds[i].fd == in[1] && fds[i].revents) {
                ssize_t n = s_write_nosigpipe (in[1], input + in_done,
                                               in_len - in_done);
                if (n > 0)
                    in_done += (size_t) n;
                if (n < 0 && errno != EAGAIN) {
                    close (in[1]);
                    in[1] = -1;
                }
                else if (in_done == in_len) {
                    close (in[1]);
                    in[1] = -1;
                }
            }
        }
    }
    if (in[1] >= 0)
        close (in[1]);
    close (out[0]);
    if (!exited)
        waitpid (pid, &status, 0);
    if (WIFEXITED (status))
        result->exit_code = WEXITSTATUS (status);
    else if (WIFSIGNALED (status))
        result->exit_code = 128 + WTERMSIG (status);
    if (result->exit_code == 127)
        result->not_found = true;
    return !result->timed_out && result->exit_code == 0 ? 0 : -1;
}
