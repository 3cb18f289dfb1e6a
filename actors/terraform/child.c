#include "actors/terraform/child.h"
#include "runtime/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct _tf_child_t {
    pid_t pid;           //  the child
    int fd[2];           //  read ends of stdout, stderr; -1 once closed
    bool new_group;      //  the child leads its own process group
    bool exited;         //  reaped
    int status;          //  its wait status
    int64_t exited_ms;   //  when it was reaped
    int kill_stage;      //  0 running, 1 terminating, 2 SIGKILL sent
    int64_t kill_at_ms;  //  SIGKILL then, while terminating
};

//  Environment of the child: ours plus terraform's automation settings and
//  extra_env (see tf_child_start). The strings are not copied.
static char **
s_child_env (const char *const *extra_env)
{
    static const char *const automation[] = {
        "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0", NULL};
    const char *const *lists[] = {automation, extra_env};
    size_t n = 0, more = 0;
    while (environ[n])
        n++;
    for (int l = 0; l < 2; l++)
        for (int k = 0; lists[l] && lists[l][k]; k++)
            more++;
    char **env = calloc (n + more + 1, sizeof *env);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (int l = 0; l < 2; l++)
            for (int k = 0; lists[l] && lists[l][k]; k++) {
                const char *item = lists[l][k];
                size_t klen = strcspn (item, "=");
                if (strncmp (environ[i], item, klen) == 0
                    && environ[i][klen] == '=')
                    replaced = true;
            }
        if (!replaced)
            env[j++] = environ[i];
    }
    for (int l = 0; l < 2; l++)
        for (int k = 0; lists[l] && lists[l][k]; k++)
            if (strchr (lists[l][k], '='))
                env[j++] = (char *) lists[l][k];
    env[j] = NULL;
    return env;
}

//  The program argv[0] names: itself when it holds a '/', else the first
//  executable file of that name on PATH (as posix_spawnp looks). 0, or -1
//  with errno.
static int
s_find_program (const char *name, char *path, size_t size)
{
    if (strchr (name, '/')) {
        snprintf (path, size, "%s", name);
        return 0;
    }
    const char *dirs = getenv ("PATH");
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    while (*dirs) {
        size_t len = strcspn (dirs, ":");
        snprintf (path, size, "%.*s/%s", (int) len, len ? dirs : ".", name);
        struct stat st;
        if (stat (path, &st) == 0 && S_ISREG (st.st_mode)
            && access (path, X_OK) == 0)
            return 0;
        dirs += len + (dirs[len] == ':');
    }
    errno = ENOENT;
    return -1;
}

static void
s_close_pair (int pair[2])
{
    for (int i = 0; i < 2; i++)
        if (pair[i] >= 0)
            close (pair[i]);
}

//  In the child after fork: system calls only, then execve.
static void
s_exec_child (const char *path,
              const char *const *argv,
              char **env,
              const char *cwd,
              bool new_group,
              pid_t parent,
              int out,
              int err,
              int failed)
{
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if (getppid () != parent)
        _exit (127);  //  the allocator died before prctl
    if (new_group)
        setpgid (0, 0);
    //  The allocator blocks SIGINT/SIGTERM in every thread: the child must
    //  not inherit that, or it could not be stopped
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    int signals[] = {SIGINT, SIGTERM, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        sigaction (signals[i], &dfl, NULL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    int error = 0;
    int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2 (null, 0) < 0 || dup2 (out, 1) < 0 || dup2 (err, 2) < 0
        || (cwd && chdir (cwd) != 0))
        error = errno;
    else {
        execve (path, (char **) argv, env);
        error = errno;
    }
    ssize_t ignored = write (failed, &error, sizeof error);
    (void) ignored;
    _exit (127);
}

//  posix_spawn cannot set PR_SET_PDEATHSIG, hence fork.
tf_child_t *
tf_child_start (const char *const *argv,
                const char *const *extra_env,
                const char *cwd,
                bool new_group,
                char *reason,
                size_t size)
{
    char path[PATH_MAX];
    if (s_find_program (argv[0], path, sizeof path) != 0) {
        snprintf (reason, size, "cannot run %s: %s", argv[0], strerror (errno));
        return NULL;
    }
    //  out, err: the child's output; failed: its exec error, if any
    int out[2] = {-1, -1}, err[2] = {-1, -1}, failed[2] = {-1, -1};
    if (pipe (out) != 0 || pipe (err) != 0 || pipe (failed) != 0) {
        snprintf (reason, size, "pipe: %s", strerror (errno));
        s_close_pair (out);
        s_close_pair (err);
        s_close_pair (failed);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl (out[i], F_SETFD, FD_CLOEXEC);
        fcntl (err[i], F_SETFD, FD_CLOEXEC);
        fcntl (failed[i], F_SETFD, FD_CLOEXEC);
    }
    fcntl (out[0], F_SETFL, O_NONBLOCK);
    fcntl (err[0], F_SETFL, O_NONBLOCK);
    char **env = s_child_env (extra_env);
    pid_t parent = getpid ();
    pid_t child = fork ();
    if (child == 0)
        s_exec_child (path, argv, env, cwd, new_group, parent, out[1], err[1],
                      failed[1]);
    int spawn_error = child < 0 ? errno : 0;
    free (env);
    close (out[1]);
    close (err[1]);
    close (failed[1]);
    if (child > 0) {
        //  Closed by a successful exec (CLOEXEC), or the exec's errno
        int error = 0;
        ssize_t got;
        while ((got = read (failed[0], &error, sizeof error)) < 0
               && errno == EINTR)
            ;
        if (got == (ssize_t) sizeof error) {
            spawn_error = error;
            while (waitpid (child, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    close (failed[0]);
    if (spawn_error) {
        snprintf (reason, size, "cannot run %s: %s", argv[0],
                  strerror (spawn_error));
        close (out[0]);
        close (err[0]);
        return NULL;
    }
    tf_child_t *self = calloc (1, sizeof *self);
    self->pid = child;
    self->fd[TF_CHILD_OUT] = out[0];
    self->fd[TF_CHILD_ERR] = err[0];
    self->new_group = new_group;
    return self;
}

void
tf_child_destroy (tf_child_t **self_p)
{
    tf_child_t *self = *self_p;
    if (!self)
        return;
    tf_child_close (self, TF_CHILD_OUT);
    tf_child_close (self, TF_CHILD_ERR);
    free (self);
    *self_p = NULL;
}

int
tf_child_fd (tf_child_t *self, tf_child_pipe_t which)
{
    return self->fd[which];
}

ssize_t
tf_child_read (tf_child_t *self,
               tf_child_pipe_t which,
               char *buffer,
               size_t size)
{
    if (self->fd[which] < 0)
        return -1;
    ssize_t n = read (self->fd[which], buffer, size);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        tf_child_close (self, which);
        return -1;
    }
    return n;
}

void
tf_child_close (tf_child_t *self, tf_child_pipe_t which)
{
    if (self->fd[which] >= 0)
        close (self->fd[which]);
    self->fd[which] = -1;
}

bool
tf_child_reap (tf_child_t *self, int64_t now_ms)
{
    if (self->exited)
        return true;
    int status = 0;
    pid_t r = waitpid (self->pid, &status, WNOHANG);
    if (r == self->pid)
        self->status = status;
    else if (r < 0 && errno == ECHILD)
        self->status = 255 << 8;  //  reaped elsewhere: a failure
    else
        return false;
    self->exited = true;
    self->exited_ms = now_ms;
    return true;
}

void
tf_child_signal (tf_child_t *self, int sig)
{
    if (self->exited)
        return;
    if (!self->new_group || kill (-self->pid, sig) != 0)
        kill (self->pid, sig);
}

void
tf_child_terminate (tf_child_t *self, int sig, int grace_ms, int64_t now_ms)
{
    tf_child_signal (self, sig);
    self->kill_stage = 1;
    self->kill_at_ms = now_ms + grace_ms;
}

bool
tf_child_escalate (tf_child_t *self, int64_t now_ms)
{
    if (self->exited || self->kill_stage != 1 || now_ms < self->kill_at_ms)
        return false;
    tf_child_signal (self, SIGKILL);
    self->kill_stage = 2;
    return true;
}

void
tf_child_stop_wait (tf_child_t *self, int sig, int grace_ms)
{
    if (self->exited)
        return;
    tf_child_terminate (self, sig, grace_ms, ll_now_ms ());
    while (!tf_child_reap (self, ll_now_ms ())) {
        if (tf_child_escalate (self, ll_now_ms ())) {
            tf_child_wait (self);
            return;
        }
        usleep (50 * 1000);
    }
}

int
tf_child_wait (tf_child_t *self)
{
    while (!self->exited) {
        int status = 0;
        pid_t r = waitpid (self->pid, &status, 0);
        if (r == self->pid)
            self->status = status;
        else if (r < 0 && errno == EINTR)
            continue;
        else
            self->status = 255 << 8;
        self->exited = true;
        self->exited_ms = ll_now_ms ();
    }
    return self->status;
}

bool
tf_child_exited (tf_child_t *self)
{
    return self->exited;
}

int64_t
tf_child_exited_ms (tf_child_t *self)
{
    return self->exited_ms;
}

bool
tf_child_terminated (tf_child_t *self)
{
    return self->kill_stage > 0;
}

int
tf_child_status (tf_child_t *self)
{
    return self->status;
}

int
tf_child_exit_code (tf_child_t *self)
{
    return self->exited && WIFEXITED (self->status) ? WEXITSTATUS (self->status)
                                                    : -1;
}

int
tf_child_signo (tf_child_t *self)
{
    return self->exited && WIFSIGNALED (self->status) ? WTERMSIG (self->status)
                                                      : 0;
}
