#include "runtime/supervisor.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"

#include <errno.h>
#include <signal.h>
#include <time.h>

#define LL_START_TIMEOUT_MS 15000

struct ll_supervisor {
    const ll_actor_def_t *table;  //  the actor table (not owned)
    size_t count;                 //  entries in table
    zactor_t **actors;            //  started actors, NULL where not started
    ll_runtime_t *runtime;        //  passed to every actor (not owned)
};

ll_supervisor_t *
ll_supervisor_new (const ll_actor_def_t *table,
                   size_t count,
                   ll_runtime_t *runtime)
{
    ll_supervisor_t *self = calloc (1, sizeof *self);
    self->table = table;
    self->count = count;
    self->actors = calloc (count, sizeof *self->actors);
    self->runtime = runtime;
    return self;
}

static void
s_stop_all (ll_supervisor_t *self)
{
    //  Every actor told at once, so that none waits for another to end
    //  what it holds (a parked long-poll holds an HTTP worker until the
    //  waiters answer it); then each stopped, the edge first
    size_t told = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->actors[i]) {
            zsock_set_sndtimeo (self->actors[i], 0);
            told += zstr_send (self->actors[i], LL_CMD_STOPPING) == 0;
        }
    ll_debug ("supervisor: %zu actors told to stop", told);
    for (size_t i = self->count; i-- > 0;)
        if (self->actors[i]) {
            int64_t t0 = ll_now_ms ();
            zactor_destroy (&self->actors[i]);
            ll_debug ("supervisor: %s stopped in %lld ms", self->table[i].name,
                      (long long) (ll_now_ms () - t0));
        }
}

//  *error = "<name>: <reason>" (reason taken)
static void
s_failure (char **error, const char *name, char *reason)
{
    if (!*error) {
        size_t len = strlen (name) + 32 + (reason ? strlen (reason) : 0);
        *error = malloc (len);
        snprintf (*error, len, "%s: %s", name,
                  reason ? reason : "cannot create the actor");
    }
    free (reason);
}

//  Start the actors whose edge flag is edge: all START at once, then
//  their answers, or (edge) one after the other. 0 or -1 with *error.
static int
s_start (ll_supervisor_t *self, bool edge, char **error)
{
    int64_t t0 = ll_now_ms ();
    for (size_t i = 0; i < self->count; i++) {
        if (self->table[i].edge != edge)
            continue;
        self->actors[i] = zactor_new (self->table[i].fn, self->runtime);
        if (self->actors[i] && !edge)
            zstr_send (self->actors[i], LL_CMD_START);
        char *reason = NULL;
        if (!self->actors[i]
            || (edge
                && ll_actor_start (self->actors[i], LL_START_TIMEOUT_MS,
                                   &reason)
                       != 0)) {
            s_failure (error, self->table[i].name, reason);
            return -1;
        }
        if (edge)
            ll_debug ("supervisor: %s started in %lld ms", self->table[i].name,
                      (long long) (ll_now_ms () - t0));
    }
    for (size_t i = 0; i < self->count && !edge; i++) {
        if (self->table[i].edge)
            continue;
        char *reason = NULL;
        if (ll_actor_start_wait (self->actors[i], LL_START_TIMEOUT_MS, &reason)
            != 0)
            s_failure (error, self->table[i].name, reason);
        else
            ll_debug ("supervisor: %s started in %lld ms", self->table[i].name,
                      (long long) (ll_now_ms () - t0));
    }
    return *error ? -1 : 0;
}

int
ll_supervisor_start (ll_supervisor_t *self, bool edge, char **error)
{
    *error = NULL;
    if (s_start (self, edge, error) != 0) {
        s_stop_all (self);
        return -1;
    }
    return 0;
}

zactor_t *
ll_supervisor_actor (ll_supervisor_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->table[i].name, name) == 0)
            return self->actors[i];
    return NULL;
}

void
ll_supervisor_destroy (ll_supervisor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_supervisor_t *self = *self_p;
    s_stop_all (self);
    free (self->actors);
    free (self);
    *self_p = NULL;
}

void
ll_signals_block (void)
{
    zsys_handler_set (NULL);
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
}

int
ll_signals_wait (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    int sig = 0;
    while (sigwait (&set, &sig) != 0)
        ;
    return sig;
}

int
ll_signals_wait_for (int64_t ms)
{
    if (ms <= 0)
        return ll_signals_wait ();
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGTERM);
    struct timespec timeout = {(time_t) (ms / 1000),
                               (long) (ms % 1000) * 1000000};
    for (;;) {
        int sig = sigtimedwait (&set, NULL, &timeout);
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        //  EINTR: another signal's handler ran; wait on
    }
}
