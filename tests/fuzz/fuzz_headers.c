/*  The header and redirect parsers of the admin edge (http/auth.h), the
    client address behind proxies (runtime/proxy.h) and the HTML escaping
    of page values (http/page.h). The input is up to four lines: a Cookie
    header, an X-Forwarded-For (also read as a Forwarded) value, a login
    "next" path, an Origin header (the Host is fixed). A cookie value fits
    its buffer; the client address is the peer's unless a trusted proxy
    forwarded one, and then it is an address in canonical form; a "next"
    that passes cannot leave this site; escaped text holds no character
    that could open a tag or an attribute. */
#include "fuzz_support.h"

#include <ctype.h>

#include "http/auth.h"
#include "http/page.h"
#include "runtime/proxy.h"

//  The address came from the header: a canonical address, as the proxy
//  code would print it again, and one that a trusted hop vouched for.
static void
s_check_address (ll_proxies_t *proxies, const char *peer, const char *address)
{
    FUZZ_CHECK (strlen (address) < LL_PROXY_ADDRESS_MAX);
    if (strcmp (address, peer) == 0)
        return;
    FUZZ_CHECK (ll_proxies_trusted (proxies, peer));
    for (const char *c = address; *c; c++)
        FUZZ_CHECK (isxdigit ((unsigned char) *c) || *c == '.' || *c == ':');
    char again[LL_PROXY_ADDRESS_MAX];
    ll_proxies_client (proxies, peer, address, NULL, again);
    if (!ll_proxies_trusted (proxies, address))
        FUZZ_CHECK (strcmp (again, address) == 0);
}

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

    ll_strlist_t cidrs = {(char *[]){"127.0.0.0/8", "::1/128", "10.0.0.0/8"}, 3,
                          false};
    ll_proxies_t proxies;
    char error[128];
    if (ll_proxies_init (&proxies, &cidrs, error, sizeof error) != 0)
        abort ();
    char address[LL_PROXY_ADDRESS_MAX];
    ll_proxies_client (&proxies, "127.0.0.1", forwarded, NULL, address);
    s_check_address (&proxies, "127.0.0.1", address);
    ll_proxies_client (&proxies, "::1", NULL, forwarded, address);
    s_check_address (&proxies, "::1", address);
    ll_proxies_client (&proxies, "203.0.113.7", forwarded, forwarded, address);
    FUZZ_CHECK (strcmp (address, "203.0.113.7") == 0);
    ll_proxies_free (&proxies);

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
