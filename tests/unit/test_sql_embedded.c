/*  The embedded SQL: statements parse, names are unique, migrations are
    numbered in order. (Preparing them needs PostgreSQL: integration/test_db.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/db.h"
#include "runtime/embedded.h"

static void
test_statements (void **state)
{
    char error[256];
    size_t count = 0;
    ll_sql_statement_t *list =
        ll_sql_statements_load (&count, error, sizeof error);
    assert_non_null (list);
    assert_true (count >= 5);
    bool found = false;
    for (size_t i = 0; i < count; i++) {
        assert_true (strlen (list[i].name) > 0);
        assert_null (strchr (list[i].name, ' '));
        assert_true (strlen (list[i].sql) > 0);
        if (strcmp (list[i].name, "health_ping") == 0) {
            found = true;
            assert_string_equal (list[i].sql, "SELECT 1");
        }
    }
    assert_true (found);
    ll_sql_statements_free (list, count);
}

static void
test_migrations (void **state)
{
    int previous = 0;
    int files = 0;
    for (const ll_embedded_t *m = ll_sql_migrations; m->name; m++) {
        int version = (int) strtol (m->name, NULL, 10);
        assert_true (version > previous);
        previous = version;
        files++;
    }
    assert_true (files >= 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_statements),
        cmocka_unit_test (test_migrations),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
