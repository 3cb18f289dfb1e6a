#include "runtime/config.h"
#include "runtime/schedule.h"
#include "runtime/proxy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#define LL_CONFIG_FILE_MAX (1024 * 1024)
//  No key of ours is deeper than 4; libyaml's time grows with the square of
//  the nesting (a fuzzer's 40,000 "[" took 12 s), so refuse early
#define LL_CONFIG_DEPTH_MAX 32
//  This project's client image (packaging/docker/client), by the name its
//  build instructions give it; operators push it to their registry
#define LL_CONFIG_CLIENT_IMAGE "lablink-client:" LABLINK_VERSION
//  Upstream's client image: its client speaks upstream's protocol only
#define LL_CONFIG_UPSTREAM_IMAGE "ghcr.io/talmolab/lablink-client-base-image"

//  T_LIST: a sequence, or a scalar split on commas and blanks; T_PATHLIST:
//  a sequence, or a scalar that is one file's path
typedef enum {
    T_STR,
    T_NSTR,
    T_INT,
    T_BOOL,
    T_I64,
    T_DBL,
    T_LIST,
    T_PATHLIST
} s_type_t;

#define LL_CONFIG_LIST_MAX 100000  //  entries in one list

static void s_size_workers (ll_config_t *self);

//  The values an enumerated key allows
static const char *const s_providers[] = {"local", "aws", NULL};
static const char *const s_transports[] = {"http", "zmq", "pg", NULL};
static const char *const s_on_error[] = {"continue", "fail", NULL};
static const char *const s_ssl[] = {"letsencrypt", "cloudflare", "acm", "none",
                                    NULL};
static const char *const s_eip[] = {"persistent", "dynamic", NULL};
static const char *const s_patterns[] = {"auto", "app-only", "custom", NULL};
static const char *const s_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const s_sources[] = {"", "host", "container", NULL};
static const char *const s_releases[] = {"reset", "destroy", "reuse", NULL};
static const char *const s_sslmodes[] = {
    "disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL};
static const char *const s_formats[] = {"text", "json", NULL};
static const char *const s_backends[] = {"", "local", "s3", NULL};

//  One key of the schema: where its value lives, its default and what
//  ll_config_validate allows (T_DBL keys: 0 to 1e9)
typedef struct {
    const char *path;            //  dotted key
    s_type_t type;               //  value type
    size_t offset;               //  field in ll_config_t
    const char *dflt;            //  default as text (NULL for a null string)
    bool secret;                 //  masked in describe
    bool ranged;                 //  T_INT, T_I64: min..max
    long long min, max;          //  the range
    const char *const *allowed;  //  T_STR: one of these (NULL: any)
    bool identifier;             //  T_STR: a SQL identifier
} s_key_t;

//  The dotted key is the field's name in ll_config_t
#define S_AT(kind, field, text)                                                \
    .path = #field, .type = kind, .offset = offsetof (ll_config_t, field),     \
    .dflt = text
#define K(kind, field, text)                                                   \
    {                                                                          \
        S_AT (kind, field, text)                                               \
    }
#define SECRET(field, text)                                                    \
    {                                                                          \
        S_AT (T_STR, field, text), .secret = true                              \
    }
#define RANGE(kind, field, text, lo, hi)                                       \
    {                                                                          \
        S_AT (kind, field, text), .ranged = true, .min = lo, .max = hi         \
    }
#define IDENTIFIER(field, text)                                                \
    {                                                                          \
        S_AT (T_STR, field, text), .identifier = true                          \
    }
#define ONE_OF(field, text, values)                                            \
    {                                                                          \
        S_AT (T_STR, field, text), .allowed = s_##values                       \
    }

static const s_key_t s_keys[] = {
    K (T_STR, db.dbname, "lablink_db"),
    K (T_STR, db.user, "lablink"),
    SECRET (db.password, "lablink"),
    K (T_STR, db.host, "localhost"),
    RANGE (T_INT, db.port, "5432", 1, 65535),
    IDENTIFIER (db.table_name, "vm_table"),
    IDENTIFIER (db.message_channel, "vm_updates"),
    ONE_OF (db.sslmode, "prefer", sslmodes),
    K (T_STR, db.sslrootcert, ""),
    K (T_STR, machine.machine_type, "g4dn.xlarge"),
    K (T_NSTR, machine.repository, NULL),
    K (T_STR, machine.image, LL_CONFIG_CLIENT_IMAGE),
    K (T_STR, machine.ami_id, "ami-00c257e12d6828491"),
    K (T_STR, machine.software, "sleap"),
    K (T_STR, machine.extension, "slp"),
    K (T_STR, app.admin_user, "admin"),
    SECRET (app.admin_password, ""),
    SECRET (app.admin_password_hash, ""),
    K (T_STR, app.region, "us-west-2"),
    K (T_STR, app.listen, "127.0.0.1:5000"),
    K (T_STR, app.public_url, ""),
    RANGE (T_INT, app.request_body_max, "1048576", 1024, 64 << 20),
    RANGE (T_INT, app.http_threads, "64", 4, 16384),
    RANGE (T_INT, app.request_timeout_s, "30", 1, 3600),
    RANGE (T_INT, app.max_vms, "500", 1, 100000),
    ONE_OF (app.log_level, "info", levels),
    ONE_OF (app.log_format, "text", formats),
    K (T_BOOL, app.access_log, "true"),
    RANGE (T_INT, app.session_idle_s, "1800", 1, 604800),
    K (T_BOOL, app.secure_cookies, "false"),
    K (T_LIST, app.trusted_proxies, "127.0.0.0/8,::1/128"),
    RANGE (T_INT, app.max_streams, "16", 1, 100000),
    RANGE (T_INT, app.max_streams_per_token, "4", 1, 100000),
    SECRET (app.metrics_token, ""),
    K (T_BOOL, dns.enabled, "false"),
    K (T_BOOL, dns.terraform_managed, "true"),
    K (T_STR, dns.domain, ""),
    K (T_STR, dns.zone_id, ""),
    K (T_STR, dns.app_name, "lablink"),
    ONE_OF (dns.pattern, "auto", patterns),
    K (T_STR, dns.custom_subdomain, ""),
    K (T_BOOL, dns.create_zone, "false"),
    ONE_OF (eip.strategy, "dynamic", eip),
    K (T_STR, eip.tag_name, "lablink-eip"),
    ONE_OF (ssl.provider, "letsencrypt", ssl),
    K (T_STR, ssl.email, ""),
    K (T_BOOL, ssl.staging, "false"),
    K (T_STR, ssl.certificate_arn, ""),
    K (T_STR, allocator.image_tag, "linux-amd64-latest"),
    K (T_STR, bucket_name, "tf-state-lablink-allocator-bucket"),
    K (T_STR, deployment_name, ""),
    K (T_STR, environment, "prod"),
    K (T_BOOL, startup_script.enabled, "false"),
    K (T_STR, startup_script.path, ""),
    ONE_OF (startup_script.on_error, "continue", on_error),
    ONE_OF (provider.kind, "aws", providers),
    K (T_STR, provider.terraform_dir, ""),
    K (T_STR, provider.work_dir, ""),
    K (T_STR, provider.terraform_bin, "terraform"),
    RANGE (T_INT, provider.operation_timeout_s, "1800", 1, 86400),
    K (T_STR, provider.ssh_key_file, ""),
    ONE_OF (provider.state_backend, "", backends),
    K (T_STR, provider.state_lock_table, "lock-table"),
    K (T_STR, provider.state_backend_config, ""),
    ONE_OF (agent.transport, "http", transports),
    K (T_STR, agent.zmq_endpoint, ""),
    RANGE (T_INT, agent.long_poll_s, "55", 1, 300),
    RANGE (T_INT, agent.max_parked, "32", 0, 100000),
    RANGE (T_INT, agent.max_zmq_agents, "2000", 0, 1000000),
    RANGE (T_INT, agent.stale_after_s, "180", 5, 86400),
    K (T_STR, agent.zmq_secret_key_file, ""),
    RANGE (T_INT, claim.email_per_minute, "10", 0, 1000000),
    RANGE (T_INT, claim.address_per_minute, "600", 0, 10000000),
    K (T_PATHLIST, claim.allowed_emails, ""),
    K (T_LIST, claim.allowed_domains, ""),
    SECRET (claim.access_code, ""),
    ONE_OF (claim.on_release, "reset", releases),
    RANGE (T_INT, export.parallel, "8", 1, 256),
    RANGE (T_I64, export.max_file_bytes, "2147483648", 0, 4294967295LL),
    K (T_I64, export.max_total_bytes, "68719476736"),
    RANGE (T_INT, export.max_files, "100000", 1, 1000000),
    K (T_STR, export.ssh_user, ""),
    RANGE (T_INT, export.ssh_port, "22", 1, 65535),
    K (T_STR, export.key_file, "var/export_ed25519"),
    K (T_STR, export.data_dir, ""),
    ONE_OF (export.source, "", sources),
    K (T_STR,
       export.container_command,
       "sudo docker exec -i \"$(sudo docker ps -q | head -n1)\""),
    RANGE (T_INT, export.timeout_s, "15", 1, 3600),
    //  running a class (issue 16): estimates, schedule, idle, budget,
    //  recovery; every automatic action is off at 0 / false
    K (T_DBL, machine.hourly_usd, "0"),
    K (T_STR, export.keep_dir, "var/exports"),
    K (T_STR, schedule.destroy_at, ""),
    K (T_BOOL, schedule.export_before_destroy, "false"),
    RANGE (T_INT, idle.release_after_s, "0", 0, 604800),
    RANGE (T_INT, idle.stop_fleet_after_s, "0", 0, 604800),
    K (T_DBL, budget.max_vm_hours, "0"),
    K (T_DBL, budget.max_usd, "0"),
    K (T_BOOL, budget.destroy_at_limit, "false"),
    K (T_BOOL, recovery.reassign_dead, "false"),
    RANGE (T_INT, recovery.replace_after_s, "0", 0, 604800),
    RANGE (T_INT, recovery.reboot_unconnected_after_s, "0", 0, 604800),
    RANGE (T_INT, recovery.max_reboots, "3", 0, 100),
    RANGE (T_INT, logs.retain_lines, "100000", 100, 100000000),
    RANGE (T_INT, logs.line_max, "8192", 64, 1048576),
    RANGE (T_INT, logs.read_lines, "1000", 1, 100000),
};
#define S_KEY_COUNT (sizeof s_keys / sizeof s_keys[0])

static void
s_err (char *error, size_t errsize, const char *format, ...)
{
    if (!error || errsize == 0)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (error, errsize, format, args);
    va_end (args);
}

static int
s_parse_int (const char *text, int *out)
{
    if (!text || !*text)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || *end || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int) v;
    return 0;
}

static int
s_parse_bool (const char *text, bool *out)
{
    static const char *yes[] = {"true", "True", "TRUE", "yes",
                                "Yes",  "on",   "On"};
    static const char *no[] = {"false", "False", "FALSE", "no",
                               "No",    "off",   "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp (text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp (text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static void
s_list_clear (ll_strlist_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free (list->items[i]);
    free (list->items);
    memset (list, 0, sizeof *list);
}

static int
s_list_add (ll_strlist_t *list, const char *item, size_t len)
{
    if (list->count == LL_CONFIG_LIST_MAX)
        return -1;
    char **items = realloc (list->items, (list->count + 1) * sizeof *items);
    if (!items)
        return -1;
    list->items = items;
    list->items[list->count++] = strndup (item, len);
    return 0;
}

//  A scalar list value: one path, or words between commas and blanks.
static int
s_list_scalar (ll_strlist_t *list, const char *value, bool path)
{
    s_list_clear (list);
    list->scalar = true;
    if (!value || !*value)
        return 0;
    if (path)
        return s_list_add (list, value, strlen (value));
    const char *seps = ", \t\r\n";
    for (const char *c = value; *c;) {
        c += strspn (c, seps);
        size_t len = strcspn (c, seps);
        if (len && s_list_add (list, c, len) != 0)
            return -1;
        c += len;
    }
    return 0;
}

//  Store value (NULL = YAML null) into the field of key. 0 or -1.
static int
s_store (ll_config_t *self,
         const s_key_t *key,
         const char *value,
         char *error,
         size_t errsize)
{
    void *field = (char *) self + key->offset;
    switch (key->type) {
        case T_STR:
        case T_NSTR: {
            if (!value && key->type == T_STR) {
                s_err (error, errsize, "%s: expected a string, got null",
                       key->path);
                return -1;
            }
            char **slot = (char **) field;
            free (*slot);
            *slot = value ? strdup (value) : NULL;
            return 0;
        }
        case T_INT:
            if (!value || s_parse_int (value, (int *) field) != 0) {
                s_err (error, errsize, "%s: expected an integer, got '%s'",
                       key->path, value ? value : "null");
                return -1;
            }
            return 0;
        case T_I64: {
            char *end = NULL;
            errno = 0;
            long long v = value ? strtoll (value, &end, 10) : 0;
            if (!value || !*value || errno || *end) {
                s_err (error, errsize, "%s: expected an integer, got '%s'",
                       key->path, value ? value : "null");
                return -1;
            }
            *(long long *) field = v;
            return 0;
        }
        case T_DBL: {
            char *end = NULL;
            errno = 0;
            double v = value ? strtod (value, &end) : 0;
            if (!value || !*value || errno || *end || v != v) {
                s_err (error, errsize, "%s: expected a number, got '%s'",
                       key->path, value ? value : "null");
                return -1;
            }
            *(double *) field = v;
            return 0;
        }
        case T_BOOL:
            if (!value || s_parse_bool (value, (bool *) field) != 0) {
                s_err (error, errsize, "%s: expected a boolean, got '%s'",
                       key->path, value ? value : "null");
                return -1;
            }
            return 0;
        case T_LIST:
        case T_PATHLIST:
            if (s_list_scalar (field, value, key->type == T_PATHLIST) != 0) {
                s_err (error, errsize, "%s: more than %d entries", key->path,
                       LL_CONFIG_LIST_MAX);
                return -1;
            }
            return 0;
    }
    return -1;
}

//  A YAML sequence of scalars into a list key. 0 or -1.
static int
s_store_sequence (ll_config_t *self,
                  const s_key_t *key,
                  yaml_document_t *doc,
                  yaml_node_t *seq,
                  char *error,
                  size_t errsize)
{
    if (key->type != T_LIST && key->type != T_PATHLIST) {
        s_err (error, errsize, "%s: expected a value, got a list", key->path);
        return -1;
    }
    ll_strlist_t *list = (ll_strlist_t *) ((char *) self + key->offset);
    s_list_clear (list);
    for (yaml_node_item_t *item = seq->data.sequence.items.start;
         item < seq->data.sequence.items.top; item++) {
        yaml_node_t *node = yaml_document_get_node (doc, *item);
        if (!node || node->type != YAML_SCALAR_NODE) {
            s_err (error, errsize, "%s: entries must be plain values",
                   key->path);
            return -1;
        }
        const char *text = (const char *) node->data.scalar.value;
        if (s_list_add (list, text, strlen (text)) != 0) {
            s_err (error, errsize, "%s: more than %d entries", key->path,
                   LL_CONFIG_LIST_MAX);
            return -1;
        }
    }
    return 0;
}

ll_config_t *
ll_config_new_defaults (void)
{
    ll_config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (s_store (self, &s_keys[i], s_keys[i].dflt, NULL, 0) != 0) {
            ll_config_destroy (&self);
            return NULL;
        }
    self->source_path = strdup ("");
    return self;
}

static const s_key_t *
s_key_find (const char *path)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (strcmp (s_keys[i].path, path) == 0)
            return &s_keys[i];
    return NULL;
}

//  True when some key lives under "prefix."
static bool
s_is_section (const char *prefix)
{
    size_t len = strlen (prefix);
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (strncmp (s_keys[i].path, prefix, len) == 0
            && s_keys[i].path[len] == '.')
            return true;
    return false;
}

static bool
s_scalar_is_null (yaml_node_t *node)
{
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *) node->data.scalar.value;
    return !*v || strcmp (v, "~") == 0 || strcmp (v, "null") == 0
           || strcmp (v, "Null") == 0 || strcmp (v, "NULL") == 0;
}

static int
s_walk (ll_config_t *self,
        yaml_document_t *doc,
        yaml_node_t *map,
        const char *prefix,
        int depth,
        char *error,
        size_t errsize)
{
    if (depth > 4) {
        s_err (error, errsize, "%s: nested too deeply", prefix);
        return -1;
    }
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node (doc, pair->key);
        yaml_node_t *v = yaml_document_get_node (doc, pair->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE) {
            s_err (error, errsize, "%s: keys must be plain strings",
                   *prefix ? prefix : "(top level)");
            return -1;
        }
        char path[256];
        snprintf (path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "",
                  (const char *) k->data.scalar.value);
        const s_key_t *key = s_key_find (path);
        if (key && v->type == YAML_SEQUENCE_NODE) {
            if (s_store_sequence (self, key, doc, v, error, errsize) != 0)
                return -1;
        }
        else if (key) {
            if (v->type != YAML_SCALAR_NODE) {
                s_err (error, errsize, "%s: expected a value, got a %s", path,
                       v->type == YAML_MAPPING_NODE ? "mapping" : "list");
                return -1;
            }
            const char *value = s_scalar_is_null (v)
                                    ? NULL
                                    : (const char *) v->data.scalar.value;
            if (s_store (self, key, value, error, errsize) != 0)
                return -1;
        }
        else if (s_is_section (path)) {
            if (v->type == YAML_SCALAR_NODE && s_scalar_is_null (v))
                continue;  //  empty section keeps its defaults
            if (v->type != YAML_MAPPING_NODE) {
                s_err (error, errsize, "%s: expected a mapping", path);
                return -1;
            }
            if (s_walk (self, doc, v, path, depth + 1, error, errsize) != 0)
                return -1;
        }
        else {
            s_err (error, errsize, "%s: unknown key (not in the schema)", path);
            return -1;
        }
    }
    return 0;
}

//  True when the YAML nests collections deeper than LL_CONFIG_DEPTH_MAX;
//  reads events only up to that depth. Syntax errors are left to the load.
static bool
s_nesting_too_deep (const char *text, size_t size)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize (&parser))
        return false;
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, size);
    int depth = 0;
    bool deep = false, done = false;
    while (!done && !deep) {
        yaml_event_t event;
        if (!yaml_parser_parse (&parser, &event))
            break;
        if (event.type == YAML_SEQUENCE_START_EVENT
            || event.type == YAML_MAPPING_START_EVENT)
            deep = ++depth > LL_CONFIG_DEPTH_MAX;
        else if (event.type == YAML_SEQUENCE_END_EVENT
                 || event.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete (&event);
    }
    yaml_parser_delete (&parser);
    return deep;
}

ll_config_t *
ll_config_parse (const char *text, size_t size, char *error, size_t errsize)
{
    ll_config_t *self = ll_config_new_defaults ();
    if (!self) {
        s_err (error, errsize, "out of memory");
        return NULL;
    }
    if (s_nesting_too_deep (text, size)) {
        ll_config_destroy (&self);
        s_err (error, errsize, "YAML nested deeper than %d levels",
               LL_CONFIG_DEPTH_MAX);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize (&parser)) {
        ll_config_destroy (&self);
        s_err (error, errsize, "cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, size);
    int rc = -1;
    if (!yaml_parser_load (&parser, &doc)) {
        s_err (error, errsize, "YAML error at line %lu: %s",
               (unsigned long) parser.problem_mark.line + 1,
               parser.problem ? parser.problem : "unknown");
        yaml_parser_delete (&parser);
        ll_config_destroy (&self);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node (&doc);
    if (!root)
        rc = 0;  //  empty file: all defaults
    else if (root->type == YAML_SCALAR_NODE && s_scalar_is_null (root))
        rc = 0;
    else if (root->type != YAML_MAPPING_NODE)
        s_err (error, errsize, "the top level must be a mapping");
    else
        rc = s_walk (self, &doc, root, "", 0, error, errsize);
    yaml_document_delete (&doc);
    yaml_parser_delete (&parser);
    if (rc == 0)
        rc = ll_config_validate (self, error, errsize);
    if (rc == 0)
        s_size_workers (self);
    if (rc != 0)
        ll_config_destroy (&self);
    return self;
}

ll_config_t *
ll_config_load (const char *path, char *error, size_t errsize)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        s_err (error, errsize, "config file not found: %s", path);
        return NULL;
    }
    if (!S_ISREG (st.st_mode)) {
        s_err (error, errsize, "config path is not a file: %s", path);
        return NULL;
    }
    if (st.st_size > LL_CONFIG_FILE_MAX) {
        s_err (error, errsize, "config file is larger than %d bytes: %s",
               LL_CONFIG_FILE_MAX, path);
        return NULL;
    }
    FILE *file = fopen (path, "rb");
    if (!file) {
        s_err (error, errsize, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    char *text = malloc ((size_t) st.st_size + 1);
    size_t got = text ? fread (text, 1, (size_t) st.st_size, file) : 0;
    fclose (file);
    if (!text) {
        s_err (error, errsize, "out of memory");
        return NULL;
    }
    text[got] = '\0';
    ll_config_t *self = ll_config_parse (text, got, error, errsize);
    free (text);
    if (self) {
        ll_config_apply_env (self);
        free (self->source_path);
        self->source_path = strdup (path);
        if (ll_config_validate (self, error, errsize) != 0)
            ll_config_destroy (&self);
    }
    return self;
}

static void
s_env_string (char **slot, const char *name)
{
    const char *value = getenv (name);
    if (value && *value) {
        free (*slot);
        *slot = strdup (value);
    }
}

void
ll_config_apply_env (ll_config_t *self)
{
    s_env_string (&self->db.password, "LABLINK_DB_PASSWORD");
    s_env_string (&self->db.host, "LABLINK_DB_HOST");
    s_env_string (&self->app.admin_password, "LABLINK_ADMIN_PASSWORD");
    s_env_string (&self->app.admin_password_hash,
                  "LABLINK_ADMIN_PASSWORD_HASH");
    s_env_string (&self->app.listen, "LABLINK_LISTEN");
    s_env_string (&self->app.public_url, "LABLINK_PUBLIC_URL");
    s_env_string (&self->app.metrics_token, "LABLINK_METRICS_TOKEN");
    const char *port = getenv ("LABLINK_DB_PORT");
    int value;
    if (port && s_parse_int (port, &value) == 0)
        self->db.port = value;
}

char *
ll_config_locate (const char *cli_path)
{
    if (cli_path && *cli_path)
        return strdup (cli_path);
    const char *dir = getenv ("CONFIG_DIR");
    const char *name = getenv ("CONFIG_NAME");
    char path[4096];
    snprintf (path, sizeof path, "%s/%s", dir && *dir ? dir : "/config",
              name && *name ? name : "config.yaml");
    //  Upstream strips the extension from CONFIG_NAME; accept both forms
    if (!strchr (name && *name ? name : "config.yaml", '.')) {
        size_t len = strlen (path);
        snprintf (path + len, sizeof path - len, ".yaml");
    }
    struct stat st;
    if (stat (path, &st) == 0)
        return strdup (path);
    return strdup ("./config.yaml");
}

bool
ll_identifier_valid (const char *s)
{
    if (!s || !*s || strlen (s) > 63)
        return false;
    if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
              || *c == '_'))
            return false;
    return true;
}

static bool
s_key_part_ok (const char *s)
{
    if (strcmp (s, ".") == 0 || strcmp (s, "..") == 0)
        return false;
    return strspn (s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-")
           == strlen (s);
}

static bool
s_one_of (const char *value, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (strcmp (value, *allowed) == 0)
            return true;
    return false;
}

//  The value of key against its row's rule: 0, or -1 with the error.
static int
s_key_check (const ll_config_t *self,
             const s_key_t *key,
             char *error,
             size_t errsize)
{
    const void *field = (const char *) self + key->offset;
    const char *text = key->type == T_STR ? *(char *const *) field : NULL;
    if (key->allowed && !s_one_of (text, key->allowed)) {
        s_err (error, errsize, "%s: '%s' is not one of the allowed values",
               key->path, text);
        return -1;
    }
    if (key->identifier && !ll_identifier_valid (text)) {
        s_err (error, errsize,
               "%s: '%s' is not an identifier ([a-z_][a-z0-9_]*)", key->path,
               text);
        return -1;
    }
    long long value = key->type == T_I64   ? *(const long long *) field
                      : key->type == T_INT ? *(const int *) field
                                           : 0;
    if (key->ranged && (value < key->min || value > key->max)) {
        s_err (error, errsize, "%s: %lld is outside %lld..%lld", key->path,
               value, key->min, key->max);
        return -1;
    }
    double amount = key->type == T_DBL ? *(const double *) field : 0;
    if (amount < 0 || amount > 1e9) {
        s_err (error, errsize, "%s: %g is outside 0..1e9", key->path, amount);
        return -1;
    }
    return 0;
}

int
ll_config_validate (const ll_config_t *self, char *error, size_t errsize)
{
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (s_key_check (self, &s_keys[i], error, errsize) != 0)
            return -1;
    int64_t at;
    if (*self->schedule.destroy_at
        && ll_time_parse_iso (self->schedule.destroy_at, true, &at) != 0) {
        s_err (error, errsize,
               "schedule.destroy_at: '%s' is not an ISO 8601 time with a "
               "zone (2026-05-01T17:00:00Z or ...+02:00)",
               self->schedule.destroy_at);
        return -1;
    }
    if (strcmp (ll_config_state_backend (self), "s3") == 0) {
        char prefix[512];
        //  S3 bucket names: 3-63 of [a-z0-9.-]; DynamoDB tables: 3-255 of
        //  [A-Za-z0-9_.-]. Both end up in the backend's settings file.
        size_t blen = strlen (self->bucket_name);
        if (blen < 3 || blen > 63
            || strspn (self->bucket_name,
                       "abcdefghijklmnopqrstuvwxyz0123456789.-")
                   != blen) {
            s_err (error, errsize,
                   "bucket_name: '%s' is not an S3 bucket name (3-63 of "
                   "a-z 0-9 . -), needed by provider.state_backend s3",
                   self->bucket_name);
            return -1;
        }
        size_t tlen = strlen (self->provider.state_lock_table);
        if (tlen
            && (tlen < 3 || tlen > 255
                || !s_key_part_ok (self->provider.state_lock_table))) {
            s_err (error, errsize,
                   "provider.state_lock_table: '%s' is not a DynamoDB table "
                   "name (3-255 of A-Z a-z 0-9 _ . -)",
                   self->provider.state_lock_table);
            return -1;
        }
        if (ll_config_s3_prefix (self, prefix, sizeof prefix) != 0) {
            s_err (error, errsize,
                   "deployment_name, environment: only A-Z a-z 0-9 . _ - "
                   "may name the state's key (%s/%s)",
                   self->deployment_name, self->environment);
            return -1;
        }
    }
    if (self->export.max_total_bytes < 0) {
        s_err (error, errsize, "export.max_total_bytes: %lld is negative",
               self->export.max_total_bytes);
        return -1;
    }
    for (size_t i = 0; i < self->app.trusted_proxies.count; i++) {
        ll_cidr_t net;
        if (ll_cidr_parse (self->app.trusted_proxies.items[i], &net) != 0) {
            s_err (error, errsize,
                   "app.trusted_proxies: '%s' is not an address or network "
                   "(a.b.c.d/n or x::y/n)",
                   self->app.trusted_proxies.items[i]);
            return -1;
        }
    }
    if (self->claim.allowed_emails.scalar && self->claim.allowed_emails.count
        && self->claim.allowed_emails.items[0][0] != '/') {
        s_err (error, errsize,
               "claim.allowed_emails: '%s' is neither a list nor an absolute "
               "file path",
               self->claim.allowed_emails.items[0]);
        return -1;
    }
    return 0;
}

int
ll_config_workers_reserved (const ll_config_t *self)
{
    int reserved = self->app.http_threads / 8;
    return reserved < 2 ? 2 : reserved;
}

//  Parked waiters and live streams each hold a worker: lower their caps so
//  that claims and health always find one (issue 15 section 5).
static void
s_size_workers (ll_config_t *self)
{
    int room = self->app.http_threads - ll_config_workers_reserved (self);
    int parked = self->agent.max_parked, streams = self->app.max_streams;
    if (parked + streams <= room)
        return;
    if (streams > room / 4)
        streams = room / 4 < 1 ? 1 : room / 4;
    if (parked > room - streams)
        parked = room - streams;
    char note[256];
    snprintf (note, sizeof note,
              "agent.max_parked %d -> %d, app.max_streams %d -> %d so that "
              "%d of app.http_threads %d stay free for claims and health",
              self->agent.max_parked, parked, self->app.max_streams, streams,
              ll_config_workers_reserved (self), self->app.http_threads);
    free (self->sized);
    self->sized = strdup (note);
    self->agent.max_parked = parked;
    self->app.max_streams = streams;
    if (self->app.max_streams_per_token > streams)
        self->app.max_streams_per_token = streams;
}

char *
ll_config_warnings (const ll_config_t *self)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&text, &size);
    if (!f)
        return NULL;
    if (self->sized)
        fprintf (f, "worker caps lowered: %s\n", self->sized);
    bool aws = strcmp (self->provider.kind, "aws") == 0;
    const char *image = self->machine.image;
    if (strncmp (image, LL_CONFIG_UPSTREAM_IMAGE,
                 strlen (LL_CONFIG_UPSTREAM_IMAGE))
        == 0)
        fprintf (f,
                 "machine.image: '%s' is upstream's client image, whose "
                 "client cannot talk to this allocator: build and push "
                 "packaging/docker/client (docs/operations.md 1.1)\n",
                 image);
    else if (aws && !strchr (image, '/'))
        fprintf (f,
                 "machine.image: '%s' names no registry, so client VMs pull "
                 "it from Docker Hub: push packaging/docker/client to your "
                 "registry and name it here (docs/operations.md 1.1)\n",
                 image);
    if (aws && strcmp (ll_config_state_backend (self), "local") == 0)
        fprintf (f, "provider.state_backend: local keeps the client fleet's "
                    "terraform state on this host's disk only: lose the host "
                    "and the VMs run on, unmanaged (use s3)\n");
    fclose (f);
    if (size == 0) {
        free (text);
        return NULL;
    }
    return text;
}

void
ll_config_destroy (ll_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ll_config_t *self = *self_p;
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (s_keys[i].type == T_STR || s_keys[i].type == T_NSTR) {
            char **slot = (char **) ((char *) self + s_keys[i].offset);
            free (*slot);
        }
        else if (s_keys[i].type == T_LIST || s_keys[i].type == T_PATHLIST)
            s_list_clear ((ll_strlist_t *) ((char *) self + s_keys[i].offset));
    free (self->source_path);
    free (self->sized);
    free (self);
    *self_p = NULL;
}

int
ll_config_s3_prefix (const ll_config_t *self, char *out, size_t size)
{
    const char *deployment = self->deployment_name;
    const char *environment = self->environment;
    if (!*environment || !s_key_part_ok (environment)
        || !s_key_part_ok (deployment))
        return -1;
    int n = snprintf (out, size, "%s%s%s", deployment, *deployment ? "/" : "",
                      environment);
    return n > 0 && (size_t) n < size ? 0 : -1;
}
