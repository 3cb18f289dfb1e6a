/*  Claims racing the other writers of a VM, with the real actors over
    their sockets and a real PostgreSQL: a VM whose destroy has started
    (its agent's token revoked, terraform at work) is not offered to a new
    student, however fresh its last poll; a student who pastes a new
    command while start-host still runs with the first one is shown the
    PIN of whichever code ends up on the desktop; the scheduler's idle
    release does not take a VM its student started to use after the rule
    read it. */
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
#include "runtime/supervisor.h"
#include "support.h"

static void
s_expect_sql (ll_config_t *config, const char *sql, const char *want)
{
    char *got = ll_test_sql (config, sql);
    assert_non_null (got);
    assert_string_equal (got, want);
    free (got);
}

//  A terraform whose init succeeds and whose apply or destroy runs until
//  the actor stops it (SIGINT): an operation that stays under way.
static char *
s_terraform_busy (void)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/terraform-busy",
              getenv ("LABLINK_TEST_DIR"));
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs ("#!/bin/sh\n"
           "for a in \"$@\"; do case $a in -chdir=*) ;; *) sub=$a; break ;; "
           "esac; done\n"
           "case $sub in init) exit 0 ;; apply|destroy) exec sleep 60 ;; "
           "esac\n"
           "exit 1\n",
           file);
    fclose (file);
    assert_int_equal (chmod (path, 0755), 0);
    return strdup (path);
}

//  The admin destroys a free VM whose agent polled a moment ago; until
//  terraform has removed it (seconds locally, minutes on a cloud) its row
//  is still running, seen and polled. A claim meanwhile must take another
//  VM, or answer NONE: never the VM on its way out, whose agent can no
//  longer fetch the assignment and whose row the destroy then deletes.
static void
test_destroying_vm_not_offered (void **state)
{
    ll_config_t *config = ll_test_config ();
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/work", getenv ("LABLINK_TEST_DIR"));
    free (config->provider.work_dir);
    config->provider.work_dir = strdup (dir);
    snprintf (dir, sizeof dir, "%s/terraform/local",
              getenv ("LABLINK_SOURCE_DIR"));
    free (config->provider.terraform_dir);
    config->provider.terraform_dir = strdup (dir);
    free (config->provider.terraform_bin);
    config->provider.terraform_bin = s_terraform_busy ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *terraform = zactor_new (terraform_actor, &runtime);
    zactor_t *assigner = zactor_new (assigner_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (terraform, 10000, &error), 0);
    assert_int_equal (ll_actor_start (assigner, 10000, &error), 0);
    zsock_t *tf_dealer = zsock_new_dealer (LL_ENDPOINT_TERRAFORM);
    zsock_t *as_dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    ll_client_t tf_client = ll_client_dealer (tf_dealer);
    ll_client_t as_client = ll_client_dealer (as_dealer);
    //  Answered once an actor's connection has made the schema
    zmsg_t *op = NULL;
    assert_int_equal (ll_ask_op_get (&tf_client, 999, 0, &op, &error), -1);
    assert_string_equal (error, LL_REASON_OP_MISSING);
    free (error);
    s_expect_sql (config,
                  "INSERT INTO vms (hostname, status, last_seen_at, "
                  "last_polled_at, token_hash, token_generation) "
                  "SELECT 'lablink-vm-test-' || n, 'running', now(), now(), "
                  "repeat(n::text, 64), n FROM generate_series(1, 2) n",
                  "");
    s_expect_sql (config,
                  "INSERT INTO fleet (hostname, ordinal, state) "
                  "VALUES ('lablink-vm-test-1', 1, 'active'), "
                  "('lablink-vm-test-2', 2, 'active')",
                  "");

    //  The destroy starts: the operation is recorded, the token revoked,
    //  terraform runs
    const char *hosts[] = {"lablink-vm-test-1", NULL};
    char *id = NULL;
    assert_int_equal (ll_ask_vm_operation (&tf_client, LL_CMD_DESTROY_VM, hosts,
                                           "admin", &id, &error),
                      0);
    free (id);
    s_expect_sql (config,
                  "SELECT state || ' ' || (token_hash IS NULL) FROM fleet "
                  "JOIN vms USING (hostname) "
                  "WHERE hostname = 'lablink-vm-test-1'",
                  "removing true");

    //  Only the other VM is free; the next student hears NONE
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (&as_client, &count, &error), 0);
    assert_string_equal (count, "1");
    free (count);
    char *outcome = NULL, *host = NULL, *pin = NULL, *secret = NULL;
    assert_int_equal (ll_ask_vm_claim (&as_client, "a@example.com", "code-a",
                                       "10.0.0.1", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (host, "lablink-vm-test-2");
    free (outcome);
    free (host);
    free (pin);
    free (secret);
    assert_int_equal (ll_ask_vm_claim (&as_client, "b@example.com", "code-b",
                                       "10.0.0.2", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_NONE);
    assert_null (host);
    free (outcome);
    s_expect_sql (config,
                  "SELECT coalesce(user_email, 'free') FROM vms "
                  "WHERE hostname = 'lablink-vm-test-1'",
                  "free");

    zsock_destroy (&as_dealer);
    zsock_destroy (&tf_dealer);
    zactor_destroy (&assigner);
    zactor_destroy (&terraform);
    ll_config_destroy (&config);
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

//  A student's claim (a returning one shows secret): ASSIGNED on host,
//  the PIN shown (new string), the claim's secret in secret_out.
static char *
s_claim_assigned (ll_client_t *assigner,
                  const char *email,
                  const char *code,
                  const char *secret,
                  const char *host,
                  char *secret_out)
{
    char *outcome = NULL, *got = NULL, *pin = NULL, *kept = NULL;
    char *error = NULL;
    assert_int_equal (ll_ask_vm_claim (assigner, email, code, "10.0.0.1",
                                       secret, "", &outcome, &got, &pin, &kept,
                                       &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (got, host);
    if (secret_out)
        snprintf (secret_out, LL_RECOVERY_LEN + 1, "%s", kept);
    free (outcome);
    free (got);
    free (kept);
    return pin;
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
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *assigner = zactor_new (assigner_actor, &runtime);
    zactor_t *waiters = zactor_new (waiters_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (assigner, 10000, &error), 0);
    assert_int_equal (ll_actor_start (waiters, 10000, &error), 0);
    zsock_t *as_dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    zsock_t *wt_dealer = zsock_new_dealer (LL_ENDPOINT_WAITERS);
    zsock_set_rcvtimeo (wt_dealer, 10000);
    ll_client_t as_client = ll_client_dealer (as_dealer);
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (&as_client, &count, &error), 0);
    free (count);
    free (ll_test_sql (config, "UPDATE vms SET status = 'error'"));
    s_expect_sql (config,
                  "INSERT INTO vms (hostname, status, last_seen_at, "
                  "last_polled_at, token_generation) "
                  "SELECT 'rn-vm-' || n, 'running', now(), now(), 1 "
                  "FROM generate_series(1, 2) n",
                  "");

    for (int accepted = 1; accepted >= 0; accepted--) {
        const char *host = accepted ? "rn-vm-1" : "rn-vm-2";
        const char *email = accepted ? "ok@example.com" : "no@example.com";
        char secret[LL_RECOVERY_LEN + 1];
        char *first =
            s_claim_assigned (&as_client, email, "code-1", "", host, secret);
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
        char *shown =
            s_claim_assigned (&as_client, email, "code-2", secret, host, NULL);
        //  start-host ends with the first code
        assert_int_equal (ll_ask_vm_result (&as_client, host, accepted,
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
    zsock_destroy (&as_dealer);
    zactor_destroy (&waiters);
    zactor_destroy (&assigner);
    ll_config_destroy (&config);
}

//  The idle rule reads its candidates, then releases them one by one
//  through the assigner. A student who starts using the VM in between (a
//  heartbeat's in_use, here held uncommitted in a second session until the
//  release waits for the row) must keep it: the release rechecks the rule
//  under the row's lock. A VM still idle is released as before.
static void
test_idle_release_rechecks (void **state)
{
    ll_config_t *config = ll_test_config ();
    config->idle.release_after_s = 60;
    config->idle.stop_fleet_after_s = 0;
    config->recovery.replace_after_s = 0;
    config->recovery.reboot_unconnected_after_s = 0;
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *assigner = zactor_new (assigner_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (assigner, 10000, &error), 0);
    zsock_t *as_dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    ll_client_t as_client = ll_client_dealer (as_dealer);
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (&as_client, &count, &error), 0);
    free (count);
    free (ll_test_sql (config, "UPDATE vms SET user_email = NULL"));
    s_expect_sql (config,
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
    zactor_t *scheduler = zactor_new (scheduler_actor, &runtime);
    assert_int_equal (ll_actor_start (scheduler, 10000, &error), 0);
    int64_t deadline = ll_now_ms () + 20000;
    char *waiting = NULL;
    while (ll_now_ms () < deadline) {
        waiting = ll_test_sql (config, "SELECT count(*) FROM pg_stat_activity "
                                       "WHERE wait_event_type = 'Lock' "
                                       "AND query LIKE '%released%'");
        if (waiting && streq (waiting, "1"))
            break;
        free (waiting);
        waiting = NULL;
        zclock_sleep (50);
    }
    assert_non_null (waiting);
    free (waiting);
    PQclear (PQexec (student, "COMMIT"));
    PQfinish (student);
    //  Answered once the assigner has finished that release
    assert_int_equal (ll_ask_vm_count (&as_client, &count, &error), 0);
    free (count);
    s_expect_sql (config,
                  "SELECT coalesce(user_email, 'released') || ' ' || in_use "
                  "|| ' ' || coalesce(release_pending, 'none') FROM vms "
                  "WHERE hostname = 'id-vm-1'",
                  "idle1@example.com true none");

    //  The VM still idle goes
    char *released = NULL;
    while (ll_now_ms () < deadline) {
        released = ll_test_sql (config, "SELECT count(*) FROM audit_log "
                                        "WHERE action = 'idle-release' "
                                        "AND target = 'id-vm-2'");
        if (released && streq (released, "1"))
            break;
        free (released);
        released = NULL;
        zclock_sleep (50);
    }
    assert_non_null (released);
    free (released);
    s_expect_sql (config,
                  "SELECT coalesce(user_email, 'released') || ' ' || "
                  "release_pending FROM vms WHERE hostname = 'id-vm-2'",
                  "released reset");
    s_expect_sql (config,
                  "SELECT count(*) FROM audit_log "
                  "WHERE action = 'idle-release' AND target = 'id-vm-1'",
                  "0");

    zsock_destroy (&as_dealer);
    zactor_destroy (&scheduler);
    zactor_destroy (&assigner);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_destroying_vm_not_offered),
        cmocka_unit_test (test_renewal_during_start_host),
        cmocka_unit_test (test_idle_release_rechecks),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
