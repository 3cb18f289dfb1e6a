/*  A streaming reader of the tar stream a VM sends for the container
    source of the export (`tar -cf -` inside the client container,
    actors/exporter/container.c). The VM is not trusted: every header is
    checked (checksum, size field) before its size is believed, a size
    that is negative, overflows, is malformed or is over the caller's cap
    refuses the stream (nothing after it can be trusted), long names are
    capped, and a member's data is never read past its stated size. No I/O
    of its own: bytes come from a read function, so tests and the fuzzer
    (tests/fuzz/fuzz_tar.c) feed it from memory. */
#ifndef LL_EXPORTER_TAR_H
#define LL_EXPORTER_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LL_TAR_NAME_MAX 65536  //  bytes of a long (GNU or pax) name

//  Up to n bytes into buf: the count (> 0), 0 at the end of the stream, -1
//  on failure (the caller keeps its own reason).
typedef ssize_t (ll_tar_read_fn) (void *arg, void *buf, size_t n);

typedef struct {
    ll_tar_read_fn *read;  //  the stream
    void *arg;             //  its argument
    int64_t size_max;      //  a member larger than this refuses the stream
    int64_t left;          //  data of the current member not yet read
    int64_t pad;           //  zero bytes after it, to the next block
    char *name;            //  the current member's name (owned)
    char *long_name;       //  a GNU 'L' or pax path for the next member
    bool io_failed;        //  the read function failed (its reason is kept
                           //  by the caller)
    char error[160];       //  why the stream was refused or ended
} ll_tar_t;

//  Start reading a stream; members larger than size_max are refused.
void
ll_tar_init (ll_tar_t *self, ll_tar_read_fn *read, void *arg, int64_t size_max);

//  The next regular file: 1 with *name (valid until the next call) and
//  *size; 0 at the end of the archive; -1 when the stream is refused or
//  failed (self->error says why). Other members (folders, links, pax
//  headers) are passed over. The data left of the current member is
//  skipped first.
int ll_tar_next (ll_tar_t *self, const char **name, int64_t *size);

//  Up to n bytes of the current member's data: the count, 0 once all of
//  it was read, -1 on failure.
ssize_t ll_tar_read (ll_tar_t *self, void *buf, size_t n);

void ll_tar_free (ll_tar_t *self);

//  A tar header's size field (12 bytes): octal digits (NUL or space
//  ended), or base-256 (high bit of the first byte set). 0 with *size, or
//  -1 with the reason: malformed, negative, or overflowing.
int
ll_tar_size (const unsigned char field[12], int64_t *size, const char **why);

#endif
