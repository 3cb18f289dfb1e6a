/*  Scheduled teardown times: ISO 8601 parsing and the recurrence rules
    upstream supports (daily, weekly on days, at an hour and minute). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <string.h>

#include "runtime/schedule.h"

static int64_t
s_at (const char *iso)
{
    int64_t t = -1;
    assert_int_equal (ll_time_parse_iso (iso, false, &t), 0);
    return t;
}

static void
test_iso (void **state)
{
    int64_t t;
    assert_int_equal (ll_time_parse_iso ("1970-01-01T00:00:00Z", true, &t), 0);
    assert_int_equal (t, 0);
    assert_int_equal (ll_time_parse_iso ("2026-05-01T17:00:00Z", true, &t), 0);
    assert_int_equal (t, 1777654800);
    //  Offsets in every accepted spelling mean the same instant
    const char *same[] = {"2026-05-01T19:00:00+02:00", "2026-05-01T19:00+0200",
                          "2026-05-01 19:00:00.123+02",
                          "2026-05-01t10:00:00-07:00"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal (ll_time_parse_iso (same[i], true, &t), 0);
        assert_int_equal (t, 1777654800);
    }
    //  Leap day, seconds
    assert_int_equal (ll_time_parse_iso ("2028-02-29T23:59:59Z", true, &t), 0);
    assert_int_equal (t, 1835481599);
    //  Without a zone: UTC for the API, refused where a zone is required
    assert_int_equal (ll_time_parse_iso ("2026-05-01T17:00:00", false, &t), 0);
    assert_int_equal (t, 1777654800);
    assert_int_equal (ll_time_parse_iso ("2026-05-01T17:00:00", true, &t), -1);
    const char *bad[] = {"",
                         "2026-05-01",
                         "2026-13-01T00:00Z",
                         "2026-02-30T00:00Z",
                         "2027-02-29T00:00Z",
                         "2026-05-01T24:00Z",
                         "2026-05-01T17:60Z",
                         "2026-05-01T17:00:00Zjunk",
                         "2026-05-01T17:00+25:00",
                         "1969-12-31T23:59:59Z",
                         "tomorrow",
                         "2026-05-01T17:00:00.Z",
                         "20260501T170000Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (ll_time_parse_iso (bad[i], false, &t), -1);
    assert_int_equal (ll_time_parse_iso (NULL, false, &t), -1);
    char out[32];
    assert_int_equal (ll_time_format_iso (1777654800, out, sizeof out), 0);
    assert_string_equal (out, "2026-05-01T17:00:00Z");
}

static void
test_rrule_parse (void **state)
{
    ll_rrule_t r;
    char error[128];
    assert_int_equal (ll_rrule_parse ("FREQ=DAILY", &r, error, sizeof error),
                      0);
    assert_false (r.weekly);
    assert_int_equal (r.hour, -1);
    assert_int_equal (ll_rrule_parse ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;"
                                      "BYHOUR=17;BYMINUTE=30",
                                      &r, error, sizeof error),
                      0);
    assert_true (r.weekly);
    assert_int_equal (r.days, (1 << 1) | (1 << 3) | (1 << 5));
    assert_int_equal (r.hour, 17);
    assert_int_equal (r.minute, 30);
    const char *bad[] = {"",
                         "DAILY",
                         "FREQ=HOURLY",
                         "FREQ=DAILY;BYDAY=MO",
                         "FREQ=WEEKLY;BYDAY=XX",
                         "FREQ=WEEKLY;BYDAY=MO,",
                         "FREQ=WEEKLY;BYDAY=MOTU",
                         "FREQ=DAILY;BYHOUR=24",
                         "FREQ=DAILY;BYMINUTE=99",
                         "FREQ=DAILY;BYMINUTE=-1",
                         "FREQ=DAILY;COUNT=3",
                         "BYHOUR=3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error[0] = '\0';
        assert_int_equal (ll_rrule_parse (bad[i], &r, error, sizeof error), -1);
        assert_true (strlen (error) > 0);
    }
}

static void
test_rrule_next (void **state)
{
    ll_rrule_t r;
    char error[128];
    //  2026-05-01 is a Friday
    int64_t first = s_at ("2026-05-01T17:00:00Z");
    assert_int_equal (ll_rrule_parse ("FREQ=DAILY", &r, error, sizeof error),
                      0);
    assert_int_equal (ll_rrule_next (&r, first, first),
                      s_at ("2026-05-02T17:00:00Z"));
    assert_int_equal (ll_rrule_next (&r, first, s_at ("2026-05-10T16:59:59Z")),
                      s_at ("2026-05-10T17:00:00Z"));
    //  Weekly without BYDAY: the first time's weekday (Friday)
    assert_int_equal (ll_rrule_parse ("FREQ=WEEKLY", &r, error, sizeof error),
                      0);
    assert_int_equal (ll_rrule_next (&r, first, first),
                      s_at ("2026-05-08T17:00:00Z"));
    //  Monday and Wednesday at 09:15
    assert_int_equal (ll_rrule_parse ("FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;"
                                      "BYMINUTE=15",
                                      &r, error, sizeof error),
                      0);
    assert_int_equal (ll_rrule_next (&r, first, first),
                      s_at ("2026-05-04T09:15:00Z"));
    assert_int_equal (ll_rrule_next (&r, first, s_at ("2026-05-04T09:15:00Z")),
                      s_at ("2026-05-06T09:15:00Z"));
    //  Sunday only, across a year's end
    assert_int_equal (
        ll_rrule_parse ("FREQ=WEEKLY;BYDAY=SU", &r, error, sizeof error), 0);
    assert_int_equal (ll_rrule_next (&r, first, s_at ("2026-12-31T12:00:00Z")),
                      s_at ("2027-01-03T17:00:00Z"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_iso),
        cmocka_unit_test (test_rrule_parse),
        cmocka_unit_test (test_rrule_next),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
