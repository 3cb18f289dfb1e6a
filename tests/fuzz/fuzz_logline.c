/*  The log line sanitiser (runtime/logline.h) on any message: every line
    it appends ends with '\n', holds no escape or control character but
    tab, is at most line_max bytes plus the cut marker, and valid UTF-8 in
    stays valid UTF-8 out (PostgreSQL's text refuses anything else). */
#include "fuzz_support.h"

#include "runtime/logline.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    //  The first two bytes choose line_max (0 .. 1023), the rest is the
    //  message
    size_t line_max = ((size_t) data[0] << 8 | data[1]) % 1024;
    const char *message = (const char *) data + 2;
    size_t len = size - 2;
    ll_textbuf_t out = {0};
    ll_textbuf_puts (&out, "prefix\n");  //  appends after what is there
    size_t cut = 0;
    size_t lines = ll_logline_clean (message, len, line_max, &out, &cut);
    FUZZ_CHECK (cut <= lines);
    FUZZ_CHECK (strncmp (out.data, "prefix\n", 7) == 0);
    const char *text = out.data + 7;
    size_t text_len = out.len - 7;
    FUZZ_CHECK (strlen (text) == text_len);  //  no NUL inside
    size_t seen = 0;
    const char *p = text;
    while (p < text + text_len) {
        const char *eol = memchr (p, '\n', (size_t) (text + text_len - p));
        FUZZ_CHECK (eol != NULL);
        size_t n = (size_t) (eol - p);
        FUZZ_CHECK (n > 0);
        FUZZ_CHECK (n <= line_max + 32);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char) p[i];
            FUZZ_CHECK (c >= 0x20 || c == '\t');
            FUZZ_CHECK (c != 0x7f);
        }
        seen++;
        p = eol + 1;
    }
    FUZZ_CHECK (seen == lines);
    if (ll_utf8_valid (message, len))
        FUZZ_CHECK (ll_utf8_valid (text, text_len));
    ll_textbuf_free (&out);
    return 0;
}
