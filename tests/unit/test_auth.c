/*  http/auth.c: the admin credential (pwhash, Basic cache), session ids,
    CSRF tokens and the parsers of the edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"

static void
test_password_and_cache (void **state)
{
    ll_config_t *config = ll_config_new_defaults ();
    free (config->app.admin_password);
    config->app.admin_password = strdup ("s3cret");
    ll_admin_auth_t *auth = ll_admin_auth_new (config);
    assert_non_null (auth);
    assert_true (ll_admin_auth_configured (auth));
    assert_true (ll_admin_auth_verify (auth, "admin", "s3cret"));
    assert_false (ll_admin_auth_verify (auth, "admin", "s3cret "));
    assert_false (ll_admin_auth_verify (auth, "root", "s3cret"));
    assert_false (ll_admin_auth_verify (auth, "admin", ""));

    bool cached = true;
    const char *good = "admin:s3cret", *bad = "admin:nope";
    assert_false (ll_admin_auth_cached (auth, good, strlen (good)));
    assert_false (ll_admin_auth_basic (auth, bad, strlen (bad), &cached));
    assert_false (cached);
    assert_true (ll_admin_auth_basic (auth, good, strlen (good), &cached));
    assert_false (cached);  //  the first one pays pwhash
    assert_true (ll_admin_auth_basic (auth, good, strlen (good), &cached));
    assert_true (cached);  //  then the cache answers
    assert_false (ll_admin_auth_cached (auth, bad, strlen (bad)));
    assert_false (ll_admin_auth_basic (auth, "admin", 5, &cached));  //  no ':'
    ll_admin_auth_destroy (&auth);
    assert_null (auth);

    //  The config may hold the hash instead of the password
    char hash[crypto_pwhash_STRBYTES];
    assert_int_equal (crypto_pwhash_str (hash, "other", 5,
                                         crypto_pwhash_OPSLIMIT_MIN,
                                         crypto_pwhash_MEMLIMIT_MIN),
                      0);
    free (config->app.admin_password);
    config->app.admin_password = strdup ("");
    free (config->app.admin_password_hash);
    config->app.admin_password_hash = strdup (hash);
    auth = ll_admin_auth_new (config);
    assert_true (ll_admin_auth_verify (auth, "admin", "other"));
    assert_false (ll_admin_auth_verify (auth, "admin", "s3cret"));
    ll_admin_auth_destroy (&auth);

    free (config->app.admin_password_hash);
    config->app.admin_password_hash = strdup ("");
    auth = ll_admin_auth_new (config);
    assert_false (ll_admin_auth_configured (auth));
    assert_false (ll_admin_auth_verify (auth, "admin", ""));
    ll_admin_auth_destroy (&auth);
    ll_config_destroy (&config);
}

static void
test_sessions (void **state)
{
    char id[LL_SESSION_ID_HEX + 1], hash[LL_SESSION_HASH_HEX + 1];
    char id2[LL_SESSION_ID_HEX + 1], hash2[LL_SESSION_HASH_HEX + 1];
    ll_session_new (id, hash);
    ll_session_new (id2, hash2);
    assert_true (ll_session_id_valid (id));
    assert_string_not_equal (id, id2);
    assert_string_not_equal (id, hash);
    char again[LL_SESSION_HASH_HEX + 1];
    ll_session_hash (id, again);
    assert_string_equal (hash, again);
    //  sha256("abc")
    ll_session_hash ("abc", again);
    assert_string_equal (
        again,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char csrf[LL_CSRF_HEX + 1], csrf2[LL_CSRF_HEX + 1];
    ll_session_csrf (id, csrf);
    ll_session_csrf (id2, csrf2);
    assert_int_equal (strlen (csrf), LL_CSRF_HEX);
    assert_string_not_equal (csrf, csrf2);
    ll_session_csrf (id, csrf2);
    assert_string_equal (csrf, csrf2);
    assert_true (ll_auth_equal (csrf, csrf2));
    assert_false (ll_auth_equal (csrf, ""));
    assert_false (ll_auth_equal ("", ""));
    assert_false (ll_auth_equal ("abc", "abd"));
    assert_false (ll_session_id_valid ("abc"));
    char upper[LL_SESSION_ID_HEX + 1];
    memset (upper, 'A', LL_SESSION_ID_HEX);
    upper[LL_SESSION_ID_HEX] = '\0';
    assert_false (ll_session_id_valid (upper));
}

static void
test_cookie (void **state)
{
    char out[80];
    assert_int_equal (ll_cookie_get ("a=1; lablink_session=abc; b=2",
                                     "lablink_session", out, sizeof out),
                      3);
    assert_string_equal (out, "abc");
    assert_int_equal (
        ll_cookie_get ("lablink_session=x", "lablink_session", out, sizeof out),
        1);
    assert_int_equal (ll_cookie_get ("xlablink_session=x; other=1",
                                     "lablink_session", out, sizeof out),
                      -1);
    assert_int_equal (ll_cookie_get (NULL, "lablink_session", out, sizeof out),
                      -1);
    assert_int_equal (
        ll_cookie_get ("lablink_session=0123456789", "lablink_session", out, 5),
        -1);
}

static void
test_parsers (void **state)
{
    assert_true (ll_safe_next ("/admin/instances"));
    assert_true (ll_safe_next ("/admin/logs/vm-1?x=1"));
    assert_false (ll_safe_next ("//evil.example/"));
    assert_false (ll_safe_next ("/\\evil.example"));
    assert_false (ll_safe_next ("https://evil.example/"));
    assert_false (ll_safe_next ("/a//b"));
    assert_false (ll_safe_next ("/a\r\nSet-Cookie: x=1"));
    assert_false (ll_safe_next (""));
    assert_false (ll_safe_next (NULL));

    assert_true (ll_same_origin (NULL, "127.0.0.1:5000"));
    assert_true (ll_same_origin ("http://127.0.0.1:5000", "127.0.0.1:5000"));
    assert_true (ll_same_origin ("https://lablink.example", "lablink.example"));
    assert_false (ll_same_origin ("http://127.0.0.1:5001", "127.0.0.1:5000"));
    assert_false (ll_same_origin ("null", "127.0.0.1:5000"));
    assert_false (ll_same_origin ("http://a", NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_password_and_cache),
        cmocka_unit_test (test_sessions),
        cmocka_unit_test (test_cookie),
        cmocka_unit_test (test_parsers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
