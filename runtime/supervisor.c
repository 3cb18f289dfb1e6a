#include "runtime/supervisor.h"
#include "runtime/log.h"
#include "runtime/msg.h"

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
    for (size_t i = self->count; i-- > 0;)
        if (self->actors[i]) {
            int64_t t0 = ll_now_ms ();
            zactor_destroy (&self->actors[i]);
            ll_debug ("supervisor: %s stopped in %lld ms", self->table[i].name,
                      (long long) (ll_now_ms () - t0));
        }
}

int
ll_supervisor_start (ll_supervisor_t *self, char **error)
{
    *error = NULL;
    for (size_t i = 0; i < self->count; i++) {
        self->actors[i] = zactor_new (self->table[i].fn, self->runtime);
        char *reason = NULL;
        if (!self->actors[i]
            || ll_actor_start (self->actors[i], LL_START_TIMEOUT_MS, &reason)
                   != 0) {
            size_t len = strlen (self->table[i].name) + 32
                         + (reason ? strlen (reason) : 0);
            *error = malloc (len);
            snprintf (*error, len, "%s: %s", self->table[i].name,
                      reason ? reason : "cannot create the actor");
            free (reason);
            s_stop_all (self);
            return -1;
        }
        ll_debug ("supervisor: %s started", self->table[i].name);
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
