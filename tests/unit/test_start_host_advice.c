/*  The student's page says what went wrong with start-host in plain words
    and what to do, for every failure text the agent sends (agent/crd.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "http/routes.h"

static void
test_advice (void **state)
{
    const char *plain, *todo;
    ll_start_host_advice ("start-host exited with status 1", &plain, &todo);
    assert_non_null (strstr (plain, "did not accept your code"));
    assert_non_null (strstr (todo, "paste it below: you keep this VM"));
    ll_start_host_advice ("start-host timed out after 60 s", &plain, &todo);
    assert_non_null (strstr (plain, "did not answer in time"));
    assert_non_null (strstr (todo, "you keep this VM"));
    ll_start_host_advice ("start-host could not be executed", &plain, &todo);
    assert_non_null (strstr (plain, "not installed correctly"));
    assert_non_null (strstr (todo, "Ask your instructor"));
    ll_start_host_advice ("rejected CRD command (not allowed)", &plain, &todo);
    assert_non_null (strstr (plain, "was not accepted"));
    assert_non_null (strstr (todo, "Debian Linux command"));
    //  anything else, and nothing: still words and a next step
    ll_start_host_advice ("something new", &plain, &todo);
    assert_non_null (strstr (plain, "failed"));
    assert_non_null (strstr (todo, "paste it below"));
    ll_start_host_advice (NULL, &plain, &todo);
    assert_non_null (strstr (plain, "without a reason"));
    ll_start_host_advice ("", &plain, &todo);
    assert_non_null (plain);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test (test_advice)};
    return cmocka_run_group_tests (tests, NULL, NULL);
}
