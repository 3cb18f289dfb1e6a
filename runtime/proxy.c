#include "runtime/proxy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

//  One address of len bytes of text (quotes, brackets and a port allowed
//  around it) into out as a full-length prefix. 0 or -1.
static int
s_address (const char *text, size_t len, ll_cidr_t *out)
{
    char buf[LL_PROXY_ADDRESS_MAX];
    while (len && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len >= 2 && text[0] == '"' && text[len - 1] == '"')
        text++, len -= 2;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy (buf, text, len);
    buf[len] = '\0';
    char *addr = buf;
    if (addr[0] == '[') {  //  [v6] or [v6]:port
        char *close = strchr (addr, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        *close = '\0';
        addr++;
    }
    else {
        char *colon = strchr (addr, ':');
        if (colon && !strchr (colon + 1, ':'))
            *colon = '\0';  //  v4:port
    }
    memset (out, 0, sizeof *out);
    if (inet_pton (AF_INET, addr, out->bytes) == 1) {
        out->family = AF_INET;
        out->bits = 32;
        return 0;
    }
    if (inet_pton (AF_INET6, addr, out->bytes) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    if (memcmp (out->bytes, mapped, sizeof mapped) == 0) {
        memmove (out->bytes, out->bytes + 12, 4);
        memset (out->bytes + 4, 0, 12);
        out->family = AF_INET;
        out->bits = 32;
        return 0;
    }
    out->family = AF_INET6;
    out->bits = 128;
    return 0;
}

int
ll_cidr_parse (const char *text, ll_cidr_t *out)
{
    if (!text)
        return -1;
    const char *slash = strchr (text, '/');
    size_t len = slash ? (size_t) (slash - text) : strlen (text);
    //  No brackets, quotes or ports in a configured network
    for (size_t i = 0; i < len; i++)
        if (!(isxdigit ((unsigned char) text[i]) || text[i] == '.'
              || text[i] == ':'))
            return -1;
    char buf[LL_PROXY_ADDRESS_MAX];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy (buf, text, len);
    buf[len] = '\0';
    memset (out, 0, sizeof *out);
    if (inet_pton (AF_INET, buf, out->bytes) == 1) {
        out->family = AF_INET;
        out->bits = 32;
    }
    else if (inet_pton (AF_INET6, buf, out->bytes) == 1) {
        out->family = AF_INET6;
        out->bits = 128;
    }
    else
        return -1;
    if (slash) {
        const char *n = slash + 1;
        char *end = NULL;
        long bits = strtol (n, &end, 10);
        if (!*n || !isdigit ((unsigned char) *n) || *end || bits < 0
            || bits > out->bits)
            return -1;
        out->bits = (int) bits;
    }
    //  Host bits set ("10.0.0.1/8") are a typo more often than not
    for (int i = out->bits; i < (out->family == AF_INET ? 32 : 128); i++)
        if (out->bytes[i / 8] & (0x80 >> (i % 8)))
            return -1;
    return 0;
}

static bool
s_contains (const ll_cidr_t *net, const ll_cidr_t *addr)
{
    if (net->family != addr->family)
        return false;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp (net->bytes, addr->bytes, (size_t) full) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char) (0xff << (8 - rest));
    return (net->bytes[full] & mask) == (addr->bytes[full] & mask);
}

int
ll_proxies_init (ll_proxies_t *self,
                 const ll_strlist_t *cidrs,
                 char *error,
                 size_t errsize)
{
    memset (self, 0, sizeof *self);
    if (!cidrs || cidrs->count == 0)
        return 0;
    self->nets = calloc (cidrs->count, sizeof *self->nets);
    if (!self->nets) {
        snprintf (error, errsize, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cidrs->count; i++) {
        if (ll_cidr_parse (cidrs->items[i], &self->nets[i]) != 0) {
            snprintf (error, errsize,
                      "'%s' is not an address or network (a.b.c.d/n, x::y/n)",
                      cidrs->items[i]);
            ll_proxies_free (self);
            return -1;
        }
        self->count++;
    }
    return 0;
}

void
ll_proxies_free (ll_proxies_t *self)
{
    free (self->nets);
    self->nets = NULL;
    self->count = 0;
}

static bool
s_trusted (const ll_proxies_t *self, const ll_cidr_t *addr)
{
    for (size_t i = 0; i < self->count; i++)
        if (s_contains (&self->nets[i], addr))
            return true;
    return false;
}

bool
ll_proxies_trusted (const ll_proxies_t *self, const char *address)
{
    ll_cidr_t addr;
    return address && s_address (address, strlen (address), &addr) == 0
           && s_trusted (self, &addr);
}

//  One entry of a forwarding header: where it starts and its length.
typedef struct {
    const char *start;
    size_t len;
} s_entry_t;

//  The last LL_PROXY_HOPS_MAX comma-separated entries of list (for
//  Forwarded: the for= value of each element, or the whole element when
//  it has none, which then fails to parse). Returns how many.
static int
s_entries (const char *list, bool forwarded, s_entry_t *out)
{
    int n = 0;
    for (const char *c = list; c && *c;) {
        size_t len = strcspn (c, ",");
        s_entry_t entry = {c, len};
        if (forwarded) {
            const char *end = c + len;
            for (const char *p = c; p < end;) {
                const char *semi = memchr (p, ';', (size_t) (end - p));
                const char *pend = semi ? semi : end;
                const char *k = p;
                while (k < pend && (*k == ' ' || *k == '\t'))
                    k++;
                if (pend - k > 4 && strncasecmp (k, "for=", 4) == 0) {
                    entry.start = k + 4;
                    entry.len = (size_t) (pend - k - 4);
                }
                p = semi ? semi + 1 : end;
            }
        }
        if (n == LL_PROXY_HOPS_MAX) {
            memmove (out, out + 1, (LL_PROXY_HOPS_MAX - 1) * sizeof *out);
            n--;
        }
        out[n++] = entry;
        c += len + (c[len] == ',');
    }
    return n;
}

static void
s_text (const ll_cidr_t *addr, char *out)
{
    if (!inet_ntop (addr->family, addr->bytes, out, LL_PROXY_ADDRESS_MAX))
        out[0] = '\0';
}

void
ll_proxies_client (const ll_proxies_t *self,
                   const char *peer,
                   const char *forwarded_for,
                   const char *forwarded,
                   char *out)
{
    ll_cidr_t current;
    if (!peer || s_address (peer, strlen (peer), &current) != 0) {
        snprintf (out, LL_PROXY_ADDRESS_MAX, "%s", peer ? peer : "");
        return;
    }
    const char *list = forwarded_for ? forwarded_for : forwarded;
    s_entry_t entries[LL_PROXY_HOPS_MAX];
    int n = list ? s_entries (list, !forwarded_for, entries) : 0;
    for (int i = n - 1; i >= 0 && s_trusted (self, &current); i--) {
        ll_cidr_t hop;
        if (s_address (entries[i].start, entries[i].len, &hop) != 0)
            break;  //  the trusted hop wrote no address: it is the client
        current = hop;
    }
    s_text (&current, out);
}
