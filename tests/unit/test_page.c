/*  Page templates: placeholders are replaced by HTML-escaped values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/page.h"

static void
test_escape (void **state)
{
    char out[64];
    ll_html_escape ("<a href=\"x\">&'</a>", out, sizeof out);
    assert_string_equal (out,
                         "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    ll_html_escape ("abcdef", out, 4);
    assert_string_equal (out, "abc");
}

static void
test_render (void **state)
{
    //  index.html renders without values (placeholders become empty)
    char *html = ll_page_render ("index.html", NULL);
    assert_non_null (html);
    assert_non_null (strstr (html, "Welcome to LabLink!"));
    free (html);
    assert_null (ll_page_render ("no-such-page.html", NULL));
}

static void
test_raw (void **state)
{
    //  {{&name}} goes in as is, {{name}} escaped: the layout's own parts
    char *html = ll_page_render (
        "admin-layout.html",
        (const char *[]){"title", "<b>", "body", "<p id=\"x\">1</p>", "nav",
                         "<a href=\"/admin\">D</a>", NULL});
    assert_non_null (html);
    assert_non_null (strstr (html, "<title>&lt;b&gt;</title>"));
    assert_non_null (strstr (html, "<p id=\"x\">1</p>"));
    assert_non_null (strstr (html, "<a href=\"/admin\">D</a>"));
    free (html);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_escape),
        cmocka_unit_test (test_render),
        cmocka_unit_test (test_raw),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
