/*  The export's tar reader (actors/exporter/tar.c) against streams a
    hostile VM could send: sizes that are negative, overflow, are malformed
    or over the cap, wrong checksums, oversized long names, a stream that
    ends early; and the members real GNU tar writes (ustar prefix, GNU long
    names, pax paths, folders passed over). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/exporter/tar.h"

//  A stream in memory, given out in pieces of at most `chunk` bytes.
typedef struct {
    unsigned char data[16384];
    size_t len, at, chunk;
} s_stream_t;

static ssize_t
s_read (void *arg, void *buf, size_t n)
{
    s_stream_t *s = arg;
    size_t left = s->len - s->at;
    size_t k = n < left ? n : left;
    if (s->chunk && k > s->chunk)
        k = s->chunk;
    memcpy (buf, s->data + s->at, k);
    s->at += k;
    return (ssize_t) k;
}

//  Append a header: name, the 12 bytes of the size field, the type; the
//  checksum is computed (bad_sum: off by one).
static void
s_header (s_stream_t *s,
          const char *name,
          const unsigned char *size_field,
          char type,
          bool bad_sum)
{
    unsigned char *h = s->data + s->len;
    memset (h, 0, 512);
    memcpy (h, name, strlen (name) < 100 ? strlen (name) : 100);
    memcpy (h + 100, "0000644", 7);
    memcpy (h + 124, size_field, 12);
    memcpy (h + 136, "14000000000", 11);
    h[156] = (unsigned char) type;
    memcpy (h + 257,
            "ustar\0"
            "00",
            8);
    memset (h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf ((char *) h + 148, 8, "%06o", sum + (bad_sum ? 1 : 0));
    s->len += 512;
}

static void
s_octal (unsigned char field[12], long long value)
{
    char text[13];
    snprintf (text, sizeof text, "%011llo", value);
    memcpy (field, text, 12);
}

//  Append size bytes of data (byte i = i % 251) and the padding.
static void
s_data (s_stream_t *s, size_t size)
{
    for (size_t i = 0; i < size; i++)
        s->data[s->len++] = (unsigned char) (i % 251);
    while (s->len % 512)
        s->data[s->len++] = 0;
}

static void
s_end (s_stream_t *s)
{
    memset (s->data + s->len, 0, 1024);
    s->len += 1024;
}

static void
test_members (void **state)
{
    s_stream_t s = {.chunk = 7};  //  reads come in odd pieces
    unsigned char field[12];
    //  A folder (passed over), a file, a GNU long name, a pax path
    s_octal (field, 0);
    s_header (&s, "dir/", field, '5', false);
    s_octal (field, 700);
    s_header (&s, "dir/a.slp", field, '0', false);
    s_data (&s, 700);
    const char *long_name = "dir/a-name-longer-than-one-hundred-bytes-"
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            "xxxxxxxxxxxxxxxxxxxx.slp";
    s_octal (field, (long long) strlen (long_name) + 1);
    s_header (&s, "././@LongLink", field, 'L', false);
    memcpy (s.data + s.len, long_name, strlen (long_name) + 1);
    s.len += strlen (long_name) + 1;
    while (s.len % 512)
        s.data[s.len++] = 0;
    s_octal (field, 3);
    s_header (&s, "truncated-name", field, '0', false);
    s_data (&s, 3);
    const char *pax = "20 path=dir/pax.slp\n";  //  20 bytes, "20" too
    s_octal (field, (long long) strlen (pax));
    s_header (&s, "PaxHeader", field, 'x', false);
    memcpy (s.data + s.len, pax, strlen (pax));
    s.len += strlen (pax);
    while (s.len % 512)
        s.data[s.len++] = 0;
    s_octal (field, 0);
    s_header (&s, "short", field, '0', false);
    s_end (&s);

    ll_tar_t tar;
    ll_tar_init (&tar, s_read, &s, 1 << 20);
    const char *name = NULL;
    int64_t size = 0;
    assert_int_equal (ll_tar_next (&tar, &name, &size), 1);
    assert_string_equal (name, "dir/a.slp");
    assert_int_equal (size, 700);
    unsigned char buf[1000];
    size_t got = 0;
    ssize_t k;
    while ((k = ll_tar_read (&tar, buf + got, sizeof buf - got)) > 0)
        got += (size_t) k;
    assert_int_equal (k, 0);
    assert_int_equal (got, 700);  //  never past the member's size
    assert_int_equal (buf[699], 699 % 251);
    assert_int_equal (ll_tar_next (&tar, &name, &size), 1);
    assert_string_equal (name, long_name);
    assert_int_equal (size, 3);
    //  The data not read is skipped by the next call
    assert_int_equal (ll_tar_next (&tar, &name, &size), 1);
    assert_string_equal (name, "dir/pax.slp");
    assert_int_equal (size, 0);
    assert_int_equal (ll_tar_read (&tar, buf, sizeof buf), 0);
    assert_int_equal (ll_tar_next (&tar, &name, &size), 0);
    ll_tar_free (&tar);
}

//  The first call on a stream with one member whose size field is field.
static int
s_first (const unsigned char field[12], bool bad_sum, char *error, size_t len)
{
    s_stream_t s = {0};
    s_header (&s, "x.slp", field, '0', bad_sum);
    s_data (&s, 10);
    s_end (&s);
    ll_tar_t tar;
    ll_tar_init (&tar, s_read, &s, 1000);
    const char *name;
    int64_t size;
    int rc = ll_tar_next (&tar, &name, &size);
    snprintf (error, len, "%s", tar.error);
    if (rc == 1) {
        //  Even then no read goes past the stated size
        unsigned char buf[64];
        ssize_t k, total = 0;
        while ((k = ll_tar_read (&tar, buf, sizeof buf)) > 0)
            total += k;
        assert_true (total == size);
    }
    ll_tar_free (&tar);
    return rc;
}

static void
test_hostile_sizes (void **state)
{
    char error[200];
    unsigned char field[12];
    //  base-256 negative (two's complement -1)
    memset (field, 0xff, 12);
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    assert_string_equal (error, "tar: negative size");
    //  base-256 larger than 2^63
    memset (field, 0, 12);
    field[0] = 0x80;
    field[3] = 0x01;
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    assert_string_equal (error, "tar: size overflows");
    //  base-256 small and true: accepted
    memset (field, 0, 12);
    field[0] = 0x80;
    field[11] = 10;
    assert_int_equal (s_first (field, false, error, sizeof error), 1);
    //  base-256 within int64 but over the cap
    memset (field, 0, 12);
    field[0] = 0x80;
    field[4] = 0x7f;
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    assert_non_null (strstr (error, "over the cap of 1000"));
    //  octal over the cap
    s_octal (field, 1001);
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    assert_non_null (strstr (error, "over the cap"));
    //  octal with garbage
    memcpy (field, "00000000012x", 12);
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    assert_string_equal (error, "tar: malformed size");
    memcpy (field, "-0000000001\0", 12);
    assert_int_equal (s_first (field, false, error, sizeof error), -1);
    //  a header whose checksum is wrong is not believed
    s_octal (field, 10);
    assert_int_equal (s_first (field, true, error, sizeof error), -1);
    assert_non_null (strstr (error, "checksum"));
    int64_t size;
    const char *why;
    memcpy (field, "   17 \0\0\0\0\0\0", 12);
    assert_int_equal (ll_tar_size (field, &size, &why), 0);
    assert_int_equal (size, 15);
}

static void
test_truncated (void **state)
{
    s_stream_t s = {0};
    unsigned char field[12];
    s_octal (field, 600);
    s_header (&s, "x.slp", field, '0', false);
    s_data (&s, 100);  //  100 of 600 bytes, then the stream ends
    s.len = 512 + 100;
    ll_tar_t tar;
    ll_tar_init (&tar, s_read, &s, 1 << 20);
    const char *name;
    int64_t size;
    assert_int_equal (ll_tar_next (&tar, &name, &size), 1);
    unsigned char buf[1024];
    size_t got = 0;
    ssize_t k;
    while ((k = ll_tar_read (&tar, buf, sizeof buf)) > 0)
        got += (size_t) k;
    assert_int_equal (k, -1);
    assert_int_equal (got, 100);
    assert_string_equal (tar.error, "the tar stream ended early");
    assert_int_equal (ll_tar_next (&tar, &name, &size), -1);
    ll_tar_free (&tar);

    //  A long name over 64 KiB is refused before it is read
    s_stream_t l = {0};
    s_octal (field, LL_TAR_NAME_MAX + 1);
    s_header (&l, "././@LongLink", field, 'L', false);
    ll_tar_init (&tar, s_read, &l, (int64_t) 1 << 30);
    assert_int_equal (ll_tar_next (&tar, &name, &size), -1);
    assert_non_null (strstr (tar.error, "long name"));
    ll_tar_free (&tar);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_members),
        cmocka_unit_test (test_hostile_sizes),
        cmocka_unit_test (test_truncated),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
