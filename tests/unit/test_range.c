/*  HTTP ranges of a kept export (a broken download resumes): the forms a
    browser sends, the unsatisfiable ones (416), and the ones ignored (the
    whole file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>

#include "http/routes.h"

static void
test_range (void **state)
{
    uint64_t a = 99, b = 99;
    assert_int_equal (ll_http_range_parse (NULL, 1000, &a, &b), 0);
    assert_int_equal (ll_http_range_parse ("bytes=0-99", 1000, &a, &b), 1);
    assert_true (a == 0 && b == 99);
    assert_int_equal (ll_http_range_parse ("bytes=500-", 1000, &a, &b), 1);
    assert_true (a == 500 && b == 999);
    assert_int_equal (ll_http_range_parse ("bytes=900-5000", 1000, &a, &b), 1);
    assert_true (a == 900 && b == 999);
    assert_int_equal (ll_http_range_parse ("bytes=-100", 1000, &a, &b), 1);
    assert_true (a == 900 && b == 999);
    assert_int_equal (ll_http_range_parse ("bytes=-5000", 1000, &a, &b), 1);
    assert_true (a == 0 && b == 999);
    assert_int_equal (ll_http_range_parse (" bytes=999-999", 1000, &a, &b), 1);
    assert_true (a == 999 && b == 999);
    //  unsatisfiable
    assert_int_equal (ll_http_range_parse ("bytes=1000-", 1000, &a, &b), -1);
    assert_int_equal (ll_http_range_parse ("bytes=-0", 1000, &a, &b), -1);
    assert_int_equal (ll_http_range_parse ("bytes=0-", 0, &a, &b), -1);
    //  not understood or not one range: the whole file
    const char *whole[] = {
        "items=0-1", "bytes=0-1,5-6", "bytes=a-b",
        "bytes=5-2", "bytes=",        "bytes=1-2x",
        "bytes=--1", "bytes=-",       "bytes=99999999999999999999999-"};
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
        assert_int_equal (ll_http_range_parse (whole[i], 1000, &a, &b), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test (test_range)};
    return cmocka_run_group_tests (tests, NULL, NULL);
}
