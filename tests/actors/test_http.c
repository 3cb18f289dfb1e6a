/*  The http actor over its pipe, with the registry behind it and a real
    PostgreSQL: START on port 0, PORT tells the port, a route reaches its
    actor through the worker's socket (GET /api/health), an unknown path is
    404, a busy port fails START with the reason, unknown pipe commands are
    refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "actors/http.h"
#include "actors/registry.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "support.h"

static size_t
s_body (char *data, size_t size, size_t nmemb, void *arg)
{
    zchunk_extend (arg, data, size * nmemb);
    return size * nmemb;
}

//  GET url: the status, the body into *body (new string)
static long
s_get (const char *url, char **body)
{
    CURL *curl = curl_easy_init ();
    zchunk_t *chunk = zchunk_new (NULL, 0);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, chunk);
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    zchunk_extend (chunk, "", 1);
    *body = strdup ((char *) zchunk_data (chunk));
    zchunk_destroy (&chunk);
    curl_easy_cleanup (curl);
    return status;
}

static void
test_http (void **state)
{
    ll_config_t *config = ll_test_config ();  //  app.listen port 0
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    const ll_actor_def_t table[] = {{"registry", registry_actor, false}};
    ll_supervisor_t *actors = NULL;
    char *error = NULL;
    //  A registry of an earlier test may hold its endpoint a moment longer
    for (int attempt = 0; attempt < 50; attempt++) {
        free (error);
        error = NULL;
        ll_supervisor_destroy (&actors);
        actors = ll_supervisor_new (table, 1, &runtime);
        if (ll_supervisor_start (actors, false, &error) == 0)
            break;
        zclock_sleep (100);
    }
    assert_null (error);

    zactor_t *probe = zactor_new (http_actor, &runtime);
    zsock_set_rcvtimeo (zactor_sock (probe), 5000);
    assert_int_equal (ll_actor_start (probe, 5000, &error), 0);
    zstr_send (probe, LL_CMD_VERBOSE);
    zstr_send (probe, LL_CMD_PORT);
    char *port = zstr_recv (probe);
    assert_non_null (port);
    assert_true (strtol (port, NULL, 10) > 0);
    zstr_send (probe, "NONSENSE");
    char *status = NULL, *reason = NULL;
    zstr_recvx (probe, &status, &reason, NULL);
    assert_string_equal (status, "ERROR");
    assert_string_equal (reason, LL_REASON_UNKNOWN);
    free (status);
    free (reason);
    char url[128], *body = NULL;
    snprintf (url, sizeof url, "http://127.0.0.1:%s/api/health", port);
    assert_int_equal (s_get (url, &body), 200);
    assert_non_null (strstr (body, "\"healthy\""));
    free (body);
    snprintf (url, sizeof url, "http://127.0.0.1:%s/no/such/path", port);
    assert_int_equal (s_get (url, &body), 404);
    assert_string_equal (body, "{\"error\":\"Not found.\"}");
    free (body);

    //  A second http actor on the first one's port: START says why not
    ll_config_t *busy = ll_test_config ();
    free (busy->app.listen);
    busy->app.listen = zsys_sprintf ("127.0.0.1:%s", port);
    ll_runtime_t busy_runtime = {
        .config = busy, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *second = zactor_new (http_actor, &busy_runtime);
    assert_int_equal (ll_actor_start (second, 5000, &error), -1);
    assert_non_null (error);
    free (error);
    zactor_destroy (&second);
    ll_config_destroy (&busy);
    free (port);

    zactor_destroy (&probe);
    ll_supervisor_destroy (&actors);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_http),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    zsys_shutdown ();
    return rc;
}
