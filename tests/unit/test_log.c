/*  Logging: secrets are masked wherever they appear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/log.h"

static void
test_masking (void **state)
{
    char out[256];
    ll_log_add_secret ("hunter2-password");
    ll_log_add_secret ("abc");  //  too short: ignored
    ll_log_mask ("login with hunter2-password and hunter2-password!", out,
                 sizeof out);
    assert_string_equal (out, "login with **** and ****!");
    ll_log_mask ("abc stays", out, sizeof out);
    assert_string_equal (out, "abc stays");
    ll_log_mask ("hunter2-password", out, 3);  //  truncated, terminated
    assert_int_equal (strlen (out), 2);
    ll_log_clear_secrets ();
    ll_log_mask ("hunter2-password", out, sizeof out);
    assert_string_equal (out, "hunter2-password");
}

static void
test_levels (void **state)
{
    assert_int_equal (ll_log_level_parse ("debug"), LL_LOG_DEBUG);
    assert_int_equal (ll_log_level_parse ("warning"), LL_LOG_WARN);
    assert_int_equal (ll_log_level_parse ("error"), LL_LOG_ERROR);
    assert_int_equal (ll_log_level_parse ("loud"), -1);
    assert_int_equal (ll_log_level_parse (NULL), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_masking),
        cmocka_unit_test (test_levels),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
