/*  Agent tokens: derived from the server secret (settings.server_secret) and
    a scope, so they survive allocator restarts and bind one VM.

      token = <scope> "." hex(HMAC-SHA256(secret, "lablink-agent-v1:" scope))

    The scope is the VM's hostname ([A-Za-z0-9][A-Za-z0-9._-]*), or a
    service name starting with '_' (e.g. "_lambda") that no VM can have.
    Carrying the scope lets the allocator tell a forged token (401) from a
    genuine token of another VM (403). Never log a token. */
#ifndef LL_TOKEN_H
#define LL_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define LL_TOKEN_SCOPE_MAX  253
#define LL_TOKEN_MAX        (LL_TOKEN_SCOPE_MAX + 1 + 64 + 1)
#define LL_TOKEN_SECRET_MIN 32  //  bytes of the secret's text

//  Write the token of scope into out (LL_TOKEN_MAX bytes). 0 or -1 when the
//  scope is not acceptable.
int
ll_token_derive (const char *secret, const char *scope, char *out, size_t size);

typedef enum {
    LL_TOKEN_OK = 0,      //  genuine, for this scope
    LL_TOKEN_INVALID,     //  malformed or forged: 401
    LL_TOKEN_OTHER_SCOPE  //  genuine, but for another VM: 403
} ll_token_check_t;

//  Check a presented token against the expected scope, in constant time
//  for the MAC.
ll_token_check_t
ll_token_check (const char *secret, const char *token, const char *scope);

//  True when scope is a hostname or a service scope.
bool ll_token_scope_valid (const char *scope);

//  A fresh random secret (64 hex characters) into out (at least 65 bytes).
int ll_token_new_secret (char *out, size_t size);

#endif
