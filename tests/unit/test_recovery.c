/*  Claim secrets (runtime/recovery.h): form, forgiving input, hashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "runtime/recovery.h"

static void
test_new_and_show (void **state)
{
    char a[LL_RECOVERY_LEN + 1], b[LL_RECOVERY_LEN + 1];
    assert_int_equal (ll_recovery_new (a), 0);
    assert_int_equal (ll_recovery_new (b), 0);
    assert_int_equal (strlen (a), LL_RECOVERY_LEN);
    assert_string_not_equal (a, b);
    //  Only Crockford's alphabet: nothing to misread
    assert_int_equal (strspn (a, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
                      LL_RECOVERY_LEN);
    char shown[LL_RECOVERY_SHOWN_LEN + 1];
    ll_recovery_show ("ABCD0123EFGH4567", shown);
    assert_string_equal (shown, "ABCD-0123-EFGH-4567");
    //  What is shown reads back as the secret
    char back[LL_RECOVERY_LEN + 1];
    ll_recovery_show (a, shown);
    assert_int_equal (ll_recovery_canonical (shown, back), 0);
    assert_string_equal (back, a);
}

static void
test_canonical (void **state)
{
    char out[LL_RECOVERY_LEN + 1];
    assert_int_equal (ll_recovery_canonical ("abcd-0123-efgh-4567", out), 0);
    assert_string_equal (out, "ABCD0123EFGH4567");
    //  Look-alikes, blanks and dashes as a student types them
    assert_int_equal (ll_recovery_canonical (" oOiL 0123-EFGH 4567 ", out), 0);
    assert_string_equal (out, "0011"
                              "0123EFGH4567");
    const char *bad[] = {"",
                         "ABCD-0123-EFGH-456",    //  short
                         "ABCD-0123-EFGH-45678",  //  long
                         "ABCD-0123-EFGH-456U",   //  U is not in it
                         "ABCD-0123-EFGH-456!",
                         "ABCD;0123-EFGH-4567",
                         "ABCD\n0123EFGH4567",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal (ll_recovery_canonical (bad[i], out), -1);
        assert_string_equal (out, "");
    }
    assert_int_equal (ll_recovery_canonical (NULL, out), -1);
    char huge[200];
    memset (huge, '-', sizeof huge - 17);
    memcpy (huge + sizeof huge - 17, "ABCD0123EFGH4567", 17);
    assert_int_equal (ll_recovery_canonical (huge, out), -1);  //  capped
}

static void
test_hash (void **state)
{
    char h1[LL_RECOVERY_HASH_HEX + 1], h2[LL_RECOVERY_HASH_HEX + 1];
    ll_recovery_hash ("ABCD0123EFGH4567", h1);
    ll_recovery_hash ("ABCD0123EFGH4567", h2);
    assert_int_equal (strlen (h1), LL_RECOVERY_HASH_HEX);
    assert_true (ll_recovery_hash_equal (h1, h2));
    //  As documented: SHA-256 of the context string and the code
    unsigned char digest[32];
    char want[LL_RECOVERY_HASH_HEX + 1];
    const char *text = "lablink-claim-v1:ABCD0123EFGH4567";
    crypto_hash_sha256 (digest, (const unsigned char *) text, strlen (text));
    sodium_bin2hex (want, sizeof want, digest, sizeof digest);
    assert_string_equal (h1, want);
    ll_recovery_hash ("ABCD0123EFGH4568", h2);
    assert_false (ll_recovery_hash_equal (h1, h2));
    assert_false (ll_recovery_hash_equal (h1, ""));
    assert_false (ll_recovery_hash_equal (h1, NULL));
    h2[10] = '\0';
    assert_false (ll_recovery_hash_equal (h2, h2));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_new_and_show),
        cmocka_unit_test (test_canonical),
        cmocka_unit_test (test_hash),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
