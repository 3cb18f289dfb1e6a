#include "http/auth.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
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
    if (self->password) {
        sodium_memzero (self->password, strlen (self->password));
        free (self->password);
    }
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
    sodium_memzero (self->password, strlen (self->password));
    free (self->password);
    self->password = NULL;
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
    sodium_memzero (password, strlen (password));
    free (password);
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
