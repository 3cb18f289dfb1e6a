#include "runtime/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LL_LOG_MAX_SECRETS 16
#define LL_LOG_LINE_MAX    2048
#define LL_LOG_OUT_MAX     4096  //  a whole rendered line
#define LL_LOG_CONTEXT     4     //  context fields per thread
#define LL_LOG_FIELDS_MAX  16    //  fields of one line, context included

//  Process-wide logging state (see header): guarded by lock.
static struct {
    pthread_mutex_t lock;
    atomic_int level;  //  read without the lock: skipped lines cost nothing
    ll_log_format_t format;
    char *secrets[LL_LOG_MAX_SECRETS];
    int secret_count;
} s_log = {PTHREAD_MUTEX_INITIALIZER, LL_LOG_INFO, LL_LOG_TEXT, {NULL}, 0};

//  This thread's context fields (see header): only its own thread uses it.
static _Thread_local struct {
    char key[LL_LOG_CONTEXT][32];
    char value[LL_LOG_CONTEXT][128];
} s_context;

static const char *s_level_names[] = {"debug", "info", "warn", "error"};

void
ll_log_set_level (ll_log_level_t level)
{
    atomic_store (&s_log.level, (int) level);
}

bool
ll_log_enabled (ll_log_level_t level)
{
    return (int) level >= atomic_load (&s_log.level);
}

void
ll_log_set_format (ll_log_format_t format)
{
    pthread_mutex_lock (&s_log.lock);
    s_log.format = format;
    pthread_mutex_unlock (&s_log.lock);
}

int
ll_log_format_parse (const char *name)
{
    if (name && strcmp (name, "text") == 0)
        return LL_LOG_TEXT;
    if (name && strcmp (name, "json") == 0)
        return LL_LOG_JSON;
    return -1;
}

void
ll_log_context_set (const char *key, const char *value)
{
    int slot = -1;
    for (int i = 0; i < LL_LOG_CONTEXT; i++)
        if (strcmp (s_context.key[i], key) == 0)
            slot = i;
    for (int i = 0; i < LL_LOG_CONTEXT && slot < 0 && value; i++)
        if (!s_context.key[i][0])
            slot = i;
    if (slot < 0)
        return;
    if (!value) {
        s_context.key[slot][0] = '\0';
        return;
    }
    snprintf (s_context.key[slot], sizeof s_context.key[slot], "%s", key);
    snprintf (s_context.value[slot], sizeof s_context.value[slot], "%s", value);
}

void
ll_log_context_clear (void)
{
    for (int i = 0; i < LL_LOG_CONTEXT; i++)
        s_context.key[i][0] = '\0';
}

int
ll_log_level_parse (const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp (name, s_level_names[i]) == 0)
            return i;
    if (name && strcmp (name, "warning") == 0)
        return LL_LOG_WARN;
    return -1;
}

void
ll_log_add_secret (const char *secret)
{
    if (!secret || strlen (secret) < 8)
        return;
    pthread_mutex_lock (&s_log.lock);
    bool known = false;
    for (int i = 0; i < s_log.secret_count; i++)
        if (strcmp (s_log.secrets[i], secret) == 0)
            known = true;
    if (!known && s_log.secret_count < LL_LOG_MAX_SECRETS)
        s_log.secrets[s_log.secret_count++] = strdup (secret);
    pthread_mutex_unlock (&s_log.lock);
}

void
ll_log_clear_secrets (void)
{
    pthread_mutex_lock (&s_log.lock);
    for (int i = 0; i < s_log.secret_count; i++)
        free (s_log.secrets[i]);
    s_log.secret_count = 0;
    pthread_mutex_unlock (&s_log.lock);
}

//  Caller holds the lock.
static void
s_mask_locked (const char *text, char *out, unsigned long outsize)
{
    unsigned long o = 0;
    const char *p = text;
    while (*p && o + 1 < outsize) {
        size_t matched = 0;
        for (int i = 0; i < s_log.secret_count; i++) {
            size_t len = strlen (s_log.secrets[i]);
            if (strncmp (p, s_log.secrets[i], len) == 0) {
                matched = len;
                break;
            }
        }
        if (matched) {
            for (const char *m = "****"; *m && o + 1 < outsize; m++)
                out[o++] = *m;
            p += matched;
        }
        else
            out[o++] = *p++;
    }
    out[o] = '\0';
}

void
ll_log_mask (const char *text, char *out, unsigned long outsize)
{
    if (outsize == 0)
        return;
    pthread_mutex_lock (&s_log.lock);
    s_mask_locked (text, out, outsize);
    pthread_mutex_unlock (&s_log.lock);
}

//  --- rendering -------------------------------------------------------

typedef struct {
    char *out;           //  the line
    unsigned long size;  //  its capacity
    unsigned long len;   //  bytes written (kept below size)
    bool overflow;       //  bytes were dropped
} s_line_t;

static void
s_put (s_line_t *line, const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (line->len + 1 >= line->size) {
            line->overflow = true;
            break;
        }
        line->out[line->len++] = text[i];
    }
    line->out[line->len] = '\0';
}

static void
s_puts (s_line_t *line, const char *text)
{
    s_put (line, text, strlen (text));
}

//  text as the inside of a JSON string
static void
s_put_json (s_line_t *line, const char *text)
{
    for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) *c;
            s_put (line, esc, 2);
        }
        else if (*c < 0x20 || *c == 0x7f) {
            snprintf (esc, sizeof esc, "\\u%04x", *c);
            s_puts (line, esc);
        }
        else
            s_put (line, (const char *) c, 1);
    }
}

//  A text-format value: bare when it is one plain word, else quoted.
static void
s_put_text_value (s_line_t *line, const char *text)
{
    if (*text && !strpbrk (text, " \"=\\\t")) {
        s_puts (line, text);
        return;
    }
    s_puts (line, "\"");
    s_put_json (line, text);
    s_puts (line, "\"");
}

static void
s_put_number (s_line_t *line, double number)
{
    char text[64];
    if (number == (double) (long long) number && number < 1e15
        && number > -1e15)
        snprintf (text, sizeof text, "%lld", (long long) number);
    else
        snprintf (text, sizeof text, "%.6g", number);
    s_puts (line, text);
}

//  The "<component>: " prefix of message: its length (0 when none).
static size_t
s_actor_len (const char *message)
{
    size_t n = strspn (message, "abcdefghijklmnopqrstuvwxyz0123456789_-");
    return n > 0 && n <= 32 && message[n] == ':' && message[n + 1] == ' ' ? n
                                                                          : 0;
}

//  What one line says, as ll_log_render takes it.
typedef struct {
    ll_log_format_t format;
    ll_log_level_t level;
    const char *stamp;
    const ll_log_field_t *fields;
    int count;  //  of fields
    const char *message;
} s_entry_t;

//  One rendering; the message cut at message_max bytes. True when it fit.
static bool
s_render (char *out,
          unsigned long size,
          const s_entry_t *entry,
          size_t message_max)
{
    s_line_t line = {out, size, 0, false};
    out[0] = '\0';
    const ll_log_field_t *fields = entry->fields;
    int count = entry->count;
    const char *message = entry->message;
    const char *stamp = entry->stamp;
    char cut[LL_LOG_LINE_MAX];
    if (strlen (message) > message_max) {
        //  Back to a UTF-8 character boundary
        size_t n = message_max < sizeof cut - 4 ? message_max : sizeof cut - 4;
        while (n > 0 && ((unsigned char) message[n] & 0xC0) == 0x80)
            n--;
        snprintf (cut, sizeof cut, "%.*s...", (int) n, message);
        message = cut;
    }
    const char *level_name = s_level_names[entry->level];
    if (entry->format == LL_LOG_JSON) {
        size_t actor = s_actor_len (message);
        s_puts (&line, "{\"time\":\"");
        s_put_json (&line, stamp);
        s_puts (&line, "\",\"level\":\"");
        s_puts (&line, level_name);
        s_puts (&line, "\",\"actor\":\"");
        if (actor)
            s_put (&line, message, actor);
        else
            s_puts (&line, "main");
        s_puts (&line, "\",\"message\":\"");
        s_put_json (&line, actor ? message + actor + 2 : message);
        s_puts (&line, "\",\"fields\":{");
        bool first = true;
        for (int i = 0; i < count; i++) {
            if (!fields[i].text)
                continue;
            s_puts (&line, first ? "\"" : ",\"");
            s_put_json (&line, fields[i].key);
            s_puts (&line, "\":");
            if (fields[i].is_number)
                s_put_number (&line, fields[i].number);
            else {
                s_puts (&line, "\"");
                s_put_json (&line, fields[i].text);
                s_puts (&line, "\"");
            }
            first = false;
        }
        s_puts (&line, "}}\n");
        return !line.overflow;
    }
    char head[64];
    snprintf (head, sizeof head, "%s %-5s ", stamp, level_name);
    s_puts (&line, head);
    s_puts (&line, message);
    for (int i = 0; i < count; i++) {
        if (!fields[i].text)
            continue;
        s_puts (&line, " ");
        s_puts (&line, fields[i].key);
        s_puts (&line, "=");
        if (fields[i].is_number)
            s_put_number (&line, fields[i].number);
        else
            s_put_text_value (&line, fields[i].text);
    }
    s_puts (&line, "\n");
    return !line.overflow;
}

void
ll_log_render (char *out,
               unsigned long size,
               ll_log_format_t format,
               ll_log_level_t level,
               const char *stamp,
               const ll_log_field_t *fields,
               int count,
               const char *message)
{
    if (size == 0)
        return;
    //  Too long: the message is cut until the line fits, then the fields
    //  go; a line always ends whole (a JSON line stays JSON)
    s_entry_t entry = {format, level, stamp, fields, count, message};
    size_t max = strlen (message);
    while (!s_render (out, size, &entry, max)) {
        if (max == 0 && entry.count == 0) {
            out[size > 1 ? size - 2 : 0] = '\n';
            out[size > 1 ? size - 1 : 0] = '\0';
            return;
        }
        if (max == 0)
            entry.count = 0;
        max = max > size / 2 ? max - size / 4 : 0;
    }
}

static void s_vlog (ll_log_level_t level,
                    const ll_log_field_t *fields,
                    int count,
                    const char *format,
                    va_list args) __attribute__ ((format (printf, 4, 0)));

static void
s_vlog (ll_log_level_t level,
        const ll_log_field_t *fields,
        int count,
        const char *format,
        va_list args)
{
    if (!ll_log_enabled (level))
        return;
    char raw[LL_LOG_LINE_MAX];
    vsnprintf (raw, sizeof raw, format, args);
    //  One event, one line: newlines from outside data must not forge lines
    for (char *c = raw; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp[48], second[24];
    strftime (second, sizeof second, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (stamp, sizeof stamp, "%.20s.%03dZ", second,
              (int) (now.tv_nsec / 1000000) % 1000);

    pthread_mutex_lock (&s_log.lock);
    {
        //  Every text that goes out is masked: the message and each value
        ll_log_field_t all[LL_LOG_FIELDS_MAX];
        char masked[LL_LOG_FIELDS_MAX][256];
        int n = 0;
        for (int i = 0; i < count && n < LL_LOG_FIELDS_MAX; i++, n++) {
            all[n] = fields[i];
            if (!fields[i].is_number && fields[i].text) {
                s_mask_locked (fields[i].text, masked[n], sizeof masked[n]);
                all[n].text = masked[n];
            }
        }
        for (int i = 0; i < LL_LOG_CONTEXT && n < LL_LOG_FIELDS_MAX; i++)
            if (s_context.key[i][0]) {
                s_mask_locked (s_context.value[i], masked[n], sizeof masked[n]);
                all[n] = LL_LOG_STR (s_context.key[i], masked[n]);
                n++;
            }
        char line[LL_LOG_LINE_MAX];
        s_mask_locked (raw, line, sizeof line);
        char out[LL_LOG_OUT_MAX];
        ll_log_render (out, sizeof out, s_log.format, level, stamp, all, n,
                       line);
        fputs (out, stderr);
    }
    pthread_mutex_unlock (&s_log.lock);
}

void
ll_log (ll_log_level_t level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_vlog (level, NULL, 0, format, args);
    va_end (args);
}

void
ll_log_fields (ll_log_level_t level,
               const ll_log_field_t *fields,
               int count,
               const char *format,
               ...)
{
    va_list args;
    va_start (args, format);
    s_vlog (level, fields, count, format, args);
    va_end (args);
}
