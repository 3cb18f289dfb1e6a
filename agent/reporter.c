#include "agent/reporter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/clock.h"
#include "runtime/log.h"

typedef struct {
    char key[32];        //  report kind ("" = free slot)
    char *path;          //  allocator path
    char *body;          //  newest JSON body not yet accepted, or NULL
    unsigned long gen;   //  bumped on every set
    int64_t due_ms;      //  next attempt (monotonic)
    int64_t backoff_ms;  //  current retry delay
    int failures;        //  consecutive failures (for logging)
} s_slot_t;

struct agent_reporter {
    agent_transport_t *transport;          //  settings, stop, posting
    pthread_mutex_t lock;                  //  guards slots
    pthread_cond_t wake;                   //  signalled on set
    s_slot_t slots[AGENT_REPORTER_SLOTS];  //  one per report kind
    agent_thread_t thread;                 //  the delivery thread
};

agent_reporter_t *
agent_reporter_new (agent_transport_t *transport)
{
    agent_reporter_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->transport = transport;
    pthread_mutex_init (&self->lock, NULL);
    agent_cond_init (&self->wake);
    return self;
}

int
agent_reporter_set (agent_reporter_t *self,
                    const char *key,
                    const char *path,
                    const char *body)
{
    pthread_mutex_lock (&self->lock);
    s_slot_t *slot = NULL;
    for (int i = 0; i < AGENT_REPORTER_SLOTS && !slot; i++)
        if (strcmp (self->slots[i].key, key) == 0)
            slot = &self->slots[i];
    for (int i = 0; i < AGENT_REPORTER_SLOTS && !slot; i++)
        if (!self->slots[i].key[0]) {
            slot = &self->slots[i];
            snprintf (slot->key, sizeof slot->key, "%s", key);
        }
    int rc = -1;
    if (slot) {
        char *new_path = strdup (path);
        char *new_body = strdup (body);
        if (new_path && new_body) {
            free (slot->path);
            free (slot->body);
            slot->path = new_path;
            slot->body = new_body;
            slot->gen++;
            slot->due_ms = ll_now_ms ();  //  a new value goes out at once
            slot->backoff_ms = 0;
            rc = 0;
        }
        else {
            free (new_path);
            free (new_body);
        }
    }
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
agent_reporter_pending (agent_reporter_t *self)
{
    pthread_mutex_lock (&self->lock);
    int pending = 0;
    for (int i = 0; i < AGENT_REPORTER_SLOTS; i++)
        if (self->slots[i].body)
            pending++;
    pthread_mutex_unlock (&self->lock);
    return pending;
}

//  Deliver one due slot (lock held on entry and exit). Returns true when
//  one was attempted.
static bool
s_deliver_one (agent_reporter_t *self)
{
    int64_t now = ll_now_ms ();
    s_slot_t *slot = NULL;
    for (int i = 0; i < AGENT_REPORTER_SLOTS; i++)
        if (self->slots[i].body && self->slots[i].due_ms <= now
            && (!slot || self->slots[i].due_ms < slot->due_ms))
            slot = &self->slots[i];
    if (!slot)
        return false;
    char *path = strdup (slot->path);
    char *body = strdup (slot->body);
    unsigned long gen = slot->gen;
    pthread_mutex_unlock (&self->lock);

    agent_transport_t *transport = self->transport;
    const agent_settings_t *settings = transport->settings;
    agent_reply_t reply;
    int status = -1;
    if (path && body)
        status = agent_transport_post (transport, path, body,
                                       settings->request_timeout_s * 1000, true,
                                       &reply);
    else
        memset (&reply, 0, sizeof reply);

    pthread_mutex_lock (&self->lock);
    if (status >= 200 && status < 300) {
        if (slot->failures > 0)
            ll_info ("agent: %s delivered after %d failed attempts", path,
                     slot->failures);
        slot->failures = 0;
        slot->backoff_ms = 0;
        if (slot->gen == gen) {  //  not replaced meanwhile
            free (slot->body);
            slot->body = NULL;
        }
    }
    else if (!agent_stop_requested (transport->stop)) {
        if (slot->failures == 0 || slot->failures % 10 == 0)
            ll_warn ("agent: report %s failed: %s%d%s", path ? path : "?",
                     status < 0 ? "" : "HTTP ", status,
                     status < 0 ? " (transport error)" : "");
        slot->failures++;
        if (slot->gen == gen)
            slot->due_ms =
                ll_now_ms ()
                + agent_settings_backoff (settings, &slot->backoff_ms);
    }
    agent_reply_free (&reply);
    free (path);
    free (body);
    return true;
}

static void *
s_thread (void *arg)
{
    agent_reporter_t *self = arg;
    agent_stop_t *stop = self->transport->stop;
    pthread_mutex_lock (&self->lock);
    while (!agent_stop_requested (stop)) {
        if (s_deliver_one (self))
            continue;
        //  Sleep until the earliest due slot, a set, or 200 ms (stop check)
        int64_t wait = 200, now = ll_now_ms ();
        for (int i = 0; i < AGENT_REPORTER_SLOTS; i++)
            if (self->slots[i].body && self->slots[i].due_ms - now < wait)
                wait = self->slots[i].due_ms - now;
        if (wait <= 0)
            continue;
        struct timespec until;
        agent_deadline (&until, wait);
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

int
agent_reporter_start (agent_reporter_t *self)
{
    return agent_thread_start (&self->thread, s_thread, self);
}

void
agent_reporter_destroy (agent_reporter_t **self_p)
{
    agent_reporter_t *self = *self_p;
    if (!self)
        return;
    if (self->thread.started) {
        //  Out of its timed wait at once: it sees the stop
        pthread_mutex_lock (&self->lock);
        pthread_cond_broadcast (&self->wake);
        pthread_mutex_unlock (&self->lock);
    }
    agent_thread_join (&self->thread);
    for (int i = 0; i < AGENT_REPORTER_SLOTS; i++) {
        free (self->slots[i].path);
        free (self->slots[i].body);
    }
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
