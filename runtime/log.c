#include "runtime/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LL_LOG_MAX_SECRETS 16
#define LL_LOG_LINE_MAX    2048

//  Process-wide logging state (see header): guarded by lock.
static struct {
    pthread_mutex_t lock;
    ll_log_level_t level;
    char *secrets[LL_LOG_MAX_SECRETS];
    int secret_count;
} s_log = {PTHREAD_MUTEX_INITIALIZER, LL_LOG_INFO, {NULL}, 0};

static const char *s_level_names[] = {"debug", "info", "warn", "error"};

void
ll_log_set_level (ll_log_level_t level)
{
    pthread_mutex_lock (&s_log.lock);
    s_log.level = level;
    pthread_mutex_unlock (&s_log.lock);
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

void
ll_log (ll_log_level_t level, const char *format, ...)
{
    char raw[LL_LOG_LINE_MAX];
    char line[LL_LOG_LINE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (raw, sizeof raw, format, args);
    va_end (args);
    //  One event, one line: newlines from outside data must not forge lines
    for (char *c = raw; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';

    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp[32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock (&s_log.lock);
    if (level >= s_log.level) {
        s_mask_locked (raw, line, sizeof line);
        fprintf (stderr, "%s.%03ldZ %-5s %s\n", stamp, now.tv_nsec / 1000000,
                 s_level_names[level], line);
    }
    pthread_mutex_unlock (&s_log.lock);
}
