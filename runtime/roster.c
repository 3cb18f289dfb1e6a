#include "runtime/roster.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct ll_roster {
    const ll_config_t *config;  //  not owned
    char **emails;              //  sorted, lower-case (owned)
    size_t count;               //  entries in emails
    bool has_code;              //  claim.access_code is set
    unsigned char code[32];     //  BLAKE2b of the access code
    struct stat file;           //  the email file when last read
};

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
s_emails_free (char **emails, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (emails[i]);
    free (emails);
}

//  A trimmed, lower-cased copy of len bytes of text (new string).
static char *
s_clean (const char *text, size_t len)
{
    while (len && isspace ((unsigned char) *text))
        text++, len--;
    while (len && isspace ((unsigned char) text[len - 1]))
        len--;
    char *out = strndup (text, len);
    for (char *c = out; c && *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    return out;
}

static void
s_code_hash (const char *code, unsigned char out[32])
{
    char *clean = s_clean (code, strlen (code));
    crypto_generichash (out, 32, (const unsigned char *) clean, strlen (clean),
                        NULL, 0);
    sodium_memzero (clean, strlen (clean));
    free (clean);
}

//  The email file's addresses into *emails (sorted). 0 or -1.
static int
s_read_file (const char *path,
             struct stat *st,
             char ***emails,
             size_t *count,
             char *error,
             size_t errsize)
{
    FILE *file = fopen (path, "rb");
    if (!file || fstat (fileno (file), st) != 0) {
        snprintf (error, errsize, "claim.allowed_emails: cannot read %s: %s",
                  path, strerror (errno));
        if (file)
            fclose (file);
        return -1;
    }
    if (!S_ISREG (st->st_mode) || st->st_size > LL_ROSTER_FILE_MAX) {
        snprintf (error, errsize,
                  "claim.allowed_emails: %s is not a file of at most %d "
                  "bytes",
                  path, LL_ROSTER_FILE_MAX);
        fclose (file);
        return -1;
    }
    char *text = malloc ((size_t) st->st_size + 1);
    size_t got = text ? fread (text, 1, (size_t) st->st_size, file) : 0;
    fclose (file);
    if (!text) {
        snprintf (error, errsize, "claim.allowed_emails: out of memory");
        return -1;
    }
    text[got] = '\0';
    size_t n = 0, cap = 16;
    char **list = malloc (cap * sizeof *list);
    for (char *line = text; line && *line;) {
        char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        char *email = s_clean (line, len);
        if (*email && *email != '#') {
            if (n == cap)
                list = realloc (list, (cap *= 2) * sizeof *list);
            list[n++] = email;
        }
        else
            free (email);
        line = end ? end + 1 : NULL;
    }
    free (text);
    qsort (list, n, sizeof *list, s_compare);
    *emails = list;
    *count = n;
    return 0;
}

static const char *
s_file (const ll_roster_t *self)
{
    const ll_strlist_t *emails = &self->config->claim.allowed_emails;
    return emails->scalar && emails->count ? emails->items[0] : NULL;
}

ll_roster_t *
ll_roster_new (const ll_config_t *config, char *error, size_t errsize)
{
    if (sodium_init () < 0) {
        snprintf (error, errsize, "libsodium cannot start");
        return NULL;
    }
    ll_roster_t *self = calloc (1, sizeof *self);
    self->config = config;
    if (*config->claim.access_code) {
        self->has_code = true;
        s_code_hash (config->claim.access_code, self->code);
    }
    const char *path = s_file (self);
    if (path) {
        if (s_read_file (path, &self->file, &self->emails, &self->count, error,
                         errsize)
            != 0) {
            ll_roster_destroy (&self);
            return NULL;
        }
    }
    else {
        const ll_strlist_t *list = &config->claim.allowed_emails;
        self->emails = calloc (list->count + 1, sizeof *self->emails);
        for (size_t i = 0; i < list->count; i++)
            self->emails[self->count++] =
                s_clean (list->items[i], strlen (list->items[i]));
        qsort (self->emails, self->count, sizeof *self->emails, s_compare);
    }
    return self;
}

void
ll_roster_destroy (ll_roster_t **self_p)
{
    ll_roster_t *self = *self_p;
    if (!self)
        return;
    s_emails_free (self->emails, self->count);
    sodium_memzero (self->code, sizeof self->code);
    free (self);
    *self_p = NULL;
}

int
ll_roster_refresh (ll_roster_t *self, char *error, size_t errsize)
{
    const char *path = s_file (self);
    struct stat st;
    if (!path)
        return 0;
    if (stat (path, &st) == 0 && st.st_size == self->file.st_size
        && st.st_mtim.tv_sec == self->file.st_mtim.tv_sec
        && st.st_mtim.tv_nsec == self->file.st_mtim.tv_nsec
        && st.st_ino == self->file.st_ino)
        return 0;
    char **emails = NULL;
    size_t count = 0;
    if (s_read_file (path, &st, &emails, &count, error, errsize) != 0)
        return -1;
    s_emails_free (self->emails, self->count);
    self->emails = emails;
    self->count = count;
    self->file = st;
    return 1;
}

ll_roster_verdict_t
ll_roster_check (const ll_roster_t *self,
                 const char *email,
                 const char *access_code)
{
    if (self->has_code) {
        unsigned char given[32];
        s_code_hash (access_code ? access_code : "", given);
        bool same = sodium_memcmp (given, self->code, sizeof given) == 0;
        sodium_memzero (given, sizeof given);
        if (!same)
            return LL_ROSTER_CODE;
    }
    const ll_strlist_t *domains = &self->config->claim.allowed_domains;
    bool listed = s_file (self) || self->config->claim.allowed_emails.count;
    if (!listed && domains->count == 0)
        return LL_ROSTER_OK;
    if (self->count
        && bsearch (&email, self->emails, self->count, sizeof *self->emails,
                    s_compare))
        return LL_ROSTER_OK;
    const char *at = strrchr (email, '@');
    for (size_t i = 0; at && i < domains->count; i++) {
        const char *domain = domains->items[i];
        if (*domain == '@')
            domain++;
        if (strcasecmp (at + 1, domain) == 0)
            return LL_ROSTER_OK;
    }
    return listed ? LL_ROSTER_EMAIL : LL_ROSTER_DOMAIN;
}

size_t
ll_roster_size (const ll_roster_t *self)
{
    return self->count;
}

const char *
ll_roster_rule (ll_roster_verdict_t verdict)
{
    switch (verdict) {
        case LL_ROSTER_CODE:
            return "code";
        case LL_ROSTER_EMAIL:
            return "email";
        case LL_ROSTER_DOMAIN:
            return "domain";
        default:
            return "";
    }
}
