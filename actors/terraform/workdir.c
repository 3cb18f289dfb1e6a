/*  The terraform working directory: the allocator's ssh key, the links
    to the module, the S3 backend settings, terraform.runtime.tfvars.json
    (and the HCL copy for upstream's S3 layout, backed up to S3). */
#include "actors/terraform/internal.h"

int
tf_ensure_key (self_t *self, op_t *op, char **public_key)
{
    char *pub = NULL;
    size_t n = strlen (self->key_file) + 5;
    char *pub_path = malloc (n);
    snprintf (pub_path, n, "%s.pub", self->key_file);
    if (!tf_file_exists (self->key_file)) {
        char *dir = strdup (self->key_file);
        char *slash = strrchr (dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            tf_mkdirs (dir, 0700);
        }
        free (dir);
        const char *argv[] = {"ssh-keygen", "-q",
                              "-t",         "ed25519",
                              "-N",         "",
                              "-C",         "lablink-allocator",
                              "-f",         self->key_file,
                              NULL};
        char reason[256];
        int status = -1;
        tf_child_t *keygen =
            tf_child_start (argv, NULL, NULL, false, reason, sizeof reason);
        if (keygen) {
            tf_child_close (keygen, TF_CHILD_OUT);
            tf_child_close (keygen, TF_CHILD_ERR);
            status = tf_child_wait (keygen);
            tf_child_destroy (&keygen);
        }
        if (status != 0) {
            tf_say (self, op, "cannot make the allocator's ssh key %s",
                    self->key_file);
            free (pub_path);
            return -1;
        }
        tf_say (self, op, "made the allocator's ssh key %s (ed25519)",
                self->key_file);
    }
    pub = ll_file_read (pub_path, 4096, NULL);
    free (pub_path);
    if (!pub)
        return -1;
    char *eol = strchr (pub, '\n');
    if (eol)
        *eol = '\0';
    *public_key = pub;
    return 0;
}

int
tf_link_module (self_t *self)
{
    DIR *dir = opendir (self->module_dir);
    if (!dir)
        return -1;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        if (name[0] == '.' || strncmp (name, "terraform.tfstate", 17) == 0
            || strcmp (name, TF_TFVARS) == 0
            || strcmp (name, TF_TFVARS_JSON) == 0)
            continue;
        char *target = tf_path_join (self->module_dir, name);
        char *link = tf_path_join (self->work_dir, name);
        struct stat st;
        if (lstat (link, &st) == 0 && S_ISLNK (st.st_mode))
            unlink (link);
        if (symlink (target, link) != 0 && errno != EEXIST)
            ll_warn ("terraform: cannot link %s: %s", link, strerror (errno));
        free (target);
        free (link);
    }
    closedir (dir);
    return 0;
}

int
tf_write_backend (self_t *self, char **id)
{
    const ll_config_t *config = self->actor.runtime->config;
    char *block = tf_path_join (self->work_dir, TF_BACKEND_TF);
    char *settings = tf_path_join (self->work_dir, TF_BACKEND_CONFIG);
    int rc = 0;
    if (strcmp (ll_config_state_backend (config), "s3") != 0) {
        unlink (block);
        unlink (settings);
        *id = strdup ("local");
    }
    else {
        char prefix[512], key[640];
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream (&text, &size);
        if (ll_config_s3_prefix (config, prefix, sizeof prefix) != 0 || !f) {
            if (f)
                fclose (f);
            free (text);
            free (block);
            free (settings);
            return -1;
        }
        snprintf (key, sizeof key, "%s/client/terraform.tfstate", prefix);
        fputs ("# Written by lablink-allocator: the client fleet's state "
               "(provider.state_backend s3).\n",
               f);
        fputs ("bucket = ", f);
        ll_tf_hcl_string (f, config->bucket_name);
        fputs ("\nkey = ", f);
        ll_tf_hcl_string (f, key);
        fputs ("\nregion = ", f);
        ll_tf_hcl_string (f, config->app.region);
        fputs ("\nencrypt = true\n", f);
        if (*config->provider.state_lock_table) {
            fputs ("dynamodb_table = ", f);
            ll_tf_hcl_string (f, config->provider.state_lock_table);
            fputs ("\n", f);
        }
        else
            fputs ("use_lockfile = true\n", f);
        if (*config->provider.state_backend_config)
            fprintf (f, "# and %s\n", config->provider.state_backend_config);
        fclose (f);
        rc = tf_write_file (block,
                            "# Written by lablink-allocator: settings in "
                            "lablink.s3.tfbackend\n"
                            "terraform {\n  backend \"s3\" {}\n}\n",
                            0644)
                         == 0
                     && tf_write_file (settings, text, 0644) == 0
                 ? 0
                 : -1;
        *id = text;
    }
    free (block);
    free (settings);
    return rc;
}

int
tf_write_tfvars (self_t *self, op_t *op, const char *public_key)
{
    const ll_config_t *config = self->actor.runtime->config;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    if (!res)
        return -1;
    //  A VM this operation launches gets the token minted for it; the
    //  others keep the one they were launched with, carried from the last
    //  file (terraform's inputs of a running VM must not change: on AWS the
    //  token is in its user_data). Only the hashes are in the database.
    char *path = tf_path_join (self->work_dir, TF_TFVARS_JSON);
    char *hcl_path = tf_path_join (self->work_dir, TF_TFVARS);
    char *previous = ll_file_read (path, 16 * 1024 * 1024, NULL);
    if (!previous)  //  written in HCL before the JSON file existed
        previous = ll_file_read (hcl_path, 16 * 1024 * 1024, NULL);
    int rows = PQntuples (res);
    const char **names = calloc ((size_t) rows + 1, sizeof *names);
    char **tokens = calloc ((size_t) rows + 1, sizeof *tokens);
    size_t count = 0;
    bool destroying_all = tf_all_go (op);
    for (int i = 0; i < rows; i++) {
        const char *name = PQgetvalue (res, i, 0);
        const char *state = PQgetvalue (res, i, 2);
        if (!destroying_all && strcmp (state, "removing") == 0)
            continue;
        const char *fresh = op->tokens ? zhash_lookup (op->tokens, name) : NULL;
        tokens[count] = calloc (1, LL_TOKEN_MAX);
        if (fresh)
            snprintf (tokens[count], LL_TOKEN_MAX, "%s", fresh);
        else if (previous)
            ll_tfvars_token_of (previous, name, tokens[count], LL_TOKEN_MAX);
        names[count++] = name;
    }
    if (previous) {
        sodium_memzero (previous, strlen (previous));
        free (previous);
    }

    char *url = ll_tf_allocator_url (config);
    char *script = NULL;
    if (config->startup_script.enabled && *config->startup_script.path)
        script = ll_file_read (config->startup_script.path, 64 * 1024, NULL);
    bool local = strcmp (config->provider.kind, "local") == 0;
    char *agent_bin = NULL, *start_host = NULL;
    if (local && self->exe_dir) {
        //  Beside the allocator in a build or install folder
        agent_bin = tf_path_join (self->exe_dir, "lablink-agent");
        if (!tf_file_exists (agent_bin))
            zstr_free (&agent_bin);
        start_host =
            tf_path_join (self->exe_dir, "../agent/standins/start-host");
        if (!tf_file_exists (start_host))
            zstr_free (&start_host);
    }
    const char *ip = getenv ("ALLOCATOR_PUBLIC_IP");
    const char *group = getenv ("CLOUD_INIT_LOG_GROUP");
    ll_tfvars_t vars = {
        .allocator_ip = ip ? ip : (local ? "127.0.0.1" : ""),
        .allocator_url = url ? url : "",
        .machine_type = config->machine.machine_type,
        .image_name = config->machine.image,
        .repository = config->machine.repository
                              && strcmp (config->machine.repository, "None")
                          ? config->machine.repository
                          : "",
        .client_ami_id = config->machine.ami_id,
        .subject_software = config->machine.software,
        .resource_suffix = config->environment,
        .cloud_init_output_log_group = group ? group : "",
        .region = config->app.region,
        .startup_on_error = config->startup_script.on_error,
        .gpu_support = ll_tf_gpu_type (config->machine.machine_type),
        .names = names,
        .tokens = (const char *const *) tokens,
        .count = count,
        .ssh_public_key = public_key,
        .startup_script = script,
        .agent_bin = agent_bin,
        .crd_start_host = start_host,
    };
    char *text = ll_tfvars_render_json (&vars);
    int rc = text ? tf_write_file (path, text, 0600) : -1;
    //  The HCL copy only where upstream's S3 layout holds it (the backup
    //  after apply/destroy); elsewhere none is left holding old tokens
    char *hcl = tf_uses_aws (self) ? ll_tfvars_render (&vars) : NULL;
    if (rc == 0 && hcl)
        rc = tf_write_file (hcl_path, hcl, 0600);
    else if (rc == 0 && unlink (hcl_path) != 0 && errno != ENOENT)
        rc = -1;
    if (rc == 0)
        tf_say (self, op, "wrote %s%s: %zu VM%s", TF_TFVARS_JSON,
                hcl ? " and " TF_TFVARS : "", count, count == 1 ? "" : "s");
    char *texts[] = {text, hcl};
    for (int i = 0; i < 2; i++)
        if (texts[i]) {
            sodium_memzero (texts[i], strlen (texts[i]));
            free (texts[i]);
        }
    free (hcl_path);
    for (size_t i = 0; i < count; i++) {
        sodium_memzero (tokens[i], strlen (tokens[i]));
        free (tokens[i]);
    }
    free (tokens);
    free (names);
    free (path);
    free (url);
    free (script);
    free (agent_bin);
    free (start_host);
    PQclear (res);
    return rc;
}

int
tf_backup_tfvars (self_t *self, op_t *op)
{
    const ll_config_t *config = self->actor.runtime->config;
    if (strcmp (config->provider.kind, "aws") != 0
        && strcmp (ll_config_state_backend (config), "s3") != 0)
        return 0;
    char prefix[512], key[640], error[512] = "";
    char *path = tf_path_join (self->work_dir, TF_TFVARS);
    char *text = ll_file_read (path, 1024 * 1024, NULL);
    free (path);
    ll_aws_creds_t creds = {0};
    if (ll_config_s3_prefix (config, prefix, sizeof prefix) != 0)
        snprintf (error, sizeof error,
                  "deployment_name or environment "
                  "cannot name an S3 key");
    else if (!text)
        snprintf (error, sizeof error, "cannot read %s", TF_TFVARS);
    else if (!self->aws
             || ll_aws_chain_get (self->aws, &creds, error, sizeof error)
                    != 0) {
        if (!*error)
            snprintf (error, sizeof error, "no AWS credentials");
    }
    else {
        snprintf (key, sizeof key, "%s/client/" TF_TFVARS, prefix);
        //  An S3-compatible endpoint (tests, MinIO), as AWS's tools take it
        const char *endpoint = getenv ("AWS_ENDPOINT_URL_S3");
        if (!endpoint || !*endpoint)
            endpoint = getenv ("AWS_ENDPOINT_URL");
        if (!endpoint || !*endpoint)
            endpoint = getenv ("LABLINK_S3_ENDPOINT");
        ll_s3_put_t request = {
            .endpoint = endpoint,
            .region = config->app.region,
            .bucket = config->bucket_name,
            .key = key,
            .access_key_id = creds.access_key_id,
            .secret_access_key = creds.secret_access_key,
            .session_token = creds.session_token,
            .content_type = "text/plain",
            .timeout_s = 10,
        };
        if (ll_s3_put (&request, text, strlen (text), error, sizeof error) == 0)
            tf_say (self, op, "backed up %s to s3://%s/%s (%s)", TF_TFVARS,
                    config->bucket_name, key, creds.source);
    }
    ll_aws_creds_clear (&creds);
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
    if (!*error)
        return 0;
    char reason[768];
    snprintf (reason, sizeof reason, "the S3 backup of %s failed: %s",
              TF_TFVARS, error);
    tf_say (self, op, "%s", reason);
    if (!op->error)
        op->error = strdup (reason);
    return -1;
}
