/*  A student's claim through the assigner actor, checked: shared by the
    actor tests that claim (header-only, as support.h). */
#ifndef LL_TESTS_CLAIM_H
#define LL_TESTS_CLAIM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "runtime/ask.h"
#include "runtime/recovery.h"

//  A student's claim (a returning one shows secret): the outcome want on
//  host (NULL: none); the PIN shown (new string, or NULL), the claim's
//  secret in secret_out when given.
static inline char *
ll_test_claim (ll_client_t *assigner,
               const char *email,
               const char *code,
               const char *secret,
               const char *want,
               const char *host,
               char *secret_out)
{
    char *outcome = NULL, *got = NULL, *pin = NULL, *kept = NULL;
    char *error = NULL;
    assert_int_equal (ll_ask_vm_claim (assigner, email, code, "10.0.0.1",
                                       secret, "", &outcome, &got, &pin, &kept,
                                       &error),
                      0);
    assert_string_equal (outcome, want);
    if (host)
        assert_string_equal (got, host);
    else
        assert_null (got);
    if (secret_out)
        snprintf (secret_out, LL_RECOVERY_LEN + 1, "%s", kept);
    free (outcome);
    free (got);
    free (kept);
    return pin;
}

#endif
