/*  Who the client is behind proxies (issue 15 section 4). The socket's
    peer is the client unless it is a trusted proxy (app.trusted_proxies,
    CIDRs; loopback by default). Then the forwarding headers are read from
    the right, the entry each trusted hop added, and the first address that
    is not a trusted proxy is the client:

      peer 127.0.0.1, X-Forwarded-For "6.6.6.6, 10.0.0.9, 203.0.113.7"
        -> 203.0.113.7 (the rightmost entry was added by our proxy; the
           rest came from the client and is never believed)

    X-Forwarded-For is read when present (Caddy, nginx and the ALB write
    it), else Forwarded's for= values (RFC 7239). An entry that is not an
    address stops the walk at the hop that wrote it. Addresses come out in
    one canonical text form (IPv4-mapped IPv6 as IPv4), so a rate limit
    keyed on them cannot be dodged by respelling. */
#ifndef LL_PROXY_H
#define LL_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/config.h"

#define LL_PROXY_ADDRESS_MAX 64  //  longest address text (with NUL)
#define LL_PROXY_HOPS_MAX    32  //  forwarding entries read at most

typedef struct {
    int family;               //  AF_INET or AF_INET6
    unsigned char bytes[16];  //  network order (4 used for IPv4)
    int bits;                 //  prefix length
} ll_cidr_t;

typedef struct {
    ll_cidr_t *nets;  //  the trusted networks (owned)
    size_t count;     //  entries in nets
} ll_proxies_t;

//  Parse "a.b.c.d/n", "x::y/n" or a bare address (a /32 or /128). 0 or -1.
int ll_cidr_parse (const char *text, ll_cidr_t *out);

//  The trusted proxies of a CIDR list. 0, or -1 with the bad entry named
//  in error.
int ll_proxies_init (ll_proxies_t *self,
                     const ll_strlist_t *cidrs,
                     char *error,
                     size_t errsize);

void ll_proxies_free (ll_proxies_t *self);

//  True when address (text) lies in a trusted network.
bool ll_proxies_trusted (const ll_proxies_t *self, const char *address);

//  The client's address into out (LL_PROXY_ADDRESS_MAX bytes): peer, or
//  what the trusted hops say (forwarded_for: every X-Forwarded-For line
//  joined with commas, or NULL; forwarded: the same of Forwarded).
void ll_proxies_client (const ll_proxies_t *self,
                        const char *peer,
                        const char *forwarded_for,
                        const char *forwarded,
                        char *out);

#endif
