#include "actors/exporter/zip.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define S_SIG_LOCAL       0x04034b50u
#define S_SIG_DESCRIPTOR  0x08074b50u
#define S_SIG_CENTRAL     0x02014b50u
#define S_SIG_END64       0x06064b50u
#define S_SIG_LOCATOR64   0x07064b50u
#define S_SIG_END         0x06054b50u
#define S_FLAG_DESCRIPTOR 0x0008u
#define S_FLAG_UTF8       0x0800u

//  What the central directory needs of one entry.
typedef struct {
    char *name;       //  entry name (owned)
    uint16_t length;  //  bytes in name
    uint16_t flags;   //  general purpose flags
    uint16_t time;    //  DOS time
    uint16_t date;    //  DOS date
    uint32_t crc;     //  CRC-32 of the data
    uint32_t size;    //  bytes of data (stored: compressed = uncompressed)
    uint64_t offset;  //  of the local header
} s_entry_t;

struct ll_zip {
    ll_zip_sink_fn *sink;  //  where bytes go
    void *arg;             //  for sink
    uint64_t offset;       //  bytes written
    s_entry_t *entries;    //  central directory records
    size_t count;          //  entries used
    size_t capacity;       //  entries allocated
    bool open;             //  an entry is open
    uint64_t size;         //  bytes in the open entry
    bool failed;           //  the sink failed: every call fails
};

static void
s_put16 (unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
}

static void
s_put32 (unsigned char *p, uint32_t v)
{
    s_put16 (p, (uint16_t) v);
    s_put16 (p + 2, (uint16_t) (v >> 16));
}

static void
s_put64 (unsigned char *p, uint64_t v)
{
    s_put32 (p, (uint32_t) v);
    s_put32 (p + 4, (uint32_t) (v >> 32));
}

static int
s_emit (ll_zip_t *self, const void *data, size_t size)
{
    if (self->failed)
        return -1;
    if (size && self->sink (self->arg, data, size) != 0) {
        self->failed = true;
        return -1;
    }
    self->offset += size;
    return 0;
}

//  True when s is well-formed UTF-8 (so the UTF-8 flag may be set).
static bool
s_utf8_valid (const unsigned char *s, size_t size)
{
    size_t i = 0;
    while (i < size) {
        unsigned char c = s[i];
        size_t more = c < 0x80             ? 0
                      : (c & 0xE0) == 0xC0 ? 1
                      : (c & 0xF0) == 0xE0 ? 2
                      : (c & 0xF8) == 0xF0 ? 3
                                           : 9;
        if (more == 9 || (more == 1 && c < 0xC2) || more > size - i - 1)
            return false;
        for (size_t k = 1; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += more + 1;
    }
    return true;
}

static void
s_dos_time (time_t when, uint16_t *time_out, uint16_t *date_out)
{
    struct tm tm;
    if (when <= 0 || !localtime_r (&when, &tm) || tm.tm_year < 80) {
        *time_out = 0;
        *date_out = (1 << 5) | 1;  //  1980-01-01
        return;
    }
    *time_out =
        (uint16_t) ((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    *date_out = (uint16_t) (((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5)
                            | tm.tm_mday);
}

ll_zip_t *
ll_zip_new (ll_zip_sink_fn *sink, void *arg)
{
    ll_zip_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sink = sink;
    self->arg = arg;
    return self;
}

bool
ll_zip_name_safe (const char *name, size_t size)
{
    if (!name || size == 0 || size > LL_ZIP_NAME_MAX || name[0] == '/')
        return false;
    const unsigned char *c = (const unsigned char *) name;
    size_t part = 0;  //  where the current path part starts
    for (size_t i = 0; i <= size; i++) {
        if (i == size || c[i] == '/') {
            size_t len = i - part;
            if (len == 0 || (len == 1 && c[part] == '.')
                || (len == 2 && c[part] == '.' && c[part + 1] == '.'))
                return false;
            part = i + 1;
            continue;
        }
        if (c[i] < 0x20 || c[i] == 0x7f || c[i] == '\\'
            || (c[i] == 0xc2 && i + 1 < size && c[i + 1] >= 0x80
                && c[i + 1] <= 0x9f))
            return false;
    }
    return true;
}

int
ll_zip_begin (ll_zip_t *self, const char *name, size_t size, time_t mtime)
{
    if (self->failed || self->open || !ll_zip_name_safe (name, size))
        return -1;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 64;
        s_entry_t *grown =
            realloc (self->entries, capacity * sizeof *self->entries);
        if (!grown)
            return -1;
        self->entries = grown;
        self->capacity = capacity;
    }
    s_entry_t *e = &self->entries[self->count];
    memset (e, 0, sizeof *e);
    e->name = malloc (size);
    if (!e->name)
        return -1;
    memcpy (e->name, name, size);
    e->length = (uint16_t) size;
    e->flags =
        S_FLAG_DESCRIPTOR
        | (s_utf8_valid ((const unsigned char *) name, size) ? S_FLAG_UTF8 : 0);
    s_dos_time (mtime, &e->time, &e->date);
    e->offset = self->offset;
    e->crc = (uint32_t) crc32 (0L, Z_NULL, 0);
    self->count++;

    unsigned char h[30];
    s_put32 (h, S_SIG_LOCAL);
    s_put16 (h + 4, 20);  //  version needed: 2.0
    s_put16 (h + 6, e->flags);
    s_put16 (h + 8, 0);  //  stored
    s_put16 (h + 10, e->time);
    s_put16 (h + 12, e->date);
    s_put32 (h + 14, 0);  //  crc, sizes: in the data descriptor
    s_put32 (h + 18, 0);
    s_put32 (h + 22, 0);
    s_put16 (h + 26, e->length);
    s_put16 (h + 28, 0);  //  no extra field
    if (s_emit (self, h, sizeof h) != 0 || s_emit (self, name, size) != 0)
        return -1;
    self->open = true;
    self->size = 0;
    return 0;
}

int
ll_zip_write (ll_zip_t *self, const void *data, size_t size)
{
    if (!self->open || self->size + size > LL_ZIP_ENTRY_MAX)
        return -1;
    s_entry_t *e = &self->entries[self->count - 1];
    //  zlib's crc32 takes a uInt length
    const unsigned char *p = data;
    size_t left = size;
    while (left) {
        uInt n = left > 1u << 30 ? 1u << 30 : (uInt) left;
        e->crc = (uint32_t) crc32 (e->crc, p, n);
        p += n;
        left -= n;
    }
    if (s_emit (self, data, size) != 0)
        return -1;
    self->size += size;
    return 0;
}

int
ll_zip_end (ll_zip_t *self)
{
    if (!self->open)
        return -1;
    s_entry_t *e = &self->entries[self->count - 1];
    e->size = (uint32_t) self->size;
    self->open = false;
    unsigned char d[16];
    s_put32 (d, S_SIG_DESCRIPTOR);
    s_put32 (d + 4, e->crc);
    s_put32 (d + 8, e->size);
    s_put32 (d + 12, e->size);
    return s_emit (self, d, sizeof d);
}

int
ll_zip_close (ll_zip_t *self)
{
    if (self->open && ll_zip_end (self) != 0)
        return -1;
    uint64_t cd_start = self->offset;
    for (size_t i = 0; i < self->count; i++) {
        s_entry_t *e = &self->entries[i];
        bool big = e->offset >= 0xFFFFFFFFu;
        unsigned char h[46], extra[12];
        s_put32 (h, S_SIG_CENTRAL);
        s_put16 (h + 4, (3 << 8) | 45);  //  made by: unix, 4.5
        s_put16 (h + 6, big ? 45 : 20);
        s_put16 (h + 8, e->flags);
        s_put16 (h + 10, 0);
        s_put16 (h + 12, e->time);
        s_put16 (h + 14, e->date);
        s_put32 (h + 16, e->crc);
        s_put32 (h + 20, e->size);
        s_put32 (h + 24, e->size);
        s_put16 (h + 28, e->length);
        s_put16 (h + 30, big ? sizeof extra : 0);
        s_put16 (h + 32, 0);                         //  comment
        s_put16 (h + 34, 0);                         //  disk
        s_put16 (h + 36, 0);                         //  internal attributes
        s_put32 (h + 38, (uint32_t) 0100644 << 16);  //  -rw-r--r--
        s_put32 (h + 42, big ? 0xFFFFFFFFu : (uint32_t) e->offset);
        if (s_emit (self, h, sizeof h) != 0
            || s_emit (self, e->name, e->length) != 0)
            return -1;
        if (big) {
            s_put16 (extra, 0x0001);  //  ZIP64: only the offset is needed
            s_put16 (extra + 2, 8);
            s_put64 (extra + 4, e->offset);
            if (s_emit (self, extra, sizeof extra) != 0)
                return -1;
        }
    }
    uint64_t cd_size = self->offset - cd_start;
    bool zip64 = self->count >= 0xFFFF || cd_start >= 0xFFFFFFFFu
                 || cd_size >= 0xFFFFFFFFu;
    if (zip64) {
        uint64_t end64 = self->offset;
        unsigned char r[56], l[20];
        s_put32 (r, S_SIG_END64);
        s_put64 (r + 4, sizeof r - 12);
        s_put16 (r + 12, (3 << 8) | 45);
        s_put16 (r + 14, 45);
        s_put32 (r + 16, 0);
        s_put32 (r + 20, 0);
        s_put64 (r + 24, self->count);
        s_put64 (r + 32, self->count);
        s_put64 (r + 40, cd_size);
        s_put64 (r + 48, cd_start);
        s_put32 (l, S_SIG_LOCATOR64);
        s_put32 (l + 4, 0);
        s_put64 (l + 8, end64);
        s_put32 (l + 16, 1);
        if (s_emit (self, r, sizeof r) != 0 || s_emit (self, l, sizeof l) != 0)
            return -1;
    }
    unsigned char e[22];
    uint16_t count = zip64 ? 0xFFFF : (uint16_t) self->count;
    s_put32 (e, S_SIG_END);
    s_put16 (e + 4, 0);
    s_put16 (e + 6, 0);
    s_put16 (e + 8, count);
    s_put16 (e + 10, count);
    s_put32 (e + 12, zip64 ? 0xFFFFFFFFu : (uint32_t) cd_size);
    s_put32 (e + 16, zip64 ? 0xFFFFFFFFu : (uint32_t) cd_start);
    s_put16 (e + 20, 0);
    return s_emit (self, e, sizeof e);
}

uint64_t
ll_zip_offset (ll_zip_t *self)
{
    return self->offset;
}

size_t
ll_zip_count (ll_zip_t *self)
{
    return self->count;
}

void
ll_zip_destroy (ll_zip_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_zip_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->entries[i].name);
    free (self->entries);
    free (self);
    *self_p = NULL;
}
