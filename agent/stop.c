#include "agent/stop.h"

#include <errno.h>
#include <signal.h>
#include <sys/random.h>
#include <time.h>

#include "runtime/clock.h"

void
agent_stop_init (agent_stop_t *self)
{
    pthread_mutex_init (&self->lock, NULL);
    agent_cond_init (&self->wake);
    self->stopping = false;
}

void
agent_stop_fini (agent_stop_t *self)
{
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
}

static void
s_signals (sigset_t *set)
{
    sigemptyset (set);
    sigaddset (set, SIGTERM);
    sigaddset (set, SIGINT);
}

void
agent_stop_block_signals (void)
{
    sigset_t set;
    s_signals (&set);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
}

void
agent_stop_on_signal (agent_stop_t *self)
{
    sigset_t set;
    s_signals (&set);
    int signal = 0;
    sigwait (&set, &signal);
    agent_stop_request (self);
}

double
agent_clamp (double value, double min, double max)
{
    return value < min ? min : value > max ? max : value;
}

int
agent_thread_start (agent_thread_t *self, void *(*fn) (void *), void *arg)
{
    self->started = pthread_create (&self->id, NULL, fn, arg) == 0;
    return self->started ? 0 : -1;
}

void
agent_thread_join (agent_thread_t *self)
{
    if (self->started)
        pthread_join (self->id, NULL);
    self->started = false;
}

void
agent_stop_request (agent_stop_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

bool
agent_stop_requested (agent_stop_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool stopping = self->stopping;
    pthread_mutex_unlock (&self->lock);
    return stopping;
}

bool
agent_stop_sleep (agent_stop_t *self, int64_t ms)
{
    struct timespec until;
    agent_deadline (&until, ms);
    pthread_mutex_lock (&self->lock);
    while (!self->stopping)
        if (pthread_cond_timedwait (&self->wake, &self->lock, &until)
            == ETIMEDOUT)
            break;
    bool stopping = self->stopping;
    pthread_mutex_unlock (&self->lock);
    return stopping;
}

int
agent_random_bytes (void *out, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = getrandom ((char *) out + got, size - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t) n;
    }
    return 0;
}

int64_t
agent_random (int64_t max)
{
    if (max <= 0)
        return 0;
    uint64_t r = 0;
    if (agent_random_bytes (&r, sizeof r) != 0)
        r = (uint64_t) ll_now_ms ();
    return (int64_t) (r % ((uint64_t) max + 1));
}

void
agent_cond_init (pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (cond, &attr);
    pthread_condattr_destroy (&attr);
}

void
agent_deadline (struct timespec *until, int64_t ms)
{
    clock_gettime (CLOCK_MONOTONIC, until);
    if (ms < 0)
        ms = 0;
    until->tv_sec += ms / 1000;
    until->tv_nsec += (ms % 1000) * 1000000;
    if (until->tv_nsec >= 1000000000) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000;
    }
}

int64_t
agent_backoff_next (int64_t *current, int64_t base, int64_t max)
{
    if (*current <= 0)
        *current = base;
    else if (*current < max)
        *current = *current * 2 > max ? max : *current * 2;
    return *current + agent_random (*current / 2);
}
