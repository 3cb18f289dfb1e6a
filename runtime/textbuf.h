/*  A growable byte buffer with the two encodings the telemetry actors send
    to PostgreSQL: array literals for unnest() parameters and COPY text
    rows. The buffer is always NUL-terminated. Also ll_strcopy: a string
    into a fixed buffer, refused when it does not fit; ll_file_read: a
    small file's first bytes as text. */
#ifndef LL_TEXTBUF_H
#define LL_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;  //  bytes, NUL-terminated (NULL until the first append)
    size_t len;  //  bytes used, without the terminator
    size_t cap;  //  bytes allocated
} ll_textbuf_t;

//  Append len bytes.
void ll_textbuf_append (ll_textbuf_t *self, const void *data, size_t len);

//  Append a C string.
void ll_textbuf_puts (ll_textbuf_t *self, const char *text);

//  Append one character.
void ll_textbuf_putc (ll_textbuf_t *self, char c);

//  Append formatted text (printf).
void ll_textbuf_printf (ll_textbuf_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  Forget the content, keep the memory.
void ll_textbuf_reset (ll_textbuf_t *self);

//  Free the memory.
void ll_textbuf_free (ll_textbuf_t *self);

//  The text ("" when empty).
const char *ll_textbuf_text (const ll_textbuf_t *self);

//  A body received with a cap: ll_textbuf_sink appends count items of
//  size bytes while the total stays within max; past it, it sets overflow
//  and takes nothing (0). A libcurl CURLOPT_WRITEFUNCTION with the sink as
//  its CURLOPT_WRITEDATA (0 ends the transfer).
typedef struct {
    ll_textbuf_t buf;  //  bytes received
    size_t max;        //  cap
    bool overflow;     //  more than max arrived
} ll_textbuf_sink_t;

size_t ll_textbuf_sink (char *data, size_t size, size_t count, void *sink);

//  Copy the C string value into out (size bytes): 0, or -1 (out unchanged)
//  when it does not fit.
int ll_strcopy (char *out, size_t size, const char *value);

//  The first max bytes of the file at path, NUL-terminated (the caller
//  frees), their count in len when not NULL; NULL when it cannot be opened
//  (path NULL too).
char *ll_file_read (const char *path, size_t max, size_t *len);

//  --- PostgreSQL array literals: "{" then elements then "}" -------------
//  Start an array literal.
void ll_pgarray_begin (ll_textbuf_t *self);

//  Add one element (NULL = SQL NULL), quoted and escaped.
void ll_pgarray_add (ll_textbuf_t *self, const char *value);

//  Close the literal.
void ll_pgarray_end (ll_textbuf_t *self);

//  --- COPY text format ----------------------------------------------------
//  Append len bytes escaped for a COPY text column (backslash, tab,
//  newline and carriage return).
void ll_copy_field (ll_textbuf_t *self, const char *text, size_t len);

#endif
