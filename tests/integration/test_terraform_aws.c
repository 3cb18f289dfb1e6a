/*  terraform/aws offline (reference 10.1 terraform/tests/test_plan): init
    from the plugin mirror, validate, fmt -check, and a plan with fake
    credentials of the tfvars the allocator writes (ll_tfvars_render_json):
    3 instances named by the fleet with the configured AMI and type, SSH
    only from the allocator, the allocator's public key, every output, and
    user_data (gzip, under 16 KB) carrying the custom startup script with
    $, ${VAR}, backticks and quotes unchanged, and each VM's own token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <czmq.h>

#include "actors/terraform/tfvars.h"
#include "support.h"

#define PLUGIN_DIR "/opt/tf-plugins"

static const char s_script[] =
    "#!/bin/bash\n"
    "echo \"home is $HOME and ${VAR:-unset}\" 'single $quoted'\n"
    "today=`date +%F` && echo $(whoami) %{ not a template } \\\\ done\n";

//  Run argv in dir; stdout into *out (new string, may be NULL). Exit status.
static int
s_run (const char *dir, const char *const *argv, char **out)
{
    int fds[2];
    assert_int_equal (pipe (fds), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        if (chdir (dir) != 0)
            _exit (126);
        dup2 (fds[1], 1);
        close (fds[0]);
        close (fds[1]);
        setenv ("CHECKPOINT_DISABLE", "1", 1);
        execvp (argv[0], (char **) argv);
        _exit (127);
    }
    close (fds[1]);
    size_t cap = 65536, len = 0;
    char *text = malloc (cap + 1);
    ssize_t n;
    while ((n = read (fds[0], text + len, cap - len)) > 0) {
        len += (size_t) n;
        if (len == cap) {
            cap *= 2;
            text = realloc (text, cap + 1);
        }
    }
    text[len] = '\0';
    close (fds[0]);
    int status = 0;
    waitpid (pid, &status, 0);
    if (out)
        *out = text;
    else
        free (text);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
s_write (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

//  Copy the module's files into dir.
static void
s_copy_module (const char *module, const char *dir)
{
    DIR *d = opendir (module);
    assert_non_null (d);
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char from[4096], to[4096];
        snprintf (from, sizeof from, "%s/%s", module, e->d_name);
        snprintf (to, sizeof to, "%s/%s", dir, e->d_name);
        char *text = NULL;
        const char *cat[] = {"cat", from, NULL};
        assert_int_equal (s_run (dir, cat, &text), 0);
        s_write (to, text);
        free (text);
    }
    closedir (d);
}

//  base64 -> gunzip
static char *
s_decode_user_data (const char *b64)
{
    size_t cap = strlen (b64);
    unsigned char *gz = malloc (cap);
    size_t gz_len = 0;
    assert_int_equal (sodium_base642bin (gz, cap, b64, strlen (b64), NULL,
                                         &gz_len, NULL,
                                         sodium_base64_VARIANT_ORIGINAL),
                      0);
    //  EC2's limit is on the decoded bytes
    assert_true (gz_len <= 16384);
    size_t out_cap = 1 << 20;
    char *out = calloc (1, out_cap);
    z_stream z = {0};
    assert_int_equal (inflateInit2 (&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = gz;
    z.avail_in = (uInt) gz_len;
    z.next_out = (unsigned char *) out;
    z.avail_out = (uInt) out_cap - 1;
    assert_int_equal (inflate (&z, Z_FINISH), Z_STREAM_END);
    inflateEnd (&z);
    free (gz);
    return out;
}

//  The value of NAME='...' in the script (new string).
static char *
s_shell_value (const char *script, const char *name)
{
    char key[64];
    snprintf (key, sizeof key, "\n%s='", name);
    const char *start = strstr (script, key);
    assert_non_null (start);
    start += strlen (key);
    const char *end = strchr (start, '\'');
    assert_non_null (end);
    return strndup (start, (size_t) (end - start));
}

static json_t *
s_change (json_t *plan, const char *address)
{
    size_t i;
    json_t *rc;
    json_array_foreach (json_object_get (plan, "resource_changes"), i, rc)
    {
        if (strcmp (json_string_value (json_object_get (rc, "address")),
                    address)
            == 0)
            return json_object_get (json_object_get (rc, "change"), "after");
    }
    return NULL;
}

static void
test_plan (void **state)
{
    const char *src = getenv ("LABLINK_SOURCE_DIR");
    const char *tmp = getenv ("LABLINK_TEST_DIR");
    assert_non_null (src);
    assert_non_null (tmp);
    const char *version[] = {"terraform", "version", NULL};
    if (s_run (tmp, version, NULL) != 0)
        fail_msg ("terraform is not installed (TESTING.md: terraform 1.11)");
    struct stat st;
    if (stat (PLUGIN_DIR, &st) != 0)
        fail_msg ("the provider mirror %s is missing (TESTING.md)", PLUGIN_DIR);
    if (getenv ("TF_CLI_CONFIG_FILE")
        && stat (getenv ("TF_CLI_CONFIG_FILE"), &st) != 0)
        unsetenv ("TF_CLI_CONFIG_FILE");

    //  fmt -check on both modules, as they are in the tree
    char module[4096];
    for (int m = 0; m < 2; m++) {
        snprintf (module, sizeof module, "%s/terraform/%s", src,
                  m ? "local" : "aws");
        const char *fmt[] = {"terraform", "fmt",  "-check",
                             "-diff",     module, NULL};
        char *diff = NULL;
        int rc = s_run (tmp, fmt, &diff);
        if (rc != 0)
            fail_msg ("terraform fmt -check %s:\n%s", module, diff);
        free (diff);
    }
    snprintf (module, sizeof module, "%s/terraform/aws", src);
    //  A folder of our own: a shared /tmp sees clean-ups of lablink-test.*
    char dir[4096] = "/tmp/tf-aws-plan.XXXXXX";
    assert_non_null (mkdtemp (dir));
    s_copy_module (module, dir);

    //  Fake credentials, nothing asked of AWS
    char path[4200];
    snprintf (path, sizeof path, "%s/offline_override.tf", dir);
    s_write (path, "provider \"aws\" {\n"
                   "  access_key                  = \"AKIAFAKEFAKEFAKE\"\n"
                   "  secret_key                  = \"fake\"\n"
                   "  skip_credentials_validation = true\n"
                   "  skip_requesting_account_id  = true\n"
                   "  skip_metadata_api_check     = true\n"
                   "}\n");
    //  The tfvars exactly as the allocator renders them
    const char *names[] = {"lablink-vm-ci-test-1", "lablink-vm-ci-test-2",
                           "lablink-vm-ci-test-3"};
    const char *tokens[] = {"lablink-vm-ci-test-1.aaaa",
                            "lablink-vm-ci-test-2.bbbb",
                            "lablink-vm-ci-test-3.cccc"};
    const char *key = "ssh-ed25519 "
                      "AAAAC3NzaC1lZDI1NTE5AAAAIHoIJtLirgZhgDqnfiHp6WNGyjagN6qC"
                      "Y6NXyyuBxUR5 lablink-allocator";
    ll_tfvars_t vars = {
        .allocator_ip = "1.2.3.4",
        .allocator_url = "https://lablink.example.org",
        .machine_type = "g4dn.xlarge",
        .image_name = "ghcr.io/talmolab/lablink-client-base-image:latest",
        .repository = "https://github.com/talmolab/sleap-tutorial-data.git",
        .client_ami_id = "ami-0601752c11b394251",
        .subject_software = "sleap",
        .resource_suffix = "ci-test",
        .cloud_init_output_log_group = "lablink-cloud-init-ci-test",
        .region = "us-west-2",
        .startup_on_error = "continue",
        .gpu_support = true,
        .names = names,
        .tokens = tokens,
        .count = 3,
        .ssh_public_key = key,
        .startup_script = s_script,
    };
    char *tfvars = ll_tfvars_render_json (&vars);
    snprintf (path, sizeof path, "%s/terraform.runtime.tfvars.json", dir);
    s_write (path, tfvars);
    free (tfvars);

    const char *init[] = {"terraform",
                          "init",
                          "-input=false",
                          "-no-color",
                          "-plugin-dir=" PLUGIN_DIR,
                          NULL};
    assert_int_equal (s_run (dir, init, NULL), 0);
    const char *validate[] = {"terraform", "validate", "-no-color", NULL};
    assert_int_equal (s_run (dir, validate, NULL), 0);
    const char *plan[] = {"terraform",
                          "plan",
                          "-input=false",
                          "-no-color",
                          "-var-file=terraform.runtime.tfvars.json",
                          "-out=plan.bin",
                          NULL};
    assert_int_equal (s_run (dir, plan, NULL), 0);
    const char *show[] = {"terraform", "show", "-json", "plan.bin", NULL};
    char *text = NULL;
    assert_int_equal (s_run (dir, show, &text), 0);
    json_error_t err;
    json_t *json = json_loads (text, 0, &err);
    free (text);
    assert_non_null (json);

    //  Exactly 3 instances, named by the fleet, AMI and type from config
    int instances = 0;
    size_t i;
    json_t *rc;
    json_array_foreach (json_object_get (json, "resource_changes"), i, rc)
    {
        if (strcmp (json_string_value (json_object_get (rc, "type")),
                    "aws_instance")
            == 0)
            instances++;
    }
    assert_int_equal (instances, 3);
    for (int v = 0; v < 3; v++) {
        char address[128];
        snprintf (address, sizeof address, "aws_instance.vm[\"%s\"]", names[v]);
        json_t *after = s_change (json, address);
        assert_non_null (after);
        assert_string_equal (json_string_value (json_object_get (
                                 json_object_get (after, "tags"), "Name")),
                             names[v]);
        assert_string_equal (
            json_string_value (json_object_get (after, "instance_type")),
            "g4dn.xlarge");
        assert_string_equal (json_string_value (json_object_get (after, "ami")),
                             "ami-0601752c11b394251");
        //  user_data: the custom script unchanged, this VM's own token
        char *script = s_decode_user_data (
            json_string_value (json_object_get (after, "user_data_base64")));
        char *b64 = s_shell_value (script, "STARTUP_B64");
        size_t cap = strlen (b64) + 1, len = 0;
        char *decoded = calloc (1, cap);
        assert_int_equal (sodium_base642bin (
                              (unsigned char *) decoded, cap, b64, strlen (b64),
                              NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL),
                          0);
        assert_int_equal (len, strlen (s_script));
        assert_memory_equal (decoded, s_script, len);
        char *token = s_shell_value (script, "API_TOKEN");
        assert_string_equal (token, tokens[v]);
        char *name = s_shell_value (script, "VM_NAME");
        assert_string_equal (name, names[v]);
        assert_non_null (strstr (script, "send_status initializing"));
        assert_non_null (strstr (script, "--runtime=nvidia"));
        assert_non_null (strstr (script, "lablink-cloud-init-ci-test"));
        free (name);
        free (token);
        free (decoded);
        free (b64);
        free (script);
    }
    //  SSH from the allocator only, never from the world
    json_t *sg = s_change (json, "aws_security_group.vm");
    assert_non_null (sg);
    assert_string_equal (json_string_value (json_object_get (sg, "name")),
                         "lablink_client_ci-test_sg");
    json_t *ingress = json_object_get (sg, "ingress");
    assert_int_equal (json_array_size (ingress), 1);
    json_t *rule = json_array_get (ingress, 0);
    assert_int_equal (json_integer_value (json_object_get (rule, "from_port")),
                      22);
    assert_int_equal (json_integer_value (json_object_get (rule, "to_port")),
                      22);
    json_t *cidrs = json_object_get (rule, "cidr_blocks");
    assert_int_equal (json_array_size (cidrs), 1);
    assert_string_equal (json_string_value (json_array_get (cidrs, 0)),
                         "1.2.3.4/32");
    json_t *egress = json_array_get (json_object_get (sg, "egress"), 0);
    assert_string_equal (
        json_string_value (json_object_get (egress, "protocol")), "-1");
    //  The allocator's public key; no private key anywhere in the plan
    json_t *pair = s_change (json, "aws_key_pair.vm[0]");
    assert_non_null (pair);
    assert_string_equal (
        json_string_value (json_object_get (pair, "public_key")), key);
    assert_null (s_change (json, "tls_private_key.lablink_key"));
    //  A log group is given: each VM has its own role, allowed to write its
    //  own log stream only; no AWS-managed policy (issue 15 section 2)
    json_array_foreach (json_object_get (json, "resource_changes"), i, rc)
    {
        const char *type = json_string_value (json_object_get (rc, "type"));
        if (strcmp (type, "aws_iam_role_policy_attachment") == 0
            || strcmp (type, "aws_iam_policy_attachment") == 0)
            fail_msg ("an attached (managed) policy: %s",
                      json_string_value (json_object_get (rc, "address")));
    }
    for (int v = 0; v < 3; v++) {
        char address[160];
        snprintf (address, sizeof address,
                  "aws_iam_role_policy.own_log_stream[\"%s\"]", names[v]);
        json_t *policy = s_change (json, address);
        assert_non_null (policy);
        json_t *doc = json_loads (
            json_string_value (json_object_get (policy, "policy")), 0, NULL);
        assert_non_null (doc);
        json_t *statements = json_object_get (doc, "Statement");
        assert_int_equal (json_array_size (statements), 1);
        json_t *statement = json_array_get (statements, 0);
        assert_string_equal (
            json_string_value (json_object_get (statement, "Effect")), "Allow");
        json_t *actions = json_object_get (statement, "Action");
        assert_int_equal (json_array_size (actions), 2);
        assert_string_equal (json_string_value (json_array_get (actions, 0)),
                             "logs:CreateLogStream");
        assert_string_equal (json_string_value (json_array_get (actions, 1)),
                             "logs:PutLogEvents");
        char resource[256];
        snprintf (resource, sizeof resource,
                  "arn:aws:logs:us-west-2:*:log-group:lablink-cloud-init-ci-"
                  "test:log-stream:%s",
                  names[v]);
        assert_string_equal (
            json_string_value (json_object_get (statement, "Resource")),
            resource);
        json_decref (doc);
        snprintf (address, sizeof address,
                  "aws_iam_instance_profile.vm[\"%s\"]", names[v]);
        json_t *profile = s_change (json, address);
        assert_non_null (profile);
        snprintf (resource, sizeof resource, "lablink_client_ci-test_vm%d",
                  v + 1);
        assert_string_equal (
            json_string_value (json_object_get (profile, "name")), resource);
        //  The instance uses its own profile; IMDSv2 answers one hop only
        snprintf (address, sizeof address, "aws_instance.vm[\"%s\"]", names[v]);
        json_t *vm = s_change (json, address);
        assert_string_equal (
            json_string_value (json_object_get (vm, "iam_instance_profile")),
            resource);
        json_t *metadata =
            json_array_get (json_object_get (vm, "metadata_options"), 0);
        assert_string_equal (
            json_string_value (json_object_get (metadata, "http_tokens")),
            "required");
        assert_int_equal (json_integer_value (json_object_get (
                              metadata, "http_put_response_hop_limit")),
                          1);
        //  The container on Docker's bridge, its token from a file
        char *script = s_decode_user_data (
            json_string_value (json_object_get (vm, "user_data_base64")));
        assert_null (strstr (script, "--network"));
        assert_null (strstr (script, "-e API_TOKEN="));
        assert_non_null (strstr (script, "API_TOKEN_FILE="));
        free (script);
    }
    //  Upstream's outputs (reference 6.3) but the private key
    json_t *outputs = json_object_get (json, "output_changes");
    const char *wanted[] = {"vm_instance_ids",
                            "vm_public_ips",
                            "vm_instance_names",
                            "instance_terraform_apply_times",
                            "terraform_apply_avg_seconds",
                            "terraform_apply_max_seconds",
                            "terraform_apply_min_seconds",
                            "vm_addresses",
                            NULL};
    for (int o = 0; wanted[o]; o++)
        if (!json_object_get (outputs, wanted[o]))
            fail_msg ("output %s missing from the plan", wanted[o]);
    assert_null (json_object_get (outputs, "lablink_private_key_pem"));
    json_decref (json);
    const char *clean[] = {"rm", "-rf", dir, NULL};
    s_run (tmp, clean, NULL);
}

int
main (void)
{
    assert_int_equal (sodium_init () >= 0, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_plan),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
