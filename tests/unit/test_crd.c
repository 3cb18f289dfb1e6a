/*  The CRD command allow-list: upstream's accept and reject vectors
    (reference 2.6) and more of our own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/crd.h"

static void
s_accept (const char *command, const char *expected)
{
    char code[LL_CRD_CODE_MAX + 1];
    if (ll_crd_extract_code (command, code, sizeof code) != 0)
        fail_msg ("rejected: %s", command);
    assert_string_equal (code, expected);
}

static void
s_reject (const char *command)
{
    char code[LL_CRD_CODE_MAX + 1];
    if (ll_crd_extract_code (command, code, sizeof code) == 0)
        fail_msg ("accepted: %s (code %s)", command ? command : "(null)", code);
    assert_string_equal (code, "");
}

static void
test_upstream_accepts (void **state)
{
    s_accept ("--code=4/abc123", "4/abc123");
    s_accept ("--code 4/abc123", "4/abc123");
    s_accept (
        "DISPLAY= /opt/google/chrome-remote-desktop/start-host "
        "--code=\"4/0AciLongCode-_x\" "
        "--redirect-url=\"https://remotedesktop.google.com/_/oauthredirect\" "
        "--name=$(hostname)",
        "4/0AciLongCode-_x");
    s_accept ("--code='4/abc123'", "4/abc123");
    s_accept ("--code=abc extra_token", "abc");
    s_accept ("--code=abc\nextra_token", "abc");
}

static void
test_upstream_rejects (void **state)
{
    s_reject ("--code=x;id");
    s_reject ("--code=x|sh");
    s_reject ("--code=$(id)");
    s_reject ("--code=`whoami`");
    s_reject ("--code=x${IFS}y");
    s_reject ("--code=x&&id");
    s_reject ("--code=x=y");
    s_reject ("--code='x;id'");
    s_reject ("--code=\"$(id)\"");
    s_reject ("--code='abc");
    s_reject ("--code=a'b");
    s_reject ("--code=");
    s_reject ("--code=''");
    s_reject ("start-host --name=x");
    s_reject ("--code=a --code=b");
    s_reject ("--code a --code=b");
    s_reject (NULL);
}

static void
test_our_own (void **state)
{
    s_reject ("");
    s_reject ("   ");
    s_reject ("--code");
    s_reject ("--code=\"abc'");
    s_reject ("--code=ab\xc3\xa9");  //  non-ASCII
    s_reject ("--code=a\\b");
    s_reject ("--code=../../etc/passwd;");
    s_reject ("--codex=abc");
    s_accept ("\t--code=A-b_c/9\t", "A-b_c/9");
    s_accept ("--code \"q\"", "q");
    char long_code[LL_CRD_CODE_MAX + 16];
    memset (long_code, 'a', sizeof long_code);
    memcpy (long_code, "--code=", 7);
    long_code[sizeof long_code - 1] = '\0';
    s_reject (long_code);
    //  The output buffer is honoured
    char small[4];
    assert_int_equal (
        ll_crd_extract_code ("--code=abcdef", small, sizeof small), -1);
    assert_int_equal (ll_crd_extract_code ("--code=abc", small, sizeof small),
                      0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_upstream_accepts),
        cmocka_unit_test (test_upstream_rejects),
        cmocka_unit_test (test_our_own),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
