/*  Agent tokens: a VM's is random per launch (never derivable from its
    hostname), its hash is stable; a service's derivation is stable, bound
    to one scope, forgery-proof. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "runtime/token.h"

static const char *s_secret =
    "0123456789abcdef0123456789abcdef0123456789abcdef";

static void
test_mint (void **state)
{
    char a[LL_TOKEN_MAX], b[LL_TOKEN_MAX], scope[LL_TOKEN_SCOPE_MAX + 1];
    assert_int_equal (ll_token_mint ("lablink-vm-1", a, sizeof a), 0);
    assert_int_equal (ll_token_mint ("lablink-vm-1", b, sizeof b), 0);
    //  Two launches of one hostname: two unrelated tokens (256 bits each)
    assert_string_not_equal (a, b);
    assert_int_equal (strncmp (a, "lablink-vm-1.", 13), 0);
    assert_int_equal (strlen (a), 13 + 64);
    assert_int_equal (ll_token_scope (a, scope, sizeof scope), 0);
    assert_string_equal (scope, "lablink-vm-1");
    //  No VM token for a service scope, a bad name or a short buffer
    assert_int_equal (ll_token_mint ("_lambda", a, sizeof a), -1);
    assert_int_equal (ll_token_mint ("bad host", a, sizeof a), -1);
    assert_int_equal (ll_token_mint ("vm-1", a, 10), -1);
}

static void
test_hash (void **state)
{
    char h1[LL_TOKEN_HASH_HEX], h2[LL_TOKEN_HASH_HEX];
    ll_token_hash ("vm-1.00", h1);
    ll_token_hash ("vm-1.00", h2);
    assert_string_equal (h1, h2);
    assert_int_equal (strlen (h1), 64);
    //  sha256("abc"), so PostgreSQL's sha256() gives the same text
    ll_token_hash ("abc", h1);
    assert_string_equal (
        h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void
test_scope_parse (void **state)
{
    char scope[LL_TOKEN_SCOPE_MAX + 1];
    char hex[65];
    memset (hex, 'a', 64);
    hex[64] = '\0';
    char token[LL_TOKEN_MAX + 64];
    snprintf (token, sizeof token, "vm.a.b.%s", hex);
    assert_int_equal (ll_token_scope (token, scope, sizeof scope), 0);
    assert_string_equal (scope, "vm.a.b");
    snprintf (token, sizeof token, ".%s", hex);
    assert_int_equal (ll_token_scope (token, scope, sizeof scope), -1);
    snprintf (token, sizeof token, "vm 1.%s", hex);
    assert_int_equal (ll_token_scope (token, scope, sizeof scope), -1);
    snprintf (token, sizeof token, "vm-1.%.63sg", hex);
    assert_int_equal (ll_token_scope (token, scope, sizeof scope), -1);
    assert_int_equal (ll_token_scope ("vm-1.00", scope, sizeof scope), -1);
    assert_int_equal (ll_token_scope ("garbage", scope, sizeof scope), -1);
    assert_int_equal (ll_token_scope (NULL, scope, sizeof scope), -1);
}

static void
test_derive_and_check (void **state)
{
    char a[LL_TOKEN_MAX], a2[LL_TOKEN_MAX], b[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "_lambda", a, sizeof a), 0);
    assert_int_equal (ll_token_derive (s_secret, "_lambda", a2, sizeof a2), 0);
    assert_string_equal (a, a2);  //  survives restarts: same secret, same token
    assert_int_equal (strncmp (a, "_lambda.", 8), 0);
    assert_int_equal (ll_token_derive (s_secret, "_other", b, sizeof b), 0);
    assert_int_equal (ll_token_check (s_secret, a, "_lambda"), LL_TOKEN_OK);
    assert_int_equal (ll_token_check (s_secret, b, "_lambda"),
                      LL_TOKEN_OTHER_SCOPE);
    //  Another secret: every old token is invalid
    assert_int_equal (
        ll_token_check ("another-secret-another-secret-xxxxx", a, "_lambda"),
        LL_TOKEN_INVALID);
    //  Hostnames never get a derived token any more
    assert_int_equal (ll_token_derive (s_secret, "lablink-vm-1", a, sizeof a),
                      -1);
}

static void
test_forgeries (void **state)
{
    char a[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "_lambda", a, sizeof a), 0);
    char forged[LL_TOKEN_MAX];
    memcpy (forged, a, sizeof a);
    forged[strlen (forged) - 1] =
        forged[strlen (forged) - 1] == '0' ? '1' : '0';
    assert_int_equal (ll_token_check (s_secret, forged, "_lambda"),
                      LL_TOKEN_INVALID);
    //  Swapping the scope keeps the MAC of _lambda: invalid for _other
    char swapped[LL_TOKEN_MAX + 8];
    snprintf (swapped, sizeof swapped, "_other%s", a + 7);
    assert_int_equal (ll_token_check (s_secret, swapped, "_other"),
                      LL_TOKEN_INVALID);
    //  A VM's (minted) token is never a valid service token
    char vm[LL_TOKEN_MAX];
    assert_int_equal (ll_token_mint ("vm-1", vm, sizeof vm), 0);
    assert_int_equal (ll_token_check (s_secret, vm, "vm-1"), LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, "", "_lambda"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, "garbage", "_lambda"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, NULL, "_lambda"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, ".0000", "_lambda"),
                      LL_TOKEN_INVALID);
}

static void
test_scopes (void **state)
{
    char t[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "bad host", t, sizeof t), -1);
    assert_int_equal (ll_token_derive (s_secret, "-x", t, sizeof t), -1);
    assert_int_equal (ll_token_derive ("short", "_lambda", t, sizeof t), -1);
    assert_int_equal (ll_token_derive (s_secret, "_lambda", t, 10), -1);
    char secret[65];
    assert_int_equal (ll_token_new_secret (secret, sizeof secret), 0);
    assert_int_equal (strlen (secret), 64);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_mint),
        cmocka_unit_test (test_hash),
        cmocka_unit_test (test_scope_parse),
        cmocka_unit_test (test_derive_and_check),
        cmocka_unit_test (test_forgeries),
        cmocka_unit_test (test_scopes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
