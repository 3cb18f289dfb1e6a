/*  The exporter's streaming zip writer, read back with libzip: names
    (hostile ones included) and bytes survive, CRCs check, empty entries,
    the UTF-8 flag, ZIP64 end records past 65535 entries, refusals; and the
    export.* config keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "actors/exporter/zip.h"
#include "runtime/config.h"

//  A memory sink
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int fail_after;  //  fail once this many bytes were taken (0 = never)
} s_mem_t;

static int
s_sink (void *arg, const void *data, size_t size)
{
    s_mem_t *m = arg;
    if (m->fail_after && m->len + size > (size_t) m->fail_after)
        return -1;
    if (m->len + size > m->cap) {
        m->cap = (m->len + size) * 2;
        m->data = realloc (m->data, m->cap);
    }
    memcpy (m->data + m->len, data, size);
    m->len += size;
    return 0;
}

static zip_t *
s_open (s_mem_t *m)
{
    zip_error_t error;
    zip_error_init (&error);
    zip_source_t *src = zip_source_buffer_create (m->data, m->len, 0, &error);
    assert_non_null (src);
    zip_t *z = zip_open_from_source (src, ZIP_RDONLY | ZIP_CHECKCONS, &error);
    if (!z)
        fail_msg ("libzip refuses the archive: %s",
                  zip_error_strerror (&error));
    return z;
}

static void
s_expect (zip_t *z,
          zip_int64_t index,
          const char *name,
          const void *data,
          size_t size)
{
    zip_stat_t st;
    assert_int_equal (
        zip_stat_index (z, (zip_uint64_t) index, ZIP_FL_ENC_RAW, &st), 0);
    assert_string_equal (st.name, name);
    assert_int_equal (st.size, size);
    zip_file_t *f = zip_fopen_index (z, (zip_uint64_t) index, 0);
    assert_non_null (f);
    unsigned char *buf = malloc (size + 1);
    zip_int64_t n = zip_fread (f, buf, size + 1);
    assert_int_equal (n, (zip_int64_t) size);
    if (size)
        assert_memory_equal (buf, data, size);
    assert_int_equal (zip_fclose (f), 0);  //  checks the CRC
    free (buf);
}

static void
test_entries_round_trip (void **state)
{
    s_mem_t m = {0};
    ll_zip_t *zip = ll_zip_new (s_sink, &m);
    const char *names[] = {"vm_1/top.slp",
                           "vm_1/sub/deeper/x.slp",
                           "vm_1/$(touch x) 'q\" .slp",
                           "vm_2/new line.slp",
                           "vm_2/\xff\xfe-not-utf8.slp",
                           "vm_2/é.slp",
                           "vm_3/empty.slp"};
    size_t sizes[] = {100000, 3, 17, 1, 5, 2, 0};
    unsigned char *blobs[7];
    for (int i = 0; i < 7; i++) {
        blobs[i] = malloc (sizes[i] + 1);
        for (size_t k = 0; k < sizes[i]; k++)
            blobs[i][k] = (unsigned char) (k * 7 + (size_t) i);
        assert_int_equal (
            ll_zip_begin (zip, names[i], strlen (names[i]), 1700000000), 0);
        //  in pieces, as the fetch threads deliver them
        size_t at = 0;
        while (at < sizes[i]) {
            size_t n = sizes[i] - at < 4096 ? sizes[i] - at : 4096;
            assert_int_equal (ll_zip_write (zip, blobs[i] + at, n), 0);
            at += n;
        }
        assert_int_equal (ll_zip_end (zip), 0);
    }
    assert_int_equal (ll_zip_count (zip), 7);
    assert_int_equal (ll_zip_close (zip), 0);
    assert_int_equal (ll_zip_offset (zip), m.len);
    ll_zip_destroy (&zip);
    assert_null (zip);

    zip_t *z = s_open (&m);
    assert_int_equal (zip_get_num_entries (z, 0), 7);
    for (int i = 0; i < 7; i++)
        s_expect (z, i, names[i], blobs[i], sizes[i]);
    zip_close (z);
    //  The UTF-8 flag (general purpose bit 11) only on valid UTF-8 names:
    //  local header of entry 0 at offset 0, flags at +6
    assert_true (m.data[7] & 0x08);
    for (int i = 0; i < 7; i++)
        free (blobs[i]);
    free (m.data);
}

static void
test_zip64_many_entries (void **state)
{
    s_mem_t m = {0};
    ll_zip_t *zip = ll_zip_new (s_sink, &m);
    char name[32];
    int count = 70000;  //  past the 16-bit entry count
    for (int i = 0; i < count; i++) {
        snprintf (name, sizeof name, "vm_1/%d.slp", i);
        assert_int_equal (ll_zip_begin (zip, name, strlen (name), 0), 0);
        assert_int_equal (ll_zip_write (zip, name, 3), 0);
        assert_int_equal (ll_zip_end (zip), 0);
    }
    assert_int_equal (ll_zip_close (zip), 0);
    ll_zip_destroy (&zip);
    zip_t *z = s_open (&m);
    assert_int_equal (zip_get_num_entries (z, 0), count);
    s_expect (z, count - 1, "vm_1/69999.slp", "vm_", 3);
    zip_close (z);
    free (m.data);
}

static void
test_refusals (void **state)
{
    s_mem_t m = {0};
    ll_zip_t *zip = ll_zip_new (s_sink, &m);
    assert_int_equal (ll_zip_write (zip, "x", 1), -1);  //  no entry open
    assert_int_equal (ll_zip_end (zip), -1);
    assert_int_equal (ll_zip_begin (zip, "", 0, 0), -1);      //  empty
    assert_int_equal (ll_zip_begin (zip, "a\0b", 3, 0), -1);  //  NUL
    //  Names a VM may send that an unzipper would take for something else
    const char *unsafe[] = {"vm_1/new\nline.slp",
                            "vm_1/tab\there.slp",
                            "vm_1/esc\x1b[2J.slp",
                            "vm_1/del\x7f.slp",
                            "vm_1/c1\xc2\x9b.slp",
                            "vm_1\\..\\..\\x.slp",
                            "vm_1/../x.slp",
                            "/etc/x.slp",
                            "vm_1/./x.slp",
                            "vm_1//x.slp",
                            "vm_1/x/"};
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        assert_false (ll_zip_name_safe (unsafe[i], strlen (unsafe[i])));
        assert_int_equal (ll_zip_begin (zip, unsafe[i], strlen (unsafe[i]), 0),
                          -1);
    }
    const char *fine = "vm_1/é \xc2\xa0x.slp";  //  NBSP is no control
    assert_true (ll_zip_name_safe (fine, strlen (fine)));
    char *longname = malloc (LL_ZIP_NAME_MAX + 2);
    memset (longname, 'a', LL_ZIP_NAME_MAX + 1);
    assert_int_equal (ll_zip_begin (zip, longname, LL_ZIP_NAME_MAX + 1, 0), -1);
    free (longname);
    assert_int_equal (ll_zip_begin (zip, "a", 1, 0), 0);
    assert_int_equal (ll_zip_begin (zip, "b", 1, 0), -1);  //  one at a time
    assert_int_equal (ll_zip_close (zip), 0);  //  ends the open entry
    ll_zip_destroy (&zip);
    free (m.data);

    //  A failing sink fails every later call
    s_mem_t f = {.fail_after = 40};
    zip = ll_zip_new (s_sink, &f);
    assert_int_equal (ll_zip_begin (zip, "vm_1/a.slp", 10, 0), 0);
    assert_int_equal (ll_zip_write (zip, "0123456789", 10), -1);
    assert_int_equal (ll_zip_end (zip), -1);
    assert_int_equal (ll_zip_close (zip), -1);
    ll_zip_destroy (&zip);
    free (f.data);
}

static void
test_config_keys (void **state)
{
    char error[256];
    const char *yaml = "export:\n  parallel: 4\n  max_file_bytes: 1000\n"
                       "  max_total_bytes: 8589934592\n  ssh_user: root\n"
                       "  source: host\n  data_dir: /data\n";
    ll_config_t *c = ll_config_parse (yaml, strlen (yaml), error, sizeof error);
    if (!c)
        fail_msg ("%s", error);
    assert_int_equal (c->export.parallel, 4);
    assert_int_equal (c->export.max_file_bytes, 1000);
    assert_true (c->export.max_total_bytes == 8589934592LL);
    assert_string_equal (c->export.ssh_user, "root");
    assert_string_equal (c->export.data_dir, "/data");
    ll_config_destroy (&c);
    const char *bad[] = {
        "export:\n  parallel: 0\n",
        "export:\n  max_file_bytes: 4294967296\n",
        "export:\n  max_total_bytes: lots\n",
        "export:\n  source: ftp\n",
        "export:\n  colour: blue\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = ll_config_parse (bad[i], strlen (bad[i]), error, sizeof error);
        if (c)
            fail_msg ("accepted: %s", bad[i]);
        assert_non_null (strstr (error, "export."));
    }
    c = ll_config_new_defaults ();
    assert_int_equal (c->export.parallel, 8);
    assert_string_equal (c->export.ssh_user, "");
    ll_config_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_entries_round_trip),
        cmocka_unit_test (test_zip64_many_entries),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_config_keys),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
