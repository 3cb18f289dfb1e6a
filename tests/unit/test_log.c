/*  Logging: secrets are masked wherever they appear; text and JSON lines
    with fields and the thread's context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

static void
test_render_json (void **state)
{
    char out[1024];
    const ll_log_field_t fields[] = {
        LL_LOG_STR ("route", "/api/vm-status/{}"),
        LL_LOG_NUM ("status", 404),
        LL_LOG_NUM ("duration_ms", 1.5),
        LL_LOG_STR ("odd", "a \"quoted\"\tvalue\\"),
        LL_LOG_STR ("absent", NULL),
    };
    ll_log_render (out, sizeof out, LL_LOG_JSON, LL_LOG_WARN,
                   "2026-01-02T03:04:05.006Z", fields, 5,
                   "registry: vm-1: disk \"almost\" full");
    assert_int_equal (out[strlen (out) - 1], '\n');
    json_error_t err;
    json_t *line = json_loads (out, 0, &err);
    assert_non_null (line);
    assert_string_equal (json_string_value (json_object_get (line, "time")),
                         "2026-01-02T03:04:05.006Z");
    assert_string_equal (json_string_value (json_object_get (line, "level")),
                         "warn");
    assert_string_equal (json_string_value (json_object_get (line, "actor")),
                         "registry");
    assert_string_equal (json_string_value (json_object_get (line, "message")),
                         "vm-1: disk \"almost\" full");
    json_t *f = json_object_get (line, "fields");
    assert_string_equal (json_string_value (json_object_get (f, "route")),
                         "/api/vm-status/{}");
    assert_int_equal (json_integer_value (json_object_get (f, "status")), 404);
    assert_true (json_real_value (json_object_get (f, "duration_ms")) == 1.5);
    assert_string_equal (json_string_value (json_object_get (f, "odd")),
                         "a \"quoted\"\tvalue\\");
    assert_null (json_object_get (f, "absent"));
    json_decref (line);

    //  No "<component>:" prefix: actor "main"; a line cut short stays JSON
    char long_message[3000];
    memset (long_message, 'x', sizeof long_message - 1);
    long_message[sizeof long_message - 1] = '\0';
    ll_log_render (out, 200, LL_LOG_JSON, LL_LOG_INFO, "t", NULL, 0,
                   long_message);
    line = json_loads (out, 0, &err);
    assert_non_null (line);
    assert_string_equal (json_string_value (json_object_get (line, "actor")),
                         "main");
    json_decref (line);
}

static void
test_render_text (void **state)
{
    char out[512];
    const ll_log_field_t fields[] = {
        LL_LOG_STR ("method", "GET"),
        LL_LOG_NUM ("status", 200),
        LL_LOG_STR ("client", "10.0.0.1"),
        LL_LOG_STR ("note", "two words"),
    };
    ll_log_render (out, sizeof out, LL_LOG_TEXT, LL_LOG_INFO,
                   "2026-01-02T03:04:05.006Z", fields, 4, "http: access");
    assert_string_equal (out, "2026-01-02T03:04:05.006Z info  http: access "
                              "method=GET status=200 client=10.0.0.1 "
                              "note=\"two words\"\n");
    assert_int_equal (ll_log_format_parse ("json"), LL_LOG_JSON);
    assert_int_equal (ll_log_format_parse ("text"), LL_LOG_TEXT);
    assert_int_equal (ll_log_format_parse ("xml"), -1);
}

//  Through stderr: the thread's context joins the fields, secrets are
//  masked in fields too, a cleared context is gone.
static void
test_context_and_masking (void **state)
{
    char path[] = "/tmp/lablink-test-log.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    int saved = dup (2);
    dup2 (fd, 2);
    ll_log_set_format (LL_LOG_JSON);
    ll_log_add_secret ("token-abcdef123456");
    ll_log_context_set ("request_id", "r-1");
    ll_log_context_set ("operation_id", "7");
    const ll_log_field_t fields[] = {
        LL_LOG_STR ("header", "Bearer token-abcdef123456")};
    ll_log_fields (LL_LOG_INFO, fields, 1, "http: saw %s",
                   "token-abcdef123456");
    ll_log_context_set ("operation_id", NULL);
    ll_log (LL_LOG_INFO, "terraform: after");
    ll_log_context_clear ();
    ll_log (LL_LOG_INFO, "terraform: cleared");
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    ll_log_set_format (LL_LOG_TEXT);
    ll_log_clear_secrets ();
    FILE *file = fdopen (fd, "r");
    rewind (file);
    char line[1024];
    json_error_t err;
    assert_non_null (fgets (line, sizeof line, file));
    json_t *j = json_loads (line, 0, &err);
    assert_non_null (j);
    json_t *f = json_object_get (j, "fields");
    assert_string_equal (json_string_value (json_object_get (f, "header")),
                         "Bearer ****");
    assert_string_equal (json_string_value (json_object_get (j, "message")),
                         "saw ****");
    assert_string_equal (json_string_value (json_object_get (f, "request_id")),
                         "r-1");
    assert_string_equal (
        json_string_value (json_object_get (f, "operation_id")), "7");
    json_decref (j);
    assert_non_null (fgets (line, sizeof line, file));
    j = json_loads (line, 0, &err);
    f = json_object_get (j, "fields");
    assert_non_null (json_object_get (f, "request_id"));
    assert_null (json_object_get (f, "operation_id"));
    json_decref (j);
    assert_non_null (fgets (line, sizeof line, file));
    j = json_loads (line, 0, &err);
    assert_int_equal (json_object_size (json_object_get (j, "fields")), 0);
    json_decref (j);
    fclose (file);
    unlink (path);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_masking),
        cmocka_unit_test (test_levels),
        cmocka_unit_test (test_render_json),
        cmocka_unit_test (test_render_text),
        cmocka_unit_test (test_context_and_masking),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
