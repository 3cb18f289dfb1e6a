/*  The terraform actor's pure helpers: output lines cleaned and capped,
    progress lines recognised, tfvars rendered as HCL that terraform cannot
    misread, `output -json` and `state list` parsed, names and URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <czmq.h>
#include <jansson.h>

#include "actors/terraform/tfvars.h"
#include "support.h"

static size_t
s_clean (char *buf, const char *text)
{
    size_t len = strlen (text);
    memcpy (buf, text, len + 1);
    return ll_tf_clean_line (buf, len);
}

static void
test_clean_line (void **state)
{
    char buf[LL_TF_LINE_MAX * 2];
    s_clean (buf, "\x1b[0m\x1b[1mterraform_data.vm\x1b[0m: Creating...\x1b[K");
    assert_string_equal (buf, "terraform_data.vm: Creating...");
    s_clean (buf, "\x1b]0;title\x07visible\tok\x01\x7f");
    assert_string_equal (buf, "visible\tok");
    s_clean (buf, "bad \xff\xfe utf8 \xc3\xa9 ok");
    assert_string_equal (buf, "bad ?? utf8 \xc3\xa9 ok");
    //  Capped
    char *big = malloc (LL_TF_LINE_MAX * 3 + 1);
    memset (big, 'x', LL_TF_LINE_MAX * 3);
    big[LL_TF_LINE_MAX * 3] = '\0';
    assert_int_equal (ll_tf_clean_line (big, LL_TF_LINE_MAX * 3),
                      LL_TF_LINE_MAX);
    assert_int_equal (strlen (big), LL_TF_LINE_MAX);
    free (big);
}

//  Events as terraform 1.11 writes them with apply/destroy -json
static void
test_event (void **state)
{
    char text[256];
    ll_tf_line_t kind;
    const char *created =
        "{\"@level\":\"info\",\"@message\":\"terraform_data.vm[\\\"lablink-vm-"
        "dev-1\\\"]: Creation complete after 0s [id=2650]\",\"@module\":"
        "\"terraform.ui\",\"hook\":{\"resource\":{\"addr\":\"terraform_data.vm"
        "[\\\"lablink-vm-dev-1\\\"]\",\"module\":\"\",\"resource_type\":"
        "\"terraform_data\",\"resource_name\":\"vm\",\"resource_key\":"
        "\"lablink-vm-dev-1\"},\"action\":\"create\",\"id_key\":\"id\"},"
        "\"type\":\"apply_complete\"}";
    assert_int_equal (ll_tf_event (created, text, sizeof text, &kind), 0);
    assert_string_equal (text, "terraform_data.vm[\"lablink-vm-dev-1\"]: "
                               "Creation complete after 0s [id=2650]");
    assert_int_equal (kind, LL_TF_LINE_CREATED);
    const char *destroyed =
        "{\"@message\":\"aws_instance.vm[\\\"a\\\"]: Destruction complete\","
        "\"hook\":{\"resource\":{\"resource_name\":\"vm\"},\"action\":"
        "\"delete\"},\"type\":\"apply_complete\"}";
    assert_int_equal (ll_tf_event (destroyed, text, sizeof text, &kind), 0);
    assert_int_equal (kind, LL_TF_LINE_DESTROYED);
    //  another resource, or the same VM only starting: no progress
    const char *other =
        "{\"@message\":\"terraform_data.start[\\\"a\\\"]: Creation complete\","
        "\"hook\":{\"resource\":{\"resource_name\":\"start\"},\"action\":"
        "\"create\"},\"type\":\"apply_complete\"}";
    assert_int_equal (ll_tf_event (other, text, sizeof text, &kind), 0);
    assert_int_equal (kind, LL_TF_LINE_OTHER);
    const char *starting =
        "{\"@message\":\"terraform_data.vm[\\\"a\\\"]: Creating...\",\"hook\":"
        "{\"resource\":{\"resource_name\":\"vm\"},\"action\":\"create\"},"
        "\"type\":\"apply_start\"}";
    assert_int_equal (ll_tf_event (starting, text, sizeof text, &kind), 0);
    assert_string_equal (text, "terraform_data.vm[\"a\"]: Creating...");
    assert_int_equal (kind, LL_TF_LINE_OTHER);
    //  the text says it, the event does not: not counted
    const char *said =
        "{\"@message\":\"x.vm[\\\"a\\\"]: Creation complete\",\"type\":"
        "\"provision_progress\"}";
    assert_int_equal (ll_tf_event (said, text, sizeof text, &kind), 0);
    assert_int_equal (kind, LL_TF_LINE_OTHER);
    //  a diagnostic: its summary, then the detail on the next lines
    const char *diagnostic =
        "{\"@level\":\"error\",\"@message\":\"Error: local-exec provisioner "
        "error\",\"diagnostic\":{\"severity\":\"error\",\"summary\":\"local-"
        "exec provisioner error\",\"detail\":\"Error running command 'exit 1'"
        ": exit status 1.\"},\"type\":\"diagnostic\"}";
    assert_int_equal (ll_tf_event (diagnostic, text, sizeof text, &kind), 0);
    assert_string_equal (text, "Error: local-exec provisioner error\nError "
                               "running command 'exit 1': exit status 1.");
    //  capped at the buffer
    char small[8];
    assert_int_equal (ll_tf_event (starting, small, sizeof small, &kind), 0);
    assert_string_equal (small, "terrafo");
    //  not an event: shown as it is
    assert_int_equal (ll_tf_event ("stand-in: hello", text, sizeof text, &kind),
                      -1);
    assert_int_equal (
        ll_tf_event ("{\"type\":\"x\"}", text, sizeof text, &kind), -1);
    assert_int_equal (ll_tf_event ("{\"@message\":", text, sizeof text, &kind),
                      -1);
    assert_int_equal (
        ll_tf_event ("{\"@message\":\"a\\u0000b\"}", text, sizeof text, &kind),
        -1);
}

static void
test_render (void **state)
{
    const char *names[] = {"lablink-vm-dev-1", "lablink-vm-dev-2"};
    const char *tokens[] = {"lablink-vm-dev-1.aa", "lablink-vm-dev-2.bb"};
    ll_tfvars_t vars = {
        .allocator_ip = "1.2.3.4",
        .allocator_url = "http://1.2.3.4",
        .machine_type = "g4dn.xlarge",
        .image_name = "img",
        .repository = NULL,
        .client_ami_id = "ami-1",
        .subject_software = "sleap",
        .resource_suffix = "test",
        .cloud_init_output_log_group = "",
        .region = "us-west-2",
        .startup_on_error = "continue",
        .gpu_support = true,
        .names = names,
        .tokens = tokens,
        .count = 2,
        .ssh_public_key = "ssh-ed25519 AAAA x",
        .startup_script = "echo \"$HOME\" ${VAR} %{ if } `d` \\ \n\tend\x01",
    };
    char *text = ll_tfvars_render (&vars);
    assert_non_null (strstr (text, "\nallocator_ip = \"1.2.3.4\"\n"));
    assert_non_null (strstr (text, "\nresource_suffix = \"test\"\n"));
    assert_non_null (strstr (text, "\ngpu_support = \"true\"\n"));
    assert_non_null (strstr (text, "\nrepository = \"\"\n"));
    assert_non_null (
        strstr (text, "\ncustom_startup_script = \"echo \\\"$HOME\\\" $${VAR} "
                      "%%{ if } `d` \\\\ \\n\\tend\\u0001\"\n"));
    assert_non_null (strstr (
        text, "\nvm_names = [\"lablink-vm-dev-1\", \"lablink-vm-dev-2\"]\n"));
    assert_non_null (
        strstr (text, "\n  \"lablink-vm-dev-2\" = \"lablink-vm-dev-2.bb\"\n"));
    assert_null (strstr (text, "agent_bin"));
    //  A VM's token is read back from the file for the next operation
    char token[64];
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-2", token, sizeof token), 0);
    assert_string_equal (token, "lablink-vm-dev-2.bb");
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-1", token, sizeof token), 0);
    assert_string_equal (token, "lablink-vm-dev-1.aa");
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-", token, sizeof token), -1);
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-3", token, sizeof token), -1);
    assert_int_equal (ll_tfvars_token_of (text, "lablink-vm-dev-2", token, 5),
                      -1);
    assert_int_equal (
        ll_tfvars_token_of ("vm_names = []", "x", token, sizeof token), -1);
    free (text);
    vars.agent_bin = "/x/lablink-agent";
    vars.count = 0;
    text = ll_tfvars_render (&vars);
    assert_non_null (strstr (text, "\nagent_bin = \"/x/lablink-agent\"\n"));
    assert_non_null (strstr (text, "\nvm_names = []\n"));
    free (text);
}

//  terraform.runtime.tfvars.json: jansson's escaping, nothing doubled
//  (terraform reads a .tfvars.json string literally; checked against
//  terraform 1.11: "a${b}c" reads a${b}c)
static void
test_render_json (void **state)
{
    const char *names[] = {"lablink-vm-dev-1", "lablink-vm-dev-2"};
    const char *tokens[] = {"lablink-vm-dev-1.aa", "lablink-vm-dev-2.bb"};
    const char *script = "echo \"$HOME\" ${VAR} %{ if } `d` \\ \n\tend\x01";
    ll_tfvars_t vars = {
        .allocator_ip = "1.2.3.4",
        .machine_type = "g4dn.xlarge",
        .repository = NULL,
        .gpu_support = true,
        .names = names,
        .tokens = tokens,
        .count = 2,
        .startup_script = script,
        .crd_start_host = "/x/start-host",
    };
    char *text = ll_tfvars_render_json (&vars);
    assert_non_null (text);
    json_t *root = json_loads (text, 0, NULL);
    assert_non_null (root);
    assert_string_equal (
        json_string_value (json_object_get (root, "custom_startup_script")),
        script);
    assert_string_equal (
        json_string_value (json_object_get (root, "allocator_ip")), "1.2.3.4");
    assert_string_equal (
        json_string_value (json_object_get (root, "gpu_support")), "true");
    assert_string_equal (
        json_string_value (json_object_get (root, "repository")), "");
    assert_string_equal (
        json_string_value (json_object_get (root, "allocator_url")), "");
    assert_string_equal (
        json_string_value (json_object_get (root, "crd_start_host")),
        "/x/start-host");
    assert_null (json_object_get (root, "agent_bin"));
    json_t *vm_names = json_object_get (root, "vm_names");
    assert_int_equal (json_array_size (vm_names), 2);
    assert_string_equal (json_string_value (json_array_get (vm_names, 1)),
                         "lablink-vm-dev-2");
    assert_null (strstr (text, "$${"));
    json_decref (root);
    char token[64];
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-2", token, sizeof token), 0);
    assert_string_equal (token, "lablink-vm-dev-2.bb");
    assert_int_equal (
        ll_tfvars_token_of (text, "lablink-vm-dev-3", token, sizeof token), -1);
    assert_int_equal (ll_tfvars_token_of (text, "lablink-vm-dev-2", token, 5),
                      -1);
    assert_int_equal (
        ll_tfvars_token_of ("{\"agent_tokens\":", "x", token, sizeof token),
        -1);
    assert_int_equal (text[strlen (text) - 1], '\n');
    free (text);
}

static void
test_parse_outputs (void **state)
{
    const char *json =
        "{\"instance_terraform_apply_times\":{\"sensitive\":false,\"value\":{"
        "\"vm-1\":{\"seconds\":2,\"start_time\":\"2026-01-01T10:00:00Z\","
        "\"end_time\":\"2026-01-01T10:00:02Z\"},"
        "\"vm-2\":{\"start_time\":\"2026-01-01T23:59:59Z\","
        "\"end_time\":\"2026-01-02T00:00:04Z\"},"
        "\"vm-3\":{\"start_time\":\"bad\"}}},"
        "\"vm_addresses\":{\"value\":{\"vm-1\":\"127.0.1.1\"}},"
        "\"vm_ssh_ports\":{\"value\":{\"vm-1\":2222,\"vm-2\":99999}}}";
    ll_tf_vm_t *vms = NULL;
    size_t count = 0;
    char error[128];
    assert_int_equal (ll_tf_parse_outputs (json, strlen (json), &vms, &count,
                                           error, sizeof error),
                      0);
    assert_int_equal (count, 3);
    for (size_t i = 0; i < count; i++) {
        if (strcmp (vms[i].name, "vm-1") == 0) {
            assert_true (vms[i].seconds == 2.0);
            assert_string_equal (vms[i].address, "127.0.1.1");
            assert_int_equal (vms[i].ssh_port, 2222);
        }
        else if (strcmp (vms[i].name, "vm-2") == 0) {
            assert_true (vms[i].seconds == 5.0);  //  computed, over midnight
            assert_null (vms[i].address);
            assert_int_equal (vms[i].ssh_port, 0);  //  out of range
        }
        else
            assert_true (vms[i].seconds < 0);
    }
    ll_tf_vms_free (&vms, count);
    assert_null (vms);
    assert_int_equal (
        ll_tf_parse_outputs ("[1]", 3, &vms, &count, error, sizeof error), -1);
    assert_int_equal (
        ll_tf_parse_outputs ("{\"x\":1}", 7, &vms, &count, error, sizeof error),
        -1);
    assert_int_equal (
        ll_tf_parse_outputs ("{nope", 5, &vms, &count, error, sizeof error),
        -1);
}

static void
test_state_list (void **state)
{
    const char *list = "terraform_data.end[\"vm-1\"]\n"
                       "terraform_data.vm[\"vm-10\"]\n"
                       "aws_instance.vm[\"vm-2\"]\r\n"
                       "module.x.terraform_data.vm[\"vm-3\"]\n";
    assert_false (ll_tf_state_has_vm (list, "vm-1"));
    assert_true (ll_tf_state_has_vm (list, "vm-10"));
    assert_true (ll_tf_state_has_vm (list, "vm-2"));
    assert_false (ll_tf_state_has_vm (list, "vm-3"));
    assert_false (ll_tf_state_has_vm ("", "vm-1"));
}

static void
test_rules (void **state)
{
    assert_int_equal (ll_tf_parse_time ("1970-01-01T00:01:00Z"), 60);
    assert_int_equal (ll_tf_parse_time ("2026-11-26T20:00:00.123Z"),
                      1795723200);
    assert_int_equal (ll_tf_parse_time ("2026-11-26 20:00:00"), -1);
    assert_int_equal (ll_tf_parse_time ("2026-11-26T20:00:00+02:00"), -1);
    assert_true (ll_tf_gpu_type ("g4dn.xlarge"));
    assert_true (ll_tf_gpu_type ("p3.2xlarge"));
    assert_false (ll_tf_gpu_type ("t2.medium"));
    assert_false (ll_tf_gpu_type ("gx"));
    assert_false (ll_tf_gpu_type ("local"));

    ll_config_t *config = ll_config_new_defaults ();
    char name[64];
    assert_int_equal (ll_tf_vm_name (config, 3, name, sizeof name), 0);
    assert_string_equal (name, "lablink-vm-prod-3");
    free (config->environment);
    config->environment = strdup ("Test_Env!");
    assert_int_equal (ll_tf_vm_name (config, 12, name, sizeof name), 0);
    assert_string_equal (name, "lablink-vm-testenv-12");

    //  aws without any address: "Allocator outputs not found."
    unsetenv ("ALLOCATOR_FQDN");
    unsetenv ("ALLOCATOR_PUBLIC_IP");
    assert_null (ll_tf_allocator_url (config));
    setenv ("ALLOCATOR_PUBLIC_IP", "1.2.3.4", 1);
    char *url = ll_tf_allocator_url (config);
    assert_string_equal (url, "https://1.2.3.4");
    free (url);
    free (config->ssl.provider);
    config->ssl.provider = strdup ("none");
    config->dns.enabled = true;
    free (config->dns.domain);
    config->dns.domain = strdup ("lablink.example.org");
    url = ll_tf_allocator_url (config);
    assert_string_equal (url, "http://lablink.example.org");
    free (url);
    free (config->app.public_url);
    config->app.public_url = strdup ("https://x.example/");
    url = ll_tf_allocator_url (config);
    assert_string_equal (url, "https://x.example");
    free (url);
    free (config->app.public_url);
    config->app.public_url = strdup ("");
    free (config->provider.kind);
    config->provider.kind = strdup ("local");
    free (config->app.listen);
    config->app.listen = strdup ("0.0.0.0:5000");
    url = ll_tf_allocator_url (config);
    assert_string_equal (url, "http://127.0.0.1:5000");
    free (url);
    ll_config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_clean_line),
        cmocka_unit_test (test_event),
        cmocka_unit_test (test_render),
        cmocka_unit_test (test_render_json),
        cmocka_unit_test (test_parse_outputs),
        cmocka_unit_test (test_state_list),
        cmocka_unit_test (test_rules),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
