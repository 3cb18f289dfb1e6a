/*  lablink-allocator: the actor table and main. The command line is
    s_cli below (also its --help and manual page). */
#include <curl/curl.h>
#include <getopt.h>

#include "actors/admin.h"
#include "actors/assigner.h"
#include "actors/gateway.h"
#include "actors/exporter/exporter.h"
#include "actors/http.h"
#include "actors/ingest.h"
#include "actors/listener.h"
#include "actors/registry.h"
#include "actors/scheduler.h"
#include "actors/terraform/terraform.h"
#include "actors/waiters.h"
#include "http/routes.h"
#include "runtime/actor.h"
#include "runtime/aws.h"
#include "runtime/budget.h"
#include "runtime/cli.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/msg.h"
#include "runtime/notify.h"
#include "runtime/supervisor.h"
#include "runtime/token.h"

#include <pthread.h>
#include <sodium.h>
#include <time.h>

//  Stopped in reverse table order: the edge stops first, so no request
//  reaches an actor that is gone. The inner actors start at once (each
//  connects to PostgreSQL once its START is answered, after main's
//  migrations), then the edge ones in order, without waiting for those
//  connections.
static const ll_actor_def_t s_actor_table[] = {
    {"registry", registry_actor, false},
    {"admin", admin_actor, false},
    {"listener", listener_actor, false},
    {"waiters", waiters_actor, false},
    {"assigner", assigner_actor, false},
    {"ingest", ingest_actor, false},
    {"terraform", terraform_actor, false},
    {"exporter", exporter_actor, false},
    {"scheduler", scheduler_actor, false},
    {"gateway", gateway_actor, true},
    {"http", http_actor, true},
};

//  Each line of ll_config_warnings, told by warn: --check-config prints
//  them, the server logs them.
static void
s_config_warn (const ll_config_t *config, void (*warn) (const char *line))
{
    char *warnings = ll_config_warnings (config);
    char *save = NULL;
    for (char *line = warnings ? strtok_r (warnings, "\n", &save) : NULL; line;
         line = strtok_r (NULL, "\n", &save))
        warn (line);
    free (warnings);
}

static void
s_warn_check (const char *line)
{
    printf ("[WARN] %s\n", line);
}

static void
s_warn_log (const char *line)
{
    ll_warn ("allocator: %s", line);
}

static int
s_check_config (const char *path)
{
    char error[512];
    ll_config_t *config = ll_config_load (path, error, sizeof error);
    if (!config) {
        printf ("[FAIL] %s\n", error);
        return 1;
    }
    ll_budget_t budget;
    ll_budget_compute (config, &budget);
    if (ll_budget_check (&budget, error, sizeof error) != 0) {
        printf ("[FAIL] %s\n", error);
        ll_config_destroy (&config);
        return 1;
    }
    printf ("[PASS] Config validation passed\n");
    ll_budget_describe (&budget, error, sizeof error);
    printf ("%s\n", error);
    s_config_warn (config, s_warn_check);
    const char *refuse = ll_config_refuse_reason (config);
    if (refuse)
        printf ("note: the allocator will not start until this is fixed: %s\n",
                refuse);
    ll_config_destroy (&config);
    return 0;
}

//  The configuration --config (or the default places) names, or NULL with
//  the reason on stderr.
static ll_config_t *
s_config_open (const char *config_arg)
{
    char *path = ll_config_locate (config_arg);
    char error[512];
    ll_config_t *config = ll_config_load (path, error, sizeof error);
    free (path);
    if (!config)
        fprintf (stderr, "lablink-allocator: %s\n", error);
    return config;
}

//  Bring your own VM from the command line: register each hostname of the
//  comma-separated list (its row is made when absent; a fleet name is
//  refused) with a freshly minted token, and print the tokens. Audited.
static int
s_agent_token (const char *config_arg, const char *hostnames)
{
    ll_config_t *config = s_config_open (config_arg);
    if (!config)
        return 1;
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

//  --routes: the route table as the edge serves it.
static int
s_routes (void)
{
    static const char *const auth[] = {"public", "agent", "admin",
                                       "admin-or-agent"};
    size_t count = 0;
    const ll_route_t *routes = ll_routes (&count);
    for (size_t i = 0; i < count; i++)
        printf ("%s %s %s\n", routes[i].method, routes[i].pattern,
                auth[routes[i].auth]);
    return LL_EXIT_OK;
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

typedef struct {
    ll_db_t *db;         //  its connection
    int64_t started_ms;  //  ll_now_ms () at process start
    pthread_t thread;    //  runs s_migrate
    bool running;        //  thread was started
} s_migration_t;

//  The migrations, once for the process (runtime/db.h)
static void *
s_migrate (void *arg)
{
    s_migration_t *self = arg;
    if (ll_db_migrate_once (self->db) != 0)
        ll_warn ("allocator: migrations not applied (the first connection "
                 "that succeeds applies them): %s",
                 ll_db_error (self->db));
    else
        ll_info ("allocator: migrations checked %lld ms after start",
                 (long long) (ll_now_ms () - self->started_ms));
    return NULL;
}

//  Start the migrations in their own thread: the actors' connections wait
//  for them (ll_db_migrate_announce), not the actors' START nor the edge.
static void
s_migration_start (s_migration_t *self, ll_runtime_t *runtime)
{
    self->started_ms = runtime->started_ms;
    self->db = ll_db_new (runtime->config, runtime->stats, "allocator");
    if (!self->db)
        return;
    ll_db_migrate_announce (self->db);
    self->running = pthread_create (&self->thread, NULL, s_migrate, self) == 0;
    if (!self->running)
        s_migrate (self);  //  no thread: here, and the edge waits
}

static void
s_migration_join (s_migration_t *self)
{
    if (self->running)
        pthread_join (self->thread, NULL);
    ll_db_destroy (&self->db);
}

//  A stop still running after S_CUT_AFTER_MS waits on the database (a query
//  to a server that does not answer): then every connection is cut. Work
//  in flight on a healthy database finishes well before.
#define S_CUT_AFTER_MS 800

typedef struct {
    pthread_t thread;      //  runs s_watchdog
    pthread_mutex_t lock;  //  guards done
    pthread_cond_t cond;   //  signalled when the stop is over
    bool done;             //  the stop is over
} s_watchdog_t;

static void *
s_watchdog (void *arg)
{
    s_watchdog_t *self = arg;
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_nsec += (S_CUT_AFTER_MS % 1000) * 1000000L;
    until.tv_sec += S_CUT_AFTER_MS / 1000 + until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (!self->done && rc == 0)
        rc = pthread_cond_timedwait (&self->cond, &self->lock, &until);
    bool cut = !self->done;
    pthread_mutex_unlock (&self->lock);
    if (cut) {
        ll_warn ("allocator: still stopping after %d ms: cutting the "
                 "database connections",
                 S_CUT_AFTER_MS);
        ll_db_cut_all ();
    }
    return NULL;
}

static void
s_watchdog_start (s_watchdog_t *self)
{
    self->done = false;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    pthread_create (&self->thread, NULL, s_watchdog, self);
}

static void
s_watchdog_stop (s_watchdog_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->done = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
}

//  Serving: readiness to systemd (every actor, the HTTP listener last, is
//  up), then the watchdog while the listener answers, until a signal.
static int
s_serve (ll_supervisor_t *supervisor, const ll_config_t *config)
{
    int port = -1;
    zactor_t *http = ll_supervisor_actor (supervisor, "http");
    if (http && zstr_send (http, LL_CMD_PORT) == 0) {
        char *text = zstr_recv (http);
        port = text ? (int) strtol (text, NULL, 10) : -1;
        free (text);
    }
    char status[96], url[160] = "";
    snprintf (status, sizeof status, "serving on port %d", port);
    ll_notify_ready (status);
    int64_t period = ll_notify_watchdog_ms ();
    if (period
        && ll_notify_probe_url (config->app.listen, port, url, (int) sizeof url)
               != 0)
        ll_warn ("allocator: watchdog: cannot derive a URL from app.listen "
                 "'%s': the watchdog is not fed",
                 config->app.listen);
    int sig;
    while ((sig = ll_signals_wait_for (period)) == 0)
        if (*url) {
            //  The probe may take up to the period: the next ping is due
            //  one period after this one, well inside WatchdogSec
            if (ll_notify_probe (url, (int) period))
                ll_notify_watchdog ();
            else
                ll_warn ("allocator: watchdog: %s did not answer within %lld "
                         "ms",
                         url, (long long) period);
        }
    return sig;
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

static const char *const s_usage[] = {
    "[--config FILE]",
    "--check-config FILE",
    "--agent-token HOST[,HOST...] [--config FILE]",
    "--zmq-keygen FILE",
    "--aws-credentials",
    "--routes",
    "--help | --version | --man",
    NULL,
};

static const ll_cli_item_t s_options[] = {
    {"--config FILE",
     "Serve with this configuration. Without it: $CONFIG_DIR/$CONFIG_NAME "
     "when CONFIG_DIR is set, else ./config.yaml."},
    {"--check-config FILE",
     "Validate FILE and print [PASS] Config validation passed or [FAIL] "
     "<key>: <reason> on standard output; exit 0 or 1."},
    {"--agent-token HOST[,HOST...]",
     "Register each HOST as a VM the allocator did not launch (\"bring "
     "your own VM\") in the database named by --config, give it a fresh "
     "token (revoking its previous one) and print it, one per line."},
    {"--zmq-keygen FILE",
     "Write a CURVE keypair for the ZeroMQ gateway (FILE and FILE_secret) "
     "and print the public key agents need in LABLINK_ZMQ_SERVER_KEY."},
    {"--aws-credentials",
     "Say which AWS credentials terraform and the S3 backup would use: "
     "their source, the access key id masked, whether a session token "
     "comes with them and when they expire; never a secret."},
    {"--routes",
     "Print the route table, one route per line: method, path pattern ({} "
     "is one path segment) and who may call it (public, agent, admin, "
     "admin-or-agent); docs/openapi.yaml describes each."},
    {NULL, NULL},
};

static const ll_cli_item_t s_env[] = {
    {"CONFIG_DIR, CONFIG_NAME",
     "Where the configuration is when --config is not given (upstream's "
     "names)."},
    {"LABLINK_ADMIN_PASSWORD, LABLINK_ADMIN_PASSWORD_HASH",
     "The admin password or its libsodium hash (app.admin_password)."},
    {"LABLINK_DB_HOST, LABLINK_DB_PORT, LABLINK_DB_PASSWORD",
     "Override db.host, db.port and db.password."},
    {"LABLINK_LISTEN, LABLINK_PUBLIC_URL",
     "Override app.listen and app.public_url."},
    {"ALLOCATOR_PUBLIC_IP",
     "The allocator's public address, given to the client VMs."},
    {"NOTIFY_SOCKET, WATCHDOG_USEC",
     "Set by systemd (Type=notify, WatchdogSec=): readiness is sent once "
     "the HTTP listener is up, then a watchdog ping every half interval."},
    {NULL, NULL},
};

static const ll_cli_item_t s_exit_codes[] = {
    {"0", "Stopped cleanly after SIGTERM or SIGINT; a command succeeded; "
          "--check-config passed."},
    {"1", "The configuration is invalid, or refused (no admin password), "
          "or an actor could not start (port in use), or a command failed."},
    {"2", "The command line is wrong: an unknown option, a missing argument "
          "or an extra word."},
    {NULL, NULL},
};

static const ll_cli_item_t s_files[] = {
    {"/etc/lablink/config.yaml", "The configuration the service unit uses."},
    {"/etc/lablink/allocator.env", "Secrets for the service unit (mode 0600)."},
    {"/var/lib/lablink", "Working directory: terraform state, keys."},
    {NULL, NULL},
};

static const ll_cli_t s_cli = {
    .program = "lablink-allocator",
    .summary = "the LabLink allocator: assigns cloud desktops to students",
    .usage = s_usage,
    .description =
        "Serves the student page, the admin console, the VM agents' API and "
        "/metrics over HTTP, keeps its state in PostgreSQL and launches and "
        "destroys the client VMs with terraform. Logs go to standard error "
        "(app.log_format: text or json). SIGTERM or SIGINT stops it "
        "cleanly.\n\n"
        "The HTTP API is described in docs/api.md and docs/openapi.yaml, "
        "the configuration keys in docs/operations.md.",
    .options = s_options,
    .env = s_env,
    .exit_codes = s_exit_codes,
    .files = s_files,
    .see_also = "lablink-agent(1), systemd.service(5)",
};

int
main (int argc, char *argv[])
{
    int64_t main_ms = ll_now_ms ();
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", required_argument, NULL, 'k'},
        {"version", no_argument, NULL, 'v'},
        {"agent-token", required_argument, NULL, 't'},
        {"zmq-keygen", required_argument, NULL, 'z'},
        {"aws-credentials", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {"man", no_argument, NULL, 'm'},
        {"routes", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    const char *config_arg = NULL;
    const char *token_for = NULL;
    const char *check = NULL;
    const char *keygen = NULL;
    bool aws = false;
    opterr = 0;  //  ll_cli_refuse says why, with the usage
    int opt;
    while ((opt = getopt_long (argc, argv, ":c:h", options, NULL)) != -1) {
        switch (opt) {
            case 'c':
                config_arg = optarg;
                break;
            case 'k':
                check = optarg;
                break;
            case 't':
                token_for = optarg;
                break;
            case 'z':
                keygen = optarg;
                break;
            case 'a':
                aws = true;
                break;
            case 'v':
                ll_cli_version (&s_cli, stdout);
                return LL_EXIT_OK;
            case 'h':
                ll_cli_help (&s_cli, stdout);
                return LL_EXIT_OK;
            case 'm':
                ll_cli_man (&s_cli, stdout);
                return LL_EXIT_OK;
            case 'r':
                return s_routes ();
            case ':':
                return ll_cli_refuse (&s_cli, "option '%s' needs an argument",
                                      argv[optind - 1]);
            default:
                if (optopt)
                    return ll_cli_refuse (&s_cli, "unknown option '-%c'",
                                          optopt);
                return ll_cli_refuse (&s_cli, "unknown option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (optind < argc)
        return ll_cli_refuse (&s_cli, "unexpected argument '%s'", argv[optind]);
    if ((check != NULL) + (keygen != NULL) + (token_for != NULL) + aws > 1)
        return ll_cli_refuse (&s_cli, "--check-config, --agent-token, "
                                      "--zmq-keygen and --aws-credentials "
                                      "exclude each other");
    if (check)
        return s_check_config (check);
    if (keygen)
        return s_zmq_keygen (keygen);
    if (aws)
        return s_aws_credentials ();
    if (token_for)
        return s_agent_token (config_arg, token_for);

    ll_config_t *config = s_config_open (config_arg);
    if (!config)
        return 1;
    const char *refuse = ll_config_refuse_reason (config);
    if (refuse) {
        fprintf (stderr, "lablink-allocator: refusing to start: %s\n", refuse);
        ll_config_destroy (&config);
        return 1;
    }
    ll_log_set_level (
        (ll_log_level_t) ll_log_level_parse (config->app.log_level));
    ll_log_set_format (
        (ll_log_format_t) ll_log_format_parse (config->app.log_format));
    ll_log_add_secret (config->db.password);
    ll_log_add_secret (config->app.admin_password);
    ll_log_add_secret (config->app.metrics_token);
    ll_log_add_secret (config->claim.access_code);
    char *summary = ll_config_describe (config);
    ll_info ("allocator: starting %s (commit %s); %s", ll_build_version (),
             ll_build_commit (), summary);
    free (summary);
    s_config_warn (config, s_warn_log);

    //  Before any thread exists (czmq's I/O threads included)
    curl_global_init (CURL_GLOBAL_DEFAULT);
    ll_signals_block ();
    ll_budget_t budget;
    ll_budget_compute (config, &budget);
    char error[512];
    if (ll_budget_apply (&budget, error, sizeof error) != 0) {
        ll_error ("allocator: refusing to start: %s", error);
        ll_config_destroy (&config);
        return 1;
    }
    zsys_set_linger (0);
    ll_budget_describe (&budget, error, sizeof error);
    ll_info ("allocator: %s", error);

    ll_stats_t stats = {0};
    ll_metrics_t metrics;
    ll_metrics_init (&metrics);
    ll_runtime_t runtime = {.config = config,
                            .stats = &stats,
                            .metrics = &metrics,
                            .started_ms = ll_now_ms (),
                            .first_connects = ll_first_connects_new ()};
    //  The migrations, once, while everything starts: no START runs a
    //  query, and the actors connect after the migrations (the listener's
    //  LISTEN comes on its first tick after that)
    s_migration_t migration = {0};
    s_migration_start (&migration, &runtime);
    ll_supervisor_t *supervisor = ll_supervisor_new (
        s_actor_table, sizeof s_actor_table / sizeof s_actor_table[0],
        &runtime);
    char *failure = NULL;
    int rc = ll_supervisor_start (supervisor, false, &failure);
    int64_t inner_ms = ll_now_ms ();
    if (rc == 0)
        rc = ll_supervisor_start (supervisor, true, &failure);
    if (rc != 0) {
        ll_error ("allocator: cannot start: %s", failure);
        free (failure);
        rc = 1;
    }
    else {
        int64_t now = ll_now_ms ();
        ll_info ("allocator: ready in %lld ms after main (config %lld ms, "
                 "actors %lld ms, then gateway and http %lld ms; the "
                 "migrations and the actors' connections go on)",
                 (long long) (now - main_ms),
                 (long long) (runtime.started_ms - main_ms),
                 (long long) (inner_ms - runtime.started_ms),
                 (long long) (now - inner_ms));
        int sig = s_serve (supervisor, config);
        ll_info ("allocator: %s received, stopping",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
        ll_notify_stopping ();
    }
    int64_t t0 = ll_now_ms ();
    //  No actor waits on a database connection or its backoff from here
    ll_db_stopping ();
    s_watchdog_t watchdog;
    s_watchdog_start (&watchdog);
    ll_supervisor_destroy (&supervisor);
    s_migration_join (&migration);  //  cut short like the actors' work
    ll_first_connects_destroy (&runtime.first_connects);
    s_watchdog_stop (&watchdog);
    zsys_shutdown ();
    ll_info ("allocator: stopped in %lld ms", (long long) (ll_now_ms () - t0));
    ll_config_destroy (&config);
    ll_log_clear_secrets ();
    curl_global_cleanup ();
    return rc;
}
