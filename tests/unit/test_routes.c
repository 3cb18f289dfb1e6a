/*  The route table: patterns match as documented, the table is sound, and
    every route has a declared auth class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/routes.h"

static void
test_match (void **state)
{
    char *params[LL_HTTP_MAX_PARAMS];
    int count;
    assert_true (ll_http_match ("/api/health", "/api/health", params, &count));
    assert_int_equal (count, 0);
    assert_false (
        ll_http_match ("/api/health", "/api/healthz", params, &count));
    assert_false (ll_http_match ("/api/health", "/api/heal", params, &count));
    assert_true (ll_http_match ("/api/vm-status/{}", "/api/vm-status/vm%2D1",
                                params, &count));
    assert_int_equal (count, 1);
    assert_string_equal (params[0], "vm-1");
    free (params[0]);
    assert_false (
        ll_http_match ("/api/vm-status/{}", "/api/vm-status/", params, &count));
    assert_false (ll_http_match ("/api/vm-status/{}", "/api/vm-status/a/b",
                                 params, &count));
    assert_int_equal (count, 0);
    assert_true (ll_http_match ("/a/{}/b/{}", "/a/x/b/y", params, &count));
    assert_int_equal (count, 2);
    assert_string_equal (params[1], "y");
    free (params[0]);
    free (params[1]);
}

static void
test_table (void **state)
{
    size_t count = 0;
    const ll_route_t *routes = ll_routes (&count);
    assert_true (count > 0);
    assert_int_equal (ll_http_routes_check (routes, count), -1);
    for (size_t i = 0; i < count; i++)
        assert_true (routes[i].auth >= LL_AUTH_PUBLIC
                     && routes[i].auth <= LL_AUTH_ADMIN_OR_AGENT);
    //  A duplicate is caught
    ll_route_t dup[2] = {routes[0], routes[0]};
    assert_int_equal (ll_http_routes_check (dup, 2), 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_match),
        cmocka_unit_test (test_table),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
