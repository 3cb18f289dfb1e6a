#include "actors/exporter/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BLOCK 512

void
ll_tar_init (ll_tar_t *self, ll_tar_read_fn *read, void *arg, int64_t size_max)
{
    memset (self, 0, sizeof *self);
    self->read = read;
    self->arg = arg;
    self->size_max = size_max;
}

void
ll_tar_free (ll_tar_t *self)
{
    free (self->name);
    free (self->long_name);
    self->name = self->long_name = NULL;
}

static int
s_refuse (ll_tar_t *self, const char *why)
{
    if (!self->error[0])
        snprintf (self->error, sizeof self->error, "%s", why);
    return -1;
}

//  Exactly n bytes; -1 on failure or an early end.
static int
s_read_all (ll_tar_t *self, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = self->read (self->arg, (char *) buf + got, n - got);
        if (k < 0 || (size_t) k > n - got) {
            self->io_failed = k < 0;
            return s_refuse (self, "the tar stream failed");
        }
        if (k == 0)
            return s_refuse (self, "the tar stream ended early");
        got += (size_t) k;
    }
    return 0;
}

static int
s_skip (ll_tar_t *self, int64_t n)
{
    char buf[8192];
    while (n > 0) {
        size_t want = n > (int64_t) sizeof buf ? sizeof buf : (size_t) n;
        if (s_read_all (self, buf, want) != 0)
            return -1;
        n -= (int64_t) want;
    }
    return 0;
}

int
ll_tar_size (const unsigned char field[12], int64_t *size, const char **why)
{
    int64_t v = 0;
    if (field[0] & 0x80) {
        //  Base-256, two's complement: bit 6 of the first byte is the sign
        if (field[0] & 0x40) {
            *why = "negative size";
            return -1;
        }
        v = field[0] & 0x3f;
        for (size_t i = 1; i < 12; i++) {
            if (v > (INT64_MAX >> 8)) {
                *why = "size overflows";
                return -1;
            }
            v = (v << 8) | field[i];
        }
        *size = v;
        return 0;
    }
    size_t i = 0;
    while (i < 12 && field[i] == ' ')
        i++;
    for (; i < 12 && field[i] >= '0' && field[i] <= '7'; i++)
        v = v * 8 + (field[i] - '0');  //  12 digits < 2^36: no overflow
    for (; i < 12; i++)
        if (field[i] != '\0' && field[i] != ' ') {
            *why = "malformed size";
            return -1;
        }
    *size = v;
    return 0;
}

//  The header's checksum field against its bytes (the field counted as
//  spaces; unsigned or, as old tars wrote it, signed).
static bool
s_checksum_ok (const unsigned char *h)
{
    long want = 0;
    size_t i = 148;
    while (i < 156 && h[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++, digits++)
        want = want * 8 + (h[i] - '0');
    for (; i < 156; i++)
        if (h[i] != '\0' && h[i] != ' ')
            return false;
    if (digits == 0)
        return false;
    long sum = 0, signed_sum = 0;
    for (i = 0; i < S_BLOCK; i++) {
        unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
        sum += c;
        signed_sum += (signed char) c;
    }
    return want == sum || want == signed_sum;
}

//  The "path" record of a pax extended header ("<len> path=<value>\n"
//  records), or NULL.
static char *
s_pax_path (const char *data, size_t len)
{
    size_t at = 0;
    while (at < len) {
        size_t digits = 0, rec = 0;
        while (at + digits < len && data[at + digits] >= '0'
               && data[at + digits] <= '9' && digits < 8)
            rec = rec * 10 + (size_t) (data[at + digits++] - '0');
        //  "<len> <key>=<value>\n": at least the digits, the space, "\n"
        if (digits == 0 || rec < digits + 2 || rec > len - at
            || data[at + digits] != ' ' || data[at + rec - 1] != '\n')
            return NULL;
        const char *kv = data + at + digits + 1;
        size_t kvlen = rec - digits - 2;  //  without the space and "\n"
        if (kvlen >= 5 && memcmp (kv, "path=", 5) == 0)
            return strndup (kv + 5, kvlen - 5);
        at += rec;
    }
    return NULL;
}

int
ll_tar_next (ll_tar_t *self, const char **name, int64_t *size)
{
    if (self->error[0])
        return -1;
    if (s_skip (self, self->left + self->pad) != 0)
        return -1;
    self->left = self->pad = 0;
    free (self->name);
    self->name = NULL;
    unsigned char h[S_BLOCK];
    while (true) {
        if (s_read_all (self, h, sizeof h) != 0)
            return -1;
        bool zero = true;
        for (size_t i = 0; i < sizeof h && zero; i++)
            zero = h[i] == 0;
        if (zero)
            return 0;  //  end of archive
        if (!s_checksum_ok (h))
            return s_refuse (self, "tar: a header's checksum is wrong");
        int64_t bytes = 0;
        const char *why = NULL;
        if (ll_tar_size (h + 124, &bytes, &why) != 0) {
            snprintf (self->error, sizeof self->error, "tar: %s", why);
            return -1;
        }
        if (bytes > self->size_max) {
            snprintf (self->error, sizeof self->error,
                      "tar: a member of %lld bytes, over the cap of %lld",
                      (long long) bytes, (long long) self->size_max);
            return -1;
        }
        int64_t pad = (S_BLOCK - bytes % S_BLOCK) % S_BLOCK;
        char type = (char) h[156];
        if (type == 'L' || type == 'x') {
            //  The name of the next member
            if (bytes > LL_TAR_NAME_MAX)
                return s_refuse (self, "tar: a long name over 64 KiB");
            char *data = malloc ((size_t) bytes + 1);
            if (!data || s_read_all (self, data, (size_t) bytes) != 0
                || s_skip (self, pad) != 0) {
                free (data);
                return s_refuse (self, "tar: out of memory");
            }
            data[bytes] = '\0';
            free (self->long_name);
            self->long_name = type == 'L' ? strndup (data, (size_t) bytes)
                                          : s_pax_path (data, (size_t) bytes);
            free (data);
            continue;
        }
        if (type != '0' && type != '\0') {
            //  A folder, a link, a global header...: passed over
            free (self->long_name);
            self->long_name = NULL;
            if (s_skip (self, bytes + pad) != 0)
                return -1;
            continue;
        }
        if (self->long_name) {
            self->name = self->long_name;
            self->long_name = NULL;
        }
        else {
            char text[256 + 1];
            if (memcmp (h + 257, "ustar", 5) == 0 && h[345])
                snprintf (text, sizeof text, "%.155s/%.100s", h + 345, h);
            else
                snprintf (text, sizeof text, "%.100s", h);
            self->name = strdup (text);
        }
        if (!self->name)
            return s_refuse (self, "tar: out of memory");
        self->left = bytes;
        self->pad = pad;
        *name = self->name;
        *size = bytes;
        return 1;
    }
}

ssize_t
ll_tar_read (ll_tar_t *self, void *buf, size_t n)
{
    if (self->error[0])
        return -1;
    if (self->left == 0 || n == 0)
        return 0;
    size_t want = (int64_t) n > self->left ? (size_t) self->left : n;
    ssize_t k = self->read (self->arg, buf, want);
    if (k < 0 || (size_t) k > want) {
        self->io_failed = k < 0;
        return s_refuse (self, "the tar stream failed");
    }
    if (k == 0)
        return s_refuse (self, "the tar stream ended early");
    self->left -= k;
    return k;
}
