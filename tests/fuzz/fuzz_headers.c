/*  The header and redirect parsers of the admin edge (http/auth.h) and the
    HTML escaping of page values (http/page.h). The input is up to four
    lines: a Cookie header, an X-Forwarded-For value, a login "next" path,
    an Origin header (the Host is fixed). A cookie value fits its buffer;
    the client address is the peer's unless a loopback proxy forwarded a
    clean one; a "next" that passes cannot leave this site; escaped text
    holds no character that could open a tag or an attribute. */
#include "fuzz_support.h"

#include <ctype.h>

#include "http/auth.h"
#include "http/page.h"

//  The next line of *p (NUL-terminated in place), or "" at the end.
static char *
s_line (char **p)
{
    char *line = *p;
    char *eol = strchr (line, '\n');
    if (eol) {
        *eol = '\0';
        *p = eol + 1;
    }
    else
        *p = line + strlen (line);
    return line;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fuzz_text (data, size);
    char *p = text;
    char *cookie = s_line (&p);
    char *forwarded = s_line (&p);
    char *next = s_line (&p);
    char *origin = s_line (&p);

    char value[80];
    int n = ll_cookie_get (cookie, LL_SESSION_COOKIE, value, sizeof value);
    FUZZ_CHECK (n >= -1 && n < (int) sizeof value);
    if (n >= 0) {
        FUZZ_CHECK (value[n] == '\0');
        if (ll_session_id_valid (value))
            FUZZ_CHECK (strspn (value, "0123456789abcdef") == (size_t) n);
    }
    n = ll_cookie_get (cookie, "x", value, 1);
    FUZZ_CHECK (n == -1 || n == 0);

    char address[LL_ADDRESS_MAX];
    ll_client_address ("127.0.0.1", forwarded, address);
    FUZZ_CHECK (strlen (address) < LL_ADDRESS_MAX);
    if (strcmp (address, "127.0.0.1") != 0)
        for (const char *c = address; *c; c++)
            FUZZ_CHECK (isalnum ((unsigned char) *c) || *c == '.' || *c == ':');
    ll_client_address ("10.0.0.7", forwarded, address);
    FUZZ_CHECK (strcmp (address, "10.0.0.7") == 0);

    if (ll_safe_next (next)) {
        FUZZ_CHECK (next[0] == '/' && next[1] != '/');
        FUZZ_CHECK (strstr (next, "//") == NULL && !strchr (next, '\\'));
        FUZZ_CHECK (strlen (next) <= 512);
    }
    if (ll_same_origin (origin, "allocator.example.org:8443"))
        FUZZ_CHECK (strstr (origin, "allocator.example.org:8443") != NULL);

    //  Escaping, into a buffer too small as well as a large one
    size_t sizes[] = {1, 7, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *out = malloc (sizes[i]);
        if (!out)
            abort ();
        size_t len = ll_html_escape (text, out, sizes[i]);
        FUZZ_CHECK (len < sizes[i] && out[len] == '\0');
        FUZZ_CHECK (strpbrk (out, "<>\"'") == NULL);
        free (out);
    }
    free (text);
    return 0;
}
