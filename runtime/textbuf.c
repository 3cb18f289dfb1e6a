#include "runtime/textbuf.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_reserve (ll_textbuf_t *self, size_t more)
{
    if (self->len + more + 1 <= self->cap)
        return;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < self->len + more + 1)
        cap *= 2;
    char *data = realloc (self->data, cap);
    if (!data)
        abort ();  //  out of memory: nothing sensible to do
    self->data = data;
    self->cap = cap;
}

void
ll_textbuf_append (ll_textbuf_t *self, const void *data, size_t len)
{
    s_reserve (self, len);
    if (len)
        memcpy (self->data + self->len, data, len);
    self->len += len;
    self->data[self->len] = '\0';
}

void
ll_textbuf_puts (ll_textbuf_t *self, const char *text)
{
    ll_textbuf_append (self, text, strlen (text));
}

void
ll_textbuf_putc (ll_textbuf_t *self, char c)
{
    s_reserve (self, 1);
    self->data[self->len++] = c;
    self->data[self->len] = '\0';
}

void
ll_textbuf_printf (ll_textbuf_t *self, const char *format, ...)
{
    char small[256];
    va_list args;
    va_start (args, format);
    int n = vsnprintf (small, sizeof small, format, args);
    va_end (args);
    if (n < 0)
        return;
    if ((size_t) n < sizeof small) {
        ll_textbuf_append (self, small, (size_t) n);
        return;
    }
    s_reserve (self, (size_t) n + 1);
    va_start (args, format);
    vsnprintf (self->data + self->len, (size_t) n + 1, format, args);
    va_end (args);
    self->len += (size_t) n;
}

void
ll_textbuf_reset (ll_textbuf_t *self)
{
    self->len = 0;
    if (self->data)
        self->data[0] = '\0';
}

void
ll_textbuf_free (ll_textbuf_t *self)
{
    free (self->data);
    self->data = NULL;
    self->len = self->cap = 0;
}

const char *
ll_textbuf_text (const ll_textbuf_t *self)
{
    return self->data ? self->data : "";
}

size_t
ll_textbuf_sink (char *data, size_t size, size_t count, void *sink)
{
    ll_textbuf_sink_t *self = sink;
    size_t len = size * count;
    if (self->buf.len + len > self->max) {
        self->overflow = true;
        return 0;
    }
    ll_textbuf_append (&self->buf, data, len);
    return len;
}

void
ll_pgarray_begin (ll_textbuf_t *self)
{
    ll_textbuf_putc (self, '{');
}

void
ll_pgarray_add (ll_textbuf_t *self, const char *value)
{
    if (self->len && self->data[self->len - 1] != '{')
        ll_textbuf_putc (self, ',');
    if (!value) {
        ll_textbuf_puts (self, "NULL");
        return;
    }
    ll_textbuf_putc (self, '"');
    for (const char *c = value; *c; c++) {
        if (*c == '"' || *c == '\\')
            ll_textbuf_putc (self, '\\');
        ll_textbuf_putc (self, *c);
    }
    ll_textbuf_putc (self, '"');
}

void
ll_pgarray_end (ll_textbuf_t *self)
{
    ll_textbuf_putc (self, '}');
}

void
ll_copy_field (ll_textbuf_t *self, const char *text, size_t len)
{
    s_reserve (self, len);
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        char esc = 0;
        switch (text[i]) {
            case '\\':
                esc = '\\';
                break;
            case '\t':
                esc = 't';
                break;
            case '\n':
                esc = 'n';
                break;
            case '\r':
                esc = 'r';
                break;
            default:
                continue;
        }
        ll_textbuf_append (self, text + start, i - start);
        char pair[2] = {'\\', esc};
        ll_textbuf_append (self, pair, 2);
        start = i + 1;
    }
    ll_textbuf_append (self, text + start, len - start);
}

char *
ll_file_read (const char *path, size_t max, size_t *len)
{
    //  read (2), not stdio: no copy of a key's bytes left in a freed
    //  buffer; close-on-exec, as a terraform child may be forked meanwhile
    int fd = path ? open (path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return NULL;
    char *text = malloc (max + 1);
    size_t got = 0;
    ssize_t n;
    while (text && got < max && (n = read (fd, text + got, max - got)) > 0)
        got += (size_t) n;
    close (fd);
    if (text)
        text[got] = '\0';
    if (len)
        *len = got;
    return text;
}

int
ll_strcopy (char *out, size_t size, const char *value)
{
    size_t len = strlen (value);
    if (len >= size)
        return -1;
    memcpy (out, value, len + 1);
    return 0;
}
