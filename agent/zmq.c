#include "agent/zmq.h"

#include <czmq.h>
#include <pthread.h>

#include "runtime/clock.h"
#include "runtime/log.h"

#define S_FRAME_MAX (256 * 1024)  //  longest frame accepted from the gateway
#define S_PING_MS   10000         //  ping period (scaled)
#define S_MISSED    3             //  missed pings before reconnecting

typedef enum { S_POST, S_RESULT } s_kind_t;

typedef struct s_request {
    s_kind_t kind;           //  what answers it: REPLY or RESULT-OK
    char *frame;             //  the frame to send
    int status;              //  answer status (-1 none)
    char *body;              //  answer body (REPLY) or NULL
    bool done;               //  answered or failed
    bool abandoned;          //  the caller gave up: the link frees it
    struct s_request *next;  //  next in its list
} s_request_t;

struct agent_zmq {
    const agent_settings_t *settings;  //  endpoint, keys, timings
    agent_stop_t *stop;                //  ends abortable calls, RESULT retries
    agent_zmq_assign_fn *assign;       //  runs an ASSIGN
    agent_zmq_reset_fn *reset;         //  runs a RESET
    void *arg;                         //  their first argument
    pthread_mutex_t lock;              //  guards everything below
    pthread_cond_t answered;           //  broadcast when a request is done
    s_request_t *outbox;               //  not yet sent
    s_request_t *posts;                //  POSTs sent, answered in order
    s_request_t *results;              //  RESULTs sent, answered in order
    bool connected;         //  HELLO-OK received on the current socket
    bool working;           //  an assignment worker runs
    bool worker_joinable;   //  the worker finished and must be joined
    bool want_wait;         //  send WAIT at the next chance
    char *assign_pin;       //  handed to the worker
    char *assign_command;   //  handed to the worker
    char *reset_id;         //  or a reset, handed to the worker
    pthread_t worker;       //  the assignment worker
    agent_thread_t thread;  //  the link thread
    bool closing;           //  set by destroy: the thread leaves
    unsigned monitors;      //  monitor endpoints made (unique names)
};

static void
s_request_finish (s_request_t *request, int status, const char *body)
{
    request->status = status;
    request->body = body ? strdup (body) : NULL;
    request->done = true;
}

static void
s_request_free (s_request_t *request)
{
    free (request->frame);
    free (request->body);
    free (request);
}

//  Append to a list (lock held).
static void
s_append (s_request_t **list, s_request_t *request)
{
    request->next = NULL;
    while (*list)
        list = &(*list)->next;
    *list = request;
}

//  Complete the first request of a list (lock held).
static void
s_complete_first (agent_zmq_t *self,
                  s_request_t **list,
                  int status,
                  const char *body)
{
    s_request_t *request = *list;
    if (!request)
        return;
    *list = request->next;
    if (request->abandoned)
        s_request_free (request);
    else
        s_request_finish (request, status, body);
    pthread_cond_broadcast (&self->answered);
}

//  Fail every request waiting on the old socket (lock held).
static void
s_fail_all (agent_zmq_t *self)
{
    while (self->posts)
        s_complete_first (self, &self->posts, -1, NULL);
    while (self->results)
        s_complete_first (self, &self->results, -1, NULL);
    while (self->outbox)
        s_complete_first (self, &self->outbox, -1, NULL);
}

agent_zmq_t *
agent_zmq_new (const agent_settings_t *settings,
               agent_stop_t *stop,
               agent_zmq_assign_fn *assign,
               agent_zmq_reset_fn *reset,
               void *arg)
{
    agent_zmq_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->settings = settings;
    self->stop = stop;
    self->assign = assign;
    self->reset = reset;
    self->arg = arg;
    pthread_mutex_init (&self->lock, NULL);
    agent_cond_init (&self->answered);
    return self;
}

//  Queue a request and wait for its answer. Returns status or -1.
static int
s_call (agent_zmq_t *self,
        s_kind_t kind,
        char *frame,
        int timeout_ms,
        bool abortable,
        char **body)
{
    s_request_t *request = calloc (1, sizeof *request);
    if (!request) {
        free (frame);
        return -1;
    }
    request->kind = kind;
    request->frame = frame;
    request->status = -1;
    pthread_mutex_lock (&self->lock);
    if (!self->connected) {
        pthread_mutex_unlock (&self->lock);
        s_request_free (request);
        return -1;
    }
    s_append (&self->outbox, request);
    int64_t deadline = ll_now_ms () + timeout_ms;
    while (!request->done) {
        if (ll_now_ms () >= deadline
            || (abortable && agent_stop_requested (self->stop)))
            break;
        struct timespec until;
        agent_deadline (&until, 100);
        pthread_cond_timedwait (&self->answered, &self->lock, &until);
    }
    int status = -1;
    if (request->done) {
        status = request->status;
        if (body) {
            *body = request->body;
            request->body = NULL;
        }
        s_request_free (request);
    }
    else
        request->abandoned = true;  //  the link frees it when answered
    pthread_mutex_unlock (&self->lock);
    return status;
}

int
agent_zmq_post (void *link,
                const char *path,
                const char *body,
                int timeout_ms,
                bool abortable,
                agent_reply_t *reply)
{
    agent_zmq_t *self = link;
    agent_reply_init (reply);
    char *frame = zsys_sprintf ("POST %s %s", path, body);
    char *answer = NULL;
    int status =
        frame ? s_call (self, S_POST, frame, timeout_ms, abortable, &answer)
              : -1;
    reply->status = status;
    reply->body = answer ? answer : calloc (1, 1);
    reply->size = reply->body ? strlen (reply->body) : 0;
    if (status < 0)
        snprintf (reply->error, sizeof reply->error, "gateway unavailable");
    return status;
}

//  The worker: an assignment runs start-host, then RESULT until RESULT-OK
//  (which asks for WAIT); a reset (RESET <id>) is done and reported (a POST
//  through the gateway), then WAIT again.
static void
s_result (agent_zmq_t *self)
{
    const agent_settings_t *settings = self->settings;
    char error[256];
    int rc = self->assign (self->arg, self->assign_command, self->assign_pin,
                           error, sizeof error);
    int64_t backoff = 0;
    while (!agent_stop_requested (self->stop)) {
        char *frame = zsys_sprintf ("RESULT %s %d %s", settings->vm_name,
                                    rc == 0 ? 1 : 0, rc == 0 ? "" : error);
        if (frame
            && s_call (self, S_RESULT, frame,
                       settings->request_timeout_s * 1000, true, NULL)
                   == 0)
            break;
        agent_stop_sleep (self->stop,
                          agent_settings_backoff (settings, &backoff));
    }
}

static void *
s_worker (void *arg)
{
    agent_zmq_t *self = arg;
    bool reset = self->reset_id != NULL;
    if (reset)
        self->reset (self->arg, self->reset_id);
    else
        s_result (self);
    pthread_mutex_lock (&self->lock);
    if (self->assign_pin)
        memset (self->assign_pin, 0, strlen (self->assign_pin));
    zstr_free (&self->assign_pin);
    zstr_free (&self->assign_command);
    zstr_free (&self->reset_id);
    if (reset)
        self->want_wait = true;
    self->working = false;
    self->worker_joinable = true;
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  Start the worker on what was handed to it (lock held; ready: it was
//  copied), else drop that.
static void
s_start_worker (agent_zmq_t *self, bool ready)
{
    if (ready && pthread_create (&self->worker, NULL, s_worker, self) == 0)
        self->working = true;
    else {
        zstr_free (&self->assign_pin);
        zstr_free (&self->assign_command);
        zstr_free (&self->reset_id);
    }
}

static void
s_disconnect (zsock_t **sock_p, zsock_t **monitor_p)
{
    if (*sock_p)
        zmq_socket_monitor (zsock_resolve (*sock_p), NULL, 0);
    zsock_destroy (monitor_p);
    zsock_destroy (sock_p);
}

//  A fresh DEALER to the gateway, watched by a monitor (a PAIR socket in
//  *monitor_p) that tells when the TCP link comes up or drops: HELLO is
//  said on every (re)connection, since a restarted gateway knows no one.
static zsock_t *
s_connect (agent_zmq_t *self, zcert_t *cert, zsock_t **monitor_p)
{
    const agent_settings_t *settings = self->settings;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 10000);
    zsock_set_maxmsgsize (sock, S_FRAME_MAX);
    zcert_apply (cert, sock);
    zsock_set_curve_serverkey (sock, settings->zmq_server_key);
    char endpoint[80];
    snprintf (endpoint, sizeof endpoint, "inproc://lablink-agent-monitor-%u",
              ++self->monitors);
    zsock_t *monitor = NULL;
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED)
        == 0) {
        monitor = zsock_new (ZMQ_PAIR);
        if (monitor && zsock_connect (monitor, "%s", endpoint) != 0)
            zsock_destroy (&monitor);
    }
    if (!monitor || zsock_connect (sock, "%s", settings->zmq_endpoint) != 0) {
        ll_warn ("agent: zmq: cannot connect to %s", settings->zmq_endpoint);
        s_disconnect (&sock, &monitor);
        return NULL;
    }
    *monitor_p = monitor;
    return sock;
}

static void
s_hello (agent_zmq_t *self, zsock_t *sock)
{
    const agent_settings_t *settings = self->settings;
    char *hello =
        zsys_sprintf ("HELLO %s %s", settings->vm_name, settings->token);
    if (hello)
        zstr_send (sock, hello);
    zstr_free (&hello);
}

//  One monitor event: 1 connected, 0 disconnected, -1 other.
static int
s_monitor_event (zsock_t *monitor)
{
    zmsg_t *msg = zmsg_recv (monitor);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    int result = -1;
    if (frame && zframe_size (frame) >= 2) {
        uint16_t event;
        memcpy (&event, zframe_data (frame), sizeof event);
        if (event == ZMQ_EVENT_CONNECTED)
            result = 1;
        else if (event == ZMQ_EVENT_DISCONNECTED)
            result = 0;
    }
    zmsg_destroy (&msg);
    return result;
}

//  Handle one frame from the gateway (lock not held).
static void
s_on_frame (agent_zmq_t *self, zsock_t *sock, const char *frame)
{
    pthread_mutex_lock (&self->lock);
    if (strcmp (frame, "HELLO-OK") == 0) {
        if (!self->connected)
            ll_info ("agent: zmq: connected to the gateway");
        self->connected = true;
        self->want_wait = true;
    }
    else if (strncmp (frame, "ERROR", 5) == 0)
        ll_warn ("agent: zmq: gateway said %.200s", frame);
    else if (strcmp (frame, "PING") == 0)
        zstr_send (sock, "PONG");
    else if (strcmp (frame, "RESULT-OK") == 0) {
        s_complete_first (self, &self->results, 0, NULL);
        self->want_wait = true;
    }
    else if (strncmp (frame, "REPLY ", 6) == 0) {
        char *end;
        long status = strtol (frame + 6, &end, 10);
        if (end == frame + 6 || status < 100 || status > 599)
            status = -1;
        const char *body = *end == ' ' ? end + 1 : "";
        s_complete_first (self, &self->posts, (int) status, body);
    }
    else if (strncmp (frame, "ASSIGN ", 7) == 0) {
        const char *pin = frame + 7;
        const char *space = strchr (pin, ' ');
        if (!space)
            ll_warn ("agent: zmq: malformed ASSIGN ignored");
        else if (self->working || self->worker_joinable)
            ;  //  the one running reports first; WAIT follows its RESULT
        else {
            self->assign_pin = strndup (pin, (size_t) (space - pin));
            self->assign_command = strdup (space + 1);
            s_start_worker (self, self->assign_pin && self->assign_command);
        }
    }
    else if (strncmp (frame, "RESET ", 6) == 0) {
        const char *id = frame + 6;
        if (strlen (id) != 32 || strspn (id, "0123456789abcdef") != 32)
            ll_warn ("agent: zmq: malformed RESET ignored");
        else if (self->working || self->worker_joinable)
            ;  //  asked again by the next WAIT
        else {
            self->reset_id = strdup (id);
            s_start_worker (self, self->reset_id != NULL);
        }
    }
    else if (strcmp (frame, "PONG") != 0)
        ll_warn ("agent: zmq: unexpected frame ignored");
    pthread_mutex_unlock (&self->lock);
}

static bool
s_closing (agent_zmq_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool closing = self->closing;
    pthread_mutex_unlock (&self->lock);
    return closing;
}

//  The link is gone: whatever was in flight went into the void.
static void
s_drop (agent_zmq_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->connected = false;
    s_fail_all (self);
    pthread_mutex_unlock (&self->lock);
}

//  Send what the other threads queued, and WAIT when due; join a finished
//  worker.
static void
s_send_queued (agent_zmq_t *self, zsock_t *sock)
{
    pthread_mutex_lock (&self->lock);
    if (self->worker_joinable) {
        pthread_join (self->worker, NULL);
        self->worker_joinable = false;
    }
    if (self->connected) {
        while (self->outbox) {
            s_request_t *request = self->outbox;
            self->outbox = request->next;
            zstr_send (sock, request->frame);
            s_append (request->kind == S_POST ? &self->posts : &self->results,
                      request);
        }
        if (self->want_wait && !self->working) {
            zstr_send (sock, "WAIT");
            self->want_wait = false;
        }
    }
    pthread_mutex_unlock (&self->lock);
}

static void *
s_thread (void *arg)
{
    agent_zmq_t *self = arg;
    const agent_settings_t *settings = self->settings;
    int64_t ping_ms = (int64_t) (S_PING_MS * settings->scale);
    if (ping_ms < 50)
        ping_ms = 50;
    zcert_t *cert = zcert_new ();
    zsock_t *sock = NULL, *monitor = NULL;
    int64_t backoff = 0, next_ping = 0, next_try = 0;
    int missed = 0;
    //  The link outlives the agent's stop so the final log flush can use
    //  it; destroy ends it
    while (cert && !s_closing (self)) {
        int64_t now = ll_now_ms ();
        if (!sock) {
            if (now < next_try) {
                int64_t wait = next_try - now;
                usleep ((useconds_t) (wait < 20 ? wait : 20) * 1000);
                continue;
            }
            sock = s_connect (self, cert, &monitor);
            missed = 0;
            next_ping = now + ping_ms;
            if (!sock) {
                next_try = now + agent_settings_backoff (settings, &backoff);
                continue;
            }
        }
        s_send_queued (self, sock);
        zmq_pollitem_t items[] = {{zsock_resolve (sock), 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve (monitor), 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, 2, 20) <= 0)
            items[0].revents = items[1].revents = 0;
        if (items[1].revents & ZMQ_POLLIN) {
            int event = s_monitor_event (monitor);
            if (event >= 0)
                s_drop (self);
            if (event == 1) {
                s_hello (self, sock);
                missed = 0;
                next_ping = ll_now_ms () + ping_ms;
            }
            continue;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char *frame = zstr_recv (sock);
            //  Anything heard proves the link alive
            missed = 0;
            next_ping = ll_now_ms () + ping_ms;
            if (frame) {
                bool refused = strncmp (frame, "ERROR", 5) == 0;
                s_on_frame (self, sock, frame);
                zstr_free (&frame);
                pthread_mutex_lock (&self->lock);
                if (self->connected)
                    backoff = 0;
                pthread_mutex_unlock (&self->lock);
                if (refused) {
                    //  Refused HELLO, or a gateway that lost our session
                    //  (restarted): start over on a fresh socket
                    s_drop (self);
                    s_disconnect (&sock, &monitor);
                    next_try = ll_now_ms ()
                               + agent_settings_backoff (settings, &backoff);
                }
            }
            continue;
        }
        if (ll_now_ms () >= next_ping) {
            if (missed >= S_MISSED) {
                ll_warn ("agent: zmq: gateway silent, reconnecting");
                s_drop (self);
                s_disconnect (&sock, &monitor);
                next_try =
                    ll_now_ms () + agent_settings_backoff (settings, &backoff);
                continue;
            }
            zstr_send (sock, "PING");
            missed++;
            next_ping = ll_now_ms () + ping_ms;
        }
    }
    s_drop (self);
    s_disconnect (&sock, &monitor);
    zcert_destroy (&cert);
    return NULL;
}

int
agent_zmq_start (agent_zmq_t *self)
{
    return agent_thread_start (&self->thread, s_thread, self);
}

void
agent_zmq_destroy (agent_zmq_t **self_p)
{
    agent_zmq_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->closing = true;
    pthread_mutex_unlock (&self->lock);
    agent_thread_join (&self->thread);
    pthread_mutex_lock (&self->lock);
    bool join = self->working || self->worker_joinable;
    pthread_mutex_unlock (&self->lock);
    if (join)
        pthread_join (self->worker, NULL);
    s_fail_all (self);
    pthread_cond_destroy (&self->answered);
    pthread_mutex_destroy (&self->lock);
    free (self->assign_pin);
    free (self->assign_command);
    free (self->reset_id);
    free (self);
    *self_p = NULL;
}
