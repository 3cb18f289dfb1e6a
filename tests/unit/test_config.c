/*  config.yaml loading: defaults, upstream's example, unknown keys, types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"

static ll_config_t *
s_parse (const char *text, char *error, size_t errsize)
{
    return ll_config_parse (text, strlen (text), error, errsize);
}

static void
test_defaults (void **state)
{
    ll_config_t *c = ll_config_new_defaults ();
    assert_non_null (c);
    assert_string_equal (c->db.dbname, "lablink_db");
    assert_string_equal (c->db.user, "lablink");
    assert_int_equal (c->db.port, 5432);
    assert_string_equal (c->db.table_name, "vm_table");
    assert_string_equal (c->db.message_channel, "vm_updates");
    assert_null (c->machine.repository);
    assert_string_equal (c->machine.extension, "slp");
    assert_string_equal (c->app.admin_user, "admin");
    assert_false (c->dns.enabled);
    assert_true (c->dns.terraform_managed);
    assert_string_equal (c->ssl.provider, "letsencrypt");
    assert_string_equal (c->startup_script.on_error, "continue");
    assert_string_equal (c->provider.kind, "aws");
    assert_string_equal (c->agent.transport, "http");
    //  Just under a load balancer's 60 s idle timeout; the poll window adds
    //  an old client's pause after a 204
    assert_int_equal (c->agent.long_poll_s, 55);
    assert_int_equal (ll_config_poll_window_s (c), 75);
    assert_string_equal (c->app.log_format, "text");
    assert_true (c->app.access_log);
    //  No default password: the allocator refuses to start
    assert_non_null (ll_config_refuse_reason (c));
    ll_config_destroy (&c);
    assert_null (c);
    ll_config_destroy (&c);  //  safe twice
}

static void
test_upstream_example (void **state)
{
    char path[4096], error[256];
    snprintf (path, sizeof path, "%s/examples/upstream-config.yaml",
              getenv ("LABLINK_SOURCE_DIR"));
    ll_config_t *c = ll_config_load (path, error, sizeof error);
    assert_non_null (c);
    assert_string_equal (c->db.table_name, "vms");
    assert_string_equal (c->dns.custom_subdomain, "dev");
    assert_true (c->dns.enabled);
    assert_false (c->dns.terraform_managed);
    assert_string_equal (c->machine.repository,
                         "https://github.com/talmolab/sleap-tutorial-data.git");
    const char *reason = ll_config_refuse_reason (c);
    assert_non_null (reason);
    assert_non_null (strstr (reason, "PLACEHOLDER_"));
    ll_config_destroy (&c);
}

static void
test_unknown_keys (void **state)
{
    char error[256];
    assert_null (s_parse ("db:\n  prot: 1\n", error, sizeof error));
    assert_non_null (strstr (error, "db.prot"));
    assert_non_null (strstr (error, "unknown key"));
    assert_null (s_parse ("nonsense: 1\n", error, sizeof error));
    assert_non_null (strstr (error, "nonsense"));
    assert_null (
        s_parse ("app:\n  listen:\n    deeper: 1\n", error, sizeof error));
    assert_non_null (strstr (error, "app.listen"));
    //  Deep nesting is refused before libyaml spends seconds on it
    size_t depth = 100000;
    char *deep = malloc (depth + 8);
    memcpy (deep, "db: ", 4);
    memset (deep + 4, '[', depth);
    deep[depth + 4] = '\0';
    assert_null (ll_config_parse (deep, strlen (deep), error, sizeof error));
    assert_non_null (strstr (error, "nested deeper than 32 levels"));
    free (deep);
}

static void
test_types (void **state)
{
    char error[256];
    assert_null (s_parse ("db:\n  port: abc\n", error, sizeof error));
    assert_non_null (strstr (error, "db.port"));
    assert_null (s_parse ("db:\n  port: 99999999999\n", error, sizeof error));
    assert_null (s_parse ("dns:\n  enabled: maybe\n", error, sizeof error));
    assert_non_null (strstr (error, "dns.enabled"));
    assert_null (s_parse ("db: 5\n", error, sizeof error));
    assert_non_null (strstr (error, "db"));
    assert_null (s_parse ("db:\n  user: null\n", error, sizeof error));
    assert_non_null (strstr (error, "db.user"));
    assert_null (s_parse ("- a\n- b\n", error, sizeof error));
    assert_null (s_parse ("db: [\n", error, sizeof error));
    assert_non_null (strstr (error, "YAML"));

    ll_config_t *c =
        s_parse ("machine:\n  repository: null\ndns:\n  enabled: yes\n"
                 "db:\n  port: '6543'\n",
                 error, sizeof error);
    assert_non_null (c);
    assert_null (c->machine.repository);
    assert_true (c->dns.enabled);
    assert_int_equal (c->db.port, 6543);
    ll_config_destroy (&c);

    c = s_parse ("", error, sizeof error);  //  empty file = defaults
    assert_non_null (c);
    ll_config_destroy (&c);
}

static void
test_validation (void **state)
{
    char error[256];
    assert_null (s_parse ("db:\n  table_name: \"vms; DROP TABLE x\"\n", error,
                          sizeof error));
    assert_non_null (strstr (error, "db.table_name"));
    assert_null (
        s_parse ("db:\n  message_channel: Bad-Channel\n", error, sizeof error));
    assert_null (s_parse ("provider:\n  kind: gcp\n", error, sizeof error));
    assert_non_null (strstr (error, "provider.kind"));
    assert_null (s_parse ("startup_script:\n  on_error: explode\n", error,
                          sizeof error));
    assert_null (s_parse ("db:\n  port: 0\n", error, sizeof error));
    assert_true (ll_identifier_valid ("vm_updates"));
    assert_false (ll_identifier_valid ("1abc"));
    assert_false (ll_identifier_valid ("a\"b"));
    assert_false (ll_identifier_valid (""));
}

static void
test_refuse_and_env (void **state)
{
    char error[256];
    ll_config_t *c = s_parse ("app:\n  admin_password: s3cret-passphrase\n",
                              error, sizeof error);
    assert_non_null (c);
    assert_null (ll_config_refuse_reason (c));
    setenv ("LABLINK_ADMIN_PASSWORD", "PLACEHOLDER_X", 1);
    setenv ("LABLINK_DB_PORT", "7777", 1);
    ll_config_apply_env (c);
    assert_non_null (ll_config_refuse_reason (c));
    assert_int_equal (c->db.port, 7777);
    unsetenv ("LABLINK_ADMIN_PASSWORD");
    unsetenv ("LABLINK_DB_PORT");
    //  The summary never shows the password
    char *text = ll_config_describe (c);
    assert_null (strstr (text, "PLACEHOLDER_X"));
    free (text);
    //  The conninfo quotes values
    free (c->db.password);
    c->db.password = strdup ("it's\\x");
    text = ll_config_conninfo (c);
    assert_non_null (strstr (text, "password='it\\'s\\\\x'"));
    free (text);
    ll_config_destroy (&c);
}

//  Running a class (issue 16): prices, budget, schedule, idle, recovery
static void
test_class_keys (void **state)
{
    char error[256];
    ll_config_t *c =
        s_parse ("machine:\n  hourly_usd: 0.526\n"
                 "budget:\n  max_vm_hours: 120\n  max_usd: 60.5\n"
                 "  destroy_at_limit: true\n"
                 "schedule:\n  destroy_at: 2026-05-01T17:00:00+02:00\n"
                 "  export_before_destroy: yes\n"
                 "idle:\n  release_after_s: 900\n"
                 "recovery:\n  reassign_dead: true\n"
                 "  replace_after_s: 600\n",
                 error, sizeof error);
    assert_non_null (c);
    assert_true (c->machine.hourly_usd > 0.525
                 && c->machine.hourly_usd < 0.527);
    assert_true (c->budget.max_usd > 60.4 && c->budget.max_usd < 60.6);
    assert_true (c->budget.destroy_at_limit);
    assert_true (c->schedule.export_before_destroy);
    assert_int_equal (c->idle.release_after_s, 900);
    assert_int_equal (c->idle.stop_fleet_after_s, 0);  //  off by default
    assert_true (c->recovery.reassign_dead);
    assert_int_equal (c->recovery.replace_after_s, 600);
    assert_int_equal (c->recovery.reboot_unconnected_after_s, 0);
    assert_int_equal (c->recovery.max_reboots, 3);
    ll_config_destroy (&c);
    //  Defaults: every automatic action off
    c = ll_config_new_defaults ();
    assert_false (c->recovery.reassign_dead);
    assert_false (c->budget.destroy_at_limit);
    assert_string_equal (c->schedule.destroy_at, "");
    ll_config_destroy (&c);
    const char *bad[][2] = {
        {"machine:\n  hourly_usd: cheap\n", "machine.hourly_usd"},
        {"budget:\n  max_usd: -1\n", "budget.max_usd"},
        {"schedule:\n  destroy_at: 2026-05-01T17:00:00\n",
         "schedule.destroy_at"},
        {"schedule:\n  destroy_at: friday\n", "schedule.destroy_at"},
        {"idle:\n  release_after_s: -5\n", "idle.release_after_s"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error[0] = '\0';
        assert_null (s_parse (bad[i][0], error, sizeof error));
        assert_non_null (strstr (error, bad[i][1]));
    }
}

//  Issue 15's keys: lists, enumerations, the password policy, worker sizing
static void
test_trust_keys (void **state)
{
    char error[256];
    ll_config_t *c = ll_config_new_defaults ();
    assert_string_equal (c->claim.on_release, "reset");
    assert_string_equal (c->db.sslmode, "prefer");
    assert_int_equal (c->app.trusted_proxies.count, 2);
    assert_string_equal (c->app.trusted_proxies.items[0], "127.0.0.0/8");
    assert_string_equal (c->app.trusted_proxies.items[1], "::1/128");
    assert_int_equal (c->claim.allowed_emails.count, 0);
    assert_string_equal (c->claim.access_code, "");
    ll_config_destroy (&c);

    c = s_parse ("claim:\n  allowed_emails: [a@x.org, B@Y.org]\n"
                 "  allowed_domains: school.edu, @uni.edu other.edu\n"
                 "  access_code: banana\n  on_release: destroy\n"
                 "app:\n  trusted_proxies:\n    - 10.0.0.0/8\n"
                 "    - 2001:db8::/32\n"
                 "db:\n  sslmode: verify-full\n"
                 "  sslrootcert: /etc/ssl/rds.pem\n",
                 error, sizeof error);
    assert_non_null (c);
    assert_int_equal (c->claim.allowed_emails.count, 2);
    assert_false (c->claim.allowed_emails.scalar);
    assert_string_equal (c->claim.allowed_emails.items[1], "B@Y.org");
    assert_int_equal (c->claim.allowed_domains.count, 3);
    assert_string_equal (c->claim.allowed_domains.items[1], "@uni.edu");
    assert_int_equal (c->app.trusted_proxies.count, 2);
    assert_string_equal (c->claim.on_release, "destroy");
    char *text = ll_config_conninfo (c);
    assert_non_null (strstr (text, "sslmode='verify-full'"));
    assert_non_null (strstr (text, "sslrootcert='/etc/ssl/rds.pem'"));
    free (text);
    text = ll_config_describe (c);
    assert_null (strstr (text, "banana"));  //  a secret, never shown
    free (text);
    ll_config_destroy (&c);

    //  A scalar roster is a file's path, kept whole
    c = s_parse ("claim:\n  allowed_emails: /srv/class list.txt\n", error,
                 sizeof error);
    assert_non_null (c);
    assert_true (c->claim.allowed_emails.scalar);
    assert_int_equal (c->claim.allowed_emails.count, 1);
    assert_string_equal (c->claim.allowed_emails.items[0],
                         "/srv/class list.txt");
    ll_config_destroy (&c);
    assert_null (s_parse ("claim:\n  allowed_emails: roster.txt\n", error,
                          sizeof error));
    assert_non_null (strstr (error, "absolute"));
    assert_null (
        s_parse ("claim:\n  allowed_emails: [[a]]\n", error, sizeof error));
    assert_non_null (strstr (error, "claim.allowed_emails"));
    assert_null (s_parse ("db:\n  port: [1, 2]\n", error, sizeof error));
    assert_non_null (strstr (error, "db.port"));
    assert_null (s_parse ("claim:\n  on_release: keep\n", error, sizeof error));
    assert_non_null (strstr (error, "claim.on_release"));
    assert_null (s_parse ("db:\n  sslmode: maybe\n", error, sizeof error));
    assert_non_null (strstr (error, "db.sslmode"));
    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "1.2.3", "::1/129",
                         "[::1]",      "10.0.0.0/",   "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[128];
        snprintf (yaml, sizeof yaml, "app:\n  trusted_proxies: ['%s']\n",
                  bad[i]);
        assert_null (s_parse (yaml, error, sizeof error));
        assert_non_null (strstr (error, "app.trusted_proxies"));
    }

    //  The admin password: known defaults and short ones are refused
    const char *weak[] = {"change-me", "Admin",    "lablink",
                          "password",  "PASSWORD", "eleven-char"};
    for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
        char yaml[128];
        snprintf (yaml, sizeof yaml, "app:\n  admin_password: '%s'\n", weak[i]);
        c = s_parse (yaml, error, sizeof error);
        assert_non_null (c);
        assert_non_null (ll_config_refuse_reason (c));
        ll_config_destroy (&c);
    }
    c = s_parse ("app:\n  admin_password: test-admin-password\n", error,
                 sizeof error);
    assert_null (ll_config_refuse_reason (c));
    ll_config_destroy (&c);

    //  Waiters and streams never take the workers claims and health need
    c = s_parse ("app:\n  http_threads: 8\n", error, sizeof error);
    assert_non_null (c);
    assert_int_equal (ll_config_workers_reserved (c), 2);
    assert_true (c->agent.max_parked + c->app.max_streams <= 8 - 2);
    assert_true (c->app.max_streams >= 1);
    assert_non_null (c->sized);
    char *warnings = ll_config_warnings (c);  //  the allocator logs it
    assert_non_null (warnings);
    assert_non_null (strstr (warnings, "worker caps lowered: "));
    free (warnings);
    ll_config_destroy (&c);
    c = s_parse ("", error, sizeof error);
    assert_null (c->sized);  //  the defaults fit
    assert_true (c->agent.max_parked + c->app.max_streams
                 <= c->app.http_threads - ll_config_workers_reserved (c));
    ll_config_destroy (&c);
}

static void
test_locate (void **state)
{
    char *p = ll_config_locate ("/x/y.yaml");
    assert_string_equal (p, "/x/y.yaml");
    free (p);
    setenv ("CONFIG_DIR", getenv ("LABLINK_SOURCE_DIR"), 1);
    setenv ("CONFIG_NAME", "examples/local.yaml", 1);
    p = ll_config_locate (NULL);
    assert_non_null (strstr (p, "examples/local.yaml"));
    free (p);
    setenv ("CONFIG_NAME", "examples/nothing-here.yaml", 1);
    p = ll_config_locate (NULL);
    assert_string_equal (p, "./config.yaml");
    free (p);
    unsetenv ("CONFIG_DIR");
    unsetenv ("CONFIG_NAME");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_upstream_example),
        cmocka_unit_test (test_unknown_keys),
        cmocka_unit_test (test_types),
        cmocka_unit_test (test_validation),
        cmocka_unit_test (test_refuse_and_env),
        cmocka_unit_test (test_locate),
        cmocka_unit_test (test_class_keys),
        cmocka_unit_test (test_trust_keys),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
