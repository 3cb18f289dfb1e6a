/*  The assigner actor over its pipe and ROUTER with a real PostgreSQL:
    claims take free VMs (seen and polled) in hostname order with a fresh
    6-digit PIN, a returning student keeps a running VM, the pool runs dry
    (NONE), the per-email limit answers LIMITED, a returning student
    without the claim secret is DENIED with nothing changed,
    CLAIM-WHO/CLAIM-RESET find and renew a secret, a release withholds the
    VM until the current reset is confirmed by the current agent and its
    next poll, results and releases find their VM or say "not found",
    and a PostgreSQL restart under the actor costs a
    caller nothing (ll_db_exec_retry), and a free VM held by another
    session's liveness write is waited for, not skipped, and a fleet VM
    being removed is not offered. Malformed and unknown requests are
    refused. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <cmocka.h>

#include "actors/assigner.h"
#include "runtime/protocol.h"
#include "runtime/recovery.h"
#include "runtime/supervisor.h"
#include "claim.h"
#include "support.h"

static void
test_assigner (void **state)
{
    ll_config_t *config = ll_test_config ();
    config->claim.email_per_minute = 3;
    config->claim.address_per_minute = 0;
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (assigner_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    zstr_send (actor, LL_CMD_VERBOSE);
    free (ll_test_sql (config,
                       "INSERT INTO vms (hostname, status, last_seen_at, "
                       "last_polled_at, token_generation) "
                       "VALUES ('as-vm-2', 'running', now(), now(), 7), "
                       "('as-vm-1', 'running', now(), now(), 1), "
                       "('as-vm-3', 'error', now(), now(), 1), "
                       //  Seen but its client does not wait: never offered
                       "('as-vm-0', 'running', now(), NULL, 1)"));
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    ll_client_t assigner = ll_client_dealer (dealer);

    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    assert_string_equal (count, "2");
    free (count);

    //  Two students: the free VMs in hostname order, fresh PINs, and each
    //  a claim secret (its hash stored with the VM)
    char *outcome = NULL, *host = NULL, *pin = NULL, *secret = NULL;
    assert_int_equal (ll_ask_vm_claim (&assigner, "A@example.com", "code-a",
                                       "10.0.0.1", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (host, "as-vm-1");
    assert_int_equal (strlen (pin), 6);
    assert_int_equal (strspn (pin, "0123456789"), 6);
    assert_int_equal (strlen (secret), LL_RECOVERY_LEN);
    char secret_a[LL_RECOVERY_LEN + 1];
    snprintf (secret_a, sizeof secret_a, "%s", secret);
    ll_test_expect_sql (config,
                        "SELECT user_email || ' ' || crd_command || ' ' || "
                        "(claim_secret_hash IS NOT NULL) FROM vms WHERE "
                        "hostname = 'as-vm-1'",
                        "a@example.com --code=code-a true");
    free (outcome);
    free (host);
    free (pin);
    free (secret);
    assert_int_equal (ll_ask_vm_claim (&assigner, "b@example.com", "code-b",
                                       "10.0.0.2", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (host, "as-vm-2");
    free (outcome);
    free (host);
    free (pin);
    free (secret);
    //  The pool is dry
    assert_int_equal (ll_ask_vm_claim (&assigner, "c@example.com", "code-c",
                                       "10.0.0.3", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_NONE);
    assert_null (host);
    assert_null (secret);
    free (outcome);
    //  A returning student without the secret: DENIED, nothing told and
    //  the stored code unchanged
    assert_int_equal (ll_ask_vm_claim (&assigner, "a@example.com", "code-x",
                                       "10.0.0.9", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_DENIED);
    assert_null (host);
    assert_null (pin);
    assert_null (secret);
    free (outcome);
    ll_test_expect_sql (
        config, "SELECT crd_command FROM vms WHERE hostname = 'as-vm-1'",
        "--code=code-a");
    //  ... with it: keeps the running VM and the same secret
    assert_int_equal (ll_ask_vm_claim (&assigner, "a@example.com", "code-a2",
                                       "10.0.0.1", secret_a, "", &outcome,
                                       &host, &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (host, "as-vm-1");
    assert_string_equal (secret, secret_a);
    free (outcome);
    free (host);
    free (pin);
    free (secret);
    //  The email's third claim within the minute answers, the fourth is
    //  LIMITED seconds
    assert_int_equal (ll_ask_vm_claim (&assigner, "a@example.com", "code-a4",
                                       "10.0.0.1", secret_a, "", &outcome,
                                       &host, &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_LIMITED);
    assert_true (strtol (host, NULL, 10) >= 1);  //  the seconds to wait
    assert_null (pin);
    free (outcome);
    free (host);

    //  CLAIM-WHO: the claim a secret's hash proves; CLAIM-RESET: a new
    //  secret, the old one proves nothing any more
    char hash[LL_RECOVERY_HASH_HEX + 1];
    ll_recovery_hash (secret_a, hash);
    char *first = NULL;
    zmsg_t *rest = NULL;
    assert_int_equal (
        ll_ask_claim_who (&assigner, hash, "10.0.0.1", &first, &rest, &error),
        0);
    assert_string_equal (first, "a@example.com");
    char *row_host = zmsg_popstr (rest), *row_status = zmsg_popstr (rest);
    assert_string_equal (row_host, "as-vm-1");
    assert_string_equal (row_status, "running");
    free (row_host);
    free (row_status);
    free (first);
    zmsg_destroy (&rest);
    assert_int_equal (ll_ask_claim_reset (&assigner, "A@Example.com", "admin",
                                          &secret, &rest, &error),
                      0);
    assert_int_equal (strlen (secret), LL_RECOVERY_LEN);
    assert_string_not_equal (secret, secret_a);
    row_host = zmsg_popstr (rest);
    assert_string_equal (row_host, "as-vm-1");
    free (row_host);
    zmsg_destroy (&rest);
    free (secret);
    assert_int_equal (
        ll_ask_claim_who (&assigner, hash, "10.0.0.1", &first, &rest, &error),
        -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    ll_test_expect_sql (
        config,
        "SELECT count(*) FROM audit_log WHERE action = 'claim-reset' "
        "AND target = 'a@example.com'",
        "1");
    assert_int_equal (ll_ask_claim_reset (&assigner, "nobody@example.com",
                                          "admin", &secret, &rest, &error),
                      -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);

    //  Results and releases find their VM, or say so; only the agent of
    //  the VM's current token generation (7) is heard
    assert_int_equal (
        ll_ask_vm_result (&assigner, "as-vm-2", true, "", 6, &error), -1);
    assert_string_equal (error, LL_REASON_REVOKED);
    free (error);
    ll_test_expect_sql (config,
                        "SELECT delivered_at IS NULL FROM vms WHERE hostname = "
                        "'as-vm-2'",
                        "t");
    assert_int_equal (
        ll_ask_vm_result (&assigner, "as-vm-2", true, "", 7, &error), 0);
    ll_test_expect_sql (
        config,
        "SELECT delivered_at IS NOT NULL FROM vms WHERE hostname = "
        "'as-vm-2'",
        "t");
    assert_int_equal (
        ll_ask_vm_result (&assigner, "no-such-vm", false, "boom", 1, &error),
        -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);
    //  claim.on_release reset (the default): the VM stays out of the pool
    //  until its current agent confirms the current reset
    char *mode = NULL;
    assert_int_equal (
        ll_ask_vm_release (&assigner, "as-vm-2", "admin", 0, &mode, &error), 0);
    assert_string_equal (mode, "reset");
    free (mode);
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    assert_string_equal (count, "0");
    free (count);
    char *reset_id =
        ll_test_sql (config, "SELECT reset_id FROM vms WHERE hostname = "
                             "'as-vm-2'");
    assert_int_equal (strlen (reset_id), 32);
    assert_int_equal (ll_ask_vm_reset_done (&assigner, "as-vm-2",
                                            "00000000000000000000000000000000",
                                            true, "", 7, &error),
                      -1);
    assert_string_equal (error, LL_REASON_STALE);
    free (error);
    assert_int_equal (ll_ask_vm_reset_done (&assigner, "as-vm-2", reset_id,
                                            true, "", 6, &error),
                      -1);
    assert_string_equal (error, LL_REASON_REVOKED);
    free (error);
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    assert_string_equal (count, "0");
    free (count);
    assert_int_equal (ll_ask_vm_reset_done (&assigner, "as-vm-2", reset_id,
                                            true, "", 7, &error),
                      0);
    free (reset_id);
    //  The claim consumed the VM's poll: reset, it is offered again only
    //  once its client asks for an assignment (last_polled_at)
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    assert_string_equal (count, "0");
    free (count);
    assert_int_equal (ll_ask_vm_claim (&assigner, "d@example.com", "code-d",
                                       "10.0.0.4", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_NONE);
    free (outcome);
    free (ll_test_sql (config, "UPDATE vms SET last_polled_at = now() WHERE "
                               "hostname = 'as-vm-2'"));
    assert_int_equal (ll_ask_vm_claim (&assigner, "d@example.com", "code-d",
                                       "10.0.0.4", "", "", &outcome, &host,
                                       &pin, &secret, &error),
                      0);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (host, "as-vm-2");
    free (outcome);
    free (host);
    free (pin);
    free (secret);
    assert_int_equal (
        ll_ask_vm_release (&assigner, "no-such-vm", "admin", 0, &mode, &error),
        -1);
    assert_string_equal (error, LL_REASON_NOT_FOUND);
    free (error);

    //  PostgreSQL restarts between two requests: the next one is answered
    //  on a new connection, at once
    assert_int_equal (ll_test_pg ("stop"), 0);
    assert_int_equal (ll_test_pg ("start"), 0);
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    free (count);
    assert_true (atomic_load (&stats.pg_reconnects) >= 1);

    //  Refused
    zmsg_t *reply = NULL;
    zmsg_t *args = ll_proto_args (LL_CMD_VM_RELEASE, "as-vm-1", "admin", "60");
    zmsg_addstr (args, "one too many");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_RELEASE, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    //  idle seconds that are not a number
    args = ll_proto_args (LL_CMD_VM_RELEASE, "as-vm-1", "admin", "1 hour");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_RELEASE, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);

    args = ll_proto_args (LL_CMD_VM_RESULT, "as-vm-1", "maybe", "", "1");
    assert_int_equal (
        ll_call (dealer, LL_CMD_VM_RESULT, &args, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_MALFORMED);
    free (error);
    assert_int_equal (
        ll_call (dealer, LL_CMD_HEALTH, NULL, 2000, &reply, &error), -1);
    assert_string_equal (error, LL_REASON_UNKNOWN);
    free (error);

    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

//  Another session's liveness write (a heartbeat flush, a last_seen_at or
//  last_polled_at refresh) holds a free VM's row until it commits.
typedef struct {
    PGconn *conn;           //  the writer, inside its transaction
    int hold_ms;            //  how long it holds the row
    atomic_bool committed;  //  set once it has committed
} s_writer_t;

static void *
s_writer_commit (void *arg)
{
    s_writer_t *writer = arg;
    zclock_sleep (writer->hold_ms);
    PQclear (PQexec (writer->conn, "COMMIT"));
    atomic_store (&writer->committed, true);
    return NULL;
}

//  Hold hostname's row in a second session for hold_ms, claim meanwhile;
//  the claim's outcome and host (new strings).
static void
s_claim_while_held (ll_config_t *config,
                    ll_client_t *assigner,
                    const char *email,
                    int hold_ms,
                    char **outcome,
                    char **host,
                    bool *answered_before_commit)
{
    char *conninfo = ll_config_conninfo (config);
    s_writer_t writer = {.conn = PQconnectdb (conninfo), .hold_ms = hold_ms};
    free (conninfo);
    assert_int_equal (PQstatus (writer.conn), CONNECTION_OK);
    PQclear (PQexec (writer.conn, "BEGIN"));
    PGresult *res = PQexec (writer.conn, "UPDATE vms SET last_seen_at = now() "
                                         "WHERE hostname = 'hw-vm-1'");
    assert_string_equal (PQcmdTuples (res), "1");
    PQclear (res);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_writer_commit, &writer),
                      0);
    char *pin = NULL, *secret = NULL, *error = NULL;
    assert_int_equal (ll_ask_vm_claim (assigner, email, "code-held", "10.0.1.1",
                                       "", "", outcome, host, &pin, &secret,
                                       &error),
                      0);
    *answered_before_commit = !atomic_load (&writer.committed);
    pthread_join (thread, NULL);
    PQfinish (writer.conn);
    free (pin);
    free (secret);
}

//  The last free VM is in another session's liveness write while a student
//  claims: the claim waits for it and takes it, never answering "no VM"
//  while a free VM exists (claim_free alone skips held rows). Held for
//  longer than the claim waits, the answer is NONE without waiting for the
//  writer, and the VM stays free for the next claim.
static void
test_claim_waits_for_held_vm (void **state)
{
    ll_config_t *config = ll_test_config ();
    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    zactor_t *actor = zactor_new (assigner_actor, &runtime);
    char *error = NULL;
    assert_int_equal (ll_actor_start (actor, 10000, &error), 0);
    //  The first test's VMs leave the offer; one free VM
    free (ll_test_sql (config, "UPDATE vms SET status = 'error'"));
    free (ll_test_sql (config,
                       "INSERT INTO vms (hostname, status, last_seen_at, "
                       "last_polled_at, token_generation) "
                       "VALUES ('hw-vm-1', 'running', now(), now(), 1)"));
    zsock_t *dealer = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    ll_client_t assigner = ll_client_dealer (dealer);

    //  Held for 3 s, past the claim's wait: NONE, answered before the
    //  writer lets go, and nothing taken
    char *outcome = NULL, *host = NULL;
    bool early = false;
    s_claim_while_held (config, &assigner, "late@example.com", 3000, &outcome,
                        &host, &early);
    assert_string_equal (outcome, LL_CLAIM_NONE);
    assert_null (host);
    assert_true (early);
    free (outcome);
    ll_test_expect_sql (config,
                        "SELECT coalesce(user_email, 'free') FROM vms "
                        "WHERE hostname = 'hw-vm-1'",
                        "free");

    //  Held for the 100 ms of a liveness write: the claim takes the VM
    s_claim_while_held (config, &assigner, "held@example.com", 100, &outcome,
                        &host, &early);
    assert_string_equal (outcome, LL_CLAIM_ASSIGNED);
    assert_string_equal (host, "hw-vm-1");
    free (outcome);
    free (host);
    ll_test_expect_sql (config,
                        "SELECT user_email FROM vms WHERE hostname = 'hw-vm-1'",
                        "held@example.com");

    //  A fleet VM on its way out (state 'removing': a destroy, or an
    //  export-destroy exporting for minutes before it destroys) is neither
    //  counted nor given, though its agent still reports and polls; back
    //  to 'active' (the export failed) it is offered again
    free (ll_test_sql (config,
                       "INSERT INTO vms (hostname, status, last_seen_at, "
                       "last_polled_at, token_generation) "
                       "VALUES ('hw-vm-2', 'running', now(), now(), 1)"));
    free (ll_test_sql (config, "INSERT INTO fleet (hostname, ordinal, state) "
                               "VALUES ('hw-vm-2', 9002, 'removing')"));
    char *count = NULL;
    assert_int_equal (ll_ask_vm_count (&assigner, &count, &error), 0);
    assert_string_equal (count, "0");
    free (count);
    assert_null (ll_test_claim (&assigner, "gone@example.com", "code-g", "",
                                LL_CLAIM_NONE, NULL, NULL));
    ll_test_expect_sql (
        config,
        "SELECT count(*) FROM vms WHERE user_email = 'gone@example.com'", "0");
    free (ll_test_sql (config, "UPDATE fleet SET state = 'active' "
                               "WHERE hostname = 'hw-vm-2'"));
    free (ll_test_claim (&assigner, "gone@example.com", "code-g", "",
                         LL_CLAIM_ASSIGNED, "hw-vm-2", NULL));

    zsock_destroy (&dealer);
    zactor_destroy (&actor);
    ll_config_destroy (&config);
}

int
main (void)
{
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_assigner),
        cmocka_unit_test (test_claim_waits_for_held_vm),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
