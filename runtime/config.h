/*  config.yaml: upstream's keys (reference section 4.2) plus provider.*,
    app.listen and agent.*, read with libyaml into one immutable struct that
    every actor receives read-only. Unknown keys and type mismatches are
    errors naming the key's path. Secrets can come from the environment. */
#ifndef LL_CONFIG_H
#define LL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

//  A list of strings: a YAML sequence, or one scalar (scalar set). A
//  scalar is split on commas and blanks, except for a key that names a
//  file (claim.allowed_emails), where it is the one path.
typedef struct {
    char **items;  //  count strings (owned)
    size_t count;  //  entries in items
    bool scalar;   //  given as one scalar, not a sequence
} ll_strlist_t;

typedef struct {
    struct {
        char *dbname, *user, *password, *host;
        int port;
        char *table_name, *message_channel;
        char *sslmode;      //  libpq sslmode (verify-full for RDS)
        char *sslrootcert;  //  CA bundle for verify-ca/verify-full, or ""
    } db;
    struct {
        char *machine_type;
        char *repository;  //  NULL when none
        char *image, *ami_id, *software, *extension;
        double hourly_usd;  //  price per VM-hour (an estimate), 0 = none
    } machine;
    struct {
        char *admin_user, *admin_password;
        char *admin_password_hash;  //  libsodium crypto_pwhash_str, or ""
        char *region;
        char *listen;      //  civetweb listening_ports, e.g. "127.0.0.1:5000"
        char *public_url;  //  URL told to VMs; "" = derived (reference 4.5)
        int request_body_max;   //  bytes; larger bodies get 413
        int http_threads;       //  civetweb worker threads
        int request_timeout_s;  //  seconds to receive a request (slowloris)
        int max_vms;            //  largest fleet one launch may create
        char *log_level;
        char *log_format;              //  text or json lines on stderr
        bool access_log;               //  one info line per HTTP request
        int session_idle_s;            //  admin browser session idle expiry
        bool secure_cookies;           //  mark cookies Secure (TLS in front)
        ll_strlist_t trusted_proxies;  //  CIDRs whose forwarding is believed
        int max_streams;               //  live streams (SSE) at once
        int max_streams_per_token;     //  ... per credential
        char *metrics_token;           //  Bearer for /metrics, "" = open
    } app;
    struct {
        bool enabled, terraform_managed, create_zone;
        char *domain, *zone_id, *app_name, *pattern, *custom_subdomain;
    } dns;
    struct {
        char *strategy, *tag_name;
    } eip;
    struct {
        char *provider, *email, *certificate_arn;
        bool staging;
    } ssl;
    struct {
        char *image_tag;
    } allocator;
    char *bucket_name;
    char *deployment_name;
    char *environment;
    struct {
        bool enabled;
        char *path, *on_error;
    } startup_script;
    struct {
        char *kind;           //  "local" or "aws"
        char *terraform_dir;  //  module folder; "" = terraform/<kind>
        char *work_dir;       //  where state and tfvars live; "" = var/<kind>
        char *terraform_bin;
        int operation_timeout_s;
        char *ssh_key_file;   //  VMs authorize its .pub; "" = export.key_file
        char *state_backend;  //  local | s3 | "" (s3 for aws, else local)
        char *state_lock_table;      //  DynamoDB lock table; "" = S3 lock file
        char *state_backend_config;  //  extra -backend-config file, or ""
    } provider;
    struct {
        char *transport;            //  http | zmq | pg
        char *zmq_endpoint;         //  gateway bind, "" = off
        int long_poll_s;            //  /vm_startup park time
        int max_parked;             //  cap on parked HTTP waiters
        int max_zmq_agents;         //  agents the gateway's budget holds
        int stale_after_s;          //  silent this long = stale, not offered
        char *zmq_secret_key_file;  //  gateway's zcert (secret) file
    } agent;
    struct {
        int retain_lines;  //  newest lines kept per VM (oldest dropped)
        int line_max;      //  bytes kept of one line (longer ones are cut)
        int read_lines;    //  lines GET /api/vm-logs/<h> returns by default
    } logs;
    struct {
        int email_per_minute;          //  claims per email per minute, 0 = off
        int address_per_minute;        //  claims per client address, 0 = off
        ll_strlist_t allowed_emails;   //  roster (list, or a file's path)
        ll_strlist_t allowed_domains;  //  email domains allowed
        char *access_code;             //  said aloud in class, "" = none
        char *on_release;              //  reset | destroy | reuse
    } claim;
    struct {
        int parallel;               //  VMs fetched at once
        long long max_file_bytes;   //  larger files are skipped (manifest)
        long long max_total_bytes;  //  files past this total are skipped
        int max_files;              //  files past this count are skipped
        char *ssh_user;             //  login on the VMs; "" = by provider
                                    //  (ubuntu on aws, our own user locally)
        int ssh_port;               //  when the VM row has no ssh_port
        char *key_file;             //  ed25519 client key, made when absent
        char *data_dir;             //  searched; "" = by provider (Desktop or
                                    //  /home/client/Desktop in the container)
        char *source;               //  host | container | "" (= by provider)
        char *container_command;    //  run on the VM to enter the container
        int timeout_s;              //  connect and per-operation SSH timeout
        char *keep_dir;             //  "export, then destroy" zips kept here
    } export;
    //  --- running a class (issue 16) ---
    struct {
        bool reassign_dead;   //  a returning student leaves a dead VM
        int replace_after_s;  //  replace VMs stale/unhealthy this long
        int reboot_unconnected_after_s;  //  reboot when CRD never connected
        int max_reboots;                 //  automatic reboots per VM
    } recovery;
    struct {
        char *destroy_at;            //  ISO 8601 with zone, "" = none
        bool export_before_destroy;  //  export to disk first
    } schedule;
    struct {
        int release_after_s;     //  release a VM not in use this long
        int stop_fleet_after_s;  //  destroy a fleet nobody used this long
    } idle;
    struct {
        double max_vm_hours;    //  0 = no limit
        double max_usd;         //  0 = no limit
        bool destroy_at_limit;  //  destroy the fleet at 100 %
    } budget;
    char *source_path;  //  the file this came from ("" for defaults)
    char *sized;        //  how worker caps were lowered to fit, or NULL
} ll_config_t;

//  Workers kept free for claims and health whatever waits or streams:
//  agent.max_parked + app.max_streams may use http_threads minus these.
int ll_config_workers_reserved (const ll_config_t *self);

//  Defaults only (schema defaults, reference 4.2).
ll_config_t *ll_config_new_defaults (void);

//  Load FILE over the defaults, then apply environment overrides.
//  On error returns NULL and writes "<reason>" into error (errsize bytes).
ll_config_t *ll_config_load (const char *path, char *error, size_t errsize);

//  Load from a YAML text (tests, fuzzing). No environment overrides.
ll_config_t *
ll_config_parse (const char *text, size_t size, char *error, size_t errsize);

//  Environment overrides: LABLINK_DB_PASSWORD, LABLINK_ADMIN_PASSWORD,
//  LABLINK_ADMIN_PASSWORD_HASH, LABLINK_DB_HOST, LABLINK_DB_PORT,
//  LABLINK_LISTEN, LABLINK_PUBLIC_URL, LABLINK_METRICS_TOKEN.
void ll_config_apply_env (ll_config_t *self);

//  Which file to read: --config value, else $CONFIG_DIR/$CONFIG_NAME when
//  that file exists, else ./config.yaml. Returns a new string.
char *ll_config_locate (const char *cli_path);

//  Checks that need the whole config (identifiers, enumerations).
//  Returns 0, or -1 with the reason.
int ll_config_validate (const ll_config_t *self, char *error, size_t errsize);

//  The state backend in force: "s3" or "local" (provider.state_backend,
//  or by provider.kind when that is empty: s3 for aws, local otherwise).
const char *ll_config_state_backend (const ll_config_t *self);

//  "<deployment_name>/<environment>", or "<environment>" without a
//  deployment name: this deployment's prefix in the bucket (client state,
//  tfvars copy). 0, or -1 when a name holds a character other than
//  [A-Za-z0-9._-] or the result does not fit.
int ll_config_s3_prefix (const ll_config_t *self, char *out, size_t size);

//  What is allowed but probably wrong (upstream's client image, fleet
//  state on one host's disk) or was changed to fit (worker caps lowered),
//  one line each; NULL when nothing. Caller frees.
char *ll_config_warnings (const ll_config_t *self);

//  Reason the allocator must not start with this config (admin password
//  missing, a PLACEHOLDER_*, a known default or shorter than
//  LL_ADMIN_PASSWORD_MIN), or NULL when it may.
#define LL_ADMIN_PASSWORD_MIN 12
const char *ll_config_refuse_reason (const ll_config_t *self);

//  libpq connection string (password included: never log it).
char *ll_config_conninfo (const ll_config_t *self);

//  One-line summary for the start-up log, secrets masked.
char *ll_config_describe (const ll_config_t *self);

//  How long after its last poll a VM's client still counts as waiting for
//  an assignment (so the VM is offered): agent.long_poll_s plus
//  LL_POLL_GRACE_S, the pause of a client that re-polls after a 204
//  (upstream's late client sleeps 10-15 s).
#define LL_POLL_GRACE_S 20
int ll_config_poll_window_s (const ll_config_t *self);

//  The two parameters of the "offered" predicate as text (sizes >= 16):
//  agent.stale_after_s and the poll window.
void ll_config_offer_params (const ll_config_t *self,
                             char *stale,
                             char *window,
                             size_t size);

//  True when s is a safe SQL identifier: [a-z_][a-z0-9_]*, at most 63.
bool ll_identifier_valid (const char *s);

void ll_config_destroy (ll_config_t **self_p);

#endif
