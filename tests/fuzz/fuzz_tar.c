/*  The export's tar reader (actors/exporter/tar.c, the container source's
    `tar -cf -` stream from a VM that may lie). The first input byte picks
    the size of each read (1..256 bytes: streams arrive in any pieces), the
    rest is the stream. Every member found has a size from 0 to the cap and
    a name of bounded length; no read returns more than the member's size;
    the reader always ends (end of archive or a refusal with a reason). */
#include "fuzz_support.h"

#include "actors/exporter/tar.h"

#define S_CAP (1 << 20)  //  the size cap given to the reader

typedef struct {
    const uint8_t *data;
    size_t len, at, chunk;
    size_t reads;  //  calls (a bound: the reader makes progress)
} s_stream_t;

static ssize_t
s_read (void *arg, void *buf, size_t n)
{
    s_stream_t *s = arg;
    s->reads++;
    size_t left = s->len - s->at;
    size_t k = n < left ? n : left;
    if (k > s->chunk)
        k = s->chunk;
    memcpy (buf, s->data + s->at, k);
    s->at += k;
    return (ssize_t) k;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    s_stream_t s = {.data = data + 1, .len = size - 1, .chunk = 1u + data[0]};
    ll_tar_t tar;
    ll_tar_init (&tar, s_read, &s, S_CAP);
    unsigned char buf[300];
    int members = 0;
    while (true) {
        const char *name = NULL;
        int64_t member = -1;
        int rc = ll_tar_next (&tar, &name, &member);
        FUZZ_CHECK (rc >= -1 && rc <= 1);
        if (rc <= 0) {
            FUZZ_CHECK (rc == 0 || tar.error[0]);
            break;
        }
        members++;
        FUZZ_CHECK (member >= 0 && member <= S_CAP);
        FUZZ_CHECK (name != NULL && strlen (name) <= LL_TAR_NAME_MAX);
        //  Read half the members whole, leave the others to the skip
        if (members % 2) {
            int64_t got = 0;
            ssize_t k;
            while ((k = ll_tar_read (&tar, buf, 1 + (size_t) (got % 299)))
                   > 0) {
                FUZZ_CHECK ((size_t) k <= 1 + (size_t) (got % 299));
                got += k;
                FUZZ_CHECK (got <= member);
            }
            FUZZ_CHECK (k == 0 ? got == member : tar.error[0] != '\0');
            if (k < 0)
                break;
        }
        //  Each member consumes at least its 512-byte header
        FUZZ_CHECK ((size_t) members * 512 <= s.len);
    }
    FUZZ_CHECK (s.at <= s.len);
    ll_tar_free (&tar);
    return 0;
}
