/*  "Export, then destroy" checks the kept zip before anything is destroyed:
    a sound archive passes; a changed byte, a file missing from the zip, a
    file the manifest does not list, a truncated or unreadable archive are
    refused; VMs listed as FAILED are counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/export_check.h"
#include "actors/exporter/zip.h"

static int
s_sink (void *arg, const void *data, size_t size)
{
    return fwrite (data, 1, size, arg) == size ? 0 : -1;
}

static void
s_sha (const char *text, char hex[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (d, (const unsigned char *) text, strlen (text));
    sodium_bin2hex (hex, 65, d, sizeof d);
}

//  A zip like the exporter's: files (name, content) then MANIFEST.txt with
//  comment lines and one sha256sum line per listed file; listed[i] false
//  leaves file i out of the manifest, corrupt changes a listed sum.
static char *
s_make (const char *const files[][2],
        size_t n,
        const bool *listed,
        bool corrupt,
        const char *extra_comment)
{
    char *path = strdup ("/tmp/ll-export-check-XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *f = fdopen (fd, "wb");
    ll_zip_t *zip = ll_zip_new (s_sink, f);
    char manifest[8192] =
        "# LabLink data export test\n# vm_1 h1 127.0.0.1:22 ok files=2\n";
    if (extra_comment)
        strncat (manifest, extra_comment,
                 sizeof manifest - strlen (manifest) - 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (
            ll_zip_begin (zip, files[i][0], strlen (files[i][0]), 0), 0);
        assert_int_equal (ll_zip_write (zip, files[i][1], strlen (files[i][1])),
                          0);
        assert_int_equal (ll_zip_end (zip), 0);
        if (listed && !listed[i])
            continue;
        char hex[65];
        s_sha (files[i][1], hex);
        if (corrupt && i == 0)
            hex[0] = hex[0] == 'a' ? 'b' : 'a';
        char line[600];
        const char *nl = strchr (files[i][0], '\n');
        if (nl)  //  sha256sum's escaped form
            snprintf (line, sizeof line, "\\%s  %.*s\\n%s\n", hex,
                      (int) (nl - files[i][0]), files[i][0], nl + 1);
        else
            snprintf (line, sizeof line, "%s  %s\n", hex, files[i][0]);
        strncat (manifest, line, sizeof manifest - strlen (manifest) - 1);
    }
    assert_int_equal (ll_zip_begin (zip, "MANIFEST.txt", 12, 0), 0);
    assert_int_equal (ll_zip_write (zip, manifest, strlen (manifest)), 0);
    assert_int_equal (ll_zip_close (zip), 0);
    ll_zip_destroy (&zip);
    fclose (f);
    return path;
}

static const char *const s_files[][2] = {
    {"vm_1/a.slp", "data of a\n"},
    {"vm_1/sub/b.slp", "data of b, a little longer\n"},
    {"vm_2/odd name.slp", "odd\n"},
};

static void
test_sound (void **state)
{
    char *path = s_make (s_files, 3, NULL, false, NULL);
    ll_export_check_t out;
    char error[256] = "";
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), 0);
    assert_int_equal (out.files, 3);
    assert_int_equal (out.failed_vms, 0);
    assert_int_equal (out.bytes, strlen ("data of a\n")
                                     + strlen ("data of b, a little longer\n")
                                     + 4);
    unlink (path);
    free (path);
    //  FAILED VMs are counted (their data is not in the zip)
    path = s_make (s_files, 1, NULL, false,
                   "# vm_2 h2 127.0.0.1:22 FAILED files=0 bytes=0: timed out\n"
                   "# vm_3 h3 127.0.0.1:22 FAILED files=0 bytes=0: refused\n");
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), 0);
    assert_int_equal (out.failed_vms, 2);
    unlink (path);
    free (path);
}

static void
test_refused (void **state)
{
    ll_export_check_t out;
    char error[256];
    //  a changed sum
    char *path = s_make (s_files, 3, NULL, true, NULL);
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), -1);
    assert_non_null (strstr (error, "does not match"));
    unlink (path);
    free (path);
    //  a file the manifest does not list
    bool listed[] = {true, false, true};
    path = s_make (s_files, 3, listed, false, NULL);
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), -1);
    assert_non_null (strstr (error, "not listed"));
    //  truncated: the central directory is gone
    FILE *f = fopen (path, "r+b");
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fclose (f);
    assert_int_equal (truncate (path, size - 30), 0);
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), -1);
    assert_non_null (strstr (error, "does not open"));
    unlink (path);
    free (path);
    //  a listed file that is not in the zip
    path = s_make (s_files, 1, NULL, false,
                   "00000000000000000000000000000000000000000000000000000000000"
                   "00000  vm_9/x.slp\n");
    assert_int_equal (ll_export_check (path, &out, error, sizeof error), -1);
    assert_non_null (strstr (error, "listed but not in the zip"));
    unlink (path);
    free (path);
    assert_int_equal (
        ll_export_check ("/nonexistent/x.zip", &out, error, sizeof error), -1);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sound),
        cmocka_unit_test (test_refused),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
