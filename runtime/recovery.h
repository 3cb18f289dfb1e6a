/*  Claim secrets (issue 15 section 1): what a student gets from a
    successful claim and must show to claim again with the same email.

    One secret, two forms: the HttpOnly cookie LL_RECOVERY_COOKIE holds its
    canonical text (16 characters of Crockford base32, 80 random bits) and
    the success page prints it as a recovery code, XXXX-XXXX-XXXX-XXXX, for
    another browser. Typed codes are forgiving: case, spaces and dashes are
    ignored and the look-alikes O, I and L read as 0, 1 and 1. Only the
    hash is stored (vms.claim_secret_hash):

      hash = hex(SHA-256("lablink-claim-v1:" canonical))

    80 random bits need no slow hash; the context string keeps these hashes
    apart from any other SHA-256 in the database. Never log a secret. */
#ifndef LL_RECOVERY_H
#define LL_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>

#define LL_RECOVERY_COOKIE    "lablink_claim"
#define LL_RECOVERY_LEN       16       //  canonical characters
#define LL_RECOVERY_SHOWN_LEN 19       //  with three dashes
#define LL_RECOVERY_HASH_HEX  64       //  hex characters of the hash
#define LL_RECOVERY_INPUT_MAX 64       //  longest typed code accepted
#define LL_RECOVERY_COOKIE_S  2592000  //  cookie lifetime: 30 days

//  A fresh secret in canonical form (out: LL_RECOVERY_LEN + 1 bytes).
//  0, or -1 when libsodium cannot start.
int ll_recovery_new (char *out);

//  What a student typed (or a cookie held) in canonical form into out
//  (LL_RECOVERY_LEN + 1 bytes). 0, or -1 (out empty) when it is not a code.
int ll_recovery_canonical (const char *text, char *out);

//  The printed form of a canonical code (out: LL_RECOVERY_SHOWN_LEN + 1).
void ll_recovery_show (const char *canonical, char *out);

//  The stored hash of a canonical code (out: LL_RECOVERY_HASH_HEX + 1).
void ll_recovery_hash (const char *canonical, char *out);

//  Constant-time comparison of two stored hashes (false unless both are
//  LL_RECOVERY_HASH_HEX characters).
bool ll_recovery_hash_equal (const char *a, const char *b);

#endif
