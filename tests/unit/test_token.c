/*  Agent tokens: derivation is stable, bound to one scope, forgery-proof. */
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
test_derive_and_check (void **state)
{
    char a[LL_TOKEN_MAX], a2[LL_TOKEN_MAX], b[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "lablink-vm-1", a, sizeof a),
                      0);
    assert_int_equal (ll_token_derive (s_secret, "lablink-vm-1", a2, sizeof a2),
                      0);
    assert_string_equal (a, a2);  //  survives restarts: same secret, same token
    assert_int_equal (strncmp (a, "lablink-vm-1.", 13), 0);
    assert_int_equal (ll_token_derive (s_secret, "lablink-vm-2", b, sizeof b),
                      0);
    assert_int_equal (ll_token_check (s_secret, a, "lablink-vm-1"),
                      LL_TOKEN_OK);
    assert_int_equal (ll_token_check (s_secret, b, "lablink-vm-1"),
                      LL_TOKEN_OTHER_SCOPE);
    //  Another secret: every old token is invalid
    assert_int_equal (ll_token_check ("another-secret-another-secret-xxxxx", a,
                                      "lablink-vm-1"),
                      LL_TOKEN_INVALID);
}

static void
test_forgeries (void **state)
{
    char a[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "vm-1", a, sizeof a), 0);
    char forged[LL_TOKEN_MAX];
    memcpy (forged, a, sizeof a);
    forged[strlen (forged) - 1] ^= 1;
    assert_int_equal (ll_token_check (s_secret, forged, "vm-1"),
                      LL_TOKEN_INVALID);
    //  Swapping the scope keeps the MAC of vm-1: invalid for vm-2
    char swapped[LL_TOKEN_MAX];
    snprintf (swapped, sizeof swapped, "vm-2%s", a + 4);
    assert_int_equal (ll_token_check (s_secret, swapped, "vm-2"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, "", "vm-1"), LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, "garbage", "vm-1"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, NULL, "vm-1"),
                      LL_TOKEN_INVALID);
    assert_int_equal (ll_token_check (s_secret, ".0000", "vm-1"),
                      LL_TOKEN_INVALID);
}

static void
test_scopes (void **state)
{
    char t[LL_TOKEN_MAX];
    assert_int_equal (ll_token_derive (s_secret, "_lambda", t, sizeof t), 0);
    assert_int_equal (ll_token_check (s_secret, t, "_lambda"), LL_TOKEN_OK);
    assert_int_equal (ll_token_derive (s_secret, "bad host", t, sizeof t), -1);
    assert_int_equal (ll_token_derive (s_secret, "-x", t, sizeof t), -1);
    assert_int_equal (ll_token_derive ("short", "vm-1", t, sizeof t), -1);
    assert_int_equal (ll_token_derive (s_secret, "vm-1", t, 10), -1);
    char secret[65];
    assert_int_equal (ll_token_new_secret (secret, sizeof secret), 0);
    assert_int_equal (strlen (secret), 64);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_derive_and_check),
        cmocka_unit_test (test_forgeries),
        cmocka_unit_test (test_scopes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
