/*  The gateway actor for real: registry, ingest, assigner and waiters on a
    real PostgreSQL, the gateway on a CURVE tcp endpoint, NO http actor (the
    gateway no longer replays POSTs on the allocator's own HTTP port, so
    app.listen may be port 0 or nothing at all). An agent socket says
    HELLO, then POSTs the agent API: the REPLY is what the HTTP route
    answers (same table), the data lands, another VM's data is refused and
    unchanged, a path outside the agent API is 404, REPLYs keep the order
    of the POSTs, a new token for the VM (listener: VM-REVOKED) ends the
    old token's session at once and its HELLO is refused, and the actors'
    ERROR/VERBOSE contract holds on its pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/assigner.h"
#include "actors/gateway.h"
#include "actors/ingest.h"
#include "actors/listener.h"
#include "actors/registry.h"
#include "actors/waiters.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "runtime/token.h"
#include "support.h"

//  A free tcp port on loopback
static int
s_free_port (void)
{
    zsock_t *probe = zsock_new (ZMQ_STREAM);
    int port = zsock_bind (probe, "tcp://127.0.0.1:*");
    zsock_destroy (&probe);
    return port;
}

//  The next text frame from the gateway (new string), PINGs answered
static char *
s_recv (zsock_t *agent)
{
    char *text = zstr_recv (agent);
    while (text && streq (text, "PING")) {
        zstr_free (&text);
        zstr_send (agent, "PONG");
        text = zstr_recv (agent);
    }
    return text;
}

static void
s_expect (zsock_t *agent, const char *want)
{
    char *got = s_recv (agent);
    assert_non_null (got);
    assert_string_equal (got, want);
    zstr_free (&got);
}

//  POST path body, expect the REPLY
static void
s_post (zsock_t *agent, const char *path, const char *body, const char *want)
{
    zstr_sendf (agent, "POST %s %s", path, body);
    s_expect (agent, want);
}

//  Register hostname with a fresh token (into token, LL_TOKEN_MAX bytes)
static void
s_register (ll_client_t *registry, const char *hostname, char *token)
{
    char hash[LL_TOKEN_HASH_HEX];
    assert_int_equal (ll_token_mint (hostname, token, LL_TOKEN_MAX), 0);
    ll_token_hash (token, hash);
    char *generation = NULL, *created = NULL, *error = NULL;
    assert_int_equal (ll_ask_vm_register (registry, hostname, hash, "test",
                                          &generation, &created, &error),
                      0);
    free (generation);
    free (created);
}

static void
test_agent_api_over_zeromq (void **state)
{
    ll_config_t *config = ll_test_config ();
    char path[4096];
    snprintf (path, sizeof path, "%s/gateway.cert",
              getenv ("LABLINK_TEST_DIR"));
    zcert_t *server = zcert_new ();
    assert_int_equal (zcert_save (server, path), 0);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", s_free_port ());
    free (config->agent.zmq_endpoint);
    config->agent.zmq_endpoint = strdup (endpoint);
    free (config->agent.zmq_secret_key_file);
    config->agent.zmq_secret_key_file = zsys_sprintf ("%s_secret", path);
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    const ll_actor_def_t table[] = {
        {"registry", registry_actor, false}, {"waiters", waiters_actor, false},
        {"assigner", assigner_actor, false}, {"ingest", ingest_actor, false},
        {"listener", listener_actor, false}, {"gateway", gateway_actor, true},
    };
    ll_supervisor_t *actors = ll_supervisor_new (table, 6, &runtime);
    char *error = NULL;
    assert_int_equal (ll_supervisor_start (actors, false, &error), 0);
    assert_int_equal (ll_supervisor_start (actors, true, &error), 0);

    //  Two VMs, registered as the admin would; the agent is the first's
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    ll_client_t registry = ll_client_dealer (dealer);
    char token[LL_TOKEN_MAX], other[LL_TOKEN_MAX];
    s_register (&registry, "gw-vm-1", token);
    s_register (&registry, "gw-vm-2", other);

    zsock_t *agent = zsock_new (ZMQ_DEALER);
    zcert_t *client = zcert_new ();
    zcert_apply (client, agent);
    zsock_set_curve_serverkey (agent, zcert_public_txt (server));
    zsock_set_rcvtimeo (agent, 20000);
    assert_int_equal (zsock_connect (agent, "%s", endpoint), 0);
    zstr_send (agent, "POST /api/vm-status {}");
    s_expect (agent, "ERROR HELLO first");
    zstr_sendf (agent, "HELLO gw-vm-1 %s", token);
    s_expect (agent, "HELLO-OK");

    //  The HTTP route's answers, from the same table
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-1\",\"status\":\"running\"}",
            "REPLY 200 {\"message\":\"VM status updated successfully.\"}");
    char *status = NULL, *stale = NULL;
    assert_int_equal (
        ll_ask_vm_status_get (&registry, "gw-vm-1", &status, &stale, &error),
        0);
    assert_string_equal (status, "running");
    free (status);
    free (stale);
    //  Another VM's data: refused, unchanged
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-2\",\"status\":\"error\"}",
            "REPLY 403 {\"error\":\"This token belongs to another VM.\"}");
    s_post (agent, "/api/vm-metrics/gw-vm-2", "{\"cloud_init_start\":1}",
            "REPLY 403 {\"error\":\"This token belongs to another VM.\"}");
    status = NULL;
    int rc =
        ll_ask_vm_status_get (&registry, "gw-vm-2", &status, &stale, &error);
    assert_true (rc != 0 || !streq (status, "error"));
    free (status);
    free (stale);
    free (error);
    error = NULL;
    //  Bodies refused as over HTTP; paths outside the agent API unknown
    s_post (agent, "/api/vm-status", "[1]",
            "REPLY 400 {\"error\":\"Request body must be a JSON object.\"}");
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-1\",\"status\":\"dancing\"}",
            "REPLY 400 {\"error\":\"Invalid status. Must be one of: "
            "initializing, running, error, unknown, rebooting.\"}");
    s_post (agent, "/api/launch", "{\"num_vms\":5}",
            "REPLY 404 {\"error\":\"Not found.\"}");
    s_post (agent, "/api/vm-metrics/gw-vm-1",
            "{\"cloud_init_start\":1700000000,\"cloud_init_end\":1700000060}",
            "REPLY 200 {\"message\":\"VM metrics posted successfully.\"}");

    //  Three POSTs at once, to two actors and none: REPLYs in their order
    zstr_send (agent, "POST /api/vm-logs {\"log_group\":\"g\",\"log_stream\":"
                      "\"gw-vm-1\",\"stream\":\"agent\",\"messages\":"
                      "[\"one\",\"two\"]}");
    zstr_send (agent, "POST /api/heartbeat [");
    zstr_send (agent, "POST /api/heartbeat {\"vm_id\":\"gw-vm-1\","
                      "\"disk_free_pct\":50}");
    s_expect (agent, "REPLY 200 {\"message\":\"VM logs posted successfully.\","
                     "\"stored\":2,\"duplicate\":false}");
    s_expect (agent,
              "REPLY 400 {\"error\":\"Request body must be a JSON object.\"}");
    s_expect (agent, "REPLY 200 {\"ok\":true}");
    zsock_t *logs = zsock_new_dealer (LL_ENDPOINT_LOGS);
    ll_client_t ingest = ll_client_dealer (logs);
    zframe_t *rows = NULL;
    assert_int_equal (
        ll_ask_log_read (&ingest, "gw-vm-1", "", 10, &status, &rows, &error),
        0);
    char *text = zframe_strdup (rows);
    assert_non_null (strstr (text, "\tagent\tone\n"));
    assert_non_null (strstr (text, "\tagent\ttwo\n"));
    free (text);
    free (status);
    zframe_destroy (&rows);

    //  Another VM's token, a forged one: refused at HELLO
    zstr_sendf (agent, "HELLO gw-vm-1 %s", other);
    s_expect (agent, "ERROR This token belongs to another VM.");
    zstr_send (agent, "HELLO gw-vm-1 gw-vm-1.0000");
    s_expect (agent, "ERROR Invalid API token.");
    zstr_sendf (agent, "HELLO gw-vm-1 %s", token);
    s_expect (agent, "HELLO-OK");
    //  A new token for gw-vm-1 (the admin registers it again): the old
    //  token's session ends at once and its HELLO is refused; its POSTs
    //  store nothing
    char fresh[LL_TOKEN_MAX];
    s_register (&registry, "gw-vm-1", fresh);
    s_expect (agent, "ERROR token revoked");
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-1\",\"status\":\"error\"}",
            "ERROR HELLO first");
    zstr_sendf (agent, "HELLO gw-vm-1 %s", token);
    s_expect (agent, "ERROR token revoked");
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-1\",\"status\":\"error\"}",
            "ERROR HELLO first");
    assert_int_equal (
        ll_ask_vm_status_get (&registry, "gw-vm-1", &status, &stale, &error),
        0);
    assert_string_equal (status, "running");
    free (status);
    free (stale);
    zstr_sendf (agent, "HELLO gw-vm-1 %s", fresh);
    s_expect (agent, "HELLO-OK");
    s_post (agent, "/api/vm-status",
            "{\"hostname\":\"gw-vm-1\",\"status\":\"rebooting\"}",
            "REPLY 200 {\"message\":\"VM status updated successfully.\"}");

    zsock_destroy (&logs);
    zsock_destroy (&agent);
    zsock_destroy (&dealer);
    zcert_destroy (&client);
    zcert_destroy (&server);
    ll_supervisor_destroy (&actors);
    ll_config_destroy (&config);
}

//  The gateway without an endpoint is off: it starts, answers its pipe
static void
test_gateway_off (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (gateway_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 5000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    zstr_send (actor, "NONSENSE");
    char *status = NULL, *reason = NULL;
    zsock_set_rcvtimeo (zactor_sock (actor), 2000);
    zstr_recvx (actor, &status, &reason, NULL);
    assert_string_equal (status, "ERROR");
    assert_string_equal (reason, LL_REASON_UNKNOWN);
    free (status);
    free (reason);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agent_api_over_zeromq),
        cmocka_unit_test (test_gateway_off),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
