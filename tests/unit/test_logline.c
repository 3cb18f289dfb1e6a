/*  Log lines: ANSI and control characters removed, split, blank lines
    dropped, long lines cut at a UTF-8 boundary with a marker; the
    CloudWatch payload decoder refuses bombs, bad base64 and non-gzip data
    without producing more than its cap; PostgreSQL encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <sodium.h>

#include "runtime/logline.h"
#include "runtime/textbuf.h"

static size_t
s_clean (const char *in, size_t max, ll_textbuf_t *out, size_t *cut)
{
    ll_textbuf_reset (out);
    return ll_logline_clean (in, strlen (in), max, out, cut);
}

static void
test_clean (void **state)
{
    ll_textbuf_t out = {0};
    size_t cut = 0;
    assert_int_equal (s_clean ("plain", 100, &out, &cut), 1);
    assert_string_equal (ll_textbuf_text (&out), "plain\n");
    //  Colours, cursor moves, OSC titles, carriage returns, bells
    assert_int_equal (
        s_clean ("\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\r\x07\x1b[2K", 100,
                 &out, &cut),
        1);
    assert_string_equal (ll_textbuf_text (&out), "red ok\n");
    //  Split on newlines, blank lines dropped, tabs kept
    assert_int_equal (s_clean ("a\n\n   \n\tb\n", 100, &out, &cut), 2);
    assert_string_equal (ll_textbuf_text (&out), "a\n\tb\n");
    assert_int_equal (s_clean ("\x1b[0m\n \n", 100, &out, &cut), 0);
    assert_int_equal (out.len, 0);
    assert_int_equal (cut, 0);
    //  Cut and marked
    assert_int_equal (s_clean ("0123456789abcdef", 10, &out, &cut), 1);
    assert_string_equal (ll_textbuf_text (&out), "0123456789 [cut 6 bytes]\n");
    assert_int_equal (cut, 1);
    //  Never inside a UTF-8 character: "é" is two bytes at offset 9..10
    assert_int_equal (s_clean ("123456789\xc3\xa9xyz", 10, &out, &cut), 1);
    assert_string_equal (ll_textbuf_text (&out), "123456789 [cut 5 bytes]\n");
    assert_true (ll_utf8_valid (out.data, out.len));
    //  ESC followed by a multibyte character keeps the character whole
    assert_int_equal (s_clean ("\x1b\xc3\xa9", 10, &out, &cut), 1);
    assert_true (ll_utf8_valid (out.data, out.len));
    ll_textbuf_free (&out);
}

static void
test_utf8 (void **state)
{
    assert_true (
        ll_utf8_valid ("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    assert_false (ll_utf8_valid ("\xc3", 1));
    assert_false (ll_utf8_valid ("\xc0\xaf", 2));          //  overlong
    assert_false (ll_utf8_valid ("\xed\xa0\x80", 3));      //  surrogate
    assert_false (ll_utf8_valid ("a\0b", 3));              //  NUL
    assert_false (ll_utf8_valid ("\xf5\x80\x80\x80", 4));  //  too large
}

//  base64 (gzip (data)) as a new string
static char *
s_gzip_b64 (const void *data, size_t len)
{
    size_t cap = compressBound (len) + 64;
    unsigned char *gz = malloc (cap);
    z_stream z = {0};
    assert_int_equal (
        deflateInit2 (&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *) data;
    z.avail_in = (uInt) len;
    z.next_out = gz;
    z.avail_out = (uInt) cap;
    assert_int_equal (deflate (&z, Z_FINISH), Z_STREAM_END);
    size_t gz_len = cap - z.avail_out;
    deflateEnd (&z);
    size_t b64_len =
        sodium_base64_encoded_len (gz_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc (b64_len);
    sodium_bin2base64 (b64, b64_len, gz, gz_len,
                       sodium_base64_VARIANT_ORIGINAL);
    free (gz);
    return b64;
}

static void
test_cwlogs (void **state)
{
    const char *json = "{\"logGroup\":\"g\",\"logEvents\":[]}";
    char *b64 = s_gzip_b64 (json, strlen (json));
    char *out = NULL;
    size_t len = 0;
    const char *why = NULL;
    assert_int_equal (
        ll_cwlogs_decode (b64, strlen (b64), LL_CWLOGS_MAX, &out, &len, &why),
        0);
    assert_string_equal (out, json);
    assert_int_equal (len, strlen (json));
    free (out);
    //  Cut short: truncated
    assert_int_equal (ll_cwlogs_decode (b64, strlen (b64) - 8, LL_CWLOGS_MAX,
                                        &out, &len, &why),
                      -1);
    assert_null (out);
    free (b64);

    //  A bomb: 64 MiB of zeros; refused at the cap
    size_t big = 64u << 20;
    char *zeros = calloc (1, big);
    b64 = s_gzip_b64 (zeros, big);
    free (zeros);
    assert_true (strlen (b64) < 200000);
    assert_int_equal (
        ll_cwlogs_decode (b64, strlen (b64), 1 << 20, &out, &len, &why), -1);
    assert_string_equal (why, "decompressed payload too large");
    assert_null (out);
    //  Exactly at the cap is fine
    free (b64);
    zeros = calloc (1, 4096);
    b64 = s_gzip_b64 (zeros, 4096);
    assert_int_equal (
        ll_cwlogs_decode (b64, strlen (b64), 4096, &out, &len, &why), 0);
    assert_int_equal (len, 4096);
    free (out);
    assert_int_equal (
        ll_cwlogs_decode (b64, strlen (b64), 4095, &out, &len, &why), -1);
    free (b64);
    free (zeros);

    assert_int_equal (ll_cwlogs_decode ("!!!!", 4, 100, &out, &len, &why), -1);
    assert_string_equal (why, "malformed base64");
    assert_int_equal (ll_cwlogs_decode ("aGVsbG8=", 8, 100, &out, &len, &why),
                      -1);
    assert_string_equal (why, "not gzip data");
    assert_int_equal (ll_cwlogs_decode ("", 0, 100, &out, &len, &why), -1);
}

static void
test_encodings (void **state)
{
    ll_textbuf_t buf = {0};
    ll_pgarray_begin (&buf);
    ll_pgarray_add (&buf, "a\"b\\c");
    ll_pgarray_add (&buf, NULL);
    ll_pgarray_add (&buf, "x,y");
    ll_pgarray_end (&buf);
    assert_string_equal (ll_textbuf_text (&buf),
                         "{\"a\\\"b\\\\c\",NULL,\"x,y\"}");
    ll_textbuf_reset (&buf);
    ll_copy_field (&buf, "a\tb\\c\nd\re", 10);
    assert_string_equal (ll_textbuf_text (&buf), "a\\tb\\\\c\\nd\\re");
    ll_textbuf_free (&buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_clean),
        cmocka_unit_test (test_utf8),
        cmocka_unit_test (test_cwlogs),
        cmocka_unit_test (test_encodings),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
