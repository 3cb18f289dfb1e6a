/*  Claims racing the other writers of a VM, with the real actors over
    their sockets and a real PostgreSQL: a VM whose destroy has started
    (its agent's token revoked, terraform at work) is not offered to a new
    student, however fresh its last poll; nor is the new VM of a move
    before the move has put its student there; VMs replaced together (a
    bulk release under on_release destroy) all come back from withheld; a
    code the new VM of a replace took during the apply stays delivered; a
    student who pastes a new command while start-host still runs with the
    first one is shown the PIN of whichever code ends up on the desktop;
    the scheduler's idle release does not take a VM its student started to
    use after the rule read it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "actors/assigner.h"
#include "actors/scheduler.h"
#include "actors/terraform/terraform.h"
#include "actors/waiters.h"
#include "runtime/protocol.h"
#include "runtime/recovery.h"
#include "runtime/release.h"
#include "runtime/supervisor.h"
#include "claim.h"
#include "support.h"

//  actor, started with runtime
static zactor_t *
s_start (ll_runtime_t *runtime, zactor_fn *actor)
{
    zactor_t *self = zactor_new (actor, runtime);
    char *error = NULL;
    int rc = ll_actor_start (self, 10000, &error);
    if (rc != 0)
        fprintf (stderr, "start: %s\n", error);
    assert_int_equal (rc, 0);
    return self;
}

//  Poll until sql gives want (at most 20 s).
static void
s_wait_sql (ll_config_t *config, const char *sql, const char *want)
{
    int64_t deadline = ll_now_ms () + 20000;
    char *got = ll_test_sql (config, sql);
    while ((!got || !streq (got, want)) && ll_now_ms () < deadline) {
        free (got);
        zclock_sleep (50);
        got = ll_test_sql (config, sql);
    }
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}

//  A terraform whose init succeeds and whose apply or destroy runs until
//  the file s_go_file () exists (then succeeds; its outputs are empty) or
//  the actor stops it (SIGINT): an operation that stays under way.
static const char *
s_go_file (void)
{
    static char path[4096];
    snprintf (path, sizeof path, "%s/terraform-go",
              getenv ("LABLINK_TEST_DIR"));
    return path;
}

static char *
s_terraform_busy (void)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/terraform-busy",
              getenv ("LABLINK_TEST_DIR"));
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file,
             "#!/bin/sh\n"
             "for a in \"$@\"; do case $a in -chdir=*) ;; *) sub=$a; break ;; "
             "esac; done\n"
             "case $sub in\n"
             "init) exit 0 ;;\n"
             "apply|destroy) while [ ! -e '%s' ]; do sleep 0.05; done; "
             "exit 0 ;;\n"
             "output) echo '{}'; exit 0 ;;\n"
             "esac\n"
             "exit 1\n",
             s_go_file ());
    fclose (file);
    assert_int_equal (chmod (path, 0755), 0);
    return strdup (path);
}

//  The terraform actor of a case and a client of it
typedef struct {
    zactor_t *actor;
    zsock_t *dealer;
    ll_client_t client;
} s_terraform_t;

static void
s_terraform_start (s_terraform_t *self, ll_runtime_t *runtime)
{
    self->actor = s_start (runtime, terraform_actor);
    self->dealer = zsock_new_dealer (LL_ENDPOINT_TERRAFORM);
    self->client = ll_client_dealer (self->dealer);
}

static void
s_terraform_stop (s_terraform_t *self)
{
    zsock_destroy (&self->dealer);
    zactor_destroy (&self->actor);
}

//  Let the stand-in's apply end (go: create the file it waits for), then
//  wait for operation id to succeed.
static void
s_operation_succeeds (ll_config_t *config, const char *id, bool go)
{
    if (go) {
        FILE *file = fopen (s_go_file (), "w");
        assert_non_null (file);
        fclose (file);
    }
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT status FROM operations WHERE id = %s",
              id);
    s_wait_sql (config, sql, "succeeded");
}

//  What the tests share: the config, one assigner and one terraform actor
//  for the whole run (an inproc endpoint bound again right after its
//  socket was closed may still be taken).
static struct {
    ll_config_t *config;
    ll_stats_t stats;
    ll_runtime_t runtime;
    zactor_t *assigner;
    zsock_t *dealer;
    ll_client_t client;
    s_terraform_t tf;  //  the terraform actor (a stand-in terraform)
} s_env;

static int
s_setup (void **state)
{
    ll_config_t *config = ll_test_config ();
    char *busy = s_terraform_busy ();
    ll_test_terraform_config (config, busy);
    free (busy);
    //  Only the idle rule (the scheduler runs in one test)
    config->idle.release_after_s = 60;
    config->idle.stop_fleet_after_s = 0;
    config->recovery.replace_after_s = 0;
    config->recovery.reboot_unconnected_after_s = 0;
    s_env.config = config;
    s_env.runtime = (ll_runtime_t){
        .config = config, .stats = &s_env.stats, .started_ms = ll_now_ms ()};
    s_env.assigner = s_start (&s_env.runtime, assigner_actor);
    s_env.dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    s_env.client = ll_client_dealer (s_env.dealer);
    s_terraform_start (&s_env.tf, &s_env.runtime);
    //  Answered once the assigner's connection has made the schema
    char hash[LL_RECOVERY_HASH_HEX + 1];
    ll_recovery_hash ("nobody's secret", hash);
    char *first = NULL, *error = NULL;
    zmsg_t *rest = NULL;
    assert_int_equal (ll_ask_claim_who (&s_env.client, hash, "10.0.0.9", &first,
                                        &rest, &error),
                      -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    return 0;
}

static int
s_teardown (void **state)
{
    s_terraform_stop (&s_env.tf);
    zsock_destroy (&s_env.dealer);
    zactor_destroy (&s_env.assigner);
    ll_config_destroy (&s_env.config);
    return 0;
}

//  The admin destroys a free VM whose agent polled a moment ago; until
//  terraform has removed it (seconds locally, minutes on a cloud) its row
//  is still running, seen and polled. A claim meanwhile must take another
//  VM, or answer NONE: never the VM on its way out, whose agent can no
//  longer fetch the assignment and whose row the destroy then deletes.
static void
test_destroying_vm_not_offered (void **state)
{
    ll_config_t *config = s_env.config;
    ll_client_t *as_client = &s_env.client;
    char *error = NULL;
    ll_test_expect_sql (
        config,
        "INSERT INTO vms (hostname, status, last_seen_at, "
        "last_polled_at, token_hash, token_generation) "
        "SELECT 'lablink-vm-test-' || n, 'running', now(), now(), "
        "repeat(n::text, 64), n FROM generate_series(1, 2) n",
        "");
    ll_test_expect_sql (config,
                        "INSERT INTO fleet (hostname, ordinal, state) "
                        "VALUES ('lablink-vm-test-1', 1, 'active'), "
                        "('lablink-vm-test-2', 2, 'active')",
                        "");

    //  The destroy starts: the operation is recorded, the token revoked,
    //  terraform runs
    const char *hosts[] = {"lablink-vm-test-1", NULL};
    char *id = NULL;
    assert_int_equal (ll_ask_vm_operation (&s_env.tf.client, LL_CMD_DESTROY_VM,
                                           hosts, "admin", &id, &error),
                      0);
    ll_test_expect_sql (
        config,
        "SELECT state || ' ' || (token_hash IS NULL) FROM fleet "
        "JOIN vms USING (hostname) "
        "WHERE hostname = 'lablink-vm-test-1'",
        "removing true");

    //  Only the other VM is free; the next student hears NONE
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (as_client, &count, &error), 0);
    assert_string_equal (count, "1");
    free (count);
    free (ll_test_claim (as_client, "a@example.com", "code-a", "",
                         LL_CLAIM_ASSIGNED, "lablink-vm-test-2", NULL));
    assert_null (ll_test_claim (as_client, "b@example.com", "code-b", "",
                                LL_CLAIM_NONE, NULL, NULL));
    ll_test_expect_sql (config,
                        "SELECT coalesce(user_email, 'free') FROM vms "
                        "WHERE hostname = 'lablink-vm-test-1'",
                        "free");
    //  terraform ends: the VM is gone
    s_operation_succeeds (config, id, true);
    ll_test_expect_sql (config,
                        "SELECT count(*) FROM vms "
                        "WHERE hostname = 'lablink-vm-test-1'",
                        "0");
    free (id);
}

//  MOVE-VM makes a new VM under a new name and destroys the old one in
//  one apply, then moves the old VM's student to the new one. The new
//  VM's agent may be up and polling before the apply ends (at once with
//  the local provider): another student's claim must not take it, or the
//  move would overwrite that claim and that student would have been told
//  a VM that is not theirs.
static void
test_moving_vm_not_offered (void **state)
{
    unlink (s_go_file ());  //  the apply waits
    ll_config_t *config = s_env.config;
    ll_client_t *as_client = &s_env.client;
    char *error = NULL;
    //  lablink-vm-test-2, a@example.com's since the first case, moves
    const char *hosts[] = {"lablink-vm-test-2", NULL};
    char *id = NULL;
    assert_int_equal (ll_ask_vm_operation (&s_env.tf.client, LL_CMD_MOVE_VM,
                                           hosts, "admin", &id, &error),
                      0);
    char *moved_to = ll_test_sql (config, "SELECT hostname FROM fleet "
                                          "WHERE state = 'pending'");
    assert_non_null (moved_to);
    assert_true (*moved_to);
    //  The new VM's agent reports running and waits for an assignment
    char sql[512];
    snprintf (sql, sizeof sql,
              "UPDATE vms SET status = 'running', last_seen_at = now(), "
              "last_polled_at = now() WHERE hostname = '%s'",
              moved_to);
    ll_test_expect_sql (config, sql, "");
    assert_null (ll_test_claim (as_client, "c@example.com", "code-c", "",
                                LL_CLAIM_NONE, NULL, NULL));

    //  The apply ends: the student moves, the new VM is no longer withheld
    s_operation_succeeds (config, id, true);
    snprintf (sql, sizeof sql,
              "SELECT user_email || ' ' || coalesce(release_pending, 'none') "
              "FROM vms WHERE hostname = '%s'",
              moved_to);
    ll_test_expect_sql (config, sql, "a@example.com none");
    ll_test_expect_sql (config,
                        "SELECT count(*) FROM vms WHERE hostname = "
                        "'lablink-vm-test-2' OR user_email = 'c@example.com'",
                        "0");
    free (moved_to);
    free (id);
}

//  The console's bulk release under claim.on_release: destroy releases
//  several VMs, each withheld until replaced, and asks for ONE REPLACE-VM
//  of them all. When it succeeds every one of them is a fresh machine and
//  must leave the withheld state, not only when it was the only one.
static void
test_bulk_replace_returns_vms (void **state)
{
    ll_config_t *config = s_env.config;
    ll_test_expect_sql (config,
                        "INSERT INTO vms (hostname, status, last_seen_at, "
                        "user_email, assigned_at) "
                        "SELECT 'lablink-vm-test-' || n, 'running', now(), "
                        "'r' || n || '@example.com', now() "
                        "FROM generate_series(4, 5) n",
                        "");
    ll_test_expect_sql (config,
                        "INSERT INTO fleet (hostname, ordinal, state) "
                        "SELECT 'lablink-vm-test-' || n, n, 'active' "
                        "FROM generate_series(4, 5) n",
                        "");
    char *on_release = config->claim.on_release;
    config->claim.on_release = strdup ("destroy");
    const char *hosts[] = {"lablink-vm-test-4", "lablink-vm-test-5", NULL};
    ll_release_t release;
    ll_release_vms (&release, &s_env.client, &s_env.tf.client, hosts, "admin",
                    0);
    free (config->claim.on_release);
    config->claim.on_release = on_release;
    assert_int_equal (release.replaced, 2);
    assert_non_null (release.operation_id);
    s_operation_succeeds (config, release.operation_id, false);
    ll_release_free (&release);
    ll_test_expect_sql (config,
                        "SELECT string_agg(hostname || ' ' || "
                        "coalesce(release_pending, 'none'), ', ' "
                        "ORDER BY hostname) FROM vms WHERE hostname IN "
                        "('lablink-vm-test-4', 'lablink-vm-test-5')",
                        "lablink-vm-test-4 none, lablink-vm-test-5 none");
}

//  REPLACE-VM of an assigned VM: after the apply, a code start-host had
//  used is dropped (the student's page asks for a new one) and an unused
//  one is delivered again. The new VM's agent may take the unused code
//  before the apply ends (at once with the local provider): that code is
//  on the new desktop, and must stay, with its PIN, delivered.
static void
test_replace_keeps_code_new_vm_took (void **state)
{
    ll_config_t *config = s_env.config;
    unlink (s_go_file ());  //  the apply waits
    ll_test_expect_sql (config,
                        "INSERT INTO vms (hostname, status, last_seen_at, "
                        "user_email, assigned_at, crd_command, pin) VALUES "
                        "('lablink-vm-test-6', 'running', now(), "
                        "'s@example.com', now(), '--code=unused', '123456')",
                        "");
    ll_test_expect_sql (config,
                        "INSERT INTO fleet (hostname, ordinal, state) VALUES "
                        "('lablink-vm-test-6', 6, 'active')",
                        "");
    const char *hosts[] = {"lablink-vm-test-6", NULL};
    char *id = NULL, *error = NULL;
    assert_int_equal (ll_ask_vm_operation (&s_env.tf.client, LL_CMD_REPLACE_VM,
                                           hosts, "admin", &id, &error),
                      0);
    //  The new VM's agent (the token the replace minted) runs start-host
    //  with the code and reports it accepted
    char *gen = ll_test_sql (config, "SELECT token_generation FROM vms "
                                     "WHERE hostname = 'lablink-vm-test-6'");
    assert_non_null (gen);
    assert_int_equal (ll_ask_vm_result (&s_env.client, "lablink-vm-test-6",
                                        true, "", strtoll (gen, NULL, 10),
                                        &error),
                      0);
    free (gen);
    s_operation_succeeds (config, id, true);
    ll_test_expect_sql (config,
                        "SELECT coalesce(crd_command, 'dropped') || ' ' || "
                        "coalesce(pin, '-') || ' ' || "
                        "(delivered_at IS NOT NULL) FROM vms "
                        "WHERE hostname = 'lablink-vm-test-6'",
                        "--code=unused 123456 true");
    free (id);
}

//  The agent's VM-WAIT (the row check): what it is given (new strings).
static void
s_agent_wait (
    zsock_t *waiters, const char *host, char **what, char **pin, char **command)
{
    assert_int_equal (
        ll_proto_send (waiters, LL_CMD_VM_WAIT, "1", host, "5000", "http", "1"),
        0);
    ll_answer_t answer;
    assert_int_equal (ll_answer_recv (&answer, waiters), 0);
    assert_string_equal (answer.command, LL_CMD_VM_WAIT);
    assert_int_equal (
        ll_proto_payload (LL_CMD_VM_WAIT, &answer.payload, what, pin, command),
        0);
    ll_answer_free (&answer);
}

//  The student's page offers a new command while the first one is still
//  with start-host (seconds, more on a slow VM). The renewal is on the row
//  at once, but the agent reports the first code's outcome after it, and
//  that report acknowledges whatever the row holds: if start-host took the
//  first code, the desktop has the first PIN and the second code is never
//  delivered; if it refused it, the second code is delivered next. Either
//  way the PIN the student was shown last must be the desktop's.
static void
test_renewal_during_start_host (void **state)
{
    ll_config_t *config = s_env.config;
    ll_client_t *as_client = &s_env.client;
    zactor_t *waiters = s_start (&s_env.runtime, waiters_actor);
    char *error = NULL;
    zsock_t *wt_dealer = zsock_new_dealer (LL_ENDPOINT_WAITERS);
    zsock_set_rcvtimeo (wt_dealer, 10000);
    free (ll_test_sql (config, "UPDATE vms SET status = 'error'"));
    ll_test_expect_sql (config,
                        "INSERT INTO vms (hostname, status, last_seen_at, "
                        "last_polled_at, token_generation) "
                        "SELECT 'rn-vm-' || n, 'running', now(), now(), 1 "
                        "FROM generate_series(1, 2) n",
                        "");

    for (int accepted = 1; accepted >= 0; accepted--) {
        const char *host = accepted ? "rn-vm-1" : "rn-vm-2";
        const char *email = accepted ? "ok@example.com" : "no@example.com";
        char secret[LL_RECOVERY_LEN + 1];
        char *first = ll_test_claim (as_client, email, "code-1", "",
                                     LL_CLAIM_ASSIGNED, host, secret);
        //  The agent takes the first code and runs start-host with it
        char *what = NULL, *pin = NULL, *command = NULL;
        s_agent_wait (wt_dealer, host, &what, &pin, &command);
        assert_string_equal (what, LL_WAIT_ASSIGN);
        assert_string_equal (pin, first);
        assert_string_equal (command, "--code=code-1");
        free (what);
        free (pin);
        free (command);
        //  ... meanwhile the student pastes a new command
        char *shown = ll_test_claim (as_client, email, "code-2", secret,
                                     LL_CLAIM_ASSIGNED, host, NULL);
        //  start-host ends with the first code
        assert_int_equal (ll_ask_vm_result (as_client, host, accepted,
                                            accepted ? "" : "exit 1", 1,
                                            &error),
                          0);
        if (accepted)
            //  The desktop has the first PIN, and nothing is delivered
            //  any more: the student must be shown that PIN
            assert_string_equal (shown, first);
        else {
            //  The second code is delivered next, with the PIN shown
            s_agent_wait (wt_dealer, host, &what, &pin, &command);
            assert_string_equal (what, LL_WAIT_ASSIGN);
            assert_string_equal (command, "--code=code-2");
            assert_string_equal (pin, shown);
            free (what);
            free (pin);
            free (command);
        }
        free (first);
        free (shown);
    }

    zsock_destroy (&wt_dealer);
    zactor_destroy (&waiters);
}

//  The idle rule reads its candidates, then releases them one by one
//  through the assigner. A student who starts using the VM in between (a
//  heartbeat's in_use, here held uncommitted in a second session until the
//  release waits for the row) must keep it: the release rechecks the rule
//  under the row's lock. A VM still idle is released as before.
static void
test_idle_release_rechecks (void **state)
{
    ll_config_t *config = s_env.config;
    ll_client_t *as_client = &s_env.client;
    char *error = NULL;
    free (ll_test_sql (config, "UPDATE vms SET user_email = NULL"));
    ll_test_expect_sql (
        config,
        "INSERT INTO vms (hostname, status, last_seen_at, "
        "user_email, assigned_at, in_use, in_use_changed_at) "
        "SELECT 'id-vm-' || n, 'running', now(), "
        "'idle' || n || '@example.com', now() - interval '1 hour', "
        "false, now() - interval '1 hour' "
        "FROM generate_series(1, 2) n",
        "");
    char *conninfo = ll_config_conninfo (config);
    PGconn *student = PQconnectdb (conninfo);
    free (conninfo);
    assert_int_equal (PQstatus (student), CONNECTION_OK);
    PQclear (PQexec (student, "BEGIN"));
    PGresult *res = PQexec (student, "UPDATE vms SET in_use = true, "
                                     "in_use_changed_at = now() "
                                     "WHERE hostname = 'id-vm-1'");
    assert_string_equal (PQcmdTuples (res), "1");
    PQclear (res);

    //  The scheduler leads and applies its rules (5 s after its start):
    //  its release of id-vm-1 waits for the student's row
    zactor_t *scheduler = s_start (&s_env.runtime, scheduler_actor);
    s_wait_sql (config,
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND query LIKE '%released%'",
                "1");
    PQclear (PQexec (student, "COMMIT"));
    PQfinish (student);
    //  Answered once the assigner has finished that release
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (as_client, &count, &error), 0);
    free (count);
    ll_test_expect_sql (
        config,
        "SELECT coalesce(user_email, 'released') || ' ' || in_use "
        "|| ' ' || coalesce(release_pending, 'none') FROM vms "
        "WHERE hostname = 'id-vm-1'",
        "idle1@example.com true none");

    //  The VM still idle goes
    s_wait_sql (config,
                "SELECT count(*) FROM audit_log WHERE action = 'idle-release' "
                "AND target = 'id-vm-2'",
                "1");
    ll_test_expect_sql (config,
                        "SELECT coalesce(user_email, 'released') || ' ' || "
                        "release_pending FROM vms WHERE hostname = 'id-vm-2'",
                        "released reset");
    ll_test_expect_sql (config,
                        "SELECT count(*) FROM audit_log "
                        "WHERE action = 'idle-release' AND target = 'id-vm-1'",
                        "0");

    zactor_destroy (&scheduler);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_destroying_vm_not_offered),
        cmocka_unit_test (test_moving_vm_not_offered),
        cmocka_unit_test (test_bulk_replace_returns_vms),
        cmocka_unit_test (test_replace_keeps_code_new_vm_took),
        cmocka_unit_test (test_renewal_during_start_host),
        cmocka_unit_test (test_idle_release_rechecks),
    };
    int rc = cmocka_run_group_tests (tests, s_setup, s_teardown);
    zsys_shutdown ();
    return rc;
}
