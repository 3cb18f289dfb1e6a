#include "runtime/msg.h"
#include "runtime/protocol.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>

//  Request ids only need to be unique per socket; a process-wide counter
//  is the simplest source.
static atomic_uint_fast64_t s_next_request_id = 1;

//  A request from a received message (taken), or NULL when it is malformed
//  (destroyed).
static ll_request_t *
s_request_from (zmsg_t *msg, zsock_t *router)
{
    if (zmsg_size (msg) < 3) {
        zmsg_destroy (&msg);
        return NULL;
    }
    ll_request_t *self = calloc (1, sizeof *self);
    self->routing = zmsg_pop (msg);
    self->command = zmsg_popstr (msg);
    self->request_id = zmsg_popstr (msg);
    self->args = msg;
    self->router = router;
    return self;
}

ll_request_t *
ll_request_recv (zsock_t *router)
{
    zmsg_t *msg = zmsg_recv (router);
    return msg ? s_request_from (msg, router) : NULL;
}

ll_request_t *
ll_request_recv_nowait (zsock_t *router)
{
    int timeout = zsock_rcvtimeo (router);
    zsock_set_rcvtimeo (router, 0);
    ll_request_t *self = NULL;
    zmsg_t *msg;
    while (!self && (msg = zmsg_recv (router)))
        self = s_request_from (msg, router);
    zsock_set_rcvtimeo (router, timeout);
    return self;
}

static int
s_reply (ll_request_t *self,
         zsock_t *router,
         const char *status,
         zmsg_t **payload,
         const char *reason)
{
    zmsg_t *msg = payload && *payload ? *payload : zmsg_new ();
    if (payload)
        *payload = NULL;
    if (reason)
        zmsg_pushstr (msg, reason);
    zmsg_pushstr (msg, status);
    zmsg_pushstr (msg, self->request_id);
    zmsg_pushstr (msg, self->command);
    zmsg_prepend (msg, &(zframe_t *){zframe_dup (self->routing)});
    int rc = zmsg_send (&msg, router);
    zmsg_destroy (&msg);
    self->answered = true;
    return rc;
}

int
ll_request_reply_ok (ll_request_t *self, zsock_t *router, zmsg_t **payload)
{
    return s_reply (self, router, "OK", payload, NULL);
}

int
ll_request_reply_error (ll_request_t *self, zsock_t *router, const char *reason)
{
    return s_reply (self, router, "ERROR", NULL, reason ? reason : "failed");
}

void
ll_request_destroy (ll_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_request_t *self = *self_p;
    zframe_destroy (&self->routing);
    free (self->command);
    free (self->request_id);
    zmsg_destroy (&self->args);
    free (self);
    *self_p = NULL;
}

ll_request_t *
ll_request_keep (ll_request_t *self)
{
    if (self->kept)
        *self->kept = true;
    self->kept = NULL;
    return self;
}

int
ll_call (zsock_t *dealer,
         const char *command,
         zmsg_t **args,
         int timeout_ms,
         zmsg_t **reply,
         char **error)
{
    return ll_call_watch (dealer, command, args, timeout_ms, -1, NULL, 0, reply,
                          error);
}

//  True when the peer of a connected stream socket has gone (orderly
//  close or error); data waiting to be read does not count.
static bool
s_peer_gone (int fd, bool *stop_watching)
{
    char byte;
    ssize_t n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true;
    if (n < 0)
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    *stop_watching = true;  //  the client sent more: keep it for later
    return false;
}

//  Take an answer to (command, id): true when it is ours, with reply (OK)
//  or error set; false for a late answer to an earlier, timed-out call.
//  Takes answer either way.
static bool
s_take_answer (zmsg_t *answer,
               const char *command,
               const char *id,
               zmsg_t **reply,
               char **error)
{
    char *cmd = zmsg_popstr (answer);
    char *rid = zmsg_popstr (answer);
    bool mine =
        cmd && rid && strcmp (cmd, command) == 0 && strcmp (rid, id) == 0;
    free (cmd);
    free (rid);
    if (!mine) {
        zmsg_destroy (&answer);
        return false;
    }
    char *status = zmsg_popstr (answer);
    if (status && strcmp (status, "OK") == 0)
        *reply = answer;
    else {
        char *reason = zmsg_popstr (answer);
        *error = reason ? reason : strdup (LL_REASON_BAD_REPLY);
        zmsg_destroy (&answer);
    }
    free (status);
    return true;
}

int
ll_call_watch (zsock_t *dealer,
               const char *command,
               zmsg_t **args,
               int timeout_ms,
               int watch_fd,
               char *id_out,
               size_t id_size,
               zmsg_t **reply,
               char **error)
{
    *reply = NULL;
    *error = NULL;
    char id[24];
    snprintf (id, sizeof id, "%llu",
              (unsigned long long) atomic_fetch_add (&s_next_request_id, 1));
    if (id_out && id_size)
        snprintf (id_out, id_size, "%s", id);
    zmsg_t *msg = args && *args ? *args : zmsg_new ();
    if (args)
        *args = NULL;
    zmsg_pushstr (msg, id);
    zmsg_pushstr (msg, command);
    if (zmsg_send (&msg, dealer) != 0) {
        zmsg_destroy (&msg);
        *error = strdup ("send failed");
        return -1;
    }
    int64_t deadline = ll_now_ms () + timeout_ms;
    zmq_pollitem_t items[2] = {
        {zsock_resolve (dealer), 0, ZMQ_POLLIN, 0},
        {NULL, watch_fd, ZMQ_POLLIN, 0},
    };
    while (true) {
        int64_t left = deadline - ll_now_ms ();
        if (left <= 0) {
            *error = strdup (LL_REASON_TIMEOUT);
            break;
        }
        if (items[1].fd < 0) {
            //  Nothing else to watch: one blocking receive. zmq_poll costs
            //  two poll() calls and two event checks more, and system calls
            //  are most of what a heartbeat costs (docs/performance.md)
            int timeout = zsock_rcvtimeo (dealer);
            zsock_set_rcvtimeo (dealer, (int) left);
            errno = 0;
            zmsg_t *answer = zmsg_recv (dealer);
            int recv_errno = errno;
            zsock_set_rcvtimeo (dealer, timeout);
            errno = recv_errno;
            if (!answer && (errno == EAGAIN || errno == EINTR))
                continue;  //  the deadline check above ends the loop
            if (!answer) {
                *error = strdup ("interrupted");
                break;
            }
            if (s_take_answer (answer, command, id, reply, error))
                return *reply ? 0 : -1;
            continue;
        }
        int rc = zmq_poll (items, 2, (long) left);  //  watching the fd too
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            *error = strdup ("interrupted");
            break;
        }
        if (rc == 0)
            continue;  //  the deadline check above ends the loop
        if (items[1].fd >= 0
            && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))) {
            bool stop = false;
            if (s_peer_gone (items[1].fd, &stop)) {
                *error = strdup (LL_REASON_HANGUP);
                break;
            }
            if (stop)
                items[1].fd = -1;
        }
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmsg_t *answer = zmsg_recv (dealer);
        if (!answer) {
            *error = strdup ("interrupted");
            break;
        }
        if (s_take_answer (answer, command, id, reply, error))
            return *reply ? 0 : -1;
    }
    return -1;
}

int
ll_actor_start (zactor_t *actor, int timeout_ms, char **error)
{
    zstr_send (actor, LL_CMD_START);
    return ll_actor_start_wait (actor, timeout_ms, error);
}

int
ll_actor_start_wait (zactor_t *actor, int timeout_ms, char **error)
{
    *error = NULL;
    zsock_t *pipe = zactor_sock (actor);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int rc = -1;
    if (zpoller_wait (poller, timeout_ms)) {
        zmsg_t *msg = zmsg_recv (pipe);
        char *status = msg ? zmsg_popstr (msg) : NULL;
        if (status && strcmp (status, "OK") == 0)
            rc = 0;
        else {
            char *reason = msg ? zmsg_popstr (msg) : NULL;
            *error = reason ? reason : strdup ("no reason given");
        }
        free (status);
        zmsg_destroy (&msg);
    }
    else
        *error = strdup ("no answer to START");
    zpoller_destroy (&poller);
    return rc;
}

void
ll_actor_started (zsock_t *pipe, const char *error_or_null)
{
    if (error_or_null)
        zstr_sendx (pipe, "ERROR", error_or_null, NULL);
    else
        zstr_send (pipe, "OK");
}
