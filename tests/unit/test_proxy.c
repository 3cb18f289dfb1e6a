/*  The client behind proxies (runtime/proxy.h): networks, the right-to-left
    walk through trusted hops, both headers, spoofing attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/proxy.h"

static ll_proxies_t
s_proxies (const char *list)
{
    ll_strlist_t cidrs = {0};
    char *copy = strdup (list);
    char *save = NULL;
    char *items[16];
    for (char *t = strtok_r (copy, " ", &save); t && cidrs.count < 16;
         t = strtok_r (NULL, " ", &save))
        items[cidrs.count++] = t;
    cidrs.items = items;
    ll_proxies_t proxies;
    char error[128];
    assert_int_equal (ll_proxies_init (&proxies, &cidrs, error, sizeof error),
                      0);
    free (copy);
    return proxies;
}

static const char *
s_client (ll_proxies_t *p, const char *peer, const char *xff, const char *fwd)
{
    static char out[LL_PROXY_ADDRESS_MAX];
    ll_proxies_client (p, peer, xff, fwd, out);
    return out;
}

static void
test_cidr (void **state)
{
    ll_cidr_t net;
    assert_int_equal (ll_cidr_parse ("10.0.0.0/8", &net), 0);
    assert_int_equal (net.bits, 8);
    assert_int_equal (ll_cidr_parse ("192.0.2.7", &net), 0);
    assert_int_equal (net.bits, 32);
    assert_int_equal (ll_cidr_parse ("2001:db8::/32", &net), 0);
    assert_int_equal (ll_cidr_parse ("::1/128", &net), 0);
    assert_int_equal (ll_cidr_parse ("0.0.0.0/0", &net), 0);
    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1",
                         "10.0.0.0/",  "10.0.0.0/8x", "1.2.3",
                         "[::1]",      "::1/129",     "x",
                         "",           "10.0.0.0 /8", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal (ll_cidr_parse (bad[i], &net), -1);
    ll_strlist_t list = {(char *[]){"10.0.0.0/8", "nope"}, 2, false};
    ll_proxies_t p;
    char error[128];
    assert_int_equal (ll_proxies_init (&p, &list, error, sizeof error), -1);
    assert_non_null (strstr (error, "'nope'"));
}

static void
test_walk (void **state)
{
    ll_proxies_t p = s_proxies ("127.0.0.0/8 ::1/128");
    //  An untrusted peer is the client, whatever it claims
    assert_string_equal (s_client (&p, "10.0.0.5", "1.2.3.4", NULL),
                         "10.0.0.5");
    assert_string_equal (s_client (&p, "10.0.0.5", NULL, "for=1.2.3.4"),
                         "10.0.0.5");
    //  Our proxy's own entry is the rightmost; the rest is the client's
    assert_string_equal (
        s_client (&p, "127.0.0.1", "6.6.6.6, 203.0.113.7", NULL),
        "203.0.113.7");
    //  A client that forges a trusted hop gets no further than it
    assert_string_equal (
        s_client (&p, "127.0.0.1", "6.6.6.6, 127.0.0.1, 203.0.113.7", NULL),
        "203.0.113.7");
    //  Junk written by the trusted hop: the hop is all we know
    assert_string_equal (s_client (&p, "127.0.0.1", "bad<addr>", NULL),
                         "127.0.0.1");
    assert_string_equal (s_client (&p, "127.0.0.1", "", NULL), "127.0.0.1");
    //  Forms proxies write: ports, brackets, IPv6, mapped IPv4
    assert_string_equal (s_client (&p, "::1", "2001:db8::1", NULL),
                         "2001:db8::1");
    assert_string_equal (s_client (&p, "::1", "[2001:db8::1]:4711", NULL),
                         "2001:db8::1");
    assert_string_equal (s_client (&p, "127.0.0.1", "198.51.100.2:5555", NULL),
                         "198.51.100.2");
    assert_string_equal (
        s_client (&p, "::ffff:127.0.0.1", "198.51.100.2", NULL),
        "198.51.100.2");
    assert_string_equal (
        s_client (&p, "127.0.0.1", "::ffff:198.51.100.2", NULL),
        "198.51.100.2");  //  one spelling per address
    //  Forwarded (RFC 7239) when there is no X-Forwarded-For
    assert_string_equal (
        s_client (&p, "127.0.0.1", NULL,
                  "for=6.6.6.6;proto=http, for=\"[2001:db8::9]:80\";by=x"),
        "2001:db8::9");
    assert_string_equal (
        s_client (&p, "127.0.0.1", NULL, "For=198.51.100.3;Proto=https"),
        "198.51.100.3");
    assert_string_equal (s_client (&p, "127.0.0.1", NULL, "for=unknown"),
                         "127.0.0.1");
    assert_string_equal (s_client (&p, "127.0.0.1", NULL, "proto=https"),
                         "127.0.0.1");
    //  X-Forwarded-For wins: a Forwarded the proxy passed on is the client's
    assert_string_equal (
        s_client (&p, "127.0.0.1", "198.51.100.4", "for=6.6.6.6"),
        "198.51.100.4");
    assert_string_equal (s_client (&p, NULL, NULL, NULL), "");
    ll_proxies_free (&p);
}

static void
test_chain (void **state)
{
    //  A trusted network of proxies (an ALB in 10.0.0.0/16 behind a CDN
    //  at 192.0.2.0/24): every trusted hop is walked through
    ll_proxies_t p = s_proxies ("10.0.0.0/16 192.0.2.0/24");
    assert_string_equal (
        s_client (&p, "10.0.3.4", "6.6.6.6, 198.51.100.9, 192.0.2.10", NULL),
        "198.51.100.9");
    assert_string_equal (s_client (&p, "10.0.3.4", "192.0.2.10", NULL),
                         "192.0.2.10");  //  all trusted: the leftmost
    assert_string_equal (s_client (&p, "127.0.0.1", "198.51.100.9", NULL),
                         "127.0.0.1");  //  loopback is not trusted here
    //  Only the last LL_PROXY_HOPS_MAX entries are read
    char many[4096] = "";
    for (int i = 0; i < 100; i++)
        snprintf (many + strlen (many), sizeof many - strlen (many),
                  "%s192.0.2.%d", i ? "," : "", i % 200 + 1);
    assert_string_equal (s_client (&p, "10.0.0.1", many, NULL), "192.0.2.69");
    ll_proxies_free (&p);
    //  No trusted proxies at all: always the socket's peer
    ll_strlist_t none = {0};
    char error[64];
    assert_int_equal (ll_proxies_init (&p, &none, error, sizeof error), 0);
    assert_string_equal (s_client (&p, "127.0.0.1", "198.51.100.9", NULL),
                         "127.0.0.1");
    assert_false (ll_proxies_trusted (&p, "127.0.0.1"));
    ll_proxies_free (&p);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_cidr),
        cmocka_unit_test (test_walk),
        cmocka_unit_test (test_chain),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
