/*  A streaming zip writer for the exporter: entries are written as their
    bytes arrive (local header with a data descriptor, no seeking), the
    central directory at the end, into a sink the caller drains. Entries are
    stored (no compression, like upstream), each smaller than 4 GiB; ZIP64
    records are added when offsets or the entry count need them. Only the
    central directory records stay in memory. */
#ifndef LL_EXPORTER_ZIP_H
#define LL_EXPORTER_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define LL_ZIP_NAME_MAX  4096         //  bytes in an entry name
#define LL_ZIP_ENTRY_MAX 0xFFFFFFFFu  //  bytes in one entry

typedef struct ll_zip ll_zip_t;

//  Receives every byte of the archive in order; 0, or -1 to fail the write.
typedef int (ll_zip_sink_fn) (void *arg, const void *data, size_t size);

ll_zip_t *ll_zip_new (ll_zip_sink_fn *sink, void *arg);

//  True when name (size bytes) may be an entry name: not empty, no control
//  character (C0, DEL, or C1 as UTF-8), no backslash (a folder separator
//  to Windows unzippers), not absolute, no "." or ".." part. Names from a
//  VM that are not are refused by the exporter (listed in the manifest).
bool ll_zip_name_safe (const char *name, size_t size);

//  Start an entry (the previous one must be ended). name: size bytes, safe
//  (ll_zip_name_safe). 0 or -1.
int ll_zip_begin (ll_zip_t *self, const char *name, size_t size, time_t mtime);

//  Append bytes to the open entry; -1 past LL_ZIP_ENTRY_MAX or sink failure.
int ll_zip_write (ll_zip_t *self, const void *data, size_t size);

//  End the open entry (writes its data descriptor). 0 or -1.
int ll_zip_end (ll_zip_t *self);

//  Write the central directory and end records (ends an open entry first).
int ll_zip_close (ll_zip_t *self);

//  Bytes written to the sink so far.
uint64_t ll_zip_offset (ll_zip_t *self);

//  Entries begun so far.
size_t ll_zip_count (ll_zip_t *self);

void ll_zip_destroy (ll_zip_t **self_p);

#endif
