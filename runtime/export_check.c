#include "runtime/export_check.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define S_MANIFEST     "MANIFEST.txt"
#define S_MANIFEST_MAX (64 << 20)  //  bytes of manifest read at most
#define S_NAME_MAX     4096

static int
s_fail (char *error, size_t errsize, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (error, errsize, format, args);
    va_end (args);
    return -1;
}

//  Undo the exporter's escaping (\\, \n, \xHH) of a name of len bytes
//  into out; -1 when malformed or too long.
static int
s_unescape (const char *name, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 1 >= size)
            return -1;
        if (name[i] != '\\') {
            out[n++] = name[i];
            continue;
        }
        if (i + 1 >= len)
            return -1;
        char c = name[++i];
        if (c == '\\')
            out[n++] = '\\';
        else if (c == 'n')
            out[n++] = '\n';
        else if (c == 'x' && i + 2 < len) {
            char hex[3] = {name[i + 1], name[i + 2], 0};
            char *end;
            long v = strtol (hex, &end, 16);
            if (*end || v <= 0)
                return -1;
            out[n++] = (char) v;
            i += 2;
        }
        else
            return -1;
    }
    out[n] = '\0';
    return 0;
}

//  SHA-256 (hex) of entry index; 0 or -1.
static int
s_entry_sha256 (zip_t *zip, zip_int64_t index, char hex[65], uint64_t *bytes)
{
    zip_file_t *file = zip_fopen_index (zip, (zip_uint64_t) index, 0);
    if (!file)
        return -1;
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    unsigned char buf[65536];
    zip_int64_t got;
    while ((got = zip_fread (file, buf, sizeof buf)) > 0) {
        crypto_hash_sha256_update (&state, buf, (unsigned long long) got);
        *bytes += (uint64_t) got;
    }
    zip_fclose (file);
    if (got < 0)
        return -1;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, digest);
    sodium_bin2hex (hex, 65, digest, sizeof digest);
    return 0;
}

int
ll_export_check (const char *path,
                 ll_export_check_t *out,
                 char *error,
                 size_t errsize)
{
    memset (out, 0, sizeof *out);
    int zerr = 0;
    zip_t *zip = zip_open (path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!zip) {
        zip_error_t ze;
        zip_error_init_with_code (&ze, zerr);
        s_fail (error, errsize, "the zip does not open: %s",
                zip_error_strerror (&ze));
        zip_error_fini (&ze);
        return -1;
    }
    int rc = -1;
    char *manifest = NULL;
    bool *seen = NULL;
    zip_int64_t entries = zip_get_num_entries (zip, 0);
    zip_int64_t mi = zip_name_locate (zip, S_MANIFEST, 0);
    zip_stat_t st;
    if (mi < 0 || zip_stat_index (zip, (zip_uint64_t) mi, 0, &st) != 0
        || !(st.valid & ZIP_STAT_SIZE) || st.size > S_MANIFEST_MAX) {
        s_fail (error, errsize, "no readable " S_MANIFEST);
        goto done;
    }
    manifest = malloc (st.size + 1);
    zip_file_t *mf = zip_fopen_index (zip, (zip_uint64_t) mi, 0);
    zip_int64_t got = mf ? zip_fread (mf, manifest, st.size) : -1;
    if (mf)
        zip_fclose (mf);
    if (got != (zip_int64_t) st.size) {
        s_fail (error, errsize, S_MANIFEST " cannot be read");
        goto done;
    }
    manifest[st.size] = '\0';
    seen = calloc ((size_t) entries + 1, sizeof *seen);
    seen[mi] = true;
    char name[S_NAME_MAX + 1];
    for (char *line = manifest, *eol; *line;
         line = eol ? eol + 1 : line + strlen (line)) {
        eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        if (len == 0)
            continue;
        if (line[0] == '#') {
            //  "# vm_<n> <host> <address>:<port> FAILED ..."
            if (strncmp (line, "# vm_", 5) == 0) {
                const char *f = strstr (line, " FAILED ");
                if (f && f < line + len)
                    out->failed_vms++;
            }
            continue;
        }
        //  [\]<64 hex>  <name>
        bool escaped = line[0] == '\\';
        const char *hex = line + (escaped ? 1 : 0);
        size_t head = (escaped ? 1 : 0) + 66;
        if (len <= head || hex[64] != ' ' || hex[65] != ' ') {
            s_fail (error, errsize, S_MANIFEST ": malformed line");
            goto done;
        }
        const char *raw = line + head;
        size_t raw_len = len - head;
        if (escaped ? s_unescape (raw, raw_len, name, sizeof name) != 0
                    : raw_len > S_NAME_MAX) {
            s_fail (error, errsize, S_MANIFEST ": malformed name");
            goto done;
        }
        if (!escaped) {
            memcpy (name, raw, raw_len);
            name[raw_len] = '\0';
        }
        zip_int64_t index = zip_name_locate (zip, name, 0);
        if (index < 0) {
            s_fail (error, errsize, "%.200s is listed but not in the zip",
                    name);
            goto done;
        }
        char sum[65];
        if (s_entry_sha256 (zip, index, sum, &out->bytes) != 0) {
            s_fail (error, errsize, "%.200s cannot be read", name);
            goto done;
        }
        if (strncmp (sum, hex, 64) != 0) {
            s_fail (error, errsize, "%.200s does not match its SHA-256", name);
            goto done;
        }
        seen[index] = true;
        out->files++;
    }
    for (zip_int64_t i = 0; i < entries; i++)
        if (!seen[i]) {
            s_fail (error, errsize, "%.200s is in the zip but not listed",
                    zip_get_name (zip, (zip_uint64_t) i, 0));
            goto done;
        }
    rc = 0;
done:
    free (seen);
    free (manifest);
    zip_discard (zip);
    return rc;
}
