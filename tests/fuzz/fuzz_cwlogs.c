/*  The CloudWatch Logs payload decoder: ll_cwlogs_decode (base64, gzip,
    capped; runtime/logline.h) and the /api/vm-logs parser that maps the
    decoded JSON onto the Lambda's shape (ll_vm_logs_parse, http/routes.h).
    The first byte picks what the rest is:
      0  the base64 text itself (malformed base64, cut input, caps)
      1  gzip bytes, base64-encoded here (broken and truncated streams)
      2  the JSON payload, gzipped and base64-encoded here, posted as
         {"awslogs":{"data":...}} (the decoder must give it back intact) */
#include "fuzz_support.h"

#include <sodium.h>
#include <zlib.h>

#include "http/routes.h"
#include "runtime/logline.h"

//  base64 of size bytes (caller frees).
static char *
s_base64 (const uint8_t *data, size_t size)
{
    size_t max =
        sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc (max);
    if (!text)
        abort ();
    sodium_bin2base64 (text, max, data, size, sodium_base64_VARIANT_ORIGINAL);
    return text;
}

//  gzip of size bytes into *out (caller frees); its length.
static size_t
s_gzip (const uint8_t *data, size_t size, uint8_t **out)
{
    z_stream z = {0};
    if (deflateInit2 (&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
                      Z_DEFAULT_STRATEGY)
        != Z_OK)
        abort ();
    size_t max = deflateBound (&z, (uLong) size) + 32;
    *out = malloc (max);
    if (!*out)
        abort ();
    z.next_in = (Bytef *) data;
    z.avail_in = (uInt) size;
    z.next_out = *out;
    z.avail_out = (uInt) max;
    FUZZ_CHECK (deflate (&z, Z_FINISH) == Z_STREAM_END);
    size_t len = max - z.avail_out;
    deflateEnd (&z);
    return len;
}

//  Decode with the product's cap and with a small one.
static void
s_decode (const char *b64, size_t len, const uint8_t *expect, size_t size)
{
    size_t caps[] = {LL_CWLOGS_MAX, 64, 0};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        char *out = NULL;
        size_t out_len = 0;
        const char *why = NULL;
        if (ll_cwlogs_decode (b64, len, caps[i], &out, &out_len, &why) == 0) {
            FUZZ_CHECK (out != NULL && out_len <= caps[i]);
            FUZZ_CHECK (out[out_len] == '\0');
            if (expect)
                FUZZ_CHECK (out_len == size
                            && (size == 0 || memcmp (out, expect, size) == 0));
            free (out);
        }
        else {
            FUZZ_CHECK (out == NULL && why != NULL);
            //  What we gzipped ourselves fails only for the cap
            if (expect)
                FUZZ_CHECK (size > caps[i]);
        }
    }
}

static void
s_post (const char *b64)
{
    //  {"awslogs":{"data":"<b64>"}}; base64 needs no JSON escaping
    size_t len = strlen (b64) + 32;
    char *body = malloc (len);
    if (!body)
        abort ();
    int n = snprintf (body, len, "{\"awslogs\":{\"data\":\"%s\"}}", b64);
    ll_vm_logs_t post;
    if (ll_vm_logs_parse (body, (size_t) n, &post) == 0) {
        FUZZ_CHECK (post.error[0] == '\0');
        if (!post.control) {
            FUZZ_CHECK (post.host && post.group && post.stream);
            FUZZ_CHECK (json_array_size (post.messages) > 0);
        }
    }
    else
        FUZZ_CHECK (post.error[0] != '\0');
    ll_vm_logs_free (&post);
    free (body);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        char *text = fuzz_text (data, size);
        s_decode (text, size, NULL, 0);
        free (text);
    }
    else if (mode == 1) {
        char *b64 = s_base64 (data, size);
        s_decode (b64, strlen (b64), NULL, 0);
        s_post (b64);
        free (b64);
    }
    else {
        uint8_t *gz = NULL;
        size_t gz_len = s_gzip (data, size, &gz);
        char *b64 = s_base64 (gz, gz_len);
        s_decode (b64, strlen (b64), data, size);
        s_post (b64);
        free (b64);
        free (gz);
    }
    return 0;
}
