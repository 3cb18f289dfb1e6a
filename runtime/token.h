/*  Agent tokens.

    A VM's token is minted at random for each launch of the VM (and for
    each "bring your own VM" registration):

      token = <hostname> "." hex(32 random bytes)

    Only its SHA-256 (ll_token_hash, hex) is stored, with the VM's row and
    a generation number; a new launch, a replace or a destroy revokes it.
    The hostname in front lets the edge know which VM a request claims to
    be before it reads the body, and tell a revoked or forged token (401)
    from a genuine token of another VM (403).

    A service's token (scope starting with '_', e.g. "_lambda", which no VM
    can have) is derived from the server secret (settings.server_secret):

      token = <scope> "." hex(HMAC-SHA256(secret, "lablink-agent-v1:" scope))

    Never log a token. */
#ifndef LL_TOKEN_H
#define LL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define LL_TOKEN_SCOPE_MAX  253
#define LL_TOKEN_MAX        (LL_TOKEN_SCOPE_MAX + 1 + 64 + 1)
#define LL_TOKEN_HASH_HEX   65  //  bytes of ll_token_hash's output
#define LL_TOKEN_SECRET_MIN 32  //  bytes of the secret's text

//  A fresh VM token for hostname into out (LL_TOKEN_MAX bytes): 0, or -1
//  when hostname is not a VM's name.
int ll_token_mint (const char *hostname, char *out, size_t size);

//  The hex SHA-256 of token (what is stored) into out (LL_TOKEN_HASH_HEX).
void ll_token_hash (const char *token, char *out);

//  The scope a well-formed token names (hostname or service) into out
//  (LL_TOKEN_SCOPE_MAX + 1 bytes): 0, or -1 when the token is malformed
//  (no scope, an invalid scope, or not 64 hex digits after the last '.').
int ll_token_scope (const char *token, char *out, size_t size);

//  Write the token of a service scope ('_' first) into out (LL_TOKEN_MAX
//  bytes). 0 or -1 when the scope is not a service's.
int
ll_token_derive (const char *secret, const char *scope, char *out, size_t size);

typedef enum {
    LL_TOKEN_OK = 0,      //  genuine, for this scope
    LL_TOKEN_INVALID,     //  malformed or forged: 401
    LL_TOKEN_OTHER_SCOPE  //  genuine, but for another scope: 403
} ll_token_check_t;

//  Check a presented service token against the expected scope, in
//  constant time for the MAC.
ll_token_check_t
ll_token_check (const char *secret, const char *token, const char *scope);

//  True when scope is a hostname or a service scope.
bool ll_token_scope_valid (const char *scope);

//  A fresh random secret (64 hex characters) into out (at least 65 bytes).
int ll_token_new_secret (char *out, size_t size);

#endif
