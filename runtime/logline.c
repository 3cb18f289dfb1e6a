#include "runtime/logline.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

//  Length of the escape sequence starting at s[0] == ESC (at most n bytes).
static size_t
s_escape_length (const unsigned char *s, size_t n)
{
    if (n < 2)
        return n;
    if (s[1] == '[') {  //  CSI: parameters, then a final byte 0x40..0x7E
        size_t i = 2;
        while (i < n && !(s[i] >= 0x40 && s[i] <= 0x7e))
            i++;
        return i < n ? i + 1 : n;
    }
    if (s[1] == ']') {  //  OSC: up to BEL or ESC backslash
        for (size_t i = 2; i < n; i++) {
            if (s[i] == 0x07)
                return i + 1;
            if (s[i] == 0x1b && i + 1 < n && s[i + 1] == '\\')
                return i + 2;
        }
        return n;
    }
    //  Two-byte sequence (ESC c, ESC =, ...); never swallow part of a
    //  UTF-8 character
    return s[1] < 0x80 ? 2 : 1;
}

static bool
s_blank (const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return false;
    return true;
}

//  A byte kept as it is: not a control character (tab is kept), not the
//  escape that starts an ANSI sequence, not the newline that ends the line.
static inline bool
s_plain (unsigned char c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

size_t
ll_logline_clean (const char *message,
                  size_t len,
                  size_t line_max,
                  ll_textbuf_t *out,
                  size_t *cut)
{
    const unsigned char *s = (const unsigned char *) message;
    size_t lines = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = out->len;
        size_t dropped = 0;
        unsigned char first_dropped = 0;
        while (i < len && s[i] != '\n') {
            unsigned char c = s[i];
            if (c == 0x1b) {
                i += s_escape_length (s + i, len - i);
                continue;
            }
            if (!s_plain (c)) {
                i++;
                continue;  //  other control characters (\r included)
            }
            //  A run of plain bytes is copied at once, up to line_max
            size_t end = i + 1;
            while (end < len && s_plain (s[end]))
                end++;
            size_t kept_now = out->len - start;
            size_t room = kept_now < line_max ? line_max - kept_now : 0;
            size_t take = end - i < room ? end - i : room;
            ll_textbuf_append (out, s + i, take);
            if (take < end - i) {
                if (dropped == 0)
                    first_dropped = s[i + take];
                dropped += end - i - take;
            }
            i = end;
        }
        i++;  //  the newline
        size_t kept = out->len - start;
        if (s_blank (out->data ? out->data + start : "", kept)) {
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            continue;
        }
        if (dropped) {
            //  Never end inside a UTF-8 character: when the first dropped
            //  byte continues one, drop its beginning too
            if ((first_dropped & 0xc0) == 0x80) {
                while (kept > 0
                       && ((unsigned char) out->data[start + kept - 1] & 0xc0)
                              == 0x80) {
                    kept--;
                    dropped++;
                }
                if (kept > 0) {
                    kept--;
                    dropped++;
                }
            }
            out->len = start + kept;
            out->data[out->len] = '\0';
            char mark[48];
            snprintf (mark, sizeof mark, LL_LOGLINE_CUT_MARK "%zu bytes]",
                      dropped);
            ll_textbuf_puts (out, mark);
            if (cut)
                (*cut)++;
        }
        ll_textbuf_putc (out, '\n');
        lines++;
    }
    return lines;
}

bool
ll_utf8_valid (const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        }
        else
            return false;
        if (i + n >= len)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800)
            || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

int
ll_cwlogs_decode (const char *b64,
                  size_t len,
                  size_t max_out,
                  char **out,
                  size_t *out_len,
                  const char **why)
{
    *out = NULL;
    *out_len = 0;
    size_t bin_max = len / 4 * 3 + 3;
    unsigned char *bin = malloc (bin_max + 1);
    size_t bin_len = 0;
    const char *end = NULL;
    if (!bin || len == 0
        || sodium_base642bin (bin, bin_max, b64, len, "\r\n", &bin_len, &end,
                              sodium_base64_VARIANT_ORIGINAL)
               != 0
        || end != b64 + len) {
        free (bin);
        *why = "malformed base64";
        return -1;
    }
    if (bin_len < 2 || bin[0] != 0x1f || bin[1] != 0x8b) {
        free (bin);
        *why = "not gzip data";
        return -1;
    }
    z_stream z = {0};
    if (inflateInit2 (&z, 15 + 16) != Z_OK) {
        free (bin);
        *why = "not gzip data";
        return -1;
    }
    size_t cap = max_out < 65536 ? max_out : 65536;
    char *buf = malloc (cap + 1);
    z.next_in = bin;
    z.avail_in = (uInt) bin_len;
    size_t used = 0;
    int rc = Z_OK;
    *why = NULL;
    while (rc != Z_STREAM_END) {
        if (used == cap) {
            if (cap >= max_out) {
                //  Full at the cap: one more byte means too large
                unsigned char probe;
                z.next_out = &probe;
                z.avail_out = 1;
                rc = inflate (&z, Z_NO_FLUSH);
                if (z.avail_out == 0)
                    *why = "decompressed payload too large";
                else if (rc != Z_STREAM_END)
                    *why = "truncated gzip data";
                break;
            }
            size_t bigger = cap * 2 > max_out ? max_out : cap * 2;
            char *grown = realloc (buf, bigger + 1);
            if (!grown) {
                *why = "decompressed payload too large";
                break;
            }
            buf = grown;
            cap = bigger;
        }
        z.next_out = (unsigned char *) buf + used;
        z.avail_out = (uInt) (cap - used);
        rc = inflate (&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && z.avail_out == 0)) {
            *why = rc == Z_BUF_ERROR ? "truncated gzip data" : "not gzip data";
            break;
        }
    }
    inflateEnd (&z);
    free (bin);
    if (*why) {
        free (buf);
        return -1;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    return 0;
}
