/*  The class roster (runtime/roster.h): access code, email list and file,
    domains, which rule refuses, reloading the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/roster.h"

static ll_config_t *
s_config (const char *yaml)
{
    char error[256];
    ll_config_t *c = ll_config_parse (yaml, strlen (yaml), error, sizeof error);
    if (!c)
        fail_msg ("config: %s", error);
    return c;
}

static void
test_off_by_default (void **state)
{
    ll_config_t *c = s_config ("");
    char error[256];
    ll_roster_t *r = ll_roster_new (c, error, sizeof error);
    assert_non_null (r);
    assert_int_equal (ll_roster_check (r, "anyone@anywhere.org", NULL),
                      LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "anyone@anywhere.org", "x"),
                      LL_ROSTER_OK);
    ll_roster_destroy (&r);
    assert_null (r);
    ll_roster_destroy (&r);
    ll_config_destroy (&c);
}

static void
test_list_domains_code (void **state)
{
    ll_config_t *c = s_config ("claim:\n"
                               "  allowed_emails: [Ann@Example.org, "
                               "bob@other.net]\n"
                               "  allowed_domains: [school.edu, '@uni.edu']\n"
                               "  access_code: ' Purple Banana '\n");
    char error[256];
    ll_roster_t *r = ll_roster_new (c, error, sizeof error);
    assert_non_null (r);
    assert_int_equal (ll_roster_size (r), 2);
    //  The code first, whoever asks: nothing about the roster leaks
    assert_int_equal (ll_roster_check (r, "ann@example.org", NULL),
                      LL_ROSTER_CODE);
    assert_int_equal (ll_roster_check (r, "ann@example.org", ""),
                      LL_ROSTER_CODE);
    assert_int_equal (ll_roster_check (r, "ann@example.org", "purple"),
                      LL_ROSTER_CODE);
    assert_int_equal (ll_roster_check (r, "eve@evil.org", "wrong"),
                      LL_ROSTER_CODE);
    //  Trimmed, case ignored
    assert_int_equal (ll_roster_check (r, "ann@example.org", "purple banana"),
                      LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "bob@other.net", "PURPLE BANANA "),
                      LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "zoe@school.edu", "purple banana"),
                      LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "zoe@uni.edu", "purple banana"),
                      LL_ROSTER_OK);
    //  Not listed, not an allowed domain (a subdomain is another domain)
    assert_int_equal (ll_roster_check (r, "eve@evil.org", "purple banana"),
                      LL_ROSTER_EMAIL);
    assert_int_equal (ll_roster_check (r, "zoe@cs.school.edu", "purple banana"),
                      LL_ROSTER_EMAIL);
    assert_int_equal (
        ll_roster_check (r, "ann@example.org.evil.org", "purple banana"),
        LL_ROSTER_EMAIL);
    assert_string_equal (ll_roster_rule (LL_ROSTER_EMAIL), "email");
    assert_string_equal (ll_roster_rule (LL_ROSTER_CODE), "code");
    ll_roster_destroy (&r);
    ll_config_destroy (&c);

    //  Only domains: the refusal names the domain rule
    c = s_config ("claim:\n  allowed_domains: school.edu\n");
    r = ll_roster_new (c, error, sizeof error);
    assert_int_equal (ll_roster_check (r, "a@school.edu", NULL), LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "a@gmail.com", NULL),
                      LL_ROSTER_DOMAIN);
    assert_string_equal (ll_roster_rule (LL_ROSTER_DOMAIN), "domain");
    ll_roster_destroy (&r);
    ll_config_destroy (&c);
}

static void
test_file (void **state)
{
    char dir[] = "/tmp/roster-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[128], yaml[256], error[512];
    snprintf (path, sizeof path, "%s/class.txt", dir);
    FILE *f = fopen (path, "w");
    fputs ("# class of 2026\n\n  Ann@Example.org  \r\nbob@other.net\n", f);
    fclose (f);
    snprintf (yaml, sizeof yaml, "claim:\n  allowed_emails: %s\n", path);
    ll_config_t *c = s_config (yaml);
    ll_roster_t *r = ll_roster_new (c, error, sizeof error);
    assert_non_null (r);
    assert_int_equal (ll_roster_size (r), 2);
    assert_int_equal (ll_roster_check (r, "ann@example.org", NULL),
                      LL_ROSTER_OK);
    assert_int_equal (ll_roster_check (r, "# class of 2026", NULL),
                      LL_ROSTER_EMAIL);
    assert_int_equal (ll_roster_check (r, "cat@late.org", NULL),
                      LL_ROSTER_EMAIL);
    assert_int_equal (ll_roster_refresh (r, error, sizeof error), 0);
    //  A late student is added: read again without a restart
    sleep (1);  //  a new modification time even on coarse clocks
    f = fopen (path, "a");
    fputs ("cat@late.org\n", f);
    fclose (f);
    assert_int_equal (ll_roster_refresh (r, error, sizeof error), 1);
    assert_int_equal (ll_roster_check (r, "cat@late.org", NULL), LL_ROSTER_OK);
    //  The file vanishes: the roster stays as it was
    unlink (path);
    assert_int_equal (ll_roster_refresh (r, error, sizeof error), -1);
    assert_non_null (strstr (error, "cannot read"));
    assert_int_equal (ll_roster_check (r, "cat@late.org", NULL), LL_ROSTER_OK);
    ll_roster_destroy (&r);
    //  ... and an allocator cannot start with it missing
    assert_null (ll_roster_new (c, error, sizeof error));
    assert_non_null (strstr (error, "claim.allowed_emails"));
    ll_config_destroy (&c);
    rmdir (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_off_by_default),
        cmocka_unit_test (test_list_domains_code),
        cmocka_unit_test (test_file),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
