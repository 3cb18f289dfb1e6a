#include "runtime/recovery.h"

#include <sodium.h>
#include <string.h>

#define S_CONTEXT "lablink-claim-v1:"

//  Crockford's base32: no I, L, O, U
static const char s_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int
ll_recovery_new (char *out)
{
    if (sodium_init () < 0) {
        out[0] = '\0';
        return -1;
    }
    for (int i = 0; i < LL_RECOVERY_LEN; i++)
        out[i] = s_alphabet[randombytes_uniform (32)];
    out[LL_RECOVERY_LEN] = '\0';
    return 0;
}

//  The alphabet character a typed one stands for, '-' to skip it, or 0.
static char
s_read (char c)
{
    if (c == '-' || c == ' ')
        return '-';
    if (c >= 'a' && c <= 'z')
        c = (char) (c - 'a' + 'A');
    if (c == 'O')
        return '0';
    if (c == 'I' || c == 'L')
        return '1';
    if (c == 'U' || !c)
        return 0;
    return strchr (s_alphabet, c) ? c : 0;
}

int
ll_recovery_canonical (const char *text, char *out)
{
    out[0] = '\0';
    if (!text || strlen (text) > LL_RECOVERY_INPUT_MAX)
        return -1;
    int len = 0;
    bool ok = true;
    for (const char *c = text; *c && ok; c++) {
        char r = s_read (*c);
        if (r == '-')
            continue;
        ok = r && len < LL_RECOVERY_LEN;
        if (ok)
            out[len++] = r;
    }
    out[ok && len == LL_RECOVERY_LEN ? len : 0] = '\0';
    return ok && len == LL_RECOVERY_LEN ? 0 : -1;
}

void
ll_recovery_show (const char *canonical, char *out)
{
    size_t n = 0;
    for (int i = 0; i < LL_RECOVERY_LEN && canonical[i]; i++) {
        if (i && i % 4 == 0)
            out[n++] = '-';
        out[n++] = canonical[i];
    }
    out[n] = '\0';
}

void
ll_recovery_hash (const char *canonical, char *out)
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    crypto_hash_sha256_update (&state, (const unsigned char *) S_CONTEXT,
                               strlen (S_CONTEXT));
    crypto_hash_sha256_update (&state, (const unsigned char *) canonical,
                               strlen (canonical));
    crypto_hash_sha256_final (&state, digest);
    sodium_bin2hex (out, LL_RECOVERY_HASH_HEX + 1, digest, sizeof digest);
}

bool
ll_recovery_hash_equal (const char *a, const char *b)
{
    if (!a || !b || strlen (a) != LL_RECOVERY_HASH_HEX
        || strlen (b) != LL_RECOVERY_HASH_HEX)
        return false;
    return sodium_memcmp (a, b, LL_RECOVERY_HASH_HEX) == 0;
}
