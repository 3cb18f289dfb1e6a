#include "actors/gateway.h"
#include "runtime/actor.h"
#include "runtime/log.h"
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
    int64_t last_ms;    //  last message from it
    bool waiting;       //  a VM-WAIT is parked for it
    bool seen;          //  last_seen_at refresh due
} s_peer_t;

typedef struct {
    ll_actor_t actor;      //  pipe, runtime (no inproc ROUTER)
    zsock_t *router;       //  agents (tcp, CURVE); NULL when off
    zsock_t *waiters;      //  DEALER to LL_ENDPOINT_WAITERS
    zsock_t *assigner;     //  DEALER to LL_ENDPOINT_ASSIGNER
    zsock_t *registry;     //  DEALER to LL_ENDPOINT_REGISTRY (secret)
    zhashx_t *peers;       //  key -> s_peer_t
    char secret[129];      //  server secret, "" until fetched
    char base_url[300];    //  this allocator's own HTTP address
    CURL *curl;            //  for POST replays (reused: keep-alive)
    int64_t next_seen_ms;  //  next last_seen_at refresh
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
    ll_actor_init (&self->actor, "gateway", pipe, runtime);
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
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    *self_p = NULL;
}

//  The allocator's own URL from app.listen ("127.0.0.1:5000",
//  "0.0.0.0:5000", "5000", first of a list; "" when port 0).
static void
s_base_url (self_t *self)
{
    char listen[128];
    snprintf (listen, sizeof listen, "%s",
              self->actor.runtime->config->app.listen);
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

static void s_self_handle_router (void *arg);
static void s_self_handle_waiters (void *arg);
static void s_self_handle_assigner (void *arg);

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
    ll_actor_reader (&self->actor, self->router, s_self_handle_router);
    ll_actor_reader (&self->actor, self->waiters, s_self_handle_waiters);
    ll_actor_reader (&self->actor, self->assigner, s_self_handle_assigner);
    s_base_url (self);
    self->curl = curl_easy_init ();
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
        sodium_memzero (text, strlen (text));
        zstr_free (&text);
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

static int
s_secret (self_t *self)
{
    if (*self->secret)
        return 0;
    ll_client_t registry = ll_client_dealer (self->registry);
    char *secret = NULL, *error = NULL;
    ll_ask_secret (&registry, &secret, &error);
    free (error);
    if (!secret || strlen (secret) >= sizeof self->secret) {
        free (secret);
        return -1;
    }
    snprintf (self->secret, sizeof self->secret, "%s", secret);
    sodium_memzero (secret, strlen (secret));
    free (secret);
    return 0;
}

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

static void
s_handle_hello (self_t *self, s_peer_t *peer, gateway_frame_t *frame)
{
    if (frame->error) {
        s_send (self, peer, frame->error);
        return;
    }
    const char *host = frame->host;
    const char *token = frame->token;
    if (s_secret (self) != 0) {
        s_send (self, peer, "ERROR " LL_REASON_DATABASE);
        return;
    }
    ll_token_check_t check = ll_token_check (self->secret, token, host);
    if (check != LL_TOKEN_OK) {
        s_send (self, peer,
                check == LL_TOKEN_OTHER_SCOPE
                    ? "ERROR This token belongs to another VM."
                    : "ERROR Invalid API token.");
        return;
    }
    s_unwait (self, peer);  //  a second HELLO starts over
    free (peer->host);
    peer->host = strdup (host);
    if (peer->token)
        sodium_memzero (peer->token, strlen (peer->token));
    free (peer->token);
    peer->token = strdup (token);
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
    ll_proto_send (self->assigner, LL_CMD_VM_RESULT, peer->key, frame->host,
                   frame->ok, frame->text);
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
                           "0", "zmq");
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
    char *command, *id, *error;
    zmsg_t *payload;
    int rc = ll_proto_recv (self->waiters, &command, &id, &payload, &error);
    s_peer_t *peer = id ? zhashx_lookup (self->peers, id) : NULL;
    char *what = NULL, *pin = NULL, *cmd = NULL;
    if (rc == 0 && ll_proto_payload (command, &payload, &what, &pin, &cmd) != 0)
        error = strdup (LL_REASON_BAD_REPLY);
    if (command && streq (command, LL_CMD_VM_WAIT) && peer && peer->waiting) {
        peer->waiting = false;
        if (what && streq (what, LL_WAIT_ASSIGN) && pin && cmd)
            s_sendf (self, peer, "ASSIGN %s %s", pin, cmd);
        else if (what && streq (what, LL_WAIT_UNKNOWN))
            s_send (self, peer, "ERROR VM not found.");
        else
            s_sendf (self, peer, "ERROR %s",
                     error  ? error
                     : what ? what
                            : "wait failed");
    }
    if (pin)
        sodium_memzero (pin, strlen (pin));
    if (cmd)
        sodium_memzero (cmd, strlen (cmd));
    free (pin);
    free (cmd);
    free (what);
    free (command);
    free (id);
    free (error);
    zmsg_destroy (&payload);
}

//  Replies of the assigner: VM-RESULT (to the peer) and VM-SEEN (ignored).
static void
s_self_handle_assigner (void *arg)
{
    self_t *self = arg;
    char *command, *id, *error;
    zmsg_t *payload;
    int rc = ll_proto_recv (self->assigner, &command, &id, &payload, &error);
    s_peer_t *peer = id ? zhashx_lookup (self->peers, id) : NULL;
    if (command && streq (command, LL_CMD_VM_RESULT) && peer) {
        if (rc == 0)
            s_send (self, peer, "RESULT-OK");
        else if (streq (error, LL_REASON_NOT_FOUND))
            s_send (self, peer, "ERROR VM not found.");
        else
            s_sendf (self, peer, "ERROR %s", error);
    }
    free (command);
    free (id);
    free (error);
    zmsg_destroy (&payload);
}

//  Forget silent peers; refresh last_seen_at of the live ones.
static void
s_self_tick (void *arg)
{
    self_t *self = arg;
    if (!self->router)
        return;  //  off
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
    zmsg_t *hosts = zmsg_new ();
    for (s_peer_t *p = zhashx_first (self->peers); p;
         p = zhashx_next (self->peers))
        if (p->host && p->seen) {
            ll_msg_put (hosts, "s", p->host);
            p->seen = false;
        }
    if (zmsg_size (hosts))
        ll_proto_send (self->assigner, LL_CMD_VM_SEEN, "s", &hosts);
    zmsg_destroy (&hosts);
}

static const ll_actor_class_t s_class = {
    .start = s_self_start,
    .tick_ms = LL_GATEWAY_TICK_MS,
    .tick = s_self_tick,
};

void
gateway_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    ll_actor_run (&self->actor, &s_class, self);
    s_self_destroy (&self);
}
