/*  Logging: one line per event, "<component>: <what failed>: <why>".
    Lines go to stderr with a UTC timestamp and level, as text

        2026-11-27T10:00:00.123Z info  http: access method=GET status=200

    or, with LL_LOG_JSON, as one JSON object per line (journald, Loki and
    friends read them without a pattern):

        {"time":"2026-11-27T10:00:00.123Z","level":"info","actor":"http",
         "message":"access","fields":{"method":"GET","status":200}}

    "actor" is the message's "<component>:" prefix. Fields come from the
    call (ll_log_fields) and from the calling thread's context
    (ll_log_context_set: the request id of the request a worker handles,
    the operation a terraform run belongs to). Registered secrets
    (passwords, tokens) are replaced by "****" wherever they appear, fields
    included, so a careless format string cannot leak them.
    The module keeps process-wide state (level, format, secrets) behind a
    mutex and a per-thread context: the one deliberate exception to "no
    static mutable state". */
#ifndef LL_LOG_H
#define LL_LOG_H

#include <stdbool.h>

typedef enum {
    LL_LOG_DEBUG = 0,
    LL_LOG_INFO = 1,
    LL_LOG_WARN = 2,
    LL_LOG_ERROR = 3
} ll_log_level_t;

typedef enum { LL_LOG_TEXT = 0, LL_LOG_JSON = 1 } ll_log_format_t;

//  One field of a line: text, or a number when is_number.
typedef struct {
    const char *key;   //  [a-z_]+
    const char *text;  //  the value (NULL: the field is left out)
    double number;     //  the value when is_number
    bool is_number;    //  JSON number instead of string
} ll_log_field_t;

#define LL_LOG_STR(k, v)                                                       \
    (ll_log_field_t)                                                           \
    {                                                                          \
        (k), (v), 0, false                                                     \
    }
#define LL_LOG_NUM(k, v)                                                       \
    (ll_log_field_t)                                                           \
    {                                                                          \
        (k), "", (double) (v), true                                            \
    }

//  Set the lowest level printed. Default: LL_LOG_INFO.
void ll_log_set_level (ll_log_level_t level);

//  True when lines of level are printed (cheap: no lock).
bool ll_log_enabled (ll_log_level_t level);

//  Text (default) or JSON lines.
void ll_log_set_format (ll_log_format_t format);

//  Parse "text" or "json"; -1 when unknown.
int ll_log_format_parse (const char *name);

//  A field every line of this thread carries until cleared (value NULL
//  clears it); at most 4 keys, values cut at 127 bytes.
void ll_log_context_set (const char *key, const char *value);

//  Forget every context field of this thread.
void ll_log_context_clear (void);

//  Parse "debug", "info", "warn", "error"; -1 when unknown.
int ll_log_level_parse (const char *name);

//  Register a secret: every later log line masks it. Strings shorter than
//  8 characters are ignored (they would mask ordinary words such as a
//  demo database password that equals the user name).
void ll_log_add_secret (const char *secret);

//  Forget all registered secrets (tests).
void ll_log_clear_secrets (void);

//  Mask registered secrets in text into out (capacity outsize, truncated).
void ll_log_mask (const char *text, char *out, unsigned long outsize);

void ll_log (ll_log_level_t level, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  A line with fields (count of them).
void ll_log_fields (ll_log_level_t level,
                    const ll_log_field_t *fields,
                    int count,
                    const char *format,
                    ...) __attribute__ ((format (printf, 4, 5)));

//  The line ll_log_fields would print (without masking and without the
//  thread's context), into out (capacity size, always terminated; the
//  newline included). For tests.
void ll_log_render (char *out,
                    unsigned long size,
                    ll_log_format_t format,
                    ll_log_level_t level,
                    const char *stamp,
                    const ll_log_field_t *fields,
                    int count,
                    const char *message);

#define ll_debug(...) ll_log (LL_LOG_DEBUG, __VA_ARGS__)
#define ll_info(...)  ll_log (LL_LOG_INFO, __VA_ARGS__)
#define ll_warn(...)  ll_log (LL_LOG_WARN, __VA_ARGS__)
#define ll_error(...) ll_log (LL_LOG_ERROR, __VA_ARGS__)

#endif
