/*  lablink-agent settings: URL sanitising (reference 4.4 and upstream's
    client tests), required variables, log file lists, test knobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent/settings.h"

static void
s_url (const char *in, const char *expected)
{
    char out[AGENT_URL_MAX];
    assert_int_equal (agent_url_sanitize (in, out, sizeof out), 0);
    assert_string_equal (out, expected);
}

static void
test_url_sanitize (void **state)
{
    //  Upstream's vectors (reference 10.2, test_subscribe / test_http_utils)
    s_url ("http://.test.com", "http://test.com");
    s_url (".test.com", "test.com");
    s_url ("http://test.com/", "http://test.com");
    //  Ours
    s_url ("https://alloc.example.org///", "https://alloc.example.org");
    s_url ("http://...x.org", "http://x.org");
    s_url ("http://127.0.0.1:5000", "http://127.0.0.1:5000");
    s_url ("  http://a.b/ \n", "http://a.b");
    char out[AGENT_URL_MAX];
    assert_int_equal (agent_url_sanitize ("/", out, sizeof out), -1);
    assert_int_equal (agent_url_sanitize ("", out, sizeof out), -1);
    assert_int_equal (agent_url_sanitize (NULL, out, sizeof out), -1);
    char small[8];
    assert_int_equal (
        agent_url_sanitize ("http://long.example.org", small, sizeof small),
        -1);
}

static void
test_base_url (void **state)
{
    char out[AGENT_URL_MAX];
    assert_int_equal (
        agent_base_url ("http://.u.org/", "h", "1", out, sizeof out), 0);
    assert_string_equal (out, "http://u.org");  //  URL wins
    assert_int_equal (agent_base_url (NULL, "10.0.0.5", NULL, out, sizeof out),
                      0);
    assert_string_equal (out, "http://10.0.0.5");
    assert_int_equal (agent_base_url ("", "10.0.0.5", "80", out, sizeof out),
                      0);
    assert_string_equal (out, "http://10.0.0.5");
    assert_int_equal (agent_base_url (NULL, "h", "5000", out, sizeof out), 0);
    assert_string_equal (out, "http://h:5000");
    assert_int_equal (agent_base_url (NULL, NULL, "5000", out, sizeof out), -1);
}

static void
s_clear_env (void)
{
    const char *names[] = {"VM_NAME",
                           "API_TOKEN",
                           "API_TOKEN_FILE",
                           "ALLOCATOR_URL",
                           "ALLOCATOR_HOST",
                           "ALLOCATOR_PORT",
                           "LABLINK_TRANSPORT",
                           "LABLINK_LOG_FILES",
                           "TUTORIAL_REPO_TO_CLONE",
                           "STARTUP_ON_ERROR",
                           "LABLINK_INTERVAL_SCALE",
                           "LABLINK_NVIDIA_SMI",
                           "LABLINK_ZMQ_ENDPOINT",
                           "LABLINK_ZMQ_SERVER_KEY",
                           "LABLINK_PG_CONNINFO",
                           "LABLINK_PG_CHANNEL"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv (names[i]);
}

static void
s_expect_error (const char *variable)
{
    agent_settings_t settings;
    char error[256] = "";
    assert_int_equal (
        agent_settings_load (&settings, true, error, sizeof error), -1);
    if (!strstr (error, variable))
        fail_msg ("error '%s' does not name %s", error, variable);
    assert_null (strchr (error, '\n'));
}

static void
test_required (void **state)
{
    s_clear_env ();
    s_expect_error ("VM_NAME");
    setenv ("VM_NAME", "lablink-vm-test-1", 1);
    s_expect_error ("API_TOKEN");
    setenv ("API_TOKEN", "lablink-vm-test-1.0123456789abcdef", 1);
    s_expect_error ("ALLOCATOR_URL");
    setenv ("ALLOCATOR_HOST", "127.0.0.1", 1);
    agent_settings_t settings;
    char error[256];
    assert_int_equal (
        agent_settings_load (&settings, true, error, sizeof error), 0);
    assert_string_equal (settings.base_url, "http://127.0.0.1");
    assert_int_equal (settings.transport, AGENT_TRANSPORT_HTTP);
    assert_string_equal (settings.nvidia_smi, "nvidia-smi");
    assert_string_equal (settings.startup_script,
                         "/docker_scripts/custom-startup.sh");
    assert_int_equal (settings.inuse_ms, 20000);
    assert_int_equal (settings.heartbeat_ms, 30000);
    //  Not needed for one-shots that do not call the allocator
    s_clear_env ();
    assert_int_equal (
        agent_settings_load (&settings, false, error, sizeof error), 0);
}

//  API_TOKEN_FILE: the token from a mounted file (user_data writes it 0600
//  for the container's user), its first line; API_TOKEN wins when both.
static void
test_token_file (void **state)
{
    s_clear_env ();
    setenv ("VM_NAME", "vm-1", 1);
    setenv ("ALLOCATOR_URL", "http://127.0.0.1:5000", 1);
    char path[] = "/tmp/lablink-token.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "vm-1.from-file\n", 15), 15);
    close (fd);
    setenv ("API_TOKEN_FILE", path, 1);
    agent_settings_t settings;
    char error[256];
    assert_int_equal (
        agent_settings_load (&settings, true, error, sizeof error), 0);
    assert_string_equal (settings.token, "vm-1.from-file");
    setenv ("API_TOKEN", "vm-1.from-env", 1);
    assert_int_equal (
        agent_settings_load (&settings, true, error, sizeof error), 0);
    assert_string_equal (settings.token, "vm-1.from-env");
    unsetenv ("API_TOKEN");
    //  Empty, missing and over-long files are errors naming the variable
    fd = open (path, O_WRONLY | O_TRUNC);
    close (fd);
    s_expect_error ("API_TOKEN_FILE");
    unlink (path);
    s_expect_error ("API_TOKEN_FILE");
    fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char big[AGENT_TOKEN_MAX + 8];
    memset (big, 'a', sizeof big);
    assert_int_equal (write (fd, big, sizeof big), (ssize_t) sizeof big);
    close (fd);
    s_expect_error ("API_TOKEN_FILE");
    unlink (path);
    s_clear_env ();
}

static void
test_values (void **state)
{
    s_clear_env ();
    setenv ("VM_NAME", "vm-1", 1);
    setenv ("API_TOKEN", "tok", 1);
    setenv ("ALLOCATOR_URL", "http://.x.org/", 1);
    setenv ("TUTORIAL_REPO_TO_CLONE", "None", 1);
    setenv ("LABLINK_INTERVAL_SCALE", "0.01", 1);
    setenv ("LABLINK_NVIDIA_SMI", "", 1);
    agent_settings_t settings;
    char error[256];
    assert_int_equal (
        agent_settings_load (&settings, true, error, sizeof error), 0);
    assert_string_equal (settings.base_url, "http://x.org");
    assert_string_equal (settings.tutorial_repo, "");  //  "None" is none
    assert_string_equal (settings.nvidia_smi, "");
    assert_int_equal (settings.inuse_ms, 200);
    assert_int_equal (settings.heartbeat_ms, 300);

    setenv ("LABLINK_TRANSPORT", "carrier-pigeon", 1);
    s_expect_error ("LABLINK_TRANSPORT");
    setenv ("LABLINK_TRANSPORT", "zmq", 1);
    s_expect_error ("LABLINK_ZMQ_ENDPOINT");
    setenv ("LABLINK_TRANSPORT", "pg", 1);
    s_expect_error ("LABLINK_PG_CONNINFO");
    setenv ("LABLINK_PG_CONNINFO", "host=127.0.0.1", 1);
    setenv ("LABLINK_PG_CHANNEL", "vm_updates; DROP TABLE vms", 1);
    s_expect_error ("LABLINK_PG_CHANNEL");
    unsetenv ("LABLINK_PG_CHANNEL");
    unsetenv ("LABLINK_TRANSPORT");
    setenv ("STARTUP_ON_ERROR", "explode", 1);
    s_expect_error ("STARTUP_ON_ERROR");
    unsetenv ("STARTUP_ON_ERROR");
    setenv ("VM_NAME", "vm/../../x", 1);
    s_expect_error ("VM_NAME");
    setenv ("VM_NAME", "vm-1", 1);
    setenv ("LABLINK_INTERVAL_SCALE", "-1", 1);
    s_expect_error ("LABLINK_INTERVAL_SCALE");
    s_clear_env ();
}

static void
test_log_files (void **state)
{
    agent_log_file_t files[AGENT_LOG_FILES];
    int count = -1;
    assert_int_equal (
        agent_log_files_parse ("/home/u/cloud-init-output.log, docker=/var/log/"
                               "c.log,agent=/tmp/a=b.log,/x/other.log,",
                               files, AGENT_LOG_FILES, &count),
        0);
    assert_int_equal (count, 4);
    assert_string_equal (files[0].stream, "cloud_init");
    assert_string_equal (files[0].path, "/home/u/cloud-init-output.log");
    assert_string_equal (files[1].stream, "docker");
    assert_string_equal (files[1].path, "/var/log/c.log");
    assert_string_equal (files[2].stream, "agent");
    assert_string_equal (files[2].path, "/tmp/a=b.log");
    assert_string_equal (files[3].stream, "docker");
    assert_int_equal (
        agent_log_files_parse ("weird=/x", files, AGENT_LOG_FILES, &count), -1);
    assert_int_equal (agent_log_files_parse ("/a,/b,/c", files, 2, &count), -1);
    assert_int_equal (agent_log_files_parse (NULL, files, 2, &count), 0);
    assert_int_equal (count, 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_url_sanitize),
        cmocka_unit_test (test_base_url),
        cmocka_unit_test (test_required),
        cmocka_unit_test (test_token_file),
        cmocka_unit_test (test_values),
        cmocka_unit_test (test_log_files),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
