#include "runtime/token.h"

#include <sodium.h>
#include <string.h>

#define S_CONTEXT "lablink-agent-v1:"

bool
ll_token_scope_valid (const char *scope)
{
    if (!scope || !*scope || strlen (scope) > LL_TOKEN_SCOPE_MAX)
        return false;
    const char *c = scope;
    bool first_ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
                    || (*c >= '0' && *c <= '9') || *c == '_';
    if (!first_ok)
        return false;
    for (c++; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
              || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_'
              || *c == '-'))
            return false;
    return true;
}

static void
s_mac (const char *secret, const char *scope, unsigned char mac[32])
{
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, (const unsigned char *) secret,
                                 strlen (secret));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) S_CONTEXT,
                                   strlen (S_CONTEXT));
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) scope,
                                   strlen (scope));
    crypto_auth_hmacsha256_final (&state, mac);
}

//  "<scope>.<hex of bytes>" into out (size checked by the caller); the
//  bytes are wiped.
static void
s_write (const char *scope, unsigned char bytes[32], char *out, size_t size)
{
    size_t len = strlen (scope);
    memcpy (out, scope, len);
    out[len] = '.';
    sodium_bin2hex (out + len + 1, size - len - 1, bytes, 32);
    sodium_memzero (bytes, 32);
}

int
ll_token_mint (const char *hostname, char *out, size_t size)
{
    if (size < LL_TOKEN_MAX || !ll_token_scope_valid (hostname)
        || hostname[0] == '_' || sodium_init () < 0)
        return -1;
    unsigned char bytes[32];
    randombytes_buf (bytes, sizeof bytes);
    s_write (hostname, bytes, out, size);
    return 0;
}

void
ll_token_hash (const char *token, char *out)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *) token, strlen (token));
    sodium_bin2hex (out, LL_TOKEN_HASH_HEX, digest, sizeof digest);
}

int
ll_token_scope (const char *token, char *out, size_t size)
{
    if (!token || size < LL_TOKEN_SCOPE_MAX + 1
        || strnlen (token, LL_TOKEN_MAX) >= LL_TOKEN_MAX)
        return -1;
    const char *dot = strrchr (token, '.');
    if (!dot || strlen (dot + 1) != 64
        || strspn (dot + 1, "0123456789abcdefABCDEF") != 64)
        return -1;
    size_t len = (size_t) (dot - token);
    if (len == 0 || len > LL_TOKEN_SCOPE_MAX)
        return -1;
    memcpy (out, token, len);
    out[len] = '\0';
    return ll_token_scope_valid (out) ? 0 : -1;
}

int
ll_token_derive (const char *secret, const char *scope, char *out, size_t size)
{
    if (size < LL_TOKEN_MAX || !secret || strlen (secret) < LL_TOKEN_SECRET_MIN
        || !ll_token_scope_valid (scope) || scope[0] != '_'
        || sodium_init () < 0)
        return -1;
    unsigned char mac[32];
    s_mac (secret, scope, mac);
    s_write (scope, mac, out, size);
    return 0;
}

ll_token_check_t
ll_token_check (const char *secret, const char *token, const char *scope)
{
    if (!token || !secret || strlen (token) >= LL_TOKEN_MAX
        || sodium_init () < 0)
        return LL_TOKEN_INVALID;
    char claimed[LL_TOKEN_SCOPE_MAX + 1];
    if (ll_token_scope (token, claimed, sizeof claimed) != 0
        || claimed[0] != '_')
        return LL_TOKEN_INVALID;
    const char *dot = strrchr (token, '.');
    unsigned char given[32], expected[32];
    size_t bin_len = 0;
    if (sodium_hex2bin (given, sizeof given, dot + 1, 64, NULL, &bin_len, NULL)
            != 0
        || bin_len != 32)
        return LL_TOKEN_INVALID;
    s_mac (secret, claimed, expected);
    bool genuine = sodium_memcmp (given, expected, 32) == 0;
    sodium_memzero (expected, sizeof expected);
    if (!genuine)
        return LL_TOKEN_INVALID;
    return scope && strcmp (claimed, scope) == 0 ? LL_TOKEN_OK
                                                 : LL_TOKEN_OTHER_SCOPE;
}

int
ll_token_new_secret (char *out, size_t size)
{
    if (size < 65 || sodium_init () < 0)
        return -1;
    unsigned char bytes[32];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2hex (out, size, bytes, sizeof bytes);
    sodium_memzero (bytes, sizeof bytes);
    return 0;
}
