/*  tf_child: one child process of the terraform actor (terraform itself,
    the provider's reboot script, ssh-keygen). Started with fork + execve
    (argv[0] looked up in PATH, no shell), stdin /dev/null, stdout and
    stderr on non-blocking pipes the caller polls; an exec error comes back
    through a close-on-exec pipe, so a start either runs the program or
    fails with the reason. The child gets SIGTERM when the thread that
    started it ends (PR_SET_PDEATHSIG): an allocator killed with SIGKILL
    takes its terraform down with it. Stopping signals the whole process
    group, then SIGKILL after a grace period. One thread owns a child. */
#ifndef LL_ACTOR_TF_CHILD_H
#define LL_ACTOR_TF_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _tf_child_t tf_child_t;

typedef enum { TF_CHILD_OUT, TF_CHILD_ERR } tf_child_pipe_t;

//  Start argv with our environment plus extra_env (NULL-terminated, or
//  NULL: "NAME=value" replaces or adds NAME, a bare "NAME" removes it) and
//  terraform's automation settings, in cwd (NULL: ours), in a new process
//  group when new_group. NULL with the reason when it cannot run.
tf_child_t *tf_child_start (const char *const *argv,
                            const char *const *extra_env,
                            const char *cwd,
                            bool new_group,
                            char *reason,
                            size_t size);

//  Close the pipes and free; a child still running is neither signalled
//  nor reaped (tf_child_stop_wait first).
void tf_child_destroy (tf_child_t **self_p);

//  The read end of stdout or stderr to poll, -1 once closed.
int tf_child_fd (tf_child_t *self, tf_child_pipe_t which);

//  Read what the pipe has: > 0 bytes, 0 nothing now, -1 at end of file
//  (the pipe is then closed).
ssize_t tf_child_read (tf_child_t *self,
                       tf_child_pipe_t which,
                       char *buffer,
                       size_t size);

//  Close a pipe (what a left-over grandchild still writes is not read).
void tf_child_close (tf_child_t *self, tf_child_pipe_t which);

//  Reap without blocking; true once the child has exited.
bool tf_child_reap (tf_child_t *self, int64_t now_ms);

//  Send sig to the child's process group (the child alone without one),
//  unless it has exited.
void tf_child_signal (tf_child_t *self, int sig);

//  Begin stopping: sig now, SIGKILL once grace_ms passed (tf_child_escalate).
void
tf_child_terminate (tf_child_t *self, int sig, int grace_ms, int64_t now_ms);

//  After tf_child_terminate: SIGKILL when the grace period is over and it
//  still runs; true when SIGKILL was sent now (once).
bool tf_child_escalate (tf_child_t *self, int64_t now_ms);

//  Stop and reap, blocking: sig, up to grace_ms for it to exit, SIGKILL.
void tf_child_stop_wait (tf_child_t *self, int sig, int grace_ms);

//  Reap, blocking; the wait status.
int tf_child_wait (tf_child_t *self);

bool tf_child_exited (tf_child_t *self);
int64_t tf_child_exited_ms (tf_child_t *self);  //  when it was reaped
bool tf_child_terminated (tf_child_t *self);    //  tf_child_terminate ran
int tf_child_status (tf_child_t *self);         //  wait status once exited
//  The exit code, or -1 while running or when killed by a signal.
int tf_child_exit_code (tf_child_t *self);
//  The signal that killed it, or 0.
int tf_child_signo (tf_child_t *self);

#endif
