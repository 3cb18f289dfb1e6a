#define _GNU_SOURCE  //  pthread_setname_np
#include "runtime/actor.h"
#include "runtime/log.h"

#include <errno.h>
#include <pthread.h>

//  The actors whose first connection to PostgreSQL has not ended yet, for
//  health; one per allocator (ll_runtime_t), shared by its actors' threads.
#define S_CONNECTING_MAX 16
struct ll_first_connects {
    pthread_mutex_t lock;
    const ll_actor_t *connecting[S_CONNECTING_MAX];
    int count;      //  in connecting
    int connected;  //  of the first connections ended since
    int tried;      //  the list was last empty: made, tried
};

ll_first_connects_t *
ll_first_connects_new (void)
{
    ll_first_connects_t *self = calloc (1, sizeof *self);
    if (self)
        pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
ll_first_connects_destroy (ll_first_connects_t **self_p)
{
    ll_first_connects_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static void
s_connecting_add (ll_actor_t *self)
{
    ll_first_connects_t *list = self->runtime->first_connects;
    pthread_mutex_lock (&list->lock);
    self->connecting = true;  //  (listed while there is room)
    if (list->count < S_CONNECTING_MAX)
        list->connecting[list->count++] = self;
    pthread_mutex_unlock (&list->lock);
}

//  self's first connection ended (or never will): off the list. The last
//  one says when the database was ready for every actor.
static void
s_connecting_end (ll_actor_t *self, bool tried)
{
    if (!self->connecting)
        return;  //  never listed (no first_connects), or already off
    ll_first_connects_t *list = self->runtime->first_connects;
    pthread_mutex_lock (&list->lock);
    for (int i = 0; i < list->count; i++)
        if (list->connecting[i] == self) {
            list->connecting[i] = list->connecting[--list->count];
            list->tried += tried;
            list->connected += tried && ll_db_connected (self->db);
            if (list->count == 0 && list->tried)
                ll_info ("allocator: every actor's first connection to "
                         "postgresql ended %lld ms after start: %d of %d "
                         "connected",
                         (long long) (ll_now_ms () - self->runtime->started_ms),
                         list->connected, list->tried);
            if (list->count == 0)
                list->connected = list->tried = 0;
            break;
        }
    self->connecting = false;
    pthread_mutex_unlock (&list->lock);
}

void
ll_actor_connecting (ll_first_connects_t *self, ll_actor_name_fn *fn, void *arg)
{
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    for (int i = 0; i < self->count; i++)
        fn (self->connecting[i]->name, arg);
    pthread_mutex_unlock (&self->lock);
}

//  After START's answer, in the actor's thread: the first connection (it
//  waits for main's migrations; a stop cuts it short). Requests wait in
//  the ROUTER meanwhile.
static void
s_connect_first (ll_actor_t *self)
{
    int64_t start_ms = ll_now_ms ();
    if (ll_db_connect (self->db) != 0)
        ll_warn ("%s: postgresql unavailable, will retry: %s", self->name,
                 ll_db_error (self->db));
    else
        ll_debug ("%s: connected to postgresql in %lld ms", self->name,
                  (long long) (ll_now_ms () - start_ms));
    s_connecting_end (self, true);
}

void
ll_actor_init (ll_actor_t *self,
               const char *name,
               zsock_t *pipe,
               ll_runtime_t *runtime)
{
    memset (self, 0, sizeof *self);
    self->name = name;
    self->pipe = pipe;
    self->runtime = runtime;
}

void
ll_actor_fini (ll_actor_t *self)
{
    s_connecting_end (self, false);
    zsock_destroy (&self->router);
    ll_db_destroy (&self->db);
}

const char *
ll_actor_open (ll_actor_t *self, const char *endpoint, bool database)
{
    if (endpoint) {
        self->router = zsock_new (ZMQ_ROUTER);
        if (!self->router || zsock_bind (self->router, "%s", endpoint) != 0) {
            zsock_destroy (&self->router);  //  a failed START polls nothing
            snprintf (self->error, sizeof self->error, "cannot bind %s",
                      endpoint);
            return self->error;
        }
    }
    if (database) {
        self->db =
            ll_db_new (self->runtime->config, self->runtime->stats, self->name);
        if (!self->db)
            return "embedded SQL is invalid";
        if (self->runtime->first_connects) {
            ll_db_hold (self->db);    //  no query in START: it connects
            s_connecting_add (self);  //  once START is answered
        }
        else if (ll_db_connect (self->db) != 0)
            ll_warn ("%s: postgresql unavailable, will retry: %s", self->name,
                     ll_db_error (self->db));
    }
    return NULL;
}

int
ll_actor_reader (ll_actor_t *self, zsock_t *sock, ll_work_fn *fn)
{
    if (self->reader_count == LL_ACTOR_READERS)
        return -1;
    self->readers[self->reader_count].sock = sock;
    self->readers[self->reader_count].fn = fn;
    self->reader_count++;
    return 0;
}

//  START of ll_actor_run: the common part, then the class's
typedef struct {
    ll_actor_t *actor;              //  the actor
    const ll_actor_class_t *class;  //  what differs
    void *arg;                      //  its self
} s_run_t;

static const char *
s_start (void *arg)
{
    s_run_t *run = arg;
    const char *error =
        ll_actor_open (run->actor, run->class->endpoint, run->class->database);
    if (!error && run->class->start)
        error = run->class->start (run->arg);
    return error;
}

static bool
s_pipe (void *arg, const char *command, zmsg_t *msg)
{
    s_run_t *run = arg;
    return run->class->pipe && run->class->pipe (run->arg, command, msg);
}

void
ll_actor_run (ll_actor_t *self, const ll_actor_class_t *class, void *arg)
{
    s_run_t run = {self, class, arg};
    zsock_signal (self->pipe, 0);
    int64_t next_tick = ll_now_ms () + class->tick_ms;
    while (!self->terminated) {
        zmq_pollitem_t items[3 + LL_ACTOR_READERS];
        int n = 0;
        items[n++] =
            (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
        int router = self->router ? n : -1;
        if (self->router)
            items[n++] = (zmq_pollitem_t){zsock_resolve (self->router), 0,
                                          ZMQ_POLLIN, 0};
        //  START may add readers below: only the ones polled are looked at
        //  (the others' items were never filled in)
        int first_reader = n, readers = self->reader_count;
        for (int i = 0; i < readers; i++)
            items[n++] = (zmq_pollitem_t){zsock_resolve (self->readers[i].sock),
                                          0, ZMQ_POLLIN, 0};
        int fd = self->started && class->fd ? class->fd (arg) : -1;
        int fd_index = fd >= 0 ? n : -1;
        if (fd >= 0)
            items[n++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
        int64_t left = next_tick - ll_now_ms ();
        long timeout = class->tick_ms <= 0 ? -1 : left > 0 ? (long) left : 0;
        int rc = zmq_poll (items, n, timeout);
        if (rc < 0 && errno != EINTR)
            break;  //  the context is terminating
        bool was_started = self->started;
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            ll_actor_handle_pipe (self, s_start, s_pipe, &run);
        if (self->terminated)
            break;
        if (!was_started && self->started && self->runtime->first_connects
            && self->db)
            next_tick = ll_now_ms ();  //  its work waited for the connection
        if (rc > 0 && router >= 0 && (items[router].revents & ZMQ_POLLIN)) {
            if (class->drain)
                class->drain (arg);
            else
                ll_actor_serve (self, class->handlers, arg, false);
        }
        for (int i = 0; rc > 0 && i < readers; i++)
            if (items[first_reader + i].revents & ZMQ_POLLIN)
                self->readers[i].fn (arg);
        if (rc > 0 && fd_index >= 0 && (items[fd_index].revents & ZMQ_POLLIN))
            class->fd_ready (arg);
        if (class->tick_ms > 0 && ll_now_ms () >= next_tick) {
            //  Idle or busy, the tick comes: the database reconnects with
            //  its backoff, the class does its periodic work
            if (self->started && self->db)
                ll_db_ensure (self->db);
            if (self->started && class->tick)
                class->tick (arg);
            next_tick = ll_now_ms () + class->tick_ms;
        }
    }
}

void
ll_actor_handle_pipe (ll_actor_t *self,
                      ll_start_fn *start,
                      ll_pipe_fn *other,
                      void *arg)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, LL_CMD_TERM))
        self->terminated = true;
    else if (command && streq (command, LL_CMD_START)) {
        const char *error = self->started ? "already started"
                            : start       ? start (arg)
                                          : NULL;
        if (!error && !self->started)
            self->started = true;
        ll_actor_started (self->pipe, error);
        if (self->connecting && !error)
            s_connect_first (self);
        else if (self->connecting)
            s_connecting_end (self, false);
    }
    else if (command && streq (command, LL_CMD_VERBOSE)) {
        self->verbose = true;
        ll_info ("%s: verbose: every request is logged", self->name);
    }
    else if (command && streq (command, LL_CMD_STOPPING)) {
        if (other)  //  an actor with parked work ends it; no answer
            other (arg, command, msg);
    }
    else if (!command || !other || !other (arg, command, msg)) {
        ll_warn ("%s: unknown pipe command %.40s refused", self->name,
                 command ? command : "(empty)");
        zstr_sendx (self->pipe, "ERROR", LL_REASON_UNKNOWN, NULL);
    }
    free (command);
    zmsg_destroy (&msg);
}

void
ll_actor_dispatch (ll_actor_t *self,
                   const ll_handler_t *handlers,
                   void *arg,
                   ll_request_t *req)
{
    req->actor = self->name;
    if (self->verbose)
        ll_info ("%s: %.40s %.24s", self->name, req->command, req->request_id);
    const ll_handler_t *handler = handlers;
    while (handler->command && !streq (handler->command, req->command))
        handler++;
    bool kept = false;
    req->kept = &kept;
    if (handler->fn)
        handler->fn (arg, req);
    else {
        ll_warn ("%s: unknown command %.40s refused", self->name, req->command);
        ll_request_fail (req, LL_REASON_UNKNOWN);
    }
    if (kept)
        return;  //  its keeper answers (and may have freed it already)
    req->kept = NULL;
    if (!req->answered) {
        ll_warn ("%s: %s was not answered", self->name, req->command);
        ll_request_fail (req, LL_REASON_UNANSWERED);
    }
    ll_request_destroy (&req);
}

bool
ll_actor_serve (ll_actor_t *self,
                const ll_handler_t *handlers,
                void *arg,
                bool nowait)
{
    ll_request_t *req = nowait ? ll_request_recv_nowait (self->router)
                               : ll_request_recv (self->router);
    if (!req)
        return false;
    ll_actor_dispatch (self, handlers, arg, req);
    return true;
}

void
ll_actor_main (zsock_t *pipe, void *args, const ll_actor_kind_t *kind)
{
    //  The thread says which actor it is (top -H, perf, gdb): "ll-gateway"
    char thread_name[16];
    snprintf (thread_name, sizeof thread_name, "ll-%s", kind->name);
    pthread_setname_np (pthread_self (), thread_name);
    ll_actor_t *self = calloc (1, kind->size);
    ll_actor_init (self, kind->name, pipe, args);
    if (kind->init)
        kind->init (self);
    if (kind->loop)
        kind->loop (self);
    else
        ll_actor_run (self, &kind->class, self);
    if (kind->fini)
        kind->fini (self);
    ll_actor_fini (self);
    free (self);
}

const char *
ll_actor_db_reason (ll_actor_t *self)
{
    const char *error = ll_db_error (self->db);
    return *error ? error : LL_REASON_DATABASE;
}

void
ll_actor_answer_value (ll_actor_t *self, ll_request_t *req, PGresult *res)
{
    if (res && PQntuples (res) == 1)
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    else
        ll_request_fail (req, ll_actor_db_reason (self));
    PQclear (res);
}

const char *
ll_actor_stale (ll_actor_t *self, char stale[16])
{
    snprintf (stale, 16, "%d", self->runtime->config->agent.stale_after_s);
    return stale;
}

int
ll_actor_poll (ll_actor_t *self,
               zmq_pollitem_t *extra,
               int count,
               long timeout_ms,
               ll_start_fn *start,
               const ll_handler_t *handlers,
               void *arg)
{
    zmq_pollitem_t items[2 + LL_ACTOR_POLL_MAX];
    int n = 0;
    items[n++] = (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
    int router = self->router ? n : -1;
    if (self->router)
        items[n++] =
            (zmq_pollitem_t){zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
    if (count > LL_ACTOR_POLL_MAX)
        count = LL_ACTOR_POLL_MAX;
    memcpy (items + n, extra, (size_t) count * sizeof *extra);
    int rc = zmq_poll (items, n + count, timeout_ms);
    for (int i = 0; i < count; i++)
        extra[i].revents = rc > 0 ? items[n + i].revents : 0;
    if (rc < 0 && errno != EINTR)
        self->terminated = true;  //  the context is terminating
    if (rc <= 0)
        return rc;
    if (items[0].revents & ZMQ_POLLIN)
        ll_actor_handle_pipe (self, start, NULL, arg);
    if (!self->terminated && router >= 0
        && (items[router].revents & ZMQ_POLLIN))
        ll_actor_serve (self, handlers, arg, false);
    return rc;
}

const char *
ll_actor_event (zsock_t *sub, char **host, char **gen)
{
    *host = *gen = NULL;
    zmsg_t *msg = zmsg_recv (sub);
    char *event = msg ? zmsg_popstr (msg) : NULL;
    const char *which = NULL;
    if (event && streq (event, LL_EVT_RESYNC))
        which = LL_EVT_RESYNC;
    else if (event && streq (event, LL_EVT_VM_REVOKED)
             && ll_proto_decode (event, msg, host, gen) == 0)
        which = LL_EVT_VM_REVOKED;
    free (event);
    zmsg_destroy (&msg);
    return which;
}

bool
ll_actor_rows (ll_actor_t *self,
               ll_request_t *req,
               PGresult *res,
               const char *failed,
               const char *missing)
{
    if (!res)
        ll_request_fail (req, failed ? failed : ll_actor_db_reason (self));
    else if (PQntuples (res) == 0)
        ll_request_fail (req, missing);
    return res && PQntuples (res) > 0;
}
