/*  lablink-allocator: the actor table and main.

    lablink-allocator [--config FILE]     serve
    lablink-allocator --check-config FILE validate, print [PASS]/[FAIL]
    lablink-allocator --version
    lablink-allocator --agent-token HOST[,HOST...] [--config FILE]
                                          register each HOST as a VM the
                                          allocator did not launch ("bring
                                          your own VM"), give it a fresh
                                          token (revoking its previous one)
                                          and print it, one per line
    lablink-allocator --zmq-keygen FILE   write a CURVE keypair for the
                                          gateway (FILE and FILE_secret),
                                          print the public key
    lablink-allocator --aws-credentials   which AWS credentials terraform and
                                          the S3 backup would use (source,
                                          masked key, expiry; no secret) */
#include <getopt.h>

#include "actors/admin.h"
#include "actors/assigner.h"
#include "actors/gateway.h"
#include "actors/exporter.h"
#include "actors/http.h"
#include "actors/ingest.h"
#include "actors/listener.h"
#include "actors/registry.h"
#include "actors/terraform.h"
#include "actors/waiters.h"
#include "runtime/aws.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/supervisor.h"
#include "runtime/token.h"

#include <sodium.h>

//  Started in this order, stopped in reverse: the edge starts last and
//  stops first, so no request reaches an actor that is gone.
//  Planned order: registry, listener, waiters, assigner, ingest, terraform,
//  exporter, gateway, then http (always last).
static const ll_actor_def_t s_actor_table[] = {
    {"registry", registry_actor},   {"admin", admin_actor},
    {"listener", listener_actor},   {"waiters", waiters_actor},
    {"assigner", assigner_actor},   {"ingest", ingest_actor},
    {"terraform", terraform_actor}, {"exporter", exporter_actor},
    {"gateway", gateway_actor},     {"http", http_actor},
};

static int
s_check_config (const char *path)
{
    char error[512];
    ll_config_t *config = ll_config_load (path, error, sizeof error);
    if (!config) {
        printf ("[FAIL] %s\n", error);
        return 1;
    }
    printf ("[PASS] Config validation passed\n");
    char *warnings = ll_config_warnings (config);
    char *save = NULL;
    for (char *line = warnings ? strtok_r (warnings, "\n", &save) : NULL; line;
         line = strtok_r (NULL, "\n", &save))
        printf ("[WARN] %s\n", line);
    free (warnings);
    const char *refuse = ll_config_refuse_reason (config);
    if (refuse)
        printf ("note: the allocator will not start until this is fixed: %s\n",
                refuse);
    ll_config_destroy (&config);
    return 0;
}

//  Bring your own VM from the command line: register each hostname of the
//  comma-separated list (its row is made when absent; a fleet name is
//  refused) with a freshly minted token, and print the tokens. Audited.
static int
s_agent_token (const char *config_arg, const char *hostnames)
{
    char *path = ll_config_locate (config_arg);
    char error[512];
    ll_config_t *config = ll_config_load (path, error, sizeof error);
    free (path);
    if (!config) {
        fprintf (stderr, "lablink-allocator: %s\n", error);
        return 1;
    }
    ll_log_add_secret (config->db.password);
    ll_db_t *db = ll_db_new (config, NULL, "agent-token");
    int rc = db && ll_db_connect (db) == 0 ? 0 : 1;
    char *list = strdup (hostnames);
    char *save = NULL;
    for (char *name = strtok_r (list, ",", &save); name && rc == 0;
         name = strtok_r (NULL, ",", &save)) {
        char token[LL_TOKEN_MAX], hash[LL_TOKEN_HASH_HEX];
        if (ll_token_mint (name, token, sizeof token) != 0) {
            fprintf (stderr, "lablink-allocator: %s is not a VM name\n", name);
            rc = 1;
            break;
        }
        ll_token_hash (token, hash);
        const char *values[] = {name, hash, "lablink-allocator --agent-token"};
        PGresult *res = ll_db_exec (db, "vm_register", 3, values);
        if (res && PQntuples (res) == 1 && streq (PQgetvalue (res, 0, 0), "f"))
            printf ("%s\n", token);
        else if (res && PQntuples (res) == 1) {
            fprintf (stderr,
                     "lablink-allocator: %s is managed by terraform: "
                     "replace it to give it a new token\n",
                     name);
            rc = 1;
        }
        else
            rc = 1;
        PQclear (res);
        sodium_memzero (token, sizeof token);
    }
    free (list);
    if (rc != 0 && (!db || *ll_db_error (db)))
        fprintf (stderr, "lablink-allocator: cannot register %s: %s\n",
                 hostnames, db ? ll_db_error (db) : "no database");
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    return rc;
}

static int
s_zmq_keygen (const char *path)
{
    zsys_init ();
    zcert_t *cert = zcert_new ();
    int rc = cert && zcert_save (cert, path) == 0 ? 0 : 1;
    if (rc == 0)
        printf ("%s\n", zcert_public_txt (cert));
    else
        fprintf (stderr, "lablink-allocator: cannot write %s\n", path);
    zcert_destroy (&cert);
    zsys_shutdown ();
    return rc;
}

//  The AWS credentials chain's answer, as an operator checks it: where the
//  keys come from and until when, the access key id masked as the AWS CLI
//  does, never a secret.
static int
s_aws_credentials (void)
{
    ll_aws_chain_t *chain = ll_aws_chain_new ();
    ll_aws_creds_t creds;
    char error[512];
    if (!chain || ll_aws_chain_get (chain, &creds, error, sizeof error) != 0) {
        fprintf (stderr, "lablink-allocator: %s\n",
                 chain ? error : "cannot start libcurl");
        ll_aws_chain_destroy (&chain);
        return 1;
    }
    size_t len = strlen (creds.access_key_id);
    printf ("source: %s\n", creds.source);
    printf ("access key id: ****************%s\n",
            creds.access_key_id + (len > 4 ? len - 4 : 0));
    printf ("session token: %s\n", *creds.session_token ? "yes" : "no");
    if (creds.expires > 0) {
        char when[32];
        time_t t = (time_t) creds.expires;
        struct tm tm;
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&t, &tm));
        printf ("expires: %s\n", when);
    }
    else
        printf ("expires: never\n");
    ll_aws_creds_clear (&creds);
    ll_aws_chain_destroy (&chain);
    return 0;
}

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lablink-allocator [--config FILE]\n"
                  "       lablink-allocator --check-config FILE\n"
                  "       lablink-allocator --aws-credentials\n"
                  "       lablink-allocator --version\n");
}

int
main (int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'v'},
        {"agent-token", required_argument, NULL, 't'},
        {"zmq-keygen", required_argument, NULL, 'z'},
        {"aws-credentials", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_arg = NULL;
    const char *token_for = NULL;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
            case 'c':
                config_arg = optarg;
                break;
            case 'k':
                return s_check_config (optarg);
            case 't':
                token_for = optarg;
                break;
            case 'z':
                return s_zmq_keygen (optarg);
            case 'a':
                return s_aws_credentials ();
            case 'v':
                printf ("lablink-allocator %s\n", LABLINK_VERSION);
                return 0;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                s_usage (stderr);
                return 2;
        }
    }
    if (optind < argc) {
        s_usage (stderr);
        return 2;
    }
    if (token_for)
        return s_agent_token (config_arg, token_for);

    char *path = ll_config_locate (config_arg);
    char error[512];
    ll_config_t *config = ll_config_load (path, error, sizeof error);
    free (path);
    if (!config) {
        fprintf (stderr, "lablink-allocator: %s\n", error);
        return 1;
    }
    const char *refuse = ll_config_refuse_reason (config);
    if (refuse) {
        fprintf (stderr, "lablink-allocator: refusing to start: %s\n", refuse);
        ll_config_destroy (&config);
        return 1;
    }
    ll_log_set_level (
        (ll_log_level_t) ll_log_level_parse (config->app.log_level));
    ll_log_add_secret (config->db.password);
    ll_log_add_secret (config->app.admin_password);
    ll_log_add_secret (config->app.metrics_token);
    ll_log_add_secret (config->claim.access_code);
    char *summary = ll_config_describe (config);
    ll_info ("allocator: starting %s; %s", LABLINK_VERSION, summary);
    free (summary);
    char *warnings = ll_config_warnings (config);
    char *save = NULL;
    for (char *line = warnings ? strtok_r (warnings, "\n", &save) : NULL; line;
         line = strtok_r (NULL, "\n", &save))
        ll_warn ("allocator: %s", line);
    free (warnings);

    //  Before any thread exists (czmq's I/O threads included)
    ll_signals_block ();
    zsys_init ();
    zsys_set_linger (0);

    ll_stats_t stats = {0};
    ll_runtime_t runtime = {
        .config = config, .stats = &stats, .started_ms = ll_now_ms ()};
    ll_supervisor_t *supervisor = ll_supervisor_new (
        s_actor_table, sizeof s_actor_table / sizeof s_actor_table[0],
        &runtime);
    char *failure = NULL;
    int rc = 0;
    if (ll_supervisor_start (supervisor, &failure) != 0) {
        ll_error ("allocator: cannot start: %s", failure);
        free (failure);
        rc = 1;
    }
    else {
        ll_info ("allocator: ready");
        int sig = ll_signals_wait ();
        ll_info ("allocator: %s received, stopping",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    int64_t t0 = ll_now_ms ();
    ll_supervisor_destroy (&supervisor);
    zsys_shutdown ();
    ll_info ("allocator: stopped in %lld ms", (long long) (ll_now_ms () - t0));
    ll_config_destroy (&config);
    ll_log_clear_secrets ();
    return rc;
}
