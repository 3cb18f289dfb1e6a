/*  The agent's CRD connector: the command is re-validated with the shared
    allow-list (upstream's vectors, reference 2.6), start-host gets exactly
    the fixed argv, the PIN twice on stdin and an empty DISPLAY, and every
    failure (bad command, bad PIN, exit code, timeout, missing binary) is a
    reported error that never contains the code or the PIN. Runs the real
    stand-in agent/standins/start-host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/crd.h"

static void
test_argv (void **state)
{
    agent_crd_argv_t args;
    assert_int_equal (
        agent_crd_argv_build (
            &args, "/opt/start-host",
            "DISPLAY= /opt/google/chrome-remote-desktop/start-host "
            "--code=\"4/0AciLongCode-_x\" "
            "--redirect-url=\"https://evil.example/\" --name=$(reboot)",
            "lablink-vm-test-1"),
        0);
    assert_string_equal (args.argv[0], "/opt/start-host");
    assert_string_equal (args.argv[1], "--code=4/0AciLongCode-_x");
    assert_string_equal (
        args.argv[2],
        "--redirect-url=https://remotedesktop.google.com/_/oauthredirect");
    assert_string_equal (args.argv[3], "--name=lablink-vm-test-1");
    assert_null (args.argv[4]);
    assert_int_equal (
        agent_crd_argv_build (&args, "/s", "--code '4/abc'", "vm"), 0);
    assert_string_equal (args.argv[1], "--code=4/abc");
}

static void
test_revalidation (void **state)
{
    const char *rejected[] = {"--code=x;id",       "--code=x|sh",
                              "--code=$(id)",      "--code=`whoami`",
                              "--code=x${IFS}y",   "--code=x&&id",
                              "--code=x=y",        "--code='x;id'",
                              "--code=\"$(id)\"",  "--code='abc",
                              "--code=a'b",        "--code=",
                              "--code=''",         "start-host --name=x",
                              "--code=a --code=b", NULL};
    agent_crd_argv_t args;
    for (int i = 0; rejected[i]; i++)
        if (agent_crd_argv_build (&args, "/s", rejected[i], "vm") == 0)
            fail_msg ("accepted %s", rejected[i]);
    assert_int_equal (agent_crd_argv_build (&args, "/s", NULL, "vm"), -1);
    assert_int_equal (agent_crd_argv_build (&args, "/s", "--code=a", ""), -1);
    const char *accepted[] = {
        "--code=4/abc123",         "--code 4/abc123",
        "--code='4/abc123'",       "--code=abc extra_token",
        "--code=abc\nextra_token", NULL};
    for (int i = 0; accepted[i]; i++)
        if (agent_crd_argv_build (&args, "/s", accepted[i], "vm") != 0)
            fail_msg ("rejected %s", accepted[i]);
}

static void
test_pin (void **state)
{
    assert_true (agent_pin_valid ("123456"));
    assert_true (agent_pin_valid ("0123456789"));
    assert_false (agent_pin_valid ("12345"));
    assert_false (agent_pin_valid ("123456\n654321"));
    assert_false (agent_pin_valid ("12345a"));
    assert_false (agent_pin_valid (""));
    assert_false (agent_pin_valid (NULL));
    assert_false (agent_pin_valid ("123456789012345678901234567890123"));
}

//  Settings pointing at the stand-in, logging into the test dir.
static void
s_settings (agent_settings_t *settings, char *log, size_t size)
{
    memset (settings, 0, sizeof *settings);
    const char *src = getenv ("LABLINK_SOURCE_DIR");
    const char *dir = getenv ("LABLINK_TEST_DIR");
    assert_non_null (src);
    assert_non_null (dir);
    snprintf (settings->start_host, sizeof settings->start_host,
              "%s/agent/standins/start-host", src);
    snprintf (settings->vm_name, sizeof settings->vm_name, "lablink-vm-t-1");
    settings->start_host_timeout_s = 5;
    snprintf (log, size, "%s/start-host.log", dir);
    unlink (log);
    setenv ("LABLINK_STANDIN_LOG", log, 1);
    setenv ("DISPLAY", ":99", 1);  //  start-host must see it emptied
    unsetenv ("LABLINK_STANDIN_EXIT");
    unsetenv ("LABLINK_STANDIN_SLEEP");
}

static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    static char text[8192];
    size_t n = fread (text, 1, sizeof text - 1, file);
    text[n] = '\0';
    fclose (file);
    return strdup (text);
}

static void
test_connect_standin (void **state)
{
    agent_settings_t settings;
    char log[1024], error[256];
    s_settings (&settings, log, sizeof log);
    assert_int_equal (agent_crd_connect (&settings, NULL,
                                         "--code=\"4/secretcode_x\"", "246810",
                                         error, sizeof error),
                      0);
    char *text = s_read (log);
    char expected[4096];
    snprintf (expected, sizeof expected,
              "arg: %s\n"
              "arg: --code=4/secretcode_x\n"
              "arg: --redirect-url=https://remotedesktop.google.com/_/"
              "oauthredirect\n"
              "arg: --name=lablink-vm-t-1\n"
              "env DISPLAY=\n"
              "stdin: 246810\n"
              "stdin: 246810\n"
              "end\n",
              settings.start_host);
    const char *body = strchr (text, '\n');  //  after the date line
    assert_non_null (body);
    assert_string_equal (body + 1, expected);
    free (text);
}

static void
test_connect_failures (void **state)
{
    agent_settings_t settings;
    char log[1024], error[256];
    s_settings (&settings, log, sizeof log);
    //  A rejected command never runs start-host
    assert_int_equal (agent_crd_connect (&settings, NULL, "--code=x;reboot",
                                         "123456", error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "rejected"));
    assert_int_equal (access (log, F_OK), -1);
    assert_int_equal (agent_crd_connect (&settings, NULL, "--code=abc",
                                         "12\n34", error, sizeof error),
                      -1);
    assert_int_equal (access (log, F_OK), -1);
    //  Exit code
    setenv ("LABLINK_STANDIN_EXIT", "3", 1);
    assert_int_equal (agent_crd_connect (&settings, NULL, "--code=4/hidden1",
                                         "135790", error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "status 3"));
    assert_null (strstr (error, "hidden1"));
    assert_null (strstr (error, "135790"));
    unsetenv ("LABLINK_STANDIN_EXIT");
    //  Timeout
    settings.start_host_timeout_s = 1;
    setenv ("LABLINK_STANDIN_SLEEP", "30", 1);
    assert_int_equal (agent_crd_connect (&settings, NULL, "--code=abc",
                                         "123456", error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "timed out"));
    unsetenv ("LABLINK_STANDIN_SLEEP");
    //  Missing binary
    snprintf (settings.start_host, sizeof settings.start_host,
              "/nonexistent/start-host");
    assert_int_equal (agent_crd_connect (&settings, NULL, "--code=abc",
                                         "123456", error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "could not be executed"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_argv),
        cmocka_unit_test (test_revalidation),
        cmocka_unit_test (test_pin),
        cmocka_unit_test (test_connect_standin),
        cmocka_unit_test (test_connect_failures),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
