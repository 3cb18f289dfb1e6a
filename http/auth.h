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
    agrees; this module keeps no session state.

    The second half is the edge's authorisation of each request, run by
    http/server.c before a route's handler: admin Basic and session, agent
    Bearer tokens (a cache of verified ones, the server secret for service
    tokens), login throttling, CSRF and the audit log. */
#ifndef LL_HTTP_AUTH_H
#define LL_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"
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

//  --- the edge: who is calling ------------------------------------------

//  The agents' credentials the edge keeps (one per server): verified
//  Bearer tokens (the key is the token's hash) and the server secret that
//  service tokens derive from. Thread-safe.
typedef struct ll_agent_auth ll_agent_auth_t;

ll_agent_auth_t *ll_agent_auth_new (void);

void ll_agent_auth_destroy (ll_agent_auth_t **self_p);

//  Forget the cached tokens of host (NULL: all).
void ll_agent_auth_forget (ll_agent_auth_t *self, const char *host);

//  The route's auth class checked (Basic, session cookie, Bearer token);
//  0 when the request may proceed, else -1 and the answer was sent (401,
//  403, 404, 429 with Retry-After, 503, or a redirect to the login page).
int ll_http_authorize (ll_http_req_t *req);

//  Cross-site request forgery: a state-changing admin request must come
//  from our own pages and, when the session cookie authenticated it, carry
//  the session's token. 0, or -1 after a 403.
int ll_http_check_csrf (ll_http_req_t *req);

//  Agents authenticate at the edge, before their body is read: the Bearer
//  token names its VM, and its hash must be that VM's current token's
//  (req->agent, req->agent_generation), else the answer is sent there:
//  401 "Invalid API token." (malformed, forged), 401 "token revoked" (a
//  token the VM had before a later launch, replace or destroy), 404 "VM
//  not found." (a hostname the allocator never launched nor registered),
//  503 (database unavailable). Verified tokens are cached; a replaced or
//  removed token is forgotten at once (ll_http_server_forget).
//
//  Then, once the handler knows which VM the request is about (scope = its
//  hostname): 0 when the token is that VM's own (or the admin is
//  authenticated on an admin-or-agent route); otherwise 403 "This token
//  belongs to another VM." (a service token too) was sent and -1 returned.
int ll_http_agent_check (ll_http_req_t *req, const char *scope);

//  True when the request was authenticated by the token of the service
//  scope ('_' first, e.g. "_lambda").
bool ll_http_agent_service (ll_http_req_t *req, const char *scope);

//  hex (2 * 32 bytes + NUL in size) of HMAC-SHA256 keyed with the server
//  secret over message: links the allocator hands out (a student's
//  progress page) that nobody else can make. 0, or -1 when the secret
//  cannot be read.
int ll_http_secret_mac (ll_http_req_t *req,
                        const char *message,
                        char *hex,
                        size_t size);

//  For a public route that tells the admin more (health): true, with
//  req->is_admin set, when the request carries valid admin credentials
//  (Basic or the session cookie). Wrong ones count as failed logins but
//  are answered by the route as anonymous.
bool ll_http_try_admin (ll_http_req_t *req);

//  True when cookies must be marked Secure: app.secure_cookies, or TLS in
//  front (X-Forwarded-Proto: https).
bool ll_http_behind_tls (ll_http_req_t *req);

//  Write an audit_log row through the admin actor (actor = req->actor or
//  "anonymous"); failures are logged, never fatal. 0 or -1.
int ll_http_audit (ll_http_req_t *req,
                   const char *action,
                   const char *target,
                   const char *outcome,
                   const char *detail);

//  Failed-login limit for req->address: 1 (and *retry_after seconds) when
//  the address has LL_LOGIN_MAX_FAILURES failures in the window, else 0
//  (also when the database cannot tell).
int ll_http_login_throttled (ll_http_req_t *req, int *retry_after);

//  Record a login outcome for req->address (a failure counts; a success
//  forgets the failures).
void ll_http_login_result (ll_http_req_t *req, bool ok);

//  True for methods that change state (anything but GET, HEAD, OPTIONS).
bool ll_http_state_changing (ll_http_req_t *req);

#endif
