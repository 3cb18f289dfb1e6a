/*  The registry actor and the supervisor, for real: START over the pipe,
    HEALTH over its ROUTER, PostgreSQL stopped and started under it; agent
    tokens: VM-REGISTER hands out a generation, VM-AUTH tells the current
    token from a revoked, a forged or an unknown VM's (many at once, as the
    batch answers them); a heartbeat's "waiting" and the fleet gauges'
    VM-FLEET; the fleet refreshes VM-SEEN and VM-POLLED; the allocator's
    start, connecting after START. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/http.h"
#include "actors/registry.h"
#include "runtime/actor.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/supervisor.h"
#include "runtime/token.h"
#include "support.h"

static int
s_health (zsock_t *dealer, char **error)
{
    zmsg_t *reply = NULL;
    int rc = ll_call (dealer, LL_CMD_HEALTH, NULL, 3000, &reply, error);
    zmsg_destroy (&reply);
    return rc;
}

static void
test_health_follows_postgres (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (registry_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);

    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    assert_int_equal (s_health (dealer, &error), 0);

    assert_int_equal (ll_test_pg ("stop"), 0);
    assert_int_equal (s_health (dealer, &error), -1);
    assert_non_null (error);
    free (error);
    error = NULL;

    assert_int_equal (ll_test_pg ("start"), 0);
    //  The actor reconnects by itself within its backoff (at most 2 s)
    int64_t deadline = ll_now_ms () + 10000;
    int rc = -1;
    while (rc != 0 && ll_now_ms () < deadline) {
        free (error);
        error = NULL;
        rc = s_health (dealer, &error);
        if (rc != 0)
            zclock_sleep (200);
    }
    assert_int_equal (rc, 0);
    assert_true (atomic_load (&stats.pg_reconnects) >= 1);

    //  The server secret is made once and stays the same
    zmsg_t *first = NULL, *second = NULL;
    assert_int_equal (
        ll_call (dealer, LL_CMD_SECRET, NULL, 3000, &first, &error), 0);
    assert_int_equal (
        ll_call (dealer, LL_CMD_SECRET, NULL, 3000, &second, &error), 0);
    char *a = zmsg_popstr (first), *b = zmsg_popstr (second);
    assert_int_equal (strlen (a), 64);
    assert_string_equal (a, b);
    free (a);
    free (b);
    zmsg_destroy (&first);
    zmsg_destroy (&second);

    //  Unknown commands get an ERROR, not silence
    zmsg_t *reply = NULL;
    assert_int_equal (ll_call (dealer, "NONSENSE", NULL, 2000, &reply, &error),
                      -1);
    assert_string_equal (error, "unknown command");
    free (error);

    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

//  Register hostname with a fresh token: its hash into hash, the
//  generation returned
static long long
s_register (ll_client_t *registry, const char *hostname, char *hash)
{
    char token[LL_TOKEN_MAX];
    assert_int_equal (ll_token_mint (hostname, token, sizeof token), 0);
    ll_token_hash (token, hash);
    char *generation = NULL, *created = NULL, *error = NULL;
    assert_int_equal (ll_ask_vm_register (registry, hostname, hash, "test",
                                          &generation, &created, &error),
                      0);
    long long gen = strtoll (generation, NULL, 10);
    assert_true (gen > 0);
    free (generation);
    free (created);
    return gen;
}

//  A heartbeat saying "waiting" marks its VM polled (offered to claims);
//  VM-FLEET counts the fleet by status with the claim's own predicate
static void
s_check_fleet_and_waiting (ll_config_t *config,
                           ll_client_t *registry,
                           zsock_t *dealer)
{
    char *error = NULL;
    char hash[LL_TOKEN_HASH_HEX];
    const char *hosts[] = {"rg-fleet-1", "rg-fleet-2"};
    for (int i = 0; i < 2; i++) {
        s_register (registry, hosts[i], hash);
        assert_int_equal (
            ll_ask_vm_status_set (registry, hosts[i], "running", &error), 0);
        //  Only the first one's client waits for an assignment
        assert_int_equal (ll_ask_vm_heartbeat (registry, hosts[i], "boot-1",
                                               "0", 50, i == 0, &error),
                          0);
    }
    char *polled = ll_test_sql (
        config, "SELECT string_agg(hostname, ',' ORDER BY hostname) FROM vms "
                "WHERE hostname LIKE 'rg-fleet-%' AND last_polled_at > now() "
                "- interval '1 minute'");
    assert_non_null (polled);
    assert_string_equal (polled, "rg-fleet-1");
    free (polled);

    char *end = NULL;
    zmsg_t *rows = NULL;
    assert_int_equal (ll_ask_vm_fleet (registry, &end, &rows, &error), 0);
    assert_string_equal (end, "");  //  no scheduled end
    char *f[6];
    bool seen = false;
    while (ll_msg_row (rows, "ssssss", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5])
           == 0) {
        if (streq (f[0], "running")) {
            seen = true;
            assert_string_equal (f[1], "2");  //  VMs
            assert_string_equal (f[2], "0");  //  assigned
            assert_string_equal (f[3], "0");  //  stale
            assert_string_equal (f[4], "1");  //  free: the polled one only
            assert_string_equal (f[5], "0");  //  undelivered
        }
        for (int i = 0; i < 6; i++)
            free (f[i]);
    }
    assert_true (seen);
    zmsg_destroy (&rows);
    free (end);

    //  One frame more than the picture's optional one is refused
    zmsg_t *args = ll_proto_args (LL_CMD_VM_HEARTBEAT, "rg-fleet-1", "b", "",
                                  "", "1"),
           *reply = NULL;
    zmsg_addstr (args, "extra");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_HEARTBEAT, &args, 3000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
}

//  VM-SEEN and VM-POLLED (the gateway's and the waiters' batches) refresh
//  last_seen_at and last_polled_at of the VMs they name, and only those
static void
s_check_refreshes (ll_config_t *config, zsock_t *dealer)
{
    free (ll_test_sql (config, "UPDATE vms SET last_seen_at = now() - "
                               "interval '1 hour', last_polled_at = now() - "
                               "interval '1 hour' WHERE hostname LIKE "
                               "'rg-fleet-%'"));
    const char *commands[] = {LL_CMD_VM_SEEN, LL_CMD_VM_POLLED};
    for (int i = 0; i < 2; i++) {
        zmsg_t *hosts = zmsg_new ();
        zmsg_addstr (hosts, "rg-fleet-2");
        zmsg_addstr (hosts, "no-such-vm");
        assert_int_equal (ll_proto_send (dealer, commands[i], "r", &hosts), 0);
        ll_answer_t answer;
        zsock_set_rcvtimeo (dealer, 5000);
        assert_int_equal (ll_answer_recv (&answer, dealer), 0);
        assert_string_equal (answer.command, commands[i]);
        assert_string_equal (answer.id, "r");
        ll_answer_free (&answer);
    }
    char *fresh = ll_test_sql (
        config,
        "SELECT string_agg(hostname || ' ' || (last_seen_at > now() - "
        "interval '1 minute') || ' ' || (last_polled_at > now() - interval "
        "'1 minute'), ',' ORDER BY hostname) FROM vms WHERE hostname LIKE "
        "'rg-fleet-%'");
    assert_non_null (fresh);
    assert_string_equal (fresh, "rg-fleet-1 false false,rg-fleet-2 true true");
    free (fresh);
}

static void
test_tokens (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (registry_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    ll_client_t registry = ll_client_dealer (dealer);
    char old[LL_TOKEN_HASH_HEX], now[LL_TOKEN_HASH_HEX];
    long long first = s_register (&registry, "rg-vm-1", old);
    long long second = s_register (&registry, "rg-vm-1", now);
    assert_true (second > first);
    char forged[LL_TOKEN_HASH_HEX];
    memset (forged, 'f', sizeof forged - 1);
    forged[sizeof forged - 1] = '\0';

    //  Sent at once, answered together: current, revoked, forged, unknown
    const char *hosts[] = {"rg-vm-1", "rg-vm-1", "rg-vm-1", "rg-nobody"};
    const char *hashes[] = {now, old, forged, now};
    char want_gen[24];
    snprintf (want_gen, sizeof want_gen, "%lld", second);
    const char *want[] = {want_gen, LL_REASON_REVOKED, LL_REASON_INVALID,
                          LL_REASON_NOT_FOUND};
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf (id, sizeof id, "%d", i);
        assert_int_equal (
            ll_proto_send (dealer, LL_CMD_VM_AUTH, id, hosts[i], hashes[i]), 0);
    }
    zsock_set_rcvtimeo (dealer, 5000);
    for (int i = 0; i < 4; i++) {
        ll_answer_t answer;
        int rc = ll_answer_recv (&answer, dealer);
        assert_non_null (answer.id);
        int k = (int) strtol (answer.id, NULL, 10);
        if (k == 0) {
            char *gen = NULL;
            assert_int_equal (rc, 0);
            assert_int_equal (
                ll_proto_payload (answer.command, &answer.payload, &gen), 0);
            assert_string_equal (gen, want[k]);
            free (gen);
        }
        else {
            assert_int_equal (rc, -1);
            assert_string_equal (answer.error, want[k]);
        }
        ll_answer_free (&answer);
    }
    //  The typed form; a request that does not fit is refused
    char *gen = NULL;
    assert_int_equal (ll_ask_vm_auth (&registry, "rg-vm-1", old, &gen, &error),
                      -1);
    assert_string_equal (error, LL_REASON_REVOKED);
    free (error);
    zmsg_t *args = ll_proto_args (LL_CMD_VM_AUTH, "rg-vm-1", now), *reply;
    zmsg_addstr (args, "one too many");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_AUTH, &args, 3000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    s_check_fleet_and_waiting (config, &registry, dealer);
    s_check_refreshes (config, dealer);

    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

static void
test_start_without_postgres (void **state)
{
    ll_config_t *config = ll_test_config ();
    config->db.port = 1;  //  nothing listens there
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (registry_actor, &runtime);
    char *error = NULL;
    //  The allocator must start with the database down
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    assert_int_equal (s_health (dealer, &error), -1);
    assert_non_null (strstr (error, "connect"));
    free (error);
    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

static void
test_supervisor_reports_failure (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    //  Take a port, then ask http to listen on it
    zsock_t *blocker = zsock_new (ZMQ_STREAM);
    int port = zsock_bind (blocker, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    free (config->app.listen);
    char listen[64];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", port);
    config->app.listen = strdup (listen);
    const ll_actor_def_t table[] = {{"registry", registry_actor, false},
                                    {"http", http_actor, true}};
    //  The previous test's registry may still hold its inproc endpoint for a
    //  moment (libzmq closes sockets asynchronously): retry that race, which
    //  is not what this test is about.
    ll_supervisor_t *sup = NULL;
    char *error = NULL;
    for (int attempt = 0; attempt < 50; attempt++) {
        free (error);
        error = NULL;
        ll_supervisor_destroy (&sup);
        sup = ll_supervisor_new (table, 2, &runtime);
        if (ll_supervisor_start (sup, false, &error) == 0)
            assert_int_equal (ll_supervisor_start (sup, true, &error), -1);
        assert_non_null (error);
        if (strncmp (error, "registry", 8) != 0)
            break;
        zclock_sleep (100);
    }
    assert_non_null (strstr (error, "http"));
    free (error);
    ll_supervisor_destroy (&sup);
    assert_null (sup);
    zsock_destroy (&blocker);
    ll_config_destroy (&config);
}

static void
s_add_name (const char *name, void *arg)
{
    if (streq (name, "registry"))
        *(bool *) arg = true;
}

static bool
s_registry_connecting (ll_first_connects_t *first_connects)
{
    bool found = false;
    ll_actor_connecting (first_connects, s_add_name, &found);
    return found;
}

//  The allocator's start (first_connects): START answers while main's
//  migrations still run, the registry is listed as connecting until its
//  connection, made after them, and a request sent meanwhile waits for it.
static void
test_connect_after_start (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {.config = config,
                            .stats = &stats,
                            .started_ms = ll_now_ms (),
                            .first_connects = ll_first_connects_new ()};
    ll_db_t *migrator = ll_db_new (config, NULL, "test-migrator");
    ll_db_migrate_announce (migrator);
    zactor_t *actor = zactor_new (registry_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    assert_true (s_registry_connecting (runtime.first_connects));
    zclock_sleep (200);  //  still waiting for the migrations
    assert_true (s_registry_connecting (runtime.first_connects));
    assert_int_equal (ll_db_migrate_once (migrator), 0);
    //  At once: the request waits in the ROUTER for the connection
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_REGISTRY);
    assert_int_equal (s_health (dealer, &error), 0);
    assert_false (s_registry_connecting (runtime.first_connects));
    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_first_connects_destroy (&runtime.first_connects);
    ll_db_destroy (&migrator);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_connect_after_start),      //  first: the
        cmocka_unit_test (test_health_follows_postgres),  //  endpoint is free
        cmocka_unit_test (test_tokens),
        cmocka_unit_test (test_start_without_postgres),
        cmocka_unit_test (test_supervisor_reports_failure),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
