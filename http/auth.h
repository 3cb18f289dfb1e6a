/*  Admin authentication at the HTTP edge: the admin's credential (a
    libsodium crypto_pwhash_str hash, made once from app.admin_password at
    first use, or taken from app.admin_password_hash), a cache of the one
    credential that verified so HTTP Basic does not pay pwhash per request,
    browser session ids (random; only their SHA-256 is stored, by the admin
    actor), the CSRF token of a session, and the small parsers the edge
    needs (cookies, safe redirect targets). The client's address behind
    proxies is runtime/proxy.h's.

    Sessions, failed-login counts and the audit log live in PostgreSQL (the
    admin actor, runtime/protocol.h) so every allocator sharing the database
    agrees; this module keeps no session state. */
#ifndef LL_HTTP_AUTH_H
#define LL_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/config.h"

#define LL_SESSION_COOKIE     "lablink_session"
#define LL_SESSION_ID_HEX     64   //  hex characters of a session id
#define LL_SESSION_HASH_HEX   64   //  hex SHA-256 of the id
#define LL_CSRF_HEX           64   //  hex characters of a CSRF token
#define LL_LOGIN_MAX_FAILURES 5    //  failed logins per address per window
#define LL_LOGIN_WINDOW_S     300  //  the window, seconds
#define LL_ADDRESS_MAX        64   //  longest client address kept

typedef struct ll_admin_auth ll_admin_auth_t;

//  NULL when libsodium cannot start. Nothing expensive happens here.
ll_admin_auth_t *ll_admin_auth_new (const ll_config_t *config);

void ll_admin_auth_destroy (ll_admin_auth_t **self_p);

//  True when an admin credential is configured at all.
bool ll_admin_auth_configured (ll_admin_auth_t *self);

//  Check user and password against the salted hash (crypto_pwhash_str_
//  verify; one at a time, so a flood of guesses costs one pwhash's memory).
bool ll_admin_auth_verify (ll_admin_auth_t *self,
                           const char *user,
                           const char *password);

//  The decoded "user:password" of an HTTP Basic header: true when it is the
//  cached credential (cheap); *cached tells whether the cache answered.
//  A miss is verified with pwhash and cached on success.
bool ll_admin_auth_basic (ll_admin_auth_t *self,
                          const char *pair,
                          size_t len,
                          bool *cached);

//  Like ll_admin_auth_basic but only asks the cache (no pwhash).
bool ll_admin_auth_cached (ll_admin_auth_t *self, const char *pair, size_t len);

//  A fresh session: id (LL_SESSION_ID_HEX + 1 bytes) and its hash.
void ll_session_new (char *id, char *hash);

//  The stored form of a session id (hash: LL_SESSION_HASH_HEX + 1 bytes).
void ll_session_hash (const char *id, char *hash);

//  The CSRF token of a session id (out: LL_CSRF_HEX + 1 bytes).
void ll_session_csrf (const char *id, char *out);

//  Constant-time comparison of two tokens (false when lengths differ).
bool ll_auth_equal (const char *a, const char *b);

//  The value of cookie name in a Cookie header into out; its length, or
//  -1 when absent or longer than size - 1.
int
ll_cookie_get (const char *header, const char *name, char *out, size_t size);

//  True when id looks like a session id (64 lower-case hex characters).
bool ll_session_id_valid (const char *id);

//  True when next is a local path to redirect to after login: starts with
//  one '/', no "//", no backslash, no control characters, at most 512.
bool ll_safe_next (const char *next);

//  True when the Origin header (may be NULL) names this host (the Host
//  header): absent Origin counts as same origin (scripts send none).
bool ll_same_origin (const char *origin, const char *host);

#endif
