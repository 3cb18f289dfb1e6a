#include "actors/gateway.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "runtime/token.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <sodium.h>

#define LL_GATEWAY_TICK_MS   1000
#define LL_GATEWAY_SILENT_MS 35000  //  3 missed pings and some
#define LL_GATEWAY_SEEN_MS   30000  //  last_seen_at refresh period
#define LL_GATEWAY_MSG_MAX   (1024 * 1024 + 4096)
#define LL_GATEWAY_REPLY_MAX (64 * 1024)
#define LL_GATEWAY_HTTP_MS   5000

//  One connected agent.
typedef struct {
    char *key;          //  routing id as hex (owned)
    zframe_t *routing;  //  routing id (owned)
    char *host;         //  hostname once HELLO succeeded (owned)
    char *token;        //  its token, for replayed POSTs (owned, secret)
    char gen[24];       //  its token's generation (after HELLO)
    int64_t last_ms;    //  last message from it
    bool waiting;       //  a VM-WAIT is parked for it
    bool seen;          //  last_seen_at refresh due
} s_peer_t;

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  agents (tcp, CURVE); NULL when off
    zsock_t *waiters;       //  DEALER to LL_ENDPOINT_WAITERS
    zsock_t *assigner;      //  DEALER to LL_ENDPOINT_ASSIGNER
    zsock_t *registry;      //  DEALER to LL_ENDPOINT_REGISTRY (VM-AUTH)
    ll_runtime_t *runtime;  //  config and stats (not owned)
    zhashx_t *peers;        //  key -> s_peer_t
    char base_url[300];     //  this allocator's own HTTP address
    CURL *curl;             //  for POST replays (reused: keep-alive)
    int64_t next_seen_ms;   //  next last_seen_at refresh
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static void
s_peer_free (void **item)
{
    s_peer_t *self = *item;
    if (!self)
        return;
    free (self->key);
    zframe_destroy (&self->routing);
    free (self->host);
    if (self->token)
        sodium_memzero (self->token, strlen (self->token));
    free (self->token);
    free (self);
    *item = NULL;
}

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_free);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->peers);
    zsock_destroy (&self->router);
    zsock_destroy (&self->waiters);
    zsock_destroy (&self->assigner);
    zsock_destroy (&self->registry);
    if (self->curl)
        curl_easy_cleanup (self->curl);
    free (self);
    *self_p = NULL;
}

//  The allocator's own URL from app.listen ("127.0.0.1:5000",
//  "0.0.0.0:5000", "5000", first of a list; "" when port 0).
static void
s_base_url (self_t *self)
{
    char listen[128];
    snprintf (listen, sizeof listen, "%s", self->runtime->config->app.listen);
    listen[strcspn (listen, ",")] = '\0';
    size_t len = strlen (listen);
    while (len && (listen[len - 1] == 's' || listen[len - 1] == 'r'))
        listen[--len] = '\0';
    char *colon = strrchr (listen, ':');
    const char *port = colon ? colon + 1 : listen;
    const char *host = "127.0.0.1";
    if (colon) {
        *colon = '\0';
        if (*listen && !streq (listen, "0.0.0.0") && !streq (listen, "[::]"))
            host = listen;
    }
    if (strtol (port, NULL, 10) <= 0)
        self->base_url[0] = '\0';
    else
        snprintf (self->base_url, sizeof self->base_url, "http://%s:%s", host,
                  port);
}

static const char *
s_self_start (self_t *self)
{
    const ll_config_t *config = self->runtime->config;
    self->started = true;
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
    ll_info ("gateway: server public key %s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    if (zsock_bind (self->router, "%s", config->agent.zmq_endpoint) < 0) {
        zsock_destroy (&self->router);  //  a failed START polls nothing
        return "cannot bind agent.zmq_endpoint";
    }
    ll_info ("gateway: listening on %s", zsock_endpoint (self->router));
    self->waiters = zsock_new_dealer (LL_ENDPOINT_WAITERS);
    self->assigner = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    self->registry = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    if (!self->waiters || !self->assigner || !self->registry)
        return "cannot connect to the waiters, assigner or registry";
    zsock_set_sndhwm (self->waiters, 0);
    zsock_set_rcvhwm (self->waiters, 0);
    s_base_url (self);
    self->curl = curl_easy_init ();
    self->next_seen_ms = ll_now_ms () + LL_GATEWAY_SEEN_MS;
    return NULL;
}

static void
s_self_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, LL_CMD_TERM))
        self->terminated = true;
    else if (command && streq (command, LL_CMD_START))
        ll_actor_started (self->pipe, s_self_start (self));
    free (command);
    zmsg_destroy (&msg);
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
        sodium_memzero (text, strlen (text));
        zstr_free (&text);
    }
}

//  Send a request to an actor without waiting (replies come on the DEALER).
static void
s_request (zsock_t *dealer, const char *command, const char *id, ...)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, id);
    va_list args;
    va_start (args, id);
    for (const char *arg = va_arg (args, const char *); arg;
         arg = va_arg (args, const char *))
        zmsg_addstr (msg, arg);
    va_end (args);
    zmsg_send (&msg, dealer);
    zmsg_destroy (&msg);
}

static void
s_unwait (self_t *self, s_peer_t *peer)
{
    if (peer->waiting)
        s_request (self->waiters, LL_CMD_VM_UNWAIT, "u", peer->key, NULL);
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
    if (peer->token)
        sodium_memzero (peer->token, strlen (peer->token));
    free (peer->token);
    peer->token = NULL;
}

//  The token is checked as on HTTP: it must name this hostname and be the
//  VM's current token (VM-AUTH, the registry's one query).
static void
s_handle_hello (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    if (frame->error) {
        s_send (self, peer, frame->error);
        return;
    }
    const char *host = frame->host;
    const char *token = frame->token;
    char scope[LL_TOKEN_SCOPE_MAX + 1];
    if (ll_token_scope (token, scope, sizeof scope) != 0 || scope[0] == '_') {
        s_send (self, peer, "ERROR Invalid API token.");
        return;
    }
    if (!streq (scope, host)) {
        s_send (self, peer, "ERROR This token belongs to another VM.");
        return;
    }
    char hash[LL_TOKEN_HASH_HEX];
    ll_token_hash (token, hash);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, host);
    zmsg_addstr (args, hash);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int rc =
        ll_call (self->registry, LL_CMD_VM_AUTH, &args, 3000, &reply, &error);
    char *gen = rc == 0 ? zmsg_popstr (reply) : NULL;
    zmsg_destroy (&reply);
    const char *refusal =
        gen                                           ? NULL
        : error && streq (error, LL_REASON_REVOKED)   ? "ERROR token revoked"
        : error && streq (error, LL_REASON_NOT_FOUND) ? "ERROR VM not found."
        : error && streq (error, LL_REASON_INVALID)
            ? "ERROR Invalid API token."
            : "ERROR database unavailable";
    free (error);
    if (refusal) {
        s_forget_hello (self, peer);  //  a failed HELLO leaves no identity
        s_send (self, peer, refusal);
        return;
    }
    s_forget_hello (self, peer);  //  a second HELLO starts over
    peer->host = strdup (host);
    peer->token = strdup (token);
    snprintf (peer->gen, sizeof peer->gen, "%s", gen);
    free (gen);
    peer->seen = true;
    s_send (self, peer, "HELLO-OK");
}

static size_t
s_curl_write (char *data, size_t size, size_t nmemb, void *arg)
{
    zchunk_t *chunk = arg;
    size_t n = size * nmemb;
    if (zchunk_size (chunk) + n > LL_GATEWAY_REPLY_MAX)
        return 0;
    zchunk_extend (chunk, data, n);
    return n;
}

//  Replay POST path json on our own HTTP routes with the agent's token.
static void
s_handle_post (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    if (frame->error) {
        s_send (self, peer, frame->error);
        return;
    }
    const char *path = frame->path;
    const char *json = frame->json;
    if (!*self->base_url || !self->curl) {
        s_send (self, peer,
                "REPLY 503 {\"error\":\"The allocator's HTTP "
                "address is unknown (app.listen port 0).\"}");
        return;
    }
    char url[640];
    snprintf (url, sizeof url, "%s%s", self->base_url, path);
    char auth[LL_TOKEN_MAX + 32];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", peer->token);
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    headers = curl_slist_append (headers, "Content-Type: application/json");
    sodium_memzero (auth, sizeof auth);
    zchunk_t *body = zchunk_new (NULL, 0);
    CURL *curl = self->curl;
    curl_easy_reset (curl);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (json));
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) LL_GATEWAY_HTTP_MS);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, body);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    if (rc != CURLE_OK)
        s_sendf (self, peer, "REPLY 502 {\"error\":\"%s\"}",
                 "The allocator did not answer.");
    else
        s_sendf (self, peer, "REPLY %ld %.*s", status, (int) zchunk_size (body),
                 (char *) zchunk_data (body));
    zchunk_destroy (&body);
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
    s_request (self->assigner, LL_CMD_VM_RESULT, peer->key, frame->host,
               frame->ok, frame->text, peer->gen, NULL);
}

//  Read one agent message: "VERB args" (frames joined by spaces).
static void
s_self_handle_router (self_t *self)
{
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
            s_request (self->waiters, LL_CMD_VM_WAIT, peer->key, peer->host,
                       "0", "zmq", peer->gen, NULL);
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

//  Replies of the waiters: [VM-WAIT|VM-UNWAIT] [peer key] [OK ...|ERROR r]
static void
s_self_handle_waiters (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->waiters);
    char *command = msg ? zmsg_popstr (msg) : NULL;
    char *id = msg ? zmsg_popstr (msg) : NULL;
    char *status = msg ? zmsg_popstr (msg) : NULL;
    char *what = msg ? zmsg_popstr (msg) : NULL;
    s_peer_t *peer = id ? zhashx_lookup (self->peers, id) : NULL;
    if (command && streq (command, LL_CMD_VM_WAIT) && peer && peer->waiting) {
        peer->waiting = false;
        if (status && streq (status, "OK") && what
            && streq (what, LL_WAIT_ASSIGN)) {
            char *pin = zmsg_popstr (msg);
            char *cmd = zmsg_popstr (msg);
            if (pin && cmd)
                s_sendf (self, peer, "ASSIGN %s %s", pin, cmd);
            if (pin)
                sodium_memzero (pin, strlen (pin));
            if (cmd)
                sodium_memzero (cmd, strlen (cmd));
            free (pin);
            free (cmd);
        }
        else if (status && streq (status, "OK") && what
                 && streq (what, LL_WAIT_RESET)) {
            char *reset_id = zmsg_popstr (msg);
            if (reset_id)
                s_sendf (self, peer, "RESET %s", reset_id);
            free (reset_id);
        }
        else if (status && streq (status, "OK") && what
                 && streq (what, LL_WAIT_UNKNOWN))
            s_send (self, peer, "ERROR VM not found.");
        else if (status && streq (status, "OK") && what
                 && streq (what, LL_WAIT_REVOKED)) {
            //  A newer launch holds the VM: this agent is done here
            s_forget_hello (self, peer);
            s_send (self, peer, "ERROR token revoked");
        }
        else
            s_sendf (self, peer, "ERROR %s", what ? what : "wait failed");
    }
    free (command);
    free (id);
    free (status);
    free (what);
    zmsg_destroy (&msg);
}

//  Replies of the assigner: VM-RESULT (to the peer) and VM-SEEN (ignored).
static void
s_self_handle_assigner (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->assigner);
    char *command = msg ? zmsg_popstr (msg) : NULL;
    char *id = msg ? zmsg_popstr (msg) : NULL;
    char *status = msg ? zmsg_popstr (msg) : NULL;
    char *reason = msg ? zmsg_popstr (msg) : NULL;
    s_peer_t *peer = id ? zhashx_lookup (self->peers, id) : NULL;
    if (command && streq (command, LL_CMD_VM_RESULT) && peer) {
        if (status && streq (status, "OK"))
            s_send (self, peer, "RESULT-OK");
        else if (reason && streq (reason, LL_REASON_NOT_FOUND))
            s_send (self, peer, "ERROR VM not found.");
        else if (reason && streq (reason, LL_REASON_REVOKED)) {
            s_forget_hello (self, peer);
            s_send (self, peer, "ERROR token revoked");
        }
        else
            s_sendf (self, peer, "ERROR %s", reason ? reason : "failed");
    }
    free (command);
    free (id);
    free (status);
    free (reason);
    zmsg_destroy (&msg);
}

//  Forget silent peers; refresh last_seen_at of the live ones.
static void
s_self_tick (self_t *self)
{
    int64_t now = ll_now_ms ();
    zlistx_t *gone = zlistx_new ();
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers))
        if (now - p->last_ms > LL_GATEWAY_SILENT_MS)
            zlistx_add_end (gone, p);
    for (s_peer_t *p = zlistx_first (gone); p; p = zlistx_next (gone)) {
        s_unwait (self, p);
        zhashx_delete (self->peers, p->key);
    }
    zlistx_destroy (&gone);
    if (now < self->next_seen_ms)
        return;
    self->next_seen_ms = now + LL_GATEWAY_SEEN_MS;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, LL_CMD_VM_SEEN);
    zmsg_addstr (msg, "s");
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers))
        if (p->host && p->seen) {
            zmsg_addstr (msg, p->host);
            p->seen = false;
        }
    if (zmsg_size (msg) > 2)
        zmsg_send (&msg, self->assigner);
    zmsg_destroy (&msg);
}

void
gateway_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int64_t next_tick = ll_now_ms () + LL_GATEWAY_TICK_MS;
    while (!self->terminated) {
        int64_t left = next_tick - ll_now_ms ();
        void *which = zpoller_wait (poller, left > 0 ? (int) left : 0);
        if (which == pipe) {
            bool was_started = self->started;
            s_self_handle_pipe (self);
            if (!was_started && self->router && self->waiters
                && self->assigner) {
                zpoller_add (poller, self->router);
                zpoller_add (poller, self->waiters);
                zpoller_add (poller, self->assigner);
            }
        }
        else if (self->router && which == self->router)
            s_self_handle_router (self);
        else if (self->waiters && which == self->waiters)
            s_self_handle_waiters (self);
        else if (self->assigner && which == self->assigner)
            s_self_handle_assigner (self);
        else if (zpoller_terminated (poller))
            break;
        //  The tick moves on even when the gateway is off (no endpoint):
        //  a deadline left in the past made every wait return at once
        if (ll_now_ms () >= next_tick) {
            if (self->router)
                s_self_tick (self);
            next_tick = ll_now_ms () + LL_GATEWAY_TICK_MS;
        }
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
