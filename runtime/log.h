/*  Logging: one line per event, "<component>: <what failed>: <why>".
    Lines go to stderr with a UTC timestamp and level. Registered secrets
    (passwords, tokens) are replaced by "****" wherever they appear, so a
    careless format string cannot leak them.
    The module keeps process-wide state (level, secrets) behind a mutex: the
    one deliberate exception to "no static mutable state". */
#ifndef LL_LOG_H
#define LL_LOG_H

#include <stdbool.h>

typedef enum {
    LL_LOG_DEBUG = 0,
    LL_LOG_INFO = 1,
    LL_LOG_WARN = 2,
    LL_LOG_ERROR = 3
} ll_log_level_t;

//  Set the lowest level printed. Default: LL_LOG_INFO.
void ll_log_set_level (ll_log_level_t level);

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

#define ll_debug(...) ll_log (LL_LOG_DEBUG, __VA_ARGS__)
#define ll_info(...)  ll_log (LL_LOG_INFO, __VA_ARGS__)
#define ll_warn(...)  ll_log (LL_LOG_WARN, __VA_ARGS__)
#define ll_error(...) ll_log (LL_LOG_ERROR, __VA_ARGS__)

#endif
