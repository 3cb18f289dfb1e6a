/*  Log batching: the batch shape of the brief (stream, source, seq), batch
    size limits, bounded memory with a counted drop notice, line cuts and
    UTF-8 clean-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/logship.h"

static json_t *
s_batch (agent_lines_t *lines, int max, int64_t seq, int *taken)
{
    char *text = agent_lines_batch (lines, max, "vm-1", "docker",
                                    "0123456789abcdef", seq, taken);
    if (!text)
        return NULL;
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    assert_non_null (root);
    return root;
}

static void
test_shape_and_seq (void **state)
{
    agent_lines_t *lines = agent_lines_new (1000, 1 << 20);
    int taken = -1;
    assert_null (s_batch (lines, 500, 1, &taken));
    assert_int_equal (taken, 0);
    char line[32];
    for (int i = 0; i < 1200; i++) {
        int n = snprintf (line, sizeof line, "line %d", i);
        agent_lines_push (lines, line, (size_t) n);
    }
    //  1200 lines pushed into 1000 slots: the 200 oldest dropped
    assert_int_equal (agent_lines_count (lines), 1000);
    assert_int_equal (agent_lines_dropped (lines), 200);
    json_t *batch = s_batch (lines, 500, 1, &taken);
    assert_int_equal (taken, 501);  //  the notice and 500 lines
    assert_string_equal (
        json_string_value (json_object_get (batch, "log_group")),
        "lablink-docker");
    assert_string_equal (
        json_string_value (json_object_get (batch, "log_stream")), "vm-1");
    assert_string_equal (json_string_value (json_object_get (batch, "stream")),
                         "docker");
    assert_string_equal (json_string_value (json_object_get (batch, "source")),
                         "0123456789abcdef");
    assert_int_equal (json_integer_value (json_object_get (batch, "seq")), 1);
    json_t *messages = json_object_get (batch, "messages");
    assert_int_equal (json_array_size (messages), 501);
    assert_non_null (strstr (json_string_value (json_array_get (messages, 0)),
                             "dropped 200 log lines"));
    assert_string_equal (json_string_value (json_array_get (messages, 1)),
                         "line 200");
    assert_string_equal (json_string_value (json_array_get (messages, 500)),
                         "line 699");
    json_decref (batch);
    //  The notice is given once
    assert_int_equal (agent_lines_dropped (lines), 0);
    batch = s_batch (lines, 500, 2, &taken);
    messages = json_object_get (batch, "messages");
    assert_int_equal (taken, 500);
    assert_string_equal (json_string_value (json_array_get (messages, 0)),
                         "line 700");
    assert_string_equal (json_string_value (json_array_get (messages, 499)),
                         "line 1199");
    assert_int_equal (json_integer_value (json_object_get (batch, "seq")), 2);
    json_decref (batch);
    assert_int_equal (agent_lines_count (lines), 0);
    assert_null (s_batch (lines, 500, 3, &taken));
    agent_lines_destroy (&lines);
    assert_null (lines);
}

static void
test_byte_cap (void **state)
{
    //  10 lines allowed but only 100 bytes: memory stays bounded
    agent_lines_t *lines = agent_lines_new (10, 100);
    char line[40];
    memset (line, 'a', sizeof line);
    for (int i = 0; i < 5; i++)
        agent_lines_push (lines, line, sizeof line);
    assert_int_equal (agent_lines_count (lines), 2);
    assert_int_equal (agent_lines_dropped (lines), 3);
    agent_lines_destroy (&lines);
}

static void
test_line_content (void **state)
{
    agent_lines_t *lines = agent_lines_new (10, 1 << 20);
    //  Invalid UTF-8 and NUL become '?', valid multibyte text stays
    const char raw[] = "ok \xc3\xa9 bad \xff\xfe nul \0 end";
    agent_lines_push (lines, raw, sizeof raw - 1);
    char *huge = malloc (AGENT_LINE_MAX * 2);
    memset (huge, 'z', AGENT_LINE_MAX * 2);
    agent_lines_push (lines, huge, AGENT_LINE_MAX * 2);
    free (huge);
    int taken;
    json_t *batch = s_batch (lines, 10, 1, &taken);
    json_t *messages = json_object_get (batch, "messages");
    assert_string_equal (json_string_value (json_array_get (messages, 0)),
                         "ok \xc3\xa9 bad ?? nul ? end");
    assert_int_equal (strlen (json_string_value (json_array_get (messages, 1))),
                      AGENT_LINE_MAX);
    json_decref (batch);
    agent_lines_destroy (&lines);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shape_and_seq),
        cmocka_unit_test (test_byte_cap),
        cmocka_unit_test (test_line_content),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
