#include "http/auth.h"
#include "runtime/log.h"
#include "runtime/protocol.h"
#include "runtime/secret.h"
#include "runtime/token.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ll_admin_auth {
    char *user;                         //  app.admin_user
    char *password;                     //  plaintext until hashed, or NULL
    char hash[crypto_pwhash_STRBYTES];  //  crypto_pwhash_str, "" until made
    pthread_mutex_t lock;               //  one verification at a time
    unsigned char key[crypto_generichash_KEYBYTES];  //  cache key (random)
    unsigned char cached[crypto_generichash_BYTES];  //  verified "user:pass"
    bool have_cached;                                //  cached is set
};

ll_admin_auth_t *
ll_admin_auth_new (const ll_config_t *config)
{
    if (sodium_init () < 0)
        return NULL;
    ll_admin_auth_t *self = calloc (1, sizeof *self);
    self->user = strdup (config->app.admin_user);
    const char *hash = config->app.admin_password_hash;
    if (*hash && strlen (hash) < sizeof self->hash)
        snprintf (self->hash, sizeof self->hash, "%s", hash);
    else if (*config->app.admin_password)
        self->password = strdup (config->app.admin_password);
    pthread_mutex_init (&self->lock, NULL);
    randombytes_buf (self->key, sizeof self->key);
    return self;
}

void
ll_admin_auth_destroy (ll_admin_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_admin_auth_t *self = *self_p;
    ll_secret_free (&self->password);
    free (self->user);
    pthread_mutex_destroy (&self->lock);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

bool
ll_admin_auth_configured (ll_admin_auth_t *self)
{
    return *self->hash || self->password;
}

//  Argon2id with OWASP's minimum (19 MiB, 2 passes). libsodium's
//  "interactive" preset takes 64 MiB per hash and per verification, which
//  alone made the allocator's peak memory 81 MiB (the export benchmark's
//  goal is 64). Verifications are serialised by the lock, and a verified
//  Basic pair is cached, so the cost is paid rarely.
#define S_HASH_OPSLIMIT 2
#define S_HASH_MEMLIMIT (19 * 1024 * 1024)

//  Under the lock: make the hash from the plaintext once.
static int
s_ensure_hash (ll_admin_auth_t *self)
{
    if (*self->hash)
        return 0;
    if (!self->password)
        return -1;
    if (crypto_pwhash_str (self->hash, self->password, strlen (self->password),
                           S_HASH_OPSLIMIT, S_HASH_MEMLIMIT)
        != 0) {
        self->hash[0] = '\0';
        return -1;
    }
    ll_secret_free (&self->password);
    return 0;
}

static bool
s_verify_locked (ll_admin_auth_t *self, const char *user, const char *password)
{
    if (s_ensure_hash (self) != 0)
        return false;
    //  Always pay the verification, even for a wrong user name
    bool pass_ok =
        crypto_pwhash_str_verify (self->hash, password, strlen (password)) == 0;
    bool user_ok = ll_auth_equal (user, self->user);
    return pass_ok && user_ok;
}

bool
ll_admin_auth_verify (ll_admin_auth_t *self,
                      const char *user,
                      const char *password)
{
    pthread_mutex_lock (&self->lock);
    bool ok = s_verify_locked (self, user, password);
    pthread_mutex_unlock (&self->lock);
    return ok;
}

bool
ll_admin_auth_cached (ll_admin_auth_t *self, const char *pair, size_t len)
{
    unsigned char digest[crypto_generichash_BYTES];
    crypto_generichash (digest, sizeof digest, (const unsigned char *) pair,
                        len, self->key, sizeof self->key);
    pthread_mutex_lock (&self->lock);
    bool hit = self->have_cached
               && sodium_memcmp (digest, self->cached, sizeof digest) == 0;
    pthread_mutex_unlock (&self->lock);
    sodium_memzero (digest, sizeof digest);
    return hit;
}

bool
ll_admin_auth_basic (ll_admin_auth_t *self,
                     const char *pair,
                     size_t len,
                     bool *cached)
{
    *cached = false;
    if (ll_admin_auth_cached (self, pair, len)) {
        *cached = true;
        return true;
    }
    const char *colon = memchr (pair, ':', len);
    if (!colon || memchr (pair, '\0', len))
        return false;
    char *user = strndup (pair, (size_t) (colon - pair));
    char *password = strndup (colon + 1, len - (size_t) (colon - pair) - 1);
    pthread_mutex_lock (&self->lock);
    bool ok = s_verify_locked (self, user, password);
    if (ok) {
        crypto_generichash (self->cached, sizeof self->cached,
                            (const unsigned char *) pair, len, self->key,
                            sizeof self->key);
        self->have_cached = true;
    }
    pthread_mutex_unlock (&self->lock);
    ll_secret_free (&password);
    free (user);
    return ok;
}

void
ll_session_new (char *id, char *hash)
{
    unsigned char raw[LL_SESSION_ID_HEX / 2];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (id, LL_SESSION_ID_HEX + 1, raw, sizeof raw);
    sodium_memzero (raw, sizeof raw);
    ll_session_hash (id, hash);
}

void
ll_session_hash (const char *id, char *hash)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) id, strlen (id));
    sodium_bin2hex (hash, LL_SESSION_HASH_HEX + 1, digest, sizeof digest);
}

void
ll_session_csrf (const char *id, char *out)
{
    static const char label[] = "lablink-csrf-v1";
    unsigned char digest[LL_CSRF_HEX / 2];
    crypto_generichash (digest, sizeof digest, (const unsigned char *) label,
                        sizeof label - 1, (const unsigned char *) id,
                        strlen (id));
    sodium_bin2hex (out, LL_CSRF_HEX + 1, digest, sizeof digest);
}

bool
ll_auth_equal (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la != lb || la == 0)
        return false;
    return sodium_memcmp (a, b, la) == 0;
}

int
ll_cookie_get (const char *header, const char *name, char *out, size_t size)
{
    if (!header || size == 0)
        return -1;
    size_t name_len = strlen (name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr (p, ';');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        if (len > name_len && strncmp (p, name, name_len) == 0
            && p[name_len] == '=') {
            size_t value_len = len - name_len - 1;
            if (value_len >= size)
                return -1;
            memcpy (out, p + name_len + 1, value_len);
            out[value_len] = '\0';
            return (int) value_len;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

bool
ll_session_id_valid (const char *id)
{
    if (strlen (id) != LL_SESSION_ID_HEX)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

bool
ll_safe_next (const char *next)
{
    if (!next || next[0] != '/' || next[1] == '/' || strlen (next) > 512)
        return false;
    for (const char *c = next; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == '\\' || *c == 0x7f)
            return false;
    return strstr (next, "//") == NULL;
}

bool
ll_same_origin (const char *origin, const char *host)
{
    if (!origin)
        return true;
    if (!host)
        return false;
    const char *sep = strstr (origin, "://");
    if (!sep)
        return false;
    return strcmp (sep + 3, host) == 0;
}

//  --- the agents' credentials ---------------------------------------------

//  Verified agent tokens kept: a backstop lifetime (revocations arrive as
//  events at once) and a bound on the table
#define S_TOKEN_CACHE_MS  60000
#define S_TOKEN_CACHE_MAX 100000

//  One verified agent token (the key is its hash).
typedef struct {
    char host[LL_TOKEN_SCOPE_MAX + 1];  //  the VM
    long long generation;               //  its token's generation
    int64_t expires_ms;                 //  verify again after this
} s_cached_token_t;

static void
s_cached_token_free (void **item)
{
    free (*item);
    *item = NULL;
}

struct ll_agent_auth {
    pthread_mutex_t secret_lock;        //  guards secret
    char secret[129];                   //  server secret, "" until fetched
    pthread_mutex_t tokens_lock;        //  guards tokens
    zhashx_t *tokens;                   //  token hash -> s_cached_token_t
    atomic_uint_fast64_t tokens_epoch;  //  bumped by every forget
};

ll_agent_auth_t *
ll_agent_auth_new (void)
{
    ll_agent_auth_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->secret_lock, NULL);
    pthread_mutex_init (&self->tokens_lock, NULL);
    self->tokens = zhashx_new ();
    zhashx_set_destructor (self->tokens, s_cached_token_free);
    return self;
}

void
ll_agent_auth_destroy (ll_agent_auth_t **self_p)
{
    ll_agent_auth_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->tokens);
    pthread_mutex_destroy (&self->tokens_lock);
    pthread_mutex_destroy (&self->secret_lock);
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    *self_p = NULL;
}

//  --- authentication -----------------------------------------------------

bool
ll_http_state_changing (ll_http_req_t *req)
{
    const char *m = req->info->request_method;
    return strcmp (m, "GET") != 0 && strcmp (m, "HEAD") != 0
           && strcmp (m, "OPTIONS") != 0;
}

//  A failed call to the admin actor is logged (an expired session is not
//  a failure); returns rc.
static int
s_admin_failed (const char *command, int rc, char *error)
{
    if (rc != 0 && error && !streq (error, LL_REASON_EXPIRED))
        ll_warn ("http: admin %s failed: %s", command, error);
    free (error);
    return rc;
}

int
ll_http_audit (ll_http_req_t *req,
               const char *action,
               const char *target,
               const char *outcome,
               const char *detail)
{
    char *error = NULL;
    int rc = ll_ask_audit (&req->client, *req->actor ? req->actor : "anonymous",
                           action, target, outcome, detail, &error);
    return s_admin_failed (LL_CMD_AUDIT, rc, error);
}

int
ll_http_login_throttled (ll_http_req_t *req, int *retry_after)
{
    char *failures = NULL, *retry = NULL, *error = NULL;
    *retry_after = 0;
    int rc = ll_ask_login_check (&req->client, req->address, LL_LOGIN_WINDOW_S,
                                 &failures, &retry, &error);
    if (s_admin_failed (LL_CMD_LOGIN_CHECK, rc, error) != 0)
        return 0;  //  database down: the serialised pwhash still bounds cost
    long count = strtol (failures, NULL, 10);
    long seconds = strtol (retry, NULL, 10);
    free (failures);
    free (retry);
    if (count < LL_LOGIN_MAX_FAILURES)
        return 0;
    *retry_after = seconds > 0 ? (int) seconds : 1;
    return 1;
}

void
ll_http_login_result (ll_http_req_t *req, bool ok)
{
    const char *command = ok ? LL_CMD_LOGIN_OK : LL_CMD_LOGIN_FAILED;
    char *error = NULL;
    int rc = ll_ask_login_result (&req->client, command, req->address, &error);
    s_admin_failed (command, rc, error);
}

//  Fetch the server secret once from the registry; 0 or -1.
static int
s_secret (ll_http_req_t *req, char *out, size_t size)
{
    ll_agent_auth_t *self = ll_http_server_agents (req->server);
    pthread_mutex_lock (&self->secret_lock);
    bool have = self->secret[0] != '\0';
    if (have)
        snprintf (out, size, "%s", self->secret);
    pthread_mutex_unlock (&self->secret_lock);
    if (have)
        return 0;
    char *secret = NULL, *error = NULL;
    ll_ask_secret (&req->client, &secret, &error);
    free (error);
    if (!secret || strlen (secret) >= sizeof self->secret) {
        free (secret);
        return -1;
    }
    pthread_mutex_lock (&self->secret_lock);
    snprintf (self->secret, sizeof self->secret, "%s", secret);
    pthread_mutex_unlock (&self->secret_lock);
    snprintf (out, size, "%s", secret);
    ll_secret_free (&secret);
    return 0;
}

int
ll_http_secret_mac (ll_http_req_t *req,
                    const char *message,
                    char *hex,
                    size_t size)
{
    char secret[129];
    if (size < 2 * crypto_auth_hmacsha256_BYTES + 1
        || s_secret (req, secret, sizeof secret) != 0)
        return -1;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, (const unsigned char *) secret,
                                 strlen (secret));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) message,
                                   strlen (message));
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_memzero (secret, sizeof secret);
    sodium_memzero (&state, sizeof state);
    sodium_bin2hex (hex, size, mac, sizeof mac);
    return 0;
}

//  --- agent tokens ------------------------------------------------------

void
ll_agent_auth_forget (ll_agent_auth_t *self, const char *host)
{
    pthread_mutex_lock (&self->tokens_lock);
    atomic_fetch_add (&self->tokens_epoch, 1);
    if (!host)
        zhashx_purge (self->tokens);
    else {
        zlistx_t *gone = zlistx_new ();
        zlistx_set_duplicator (gone, (czmq_duplicator *) strdup);
        zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
        for (s_cached_token_t *t = zhashx_first (self->tokens); t;
             t = zhashx_next (self->tokens))
            if (streq (t->host, host))
                zlistx_add_end (gone, (void *) zhashx_cursor (self->tokens));
        for (const char *key = zlistx_first (gone); key;
             key = zlistx_next (gone))
            zhashx_delete (self->tokens, key);
        zlistx_destroy (&gone);
    }
    pthread_mutex_unlock (&self->tokens_lock);
}

//  The cached generation of the token with this hash for host: 0, or -1
//  when not cached (or expired).
static int
s_token_cached (ll_agent_auth_t *self,
                const char *hash,
                const char *host,
                long long *generation)
{
    int rc = -1;
    pthread_mutex_lock (&self->tokens_lock);
    s_cached_token_t *t = zhashx_lookup (self->tokens, hash);
    if (t && streq (t->host, host) && t->expires_ms > ll_now_ms ()) {
        *generation = t->generation;
        rc = 0;
    }
    pthread_mutex_unlock (&self->tokens_lock);
    return rc;
}

//  Remember a verified token, unless a forget happened since epoch (the
//  check may predate a revocation: better to verify again next time).
static void
s_token_remember (ll_agent_auth_t *self,
                  const char *hash,
                  const char *host,
                  long long generation,
                  uint64_t epoch)
{
    pthread_mutex_lock (&self->tokens_lock);
    if (atomic_load (&self->tokens_epoch) == epoch) {
        if (zhashx_size (self->tokens) >= S_TOKEN_CACHE_MAX)
            zhashx_purge (self->tokens);
        s_cached_token_t *t = calloc (1, sizeof *t);
        snprintf (t->host, sizeof t->host, "%s", host);
        t->generation = generation;
        t->expires_ms = ll_now_ms () + S_TOKEN_CACHE_MS;
        zhashx_update (self->tokens, hash, t);
    }
    pthread_mutex_unlock (&self->tokens_lock);
}

//  Check the Bearer token (see server.h); 0 with req->agent set, or -1
//  after answering.
static int
s_agent_authenticate (ll_http_req_t *req, const char *token)
{
    ll_agent_auth_t *self = ll_http_server_agents (req->server);
    char scope[LL_TOKEN_SCOPE_MAX + 1];
    if (ll_token_scope (token, scope, sizeof scope) != 0) {
        ll_http_error (req, 401, "Invalid API token.");
        return -1;
    }
    if (scope[0] == '_') {
        //  A service's token, derived from the server secret
        char secret[129];
        if (s_secret (req, secret, sizeof secret) != 0) {
            ll_http_error (req, 503,
                           "Cannot verify the token now: database "
                           "unavailable.");
            return -1;
        }
        ll_token_check_t check = ll_token_check (secret, token, scope);
        sodium_memzero (secret, sizeof secret);
        if (check != LL_TOKEN_OK) {
            ll_http_error (req, 401, "Invalid API token.");
            return -1;
        }
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        return 0;
    }
    char hash[LL_TOKEN_HASH_HEX];
    ll_token_hash (token, hash);
    long long generation = 0;
    if (s_token_cached (self, hash, scope, &generation) == 0) {
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        req->agent_generation = generation;
        return 0;
    }
    uint64_t epoch = atomic_load (&self->tokens_epoch);
    char *text = NULL, *error = NULL;
    int rc = ll_ask_vm_auth (&req->client, scope, hash, &text, &error);
    if (rc == 0) {
        generation = strtoll (text, NULL, 10);
        s_token_remember (self, hash, scope, generation, epoch);
        snprintf (req->agent, sizeof req->agent, "%s", scope);
        req->agent_generation = generation;
    }
    else if (streq (error, LL_REASON_REVOKED))
        ll_http_error (req, 401, "token revoked");
    else if (streq (error, LL_REASON_NOT_FOUND))
        ll_http_error (req, 404, "VM not found.");
    else if (streq (error, LL_REASON_INVALID))
        ll_http_error (req, 401, "Invalid API token.");
    else
        ll_http_error (req, 503,
                       "Cannot verify the token now: database unavailable.");
    int result = rc == 0 ? 0 : -1;
    free (text);
    free (error);
    return result;
}

int
ll_http_agent_check (ll_http_req_t *req, const char *scope)
{
    if (req->is_admin)
        return 0;
    if (!req->agent[0]) {
        ll_http_error (req, 401, "Missing or invalid Authorization header.");
        return -1;
    }
    //  The VM this request is about, on every line logged for it
    if (scope)
        ll_log_context_set ("hostname", scope);
    if (req->agent[0] != '_' && scope && streq (req->agent, scope))
        return 0;
    ll_http_error (req, 403, "This token belongs to another VM.");
    return -1;
}

bool
ll_http_agent_service (ll_http_req_t *req, const char *scope)
{
    return scope && scope[0] == '_' && streq (req->agent, scope);
}

typedef enum {
    S_BASIC_NONE,       //  no Basic header
    S_BASIC_OK,         //  the admin
    S_BASIC_BAD,        //  wrong or malformed
    S_BASIC_THROTTLED,  //  too many failures from this address
} s_basic_t;

static s_basic_t
s_admin_basic (ll_http_req_t *req, int *retry_after)
{
    ll_admin_auth_t *self = ll_http_server_auth (req->server);
    const char *auth = ll_http_header (req, "Authorization");
    if (!auth || strncasecmp (auth, "Basic ", 6) != 0)
        return S_BASIC_NONE;
    if (!ll_admin_auth_configured (self))
        return S_BASIC_BAD;
    unsigned char decoded[512];
    size_t len = 0;
    const char *b64 = auth + 6;
    if (strlen (b64) > 680
        || sodium_base642bin (decoded, sizeof decoded - 1, b64, strlen (b64),
                              " ", &len, NULL, sodium_base64_VARIANT_ORIGINAL)
               != 0)
        return S_BASIC_BAD;
    decoded[len] = '\0';
    s_basic_t result = S_BASIC_BAD;
    if (ll_admin_auth_cached (self, (char *) decoded, len))
        result = S_BASIC_OK;
    else if (ll_http_login_throttled (req, retry_after))
        result = S_BASIC_THROTTLED;
    else {
        bool cached = false;
        bool ok = ll_admin_auth_basic (self, (char *) decoded, len, &cached);
        ll_http_login_result (req, ok);
        result = ok ? S_BASIC_OK : S_BASIC_BAD;
    }
    if (result == S_BASIC_OK) {
        char *colon = memchr (decoded, ':', len);
        size_t user_len = colon ? (size_t) (colon - (char *) decoded) : 0;
        if (user_len >= sizeof req->actor)
            user_len = sizeof req->actor - 1;
        memcpy (req->actor, decoded, user_len);
        req->actor[user_len] = '\0';
    }
    sodium_memzero (decoded, sizeof decoded);
    return result;
}

//  The session cookie: 1 valid (req filled), 0 none or expired, -1 when the
//  database cannot tell. *had_cookie tells whether one was sent.
static int
s_admin_session (ll_http_req_t *req, bool *had_cookie)
{
    const ll_config_t *config = ll_http_server_runtime (req->server)->config;
    char id[LL_SESSION_ID_HEX + 2];
    *had_cookie = false;
    if (ll_cookie_get (ll_http_header (req, "Cookie"), LL_SESSION_COOKIE, id,
                       sizeof id)
        < 0)
        return 0;
    *had_cookie = true;
    if (!ll_session_id_valid (id))
        return 0;
    char hash[LL_SESSION_HASH_HEX + 1];
    ll_session_hash (id, hash);
    char *actor = NULL, *error = NULL;
    int rc =
        ll_ask_session_check (&req->client, hash, config->app.session_idle_s,
                              LL_ADMIN_SESSION_MAX_S, &actor, &error);
    bool expired = rc != 0 && streq (error, LL_REASON_EXPIRED);
    s_admin_failed (LL_CMD_SESSION_CHECK, rc, error);
    if (rc == 0) {
        snprintf (req->actor, sizeof req->actor, "%s", actor);
        free (actor);
        snprintf (req->session_hash, sizeof req->session_hash, "%s", hash);
        ll_session_csrf (id, req->csrf);
    }
    sodium_memzero (id, sizeof id);
    return rc == 0 ? 1 : expired ? 0 : -1;
}

static void
s_send_basic_challenge (ll_http_req_t *req)
{
    ll_http_send (req, 401, "text/html", "Unauthorized Access", 19,
                  LL_HTTP_BASIC_CHALLENGE);
}

//  A browser navigation (not a script, not fetch()).
static bool
s_is_navigation (ll_http_req_t *req)
{
    const char *accept = ll_http_header (req, "Accept");
    const char *mode = ll_http_header (req, "Sec-Fetch-Mode");
    return strcmp (req->info->request_method, "GET") == 0 && accept
           && strstr (accept, "text/html")
           && (!mode || strcmp (mode, "navigate") == 0);
}

//  The admin is not authenticated: a login page for browsers, the upstream
//  401 for scripts, a JSON 401 without a Basic challenge for pages whose
//  session ended (so no browser password dialog pops up).
static void
s_send_unauthenticated (ll_http_req_t *req, bool had_cookie)
{
    const char *clear = had_cookie ? "Set-Cookie: " LL_SESSION_COOKIE
                                     "=; Path=/; Max-Age=0; HttpOnly; "
                                     "SameSite=Strict\r\n"
                                   : "";
    if (s_is_navigation (req)) {
        char next[600] = "/admin";
        const char *uri = req->info->local_uri;
        if (uri && ll_safe_next (uri) && strlen (uri) < 500)
            snprintf (next, sizeof next, "%s", uri);
        char encoded[1800];
        mg_url_encode (next, encoded, sizeof encoded);
        char headers[2100];
        snprintf (headers, sizeof headers,
                  "Location: /admin/login?next=%s\r\n%s", encoded, clear);
        ll_http_send (req, 303, "text/plain; charset=utf-8", "", 0, headers);
    }
    else if (had_cookie) {
        static const char body[] =
            "{\"error\":\"Session expired. Please log in again.\"}";
        ll_http_send (req, 401, "application/json", body, sizeof body - 1,
                      clear);
    }
    else
        s_send_basic_challenge (req);
}

static bool
s_audited_get (const ll_route_t *route)
{
    //  Reads that hand data out count as actions
    return strcmp (route->pattern, "/api/scp-client") == 0
           || strcmp (route->pattern, "/api/exports/{}") == 0;
}

bool
ll_http_try_admin (ll_http_req_t *req)
{
    int retry = 0;
    s_basic_t basic = s_admin_basic (req, &retry);
    bool had_cookie = false;
    if (basic == S_BASIC_OK)
        req->is_admin = true;
    else if (basic == S_BASIC_NONE && s_admin_session (req, &had_cookie) > 0)
        req->is_admin = req->via_session = true;
    return req->is_admin;
}

//  0 when the request may proceed; else the response was sent.
int
ll_http_authorize (ll_http_req_t *req)
{
    ll_auth_t auth = req->route->auth;
    if (auth == LL_AUTH_PUBLIC)
        return 0;
    if (auth == LL_AUTH_ADMIN || auth == LL_AUTH_ADMIN_OR_AGENT) {
        int retry = 0;
        s_basic_t basic = s_admin_basic (req, &retry);
        if (basic == S_BASIC_THROTTLED) {
            char headers[64];
            snprintf (headers, sizeof headers, "Retry-After: %d\r\n", retry);
            static const char body[] = "{\"error\":\"Too many failed logins. "
                                       "Try again later.\"}";
            ll_http_send (req, 429, "application/json", body, sizeof body - 1,
                          headers);
            return -1;
        }
        if (basic == S_BASIC_BAD) {
            ll_http_audit (req, "login (basic)", NULL, "failure", req->address);
            s_send_basic_challenge (req);
            return -1;
        }
        bool had_cookie = false;
        int session = 0;
        if (basic == S_BASIC_NONE) {
            const char *bearer = ll_http_header (req, "Authorization");
            if (auth == LL_AUTH_ADMIN_OR_AGENT && bearer
                && strncasecmp (bearer, "Bearer ", 7) == 0)
                return s_agent_authenticate (req, bearer + 7);
            session = s_admin_session (req, &had_cookie);
            if (session < 0) {
                ll_http_error (req, 503,
                               "Cannot check the session now: database "
                               "unavailable.");
                return -1;
            }
        }
        if (basic == S_BASIC_OK || session > 0) {
            req->is_admin = true;
            req->via_session = session > 0;
            req->audit =
                ll_http_state_changing (req) || s_audited_get (req->route);
            return 0;
        }
        if (auth == LL_AUTH_ADMIN_OR_AGENT && !had_cookie) {
            ll_http_error (req, 401,
                           "Missing or invalid Authorization header.");
            return -1;
        }
        s_send_unauthenticated (req, had_cookie);
        return -1;
    }
    //  LL_AUTH_AGENT: the token names its VM and is checked here, before
    //  the body is read; handlers compare that VM with the one the request
    //  is about (ll_http_agent_check).
    const char *bearer = ll_http_header (req, "Authorization");
    if (!bearer || strncasecmp (bearer, "Bearer ", 7) != 0 || !bearer[7]) {
        ll_http_error (req, 401, "Missing or invalid Authorization header.");
        return -1;
    }
    return s_agent_authenticate (req, bearer + 7);
}

//  Cross-site request forgery: a state-changing admin request must come
//  from our own pages (Origin / Sec-Fetch-Site, when the client sends them)
//  and, when the session cookie authenticated it, carry the session's token
//  in X-CSRF-Token or the form field csrf_token. 0, or -1 after a 403.
int
ll_http_check_csrf (ll_http_req_t *req)
{
    if (!req->is_admin || !ll_http_state_changing (req))
        return 0;
    const char *site = ll_http_header (req, "Sec-Fetch-Site");
    bool ok = !site || strcmp (site, "same-origin") == 0
              || strcmp (site, "none") == 0;
    ok = ok
         && ll_same_origin (ll_http_header (req, "Origin"),
                            ll_http_header (req, "Host"));
    if (ok && req->via_session) {
        char token[LL_CSRF_HEX + 2] = "";
        const char *header = ll_http_header (req, "X-CSRF-Token");
        if (header && strlen (header) < sizeof token)
            snprintf (token, sizeof token, "%s", header);
        else if (!header) {
            const char *type = ll_http_header (req, "Content-Type");
            if (type
                && strncasecmp (type, "application/x-www-form-urlencoded", 33)
                       == 0
                && ll_http_form_field (req, "csrf_token", token, sizeof token)
                       < 0)
                token[0] = '\0';
        }
        ok = ll_auth_equal (token, req->csrf);
    }
    if (ok)
        return 0;
    ll_http_error (req, 403, "CSRF token missing or invalid.");
    return -1;
}

bool
ll_http_behind_tls (ll_http_req_t *req)
{
    const char *proto = ll_http_header (req, "X-Forwarded-Proto");
    return ll_http_server_runtime (req->server)->config->app.secure_cookies
           || (proto && strcasecmp (proto, "https") == 0);
}
