/*  The codec of runtime/protocol.h: every exchange's pictures in one table,
    the functions that put values into frames and take them out (the typed
    form of each exchange is runtime/ask.h). */
#include "runtime/protocol.h"
#include "runtime/log.h"

#include <stdarg.h>

//  Every exchange of protocol.h's table
static const ll_exchange_t s_exchanges[] = {
#define S_ROW(command, endpoint, request, reply, timeout)                      \
    {command, endpoint, request, reply, timeout},
    LL_EXCHANGES (S_ROW)
#undef S_ROW
};

const ll_exchange_t *
ll_exchange (const char *command)
{
    for (size_t i = 0; command && i < sizeof s_exchanges / sizeof *s_exchanges;
         i++)
        if (streq (s_exchanges[i].command, command))
            return &s_exchanges[i];
    return NULL;
}

//  --- pictures ----------------------------------------------------------------

//  Add the values of args to msg per picture; -1 for a bad picture. Every
//  value is read from args (also those not sent), so what follows them
//  stays in place.
static int
s_put (zmsg_t *msg, const char *picture, va_list *args)
{
    bool optional = false, stop = false;
    for (const char *p = picture; *p; p++) {
        if (*p == '?')
            optional = true;
        else if (*p == 's') {
            const char *value = va_arg (*args, const char *);
            stop = stop || (optional && !value);
            if (!stop)
                zmsg_addstr (msg, value ? value : "");
        }
        else if (*p == 'b') {
            const void *data = va_arg (*args, const void *);
            size_t size = va_arg (*args, size_t);
            zmsg_addmem (msg, size ? data : NULL, size);
        }
        else if (*p == 'm') {
            zmsg_t **rest = va_arg (*args, zmsg_t **);
            zframe_t *frame;
            while (rest && *rest && (frame = zmsg_pop (*rest)))
                zmsg_append (msg, &frame);
            if (rest)
                zmsg_destroy (rest);
        }
        else
            return -1;
    }
    return 0;
}

//  True when the frames of msg fit picture (counts only: frames are bytes);
//  a row (prefix) may have more frames after its own.
static bool
s_fits (zmsg_t *msg, const char *picture, bool prefix)
{
    size_t needed = 0, most = 0;
    bool optional = false, rest = false;
    for (const char *p = picture; *p; p++) {
        if (*p == '?')
            optional = true;
        else if (*p == 'm')
            rest = true;
        else if (*p == 's' || *p == 'b') {
            most++;
            needed += optional ? 0 : 1;
        }
        else
            return false;
    }
    size_t frames = msg ? zmsg_size (msg) : 0;
    return frames >= needed && (rest || prefix || frames <= most);
}

//  Set every pointer of args to NULL (nothing was taken).
static void
s_clear (const char *picture, va_list *args)
{
    for (const char *p = picture; *p; p++)
        if (*p == 's' || *p == 'b' || *p == 'm') {
            void **out = va_arg (*args, void **);
            if (out)
                *out = NULL;
        }
}

//  Take the frames of msg into the pointers of args per picture: 0, or -1
//  (every pointer NULL) when they do not fit.
static int
s_take (zmsg_t *msg, const char *picture, bool prefix, va_list *args)
{
    if (!s_fits (msg, picture, prefix)) {
        s_clear (picture, args);
        return -1;
    }
    for (const char *p = picture; *p; p++) {
        if (*p == 's') {
            char **out = va_arg (*args, char **);
            char *value = zmsg_popstr (msg);
            if (out)
                *out = value;
            else
                free (value);
        }
        else if (*p == 'b') {
            zframe_t **out = va_arg (*args, zframe_t **);
            zframe_t *frame = zmsg_pop (msg);
            if (out)
                *out = frame;
            else
                zframe_destroy (&frame);
        }
        else if (*p == 'm') {
            zmsg_t **out = va_arg (*args, zmsg_t **);
            zmsg_t *rest = zmsg_new ();
            zframe_t *frame;
            while ((frame = zmsg_pop (msg)))
                zmsg_append (rest, &frame);
            if (out)
                *out = rest;
            else
                zmsg_destroy (&rest);
        }
    }
    return 0;
}

int
ll_msg_put (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_put (msg, picture, &args);
    va_end (args);
    return rc;
}

int
ll_msg_take (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_take (msg, picture, false, &args);
    va_end (args);
    return rc;
}

int
ll_msg_row (zmsg_t *msg, const char *picture, ...)
{
    va_list args;
    va_start (args, picture);
    int rc = s_take (msg, picture, true, &args);
    va_end (args);
    return rc;
}

//  --- requests, replies, events -----------------------------------------------

zmsg_t *
ll_proto_args (const char *command, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return NULL;
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, command);
    s_put (msg, x->request, &args);
    va_end (args);
    return msg;
}

int
ll_proto_decode (const char *command, zmsg_t *msg, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    va_list args;
    va_start (args, msg);
    int rc = s_take (msg, x->request, false, &args);
    va_end (args);
    return rc;
}

int
ll_proto_payload (const char *command, zmsg_t **payload, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    va_list args;
    va_start (args, payload);
    int rc = x && x->reply ? s_take (*payload, x->reply, false, &args) : -1;
    va_end (args);
    zmsg_destroy (payload);
    return rc;
}

int
ll_proto_send (zsock_t *dealer,
               const char *command,
               const char *request_id,
               ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, request_id);
    va_list args;
    va_start (args, request_id);
    s_put (msg, x->request, &args);
    va_end (args);
    int rc = zmsg_send (&msg, dealer);
    zmsg_destroy (&msg);
    return rc;
}

int
ll_answer_recv (ll_answer_t *self, zsock_t *dealer)
{
    *self = (ll_answer_t){0};
    zmsg_t *msg = zmsg_recv (dealer);
    char *status = NULL;
    if (!msg
        || ll_msg_take (msg, "sssm", &self->command, &self->id, &status,
                        &self->payload)
               != 0) {
        zmsg_destroy (&msg);
        self->error = strdup (LL_REASON_BAD_REPLY);
        return -1;
    }
    zmsg_destroy (&msg);
    int rc = 0;
    if (!streq (status, "OK")) {
        self->error = zmsg_popstr (self->payload);
        if (!self->error)
            self->error = strdup (LL_REASON_BAD_REPLY);
        zmsg_destroy (&self->payload);
        rc = -1;
    }
    free (status);
    return rc;
}

void
ll_answer_free (ll_answer_t *self)
{
    free (self->command);
    free (self->id);
    free (self->error);
    zmsg_destroy (&self->payload);
    *self = (ll_answer_t){0};
}

int
ll_proto_publish (zsock_t *pub, const char *command, ...)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    va_list args;
    va_start (args, command);
    s_put (msg, x->request, &args);
    va_end (args);
    int rc = zmsg_send (&msg, pub);
    zmsg_destroy (&msg);
    return rc;
}

int
ll_proto_ask (ll_client_t *client, char **error, const char *command, ...)
{
    *error = NULL;
    const ll_exchange_t *x = ll_exchange (command);
    if (!x || !x->reply) {
        *error = strdup (LL_REASON_UNKNOWN);
        return -1;
    }
    va_list args;
    va_start (args, command);
    zmsg_t *msg = zmsg_new ();
    s_put (msg, x->request, &args);
    zmsg_t *reply = NULL;
    int rc = client->call (client, x->endpoint, command, &msg, x->timeout_ms,
                           &reply, error);
    if (rc != 0)
        s_clear (x->reply, &args);
    else if (s_take (reply, x->reply, false, &args) != 0) {
        *error = strdup (LL_REASON_BAD_REPLY);
        rc = -1;
    }
    va_end (args);
    zmsg_destroy (&msg);
    zmsg_destroy (&reply);
    return rc;
}

static int
s_dealer_call (ll_client_t *self,
               const char *endpoint,
               const char *command,
               zmsg_t **args,
               int timeout_ms,
               zmsg_t **reply,
               char **error)
{
    return ll_call (self->handle, command, args, timeout_ms, reply, error);
}

ll_client_t
ll_client_dealer (zsock_t *dealer)
{
    return (ll_client_t){.call = s_dealer_call, .handle = dealer};
}

//  --- the actor's side ---------------------------------------------------------

int
ll_request_take (ll_request_t *self, ...)
{
    const ll_exchange_t *x = ll_exchange (self->command);
    va_list args;
    va_start (args, self);
    int rc = x ? s_take (self->args, x->request, false, &args) : -1;
    va_end (args);
    if (rc != 0) {
        ll_warn ("%s: malformed %.40s request refused",
                 self->actor ? self->actor : "actor", self->command);
        ll_request_fail (self, LL_REASON_MALFORMED);
    }
    return rc;
}

int
ll_request_answer (ll_request_t *self, ...)
{
    const ll_exchange_t *x = ll_exchange (self->command);
    zmsg_t *payload = zmsg_new ();
    va_list args;
    va_start (args, self);
    if (x && x->reply)
        s_put (payload, x->reply, &args);
    va_end (args);
    return ll_request_reply_ok (self, self->router, &payload);
}

int
ll_request_fail (ll_request_t *self, const char *reason)
{
    return ll_request_reply_error (self, self->router, reason);
}
