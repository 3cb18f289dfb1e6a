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

static void
test_partial (void **state)
{
    //  {{>vm-live.html}}: the shared markup, with the page's values, in
    //  place of the include's line (no blank line added)
    char *html = ll_page_render (
        "success.html", (const char *[]){"pin", "123456", "delivered_note",
                                         "<waiting>", "host", "vm-1", NULL});
    assert_non_null (html);
    assert_non_null (strstr (html, "</strong></p>\n  <div class=\"pin-row\">\n"
                                   "    <span>PIN:</span> <strong "
                                   "class=\"pin-value\" id=\"pin\">123456"));
    assert_non_null (strstr (html, "id=\"note_delivered\">&lt;waiting&gt;"));
    assert_non_null (strstr (html, "</li>\n  </ol>\n  <p id=\"message\""));
    assert_null (strstr (html, "{{"));
    free (html);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_escape),
        cmocka_unit_test (test_render),
        cmocka_unit_test (test_raw),
        cmocka_unit_test (test_partial),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
