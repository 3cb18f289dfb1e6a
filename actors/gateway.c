#include "actors/gateway.h"
#include "http/agent_api.h"
#include "runtime/actor.h"
#include "runtime/log.h"
#include "runtime/secret.h"
#include "runtime/token.h"

#include <ctype.h>
#include <stdarg.h>
#include <sodium.h>

#define LL_GATEWAY_TICK_MS   1000
#define LL_GATEWAY_SILENT_MS 35000  //  3 missed pings and some
#define LL_GATEWAY_SEEN_MS   30000  //  last_seen_at refresh period
#define LL_GATEWAY_MSG_MAX   (1024 * 1024 + 4096)
#define LL_GATEWAY_POSTS_MAX 64  //  POSTs of one agent waiting at once
#define LL_GATEWAY_PATH_MAX  300
//  Every peer's token is verified again this often (VM-AUTH), as the HTTP
//  edge's cache lets a verified token live: a backstop for a lost event
#define LL_GATEWAY_RECHECK_MS 60000

typedef enum {
    S_POST_QUEUED,  //  its actor request waits for the one in flight
    S_POST_SENT,    //  its actor request is in flight
    S_POST_DONE     //  its REPLY is ready
} s_post_state_t;

//  One POST of an agent: answered in the order they came (the agent
//  matches REPLYs to its POSTs by order), one actor request in flight.
typedef struct {
    char param[LL_GATEWAY_PATH_MAX];  //  the path's hostname, if any
    ll_agent_call_t call;             //  the agent API's request
    s_post_state_t state;             //  where it is
    int64_t seq;                      //  its number, in the request id
    int64_t deadline;                 //  when its actor is given up on
    char *reply;                      //  "REPLY status json" once done
} s_post_t;

//  One connected agent.
typedef struct {
    char *key;                     //  routing id as hex (owned)
    zframe_t *routing;             //  routing id (owned)
    char *host;                    //  hostname once HELLO succeeded (owned)
    char gen[24];                  //  its token's generation (after HELLO)
    char hash[LL_TOKEN_HASH_HEX];  //  its token's hash (after HELLO)
    char *hello_host;              //  the HELLO being checked (owned)
    char hello_hash[LL_TOKEN_HASH_HEX];  //  its token's hash
    int64_t hello_seq;                   //  its number, in the request id
    int64_t last_ms;                     //  last message from it
    int64_t check_ms;                    //  next check of its token (VM-AUTH)
    bool waiting;                        //  a VM-WAIT is parked for it
    bool seen;                           //  last_seen_at refresh due
    zlistx_t *posts;                     //  s_post_t, oldest first
} s_peer_t;

typedef struct {
    ll_actor_t actor;      //  pipe, runtime (no inproc ROUTER)
    zsock_t *router;       //  agents (tcp, CURVE); NULL when off
    zsock_t *waiters;      //  DEALER to LL_ENDPOINT_WAITERS
    zsock_t *assigner;     //  DEALER to LL_ENDPOINT_ASSIGNER
    zsock_t *registry;     //  DEALER to LL_ENDPOINT_REGISTRY (agent API)
    zsock_t *logs;         //  DEALER to LL_ENDPOINT_LOGS (agent API)
    zsock_t *events;       //  SUB LL_ENDPOINT_EVENTS (revoked tokens)
    zhashx_t *peers;       //  key -> s_peer_t
    int64_t next_seq;      //  number of the next POST
    int64_t next_seen_ms;  //  next last_seen_at refresh
} self_t;

static void
s_post_free (void **item)
{
    s_post_t *post = *item;
    if (!post)
        return;
    ll_agent_call_free (&post->call);
    free (post->reply);
    free (post);
    *item = NULL;
}

static void
s_peer_free (void **item)
{
    s_peer_t *self = *item;
    if (!self)
        return;
    free (self->key);
    zframe_destroy (&self->routing);
    free (self->host);
    free (self->hello_host);
    zlistx_destroy (&self->posts);
    free (self);
    *item = NULL;
}

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_free);
}

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zhashx_destroy (&self->peers);
    zsock_destroy (&self->router);
    zsock_destroy (&self->waiters);
    zsock_destroy (&self->assigner);
    zsock_destroy (&self->registry);
    zsock_destroy (&self->logs);
    zsock_destroy (&self->events);
}

static void s_self_handle_router (void *arg);
static void s_self_handle_waiters (void *arg);
static void s_self_handle_assigner (void *arg);
static void s_self_handle_registry (void *arg);
static void s_self_handle_logs (void *arg);
static void s_self_handle_events (void *arg);

//  A DEALER to an actor that answers the gateway at any pace
static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *dealer = zsock_new_dealer (endpoint);
    if (dealer) {
        zsock_set_sndhwm (dealer, 0);
        zsock_set_rcvhwm (dealer, 0);
    }
    return dealer;
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    if (!*config->agent.zmq_endpoint)
        return NULL;  //  off
    if (sodium_init () < 0)
        return "libsodium cannot start";
    if (!zsys_has_curve ())
        return "libzmq has no CURVE support";
    if (!*config->agent.zmq_secret_key_file)
        return "agent.zmq_secret_key_file is not set";
    zcert_t *cert = zcert_load (config->agent.zmq_secret_key_file);
    if (!cert)
        return "cannot read agent.zmq_secret_key_file";
    self->router = zsock_new (ZMQ_ROUTER);
    zcert_apply (cert, self->router);
    zsock_set_curve_server (self->router, 1);
    zsock_set_maxmsgsize (self->router, LL_GATEWAY_MSG_MAX);
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    //  A fleet reconnects all at once (the allocator restarted): with
    //  libzmq's backlog of 100 most SYNs were dropped and retried after 1,
    //  3, 7 s (1,000 agents took 30 s to connect); the kernel caps it
    //  (net.core.somaxconn)
    zsock_set_backlog (self->router, config->agent.max_zmq_agents > 128
                                         ? config->agent.max_zmq_agents
                                         : 128);
    ll_info ("gateway: server public key %s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    if (zsock_bind (self->router, "%s", config->agent.zmq_endpoint) < 0) {
        zsock_destroy (&self->router);  //  a failed START polls nothing
        return "cannot bind agent.zmq_endpoint";
    }
    ll_info ("gateway: listening on %s", zsock_endpoint (self->router));
    self->waiters = s_dealer (LL_ENDPOINT_WAITERS);
    self->assigner = s_dealer (LL_ENDPOINT_ASSIGNER);
    self->registry = s_dealer (LL_ENDPOINT_REGISTRY);
    self->logs = s_dealer (LL_ENDPOINT_LOGS);
    self->events = zsock_new_sub (LL_ENDPOINT_EVENTS, LL_EVT_VM_REVOKED);
    if (!self->waiters || !self->assigner || !self->registry || !self->logs
        || !self->events)
        return "cannot connect to the waiters, assigner, registry or ingest";
    zsock_set_subscribe (self->events, LL_EVT_RESYNC);
    ll_actor_t *actor = &self->actor;
    ll_actor_reader (actor, self->router, s_self_handle_router);
    ll_actor_reader (actor, self->waiters, s_self_handle_waiters);
    ll_actor_reader (actor, self->assigner, s_self_handle_assigner);
    ll_actor_reader (actor, self->registry, s_self_handle_registry);
    ll_actor_reader (actor, self->logs, s_self_handle_logs);
    ll_actor_reader (actor, self->events, s_self_handle_events);
    self->next_seen_ms = ll_now_ms () + LL_GATEWAY_SEEN_MS;
    return NULL;
}

//  --- to agents -------------------------------------------------------------

static void
s_send (self_t *self, s_peer_t *peer, const char *text)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *){zframe_dup (peer->routing)});
    zmsg_addstr (msg, text);
    zmsg_send (&msg, self->router);
    zmsg_destroy (&msg);
}

static void s_sendf (self_t *self, s_peer_t *peer, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_sendf (self_t *self, s_peer_t *peer, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = zsys_vprintf (format, args);
    va_end (args);
    if (text) {
        s_send (self, peer, text);
        ll_secret_free (&text);
    }
}

static void
s_unwait (self_t *self, s_peer_t *peer)
{
    if (peer->waiting)
        ll_proto_send (self->waiters, LL_CMD_VM_UNWAIT, "u", peer->key);
    peer->waiting = false;
}

//  --- from agents ----------------------------------------------------------

//  End text (may be NULL) at its first space: what follows the space, or
//  NULL when there is none.
static char *
s_cut_word (char *text)
{
    char *space = text ? strchr (text, ' ') : NULL;
    if (space)
        *space++ = '\0';
    return space;
}

//  HELLO hostname token
static void
s_parse_hello (char *args, gateway_frame_t *out)
{
    char *host = args;
    char *token = s_cut_word (host);
    if (!host || !token || !ll_token_scope_valid (host) || host[0] == '_')
        out->error = "ERROR HELLO needs a hostname and a token";
    out->host = host;
    out->token = token;
}

//  POST path json
static void
s_parse_post (char *args, gateway_frame_t *out)
{
    char *path = args;
    char *json = s_cut_word (path);
    bool path_ok = path && strncmp (path, "/api/", 5) == 0
                   && strlen (path) < 300 && !strstr (path, "..");
    for (const char *c = path; path_ok && *c; c++)
        if (!isalnum ((unsigned char) *c) && !strchr ("/_.-", *c))
            path_ok = false;
    if (!path_ok || !json)
        out->error = "REPLY 400 {\"error\":\"POST needs a path under "
                     "/api/ and a JSON body.\"}";
    out->path = path;
    out->json = json;
}

//  RESULT hostname 1|0 error text
static void
s_parse_result (char *args, gateway_frame_t *out)
{
    char *host = args;
    char *ok = s_cut_word (host);
    char *text = s_cut_word (ok);
    if (!host || !ok || (!streq (ok, "1") && !streq (ok, "0")))
        out->error = "ERROR RESULT needs hostname and 1 or 0";
    out->host = host;
    out->ok = ok;
    out->text = text ? text : "";
}

int
gateway_frame_parse (char *text, size_t len, gateway_frame_t *out)
{
    memset (out, 0, sizeof *out);
    if (strlen (text) != len)  //  NUL inside: not text
        return -1;
    char *verb = text;
    char *args = s_cut_word (text);
    if (streq (verb, "PING"))
        out->verb = GATEWAY_PING;
    else if (streq (verb, "PONG"))
        out->verb = GATEWAY_PONG;
    else if (streq (verb, "HELLO")) {
        out->verb = GATEWAY_HELLO;
        s_parse_hello (args, out);
    }
    else if (streq (verb, "WAIT"))
        out->verb = GATEWAY_WAIT;
    else if (streq (verb, "RESULT")) {
        out->verb = GATEWAY_RESULT;
        s_parse_result (args, out);
    }
    else if (streq (verb, "POST")) {
        out->verb = GATEWAY_POST;
        s_parse_post (args, out);
    }
    return 0;
}

//  The peer must HELLO again (its token was revoked).
static void
s_forget_hello (self_t *self, s_peer_t *peer)
{
    s_unwait (self, peer);
    free (peer->host);
    peer->host = NULL;
    peer->gen[0] = '\0';
    peer->hash[0] = '\0';
}

//  A VM-AUTH refusal as the agent hears it (the HTTP edge's words).
static const char *
s_auth_refusal (const char *error)
{
    return streq (error, LL_REASON_REVOKED)     ? "ERROR token revoked"
           : streq (error, LL_REASON_NOT_FOUND) ? "ERROR VM not found."
           : streq (error, LL_REASON_INVALID)   ? "ERROR Invalid API token."
                                                : "ERROR " LL_REASON_DATABASE;
}

//  The token is checked as on HTTP: it must name this hostname and be the
//  VM's current token (VM-AUTH, answered in s_hello_done). The gateway does
//  not wait for the answer: the registry checks every VM-AUTH waiting with
//  one query, so a fleet that connects at once (10,000 agents after a
//  restart) is checked in a few batches, not in one round trip each while
//  every other agent's message queued.
static void
s_handle_hello (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    if (frame->error) {
        s_send (self, peer, frame->error);
        return;
    }
    const char *host = frame->host;
    char scope[LL_TOKEN_SCOPE_MAX + 1];
    if (ll_token_scope (frame->token, scope, sizeof scope) != 0
        || scope[0] == '_') {
        s_send (self, peer, "ERROR Invalid API token.");
        return;
    }
    if (!streq (scope, host)) {
        s_send (self, peer, "ERROR This token belongs to another VM.");
        return;
    }
    s_forget_hello (self, peer);  //  a second HELLO starts over; a failed
                                  //  one leaves no identity
    free (peer->hello_host);
    peer->hello_host = strdup (host);
    ll_token_hash (frame->token, peer->hello_hash);
    char id[96];
    snprintf (id, sizeof id, "h%s:%lld", peer->key,
              (long long) ++peer->hello_seq);
    ll_proto_send (self->registry, LL_CMD_VM_AUTH, id, host, peer->hello_hash);
}

//  The peer a token check's id names ("<letter><peer key>:<rest>"), and
//  its rest; NULL when it is gone.
static s_peer_t *
s_check_peer (self_t *self, const char *id, const char **rest)
{
    const char *colon = strchr (id, ':');
    char key[64];
    if (!colon || colon == id || (size_t) (colon - id) > sizeof key)
        return NULL;
    snprintf (key, sizeof key, "%.*s", (int) (colon - id - 1), id + 1);
    *rest = colon + 1;
    return zhashx_lookup (self->peers, key);
}

//  The answer to a HELLO's token check (id "h<peer key>:<hello number>"):
//  the peer is who its token says, or is told why not. An answer to an
//  older HELLO of the peer finds nothing.
static void
s_hello_done (
    self_t *self, const char *id, int rc, zmsg_t **payload, const char *error)
{
    const char *seq;
    s_peer_t *peer = s_check_peer (self, id, &seq);
    if (!peer || !peer->hello_host
        || strtoll (seq, NULL, 10) != peer->hello_seq)
        return;
    char *gen = NULL;
    if (rc == 0 && ll_proto_payload (LL_CMD_VM_AUTH, payload, &gen) != 0) {
        rc = -1;
        error = LL_REASON_BAD_REPLY;
    }
    if (rc == 0 && strlen (gen) < sizeof peer->gen) {
        peer->host = peer->hello_host;
        peer->hello_host = NULL;
        snprintf (peer->gen, sizeof peer->gen, "%s", gen);
        snprintf (peer->hash, sizeof peer->hash, "%s", peer->hello_hash);
        peer->seen = true;
        peer->check_ms = ll_now_ms () + LL_GATEWAY_RECHECK_MS;
        s_send (self, peer, "HELLO-OK");
    }
    else
        s_send (self, peer, s_auth_refusal (rc == 0 ? "" : error));
    free (peer->hello_host);
    peer->hello_host = NULL;
    free (gen);
}

//  Drop the HELLO of a peer whose token is no longer its VM's current one:
//  it must HELLO again (and is refused with that token).
static void
s_revoke (self_t *self, s_peer_t *peer, const char *refusal)
{
    s_forget_hello (self, peer);
    s_send (self, peer, refusal);
}

//  --- the agent API (POST path json -> REPLY status json) -------------------

//  The post is done: its REPLY, from the call's answer.
static void
s_post_answer (s_post_t *post)
{
    char *text = ll_agent_call_text (&post->call);
    post->reply = zsys_sprintf ("REPLY %d %s", post->call.status, text);
    free (text);
    post->state = S_POST_DONE;
    ll_agent_call_free (&post->call);
}

//  The DEALER to the actor serving command
static zsock_t *
s_post_socket (self_t *self, const char *command)
{
    const ll_exchange_t *x = ll_exchange (command);
    if (!x)
        return NULL;
    return streq (x->endpoint, LL_ENDPOINT_LOGS)       ? self->logs
           : streq (x->endpoint, LL_ENDPOINT_ASSIGNER) ? self->assigner
           : streq (x->endpoint, LL_ENDPOINT_REGISTRY) ? self->registry
                                                       : NULL;
}

//  Send the REPLYs that are ready, in order, then the next actor request.
static void
s_peer_pump (self_t *self, s_peer_t *peer)
{
    s_post_t *post;
    while ((post = zlistx_first (peer->posts))) {
        if (post->state == S_POST_DONE) {
            s_send (self, peer, post->reply);
            zlistx_delete (peer->posts, zlistx_cursor (peer->posts));
            continue;
        }
        if (post->state == S_POST_QUEUED) {
            const char *command = post->call.api->command;
            zsock_t *sock = s_post_socket (self, command);
            const ll_exchange_t *x = ll_exchange (command);
            char id[96];
            snprintf (id, sizeof id, "%s.%lld", peer->key,
                      (long long) post->seq);
            zmsg_t *msg = zmsg_new ();
            ll_msg_put (msg, "ssm", command, id, &post->call.args);
            if (sock && zmsg_send (&msg, sock) == 0) {
                post->state = S_POST_SENT;
                post->deadline = ll_now_ms () + x->timeout_ms;
            }
            else {
                ll_agent_call_end (&post->call, -1, NULL, "send failed");
                s_post_answer (post);
            }
            zmsg_destroy (&msg);
            if (post->state == S_POST_DONE)
                continue;
        }
        break;  //  the head is in flight
    }
}

//  POST path json: the same answer the HTTP route gives, from the same
//  table; the token's VM is the one its HELLO proved.
static void
s_handle_post (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    s_post_t *post = calloc (1, sizeof *post);
    post->seq = self->next_seq++;
    if (frame->error)
        post->reply = strdup (frame->error);
    else if (zlistx_size (peer->posts) >= LL_GATEWAY_POSTS_MAX)
        post->reply = strdup ("REPLY 503 {\"error\":\"Too many requests at "
                              "once.\"}");
    if (post->reply) {
        post->state = S_POST_DONE;
        zlistx_add_end (peer->posts, post);
        s_peer_pump (self, peer);
        return;
    }
    ll_agent_call_t *call = &post->call;
    const ll_agent_api_t *api =
        ll_agent_api_match (frame->path, post->param, sizeof post->param);
    if (!api)
        post->reply = strdup ("REPLY 404 {\"error\":\"Not found.\"}");
    else {
        int rc = ll_agent_call_begin (call, api, post->param, frame->json,
                                      strlen (frame->json), false);
        call->generation = strtoll (peer->gen, NULL, 10);
        if (rc != 0 && !call->check_first)
            ;  //  refused before the token check
        else if (!call->scope || !streq (call->scope, peer->host))
            ll_agent_call_refuse (call, 403,
                                  "This token belongs to another VM.");
        else if (rc == 0)
            ll_agent_call_request (call, self->actor.runtime->config);
        if (!call->args)
            s_post_answer (post);
    }
    if (post->reply)
        post->state = S_POST_DONE;
    zlistx_add_end (peer->posts, post);
    s_peer_pump (self, peer);
}

//  The actor answered a POST's request (id "<peer key>.<seq>"). A late
//  answer to a post given up on finds nothing.
static void
s_post_done (
    self_t *self, const char *id, int rc, zmsg_t **payload, const char *error)
{
    const char *dot = strrchr (id, '.');
    char key[64];
    if (!dot || (size_t) (dot - id) >= sizeof key)
        return;
    snprintf (key, sizeof key, "%.*s", (int) (dot - id), id);
    s_peer_t *peer = zhashx_lookup (self->peers, key);
    s_post_t *post = peer ? zlistx_first (peer->posts) : NULL;
    if (!post || post->state != S_POST_SENT
        || post->seq != strtoll (dot + 1, NULL, 10))
        return;
    ll_agent_call_t *call = &post->call;
    ll_agent_call_end (call, rc, payload, error);
    if (rc == 0 && call->touch)
        ll_proto_send (self->registry, LL_CMD_VM_TOUCH, "t", call->scope);
    s_post_answer (post);
    s_peer_pump (self, peer);
}

//  Posts whose actor did not answer in time get the answer the HTTP edge
//  gives when an actor is gone.
static void
s_posts_expire (self_t *self, s_peer_t *peer, int64_t now)
{
    s_post_t *post = zlistx_first (peer->posts);
    if (post && post->state == S_POST_SENT && now >= post->deadline) {
        ll_agent_call_end (&post->call, -1, NULL, LL_REASON_TIMEOUT);
        s_post_answer (post);
        s_peer_pump (self, peer);
    }
}

static void
s_handle_result (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    if (frame->error) {
        s_send (self, peer, frame->error);
        return;
    }
    if (!streq (frame->host, peer->host)) {
        s_send (self, peer, "ERROR This token belongs to another VM.");
        return;
    }
    ll_proto_send (self->assigner, LL_CMD_VM_RESULT, peer->key, frame->host,
                   frame->ok, frame->text, peer->gen);
}

//  Read one agent message: "VERB args" (frames joined by spaces).
static void
s_self_handle_router (void *arg)
{
    self_t *self = arg;
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return;
    zframe_t *routing = zmsg_pop (msg);
    if (!routing || zmsg_size (msg) == 0) {
        zframe_destroy (&routing);
        zmsg_destroy (&msg);
        return;
    }
    size_t len = 0;
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg))
        len += zframe_size (f) + 1;
    char *text = malloc (len + 1);
    size_t at = 0;
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg)) {
        if (at)
            text[at++] = ' ';
        memcpy (text + at, zframe_data (f), zframe_size (f));
        at += zframe_size (f);
    }
    text[at] = '\0';
    zmsg_destroy (&msg);
    gateway_frame_t frame;
    if (gateway_frame_parse (text, at, &frame) != 0) {
        free (text);
        zframe_destroy (&routing);
        return;
    }

    char *key = zframe_strhex (routing);
    s_peer_t *peer = zhashx_lookup (self->peers, key);
    if (!peer) {
        peer = calloc (1, sizeof *peer);
        peer->key = strdup (key);
        peer->routing = zframe_dup (routing);
        peer->posts = zlistx_new ();
        zlistx_set_destructor (peer->posts, s_post_free);
        zhashx_insert (self->peers, key, peer);
    }
    free (key);
    zframe_destroy (&routing);
    peer->last_ms = ll_now_ms ();

    if (frame.verb == GATEWAY_PING)
        s_send (self, peer, "PONG");
    else if (frame.verb == GATEWAY_PONG)
        ;
    else if (frame.verb == GATEWAY_HELLO)
        s_handle_hello (self, peer, &frame);
    else if (!peer->host)
        s_send (self, peer, "ERROR HELLO first");
    else if (frame.verb == GATEWAY_WAIT) {
        if (!peer->waiting) {
            peer->waiting = true;
            ll_proto_send (self->waiters, LL_CMD_VM_WAIT, peer->key, peer->host,
                           "0", "zmq", peer->gen);
        }
    }
    else if (frame.verb == GATEWAY_RESULT)
        s_handle_result (self, peer, &frame);
    else if (frame.verb == GATEWAY_POST)
        s_handle_post (self, peer, &frame);
    else
        s_send (self, peer, "ERROR unknown command");
    if (peer->host)
        peer->seen = true;
    sodium_memzero (text, at);
    free (text);
}

//  Replies of the waiters: VM-WAIT (to its peer) and VM-UNWAIT (ignored).
static void
s_self_handle_waiters (void *arg)
{
    self_t *self = arg;
    ll_answer_t a;
    int rc = ll_answer_recv (&a, self->waiters);
    s_peer_t *peer = a.id ? zhashx_lookup (self->peers, a.id) : NULL;
    char *what = NULL, *pin = NULL, *cmd = NULL;
    if (rc == 0
        && ll_proto_payload (a.command, &a.payload, &what, &pin, &cmd) != 0)
        a.error = strdup (LL_REASON_BAD_REPLY);
    if (a.command && streq (a.command, LL_CMD_VM_WAIT) && peer
        && peer->waiting) {
        peer->waiting = false;
        if (what && streq (what, LL_WAIT_ASSIGN) && pin && cmd)
            s_sendf (self, peer, "ASSIGN %s %s", pin, cmd);
        else if (what && streq (what, LL_WAIT_RESET) && pin)
            s_sendf (self, peer, "RESET %s", pin);  //  pin: the reset id
        else if (what && streq (what, LL_WAIT_UNKNOWN))
            s_send (self, peer, "ERROR VM not found.");
        else if (what && streq (what, LL_WAIT_REVOKED))
            //  A newer launch holds the VM: this agent is done here
            s_revoke (self, peer, "ERROR token revoked");
        else
            s_sendf (self, peer, "ERROR %s",
                     a.error ? a.error
                     : what  ? what
                             : "wait failed");
    }
    ll_secret_free (&pin);
    ll_secret_free (&cmd);
    free (what);
    ll_answer_free (&a);
}

//  Replies of the assigner: VM-RESULT (to the peer, or a POST's).
static void
s_self_handle_assigner (void *arg)
{
    self_t *self = arg;
    ll_answer_t a;
    int rc = ll_answer_recv (&a, self->assigner);
    s_peer_t *peer = a.id ? zhashx_lookup (self->peers, a.id) : NULL;
    if (a.id && strchr (a.id, '.'))
        s_post_done (self, a.id, rc, &a.payload, a.error);
    else if (a.command && streq (a.command, LL_CMD_VM_RESULT) && peer) {
        if (rc == 0)
            s_send (self, peer, "RESULT-OK");
        else if (streq (a.error, LL_REASON_NOT_FOUND))
            s_send (self, peer, "ERROR VM not found.");
        else if (streq (a.error, LL_REASON_REVOKED))
            s_revoke (self, peer, "ERROR token revoked");
        else
            s_sendf (self, peer, "ERROR %s", a.error);
    }
    ll_answer_free (&a);
}

//  The answer to a peer's token check (id "v<peer key>:<generation>"): a
//  token that is no longer its VM's current one ends the peer's HELLO.
static void
s_recheck_done (self_t *self, const char *id, int rc, const char *error)
{
    const char *gen;
    s_peer_t *peer = s_check_peer (self, id, &gen);
    if (!peer || !peer->host || !streq (peer->gen, gen))
        return;  //  gone, or a HELLO since
    if (rc != 0
        && (streq (error, LL_REASON_REVOKED)
            || streq (error, LL_REASON_NOT_FOUND)
            || streq (error, LL_REASON_INVALID)))
        s_revoke (self, peer, s_auth_refusal (error));
}

//  Verify a peer's token again; the registry answers every check waiting
//  with one query.
static void
s_recheck (self_t *self, s_peer_t *peer)
{
    char id[96];
    snprintf (id, sizeof id, "v%s:%s", peer->key, peer->gen);
    ll_proto_send (self->registry, LL_CMD_VM_AUTH, id, peer->host, peer->hash);
    peer->check_ms = ll_now_ms () + LL_GATEWAY_RECHECK_MS;
}

//  Verify every peer's token again (after RESYNC: revocations may have
//  been missed).
static void
s_recheck_all (self_t *self)
{
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers))
        if (p->host)
            s_recheck (self, p);
}

//  Replies of the registry and the ingest: the POSTs', the HELLOs' and
//  the token checks' (VM-TOUCH's, id "t", are dropped).
static void
s_self_handle_answers (self_t *self, zsock_t *sock)
{
    ll_answer_t a;
    int rc = ll_answer_recv (&a, sock);
    if (a.id && a.id[0] == 'v')
        s_recheck_done (self, a.id, rc, a.error);
    else if (a.id && a.id[0] == 'h')
        s_hello_done (self, a.id, rc, &a.payload, a.error);
    else if (a.id && strchr (a.id, '.'))
        s_post_done (self, a.id, rc, &a.payload, a.error);
    ll_answer_free (&a);
}

static void
s_self_handle_registry (void *arg)
{
    self_t *self = arg;
    s_self_handle_answers (self, self->registry);
}

static void
s_self_handle_logs (void *arg)
{
    self_t *self = arg;
    s_self_handle_answers (self, self->logs);
}

//  VM-REVOKED hostname generation: the peers of that VM holding an older
//  token must HELLO again; RESYNC: every peer's token is checked again.
static void
s_self_handle_events (void *arg)
{
    self_t *self = arg;
    char *host, *gen;
    const char *event = ll_actor_event (self->events, &host, &gen);
    if (event && streq (event, LL_EVT_RESYNC))
        s_recheck_all (self);
    else if (event) {  //  VM-REVOKED
        //  gen: the VM's new generation, 0 when its row is gone
        long long now = strtoll (gen, NULL, 10);
        zlistx_t *stale = zlistx_new ();
        for (s_peer_t *p = zhashx_first (self->peers); p;
             p = zhashx_next (self->peers))
            if (p->host && streq (p->host, host)
                && (now == 0 || strtoll (p->gen, NULL, 10) < now))
                zlistx_add_end (stale, p);
        for (s_peer_t *p = zlistx_first (stale); p; p = zlistx_next (stale))
            s_revoke (self, p, "ERROR token revoked");
        zlistx_destroy (&stale);
    }
    free (host);
    free (gen);
}

//  Forget silent peers; check the tokens due (each LL_GATEWAY_RECHECK_MS
//  after its last check: a fleet's checks spread as its HELLOs did, where
//  all at once were 10,000 answers in a burst among the deliveries);
//  refresh last_seen_at of the live ones.
static void
s_self_tick (void *arg)
{
    self_t *self = arg;
    if (!self->router)
        return;  //  off
    int64_t now = ll_now_ms ();
    zlistx_t *gone = zlistx_new ();
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers)) {
        s_posts_expire (self, p, now);
        if (now - p->last_ms > LL_GATEWAY_SILENT_MS)
            zlistx_add_end (gone, p);
        else if (p->host && now >= p->check_ms)
            s_recheck (self, p);
    }
    for (s_peer_t *p = zlistx_first (gone); p; p = zlistx_next (gone)) {
        s_unwait (self, p);
        zhashx_delete (self->peers, p->key);
    }
    zlistx_destroy (&gone);
    if (now < self->next_seen_ms)
        return;
    self->next_seen_ms = now + LL_GATEWAY_SEEN_MS;
    zmsg_t *hosts = zmsg_new ();
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers))
        if (p->host && p->seen) {
            ll_msg_put (hosts, "s", p->host);
            p->seen = false;
        }
    if (zmsg_size (hosts))
        ll_proto_send (self->registry, LL_CMD_VM_SEEN, "s", &hosts);
    zmsg_destroy (&hosts);
}

static const ll_actor_kind_t s_kind = {
    .name = "gateway",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .class =
        {
            .start = s_self_start,
            .tick_ms = LL_GATEWAY_TICK_MS,
            .tick = s_self_tick,
        },
};

void
gateway_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
