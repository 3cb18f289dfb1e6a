/*  The AWS credentials chain's pure parts (runtime/aws.h): the shared
    files (profile sections of both files, precedence, profiles that assume
    roles), the instance role's document, the refresh rule; and the
    environment step of the chain (which never reaches the network: the
    environment and files answer first, and the metadata service is
    switched off). The instance role through IMDSv2 is driven against a
    stand-in by tests/integration/test_aws_credentials.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/aws.h"
#include "runtime/config.h"

static const char s_credentials[] = "# a comment\n"
                                    "[default]\n"
                                    "aws_access_key_id = AKIADEFAULT\n"
                                    "aws_secret_access_key = default/secret\n"
                                    "\n"
                                    "[dev]\n"
                                    "aws_access_key_id=AKIADEV\n"
                                    "aws_secret_access_key =dev+secret \n"
                                    "aws_session_token = devtoken\n"
                                    "s3 =\n"
                                    "  aws_access_key_id = NESTED-NOT-A-KEY\n";

static const char s_config[] =
    "[default]\n"
    "region = us-west-2\n"
    "[profile ops]\n"
    "aws_access_key_id = AKIAOPS\n"
    "aws_secret_access_key = ops-secret\n"
    "[profile dev]\n"
    "aws_access_key_id = AKIA-CONFIG-DEV\n"
    "aws_secret_access_key = config-dev\n"
    "[profile admin]\n"
    "role_arn = arn:aws:iam::111122223333:role/admin\n"
    "source_profile = default\n"
    "[profile sso]\n"
    "sso_session = corp\n"
    "[sso-session corp]\n"
    "aws_access_key_id = NOT-A-PROFILE\n";

static void
test_profiles (void **state)
{
    ll_aws_creds_t c;
    char error[512] = "";
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "default",
                                            &c, error, sizeof error),
                      1);
    assert_string_equal (c.access_key_id, "AKIADEFAULT");
    assert_string_equal (c.secret_access_key, "default/secret");
    assert_string_equal (c.session_token, "");
    assert_string_equal (c.source, "profile default");
    assert_int_equal (c.expires, 0);

    //  The credentials file wins over the config file; nested settings
    //  (indented) are not keys of the profile
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "dev", &c,
                                            error, sizeof error),
                      1);
    assert_string_equal (c.access_key_id, "AKIADEV");
    assert_string_equal (c.secret_access_key, "dev+secret");
    assert_string_equal (c.session_token, "devtoken");

    //  [profile ops] of the config file only
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "ops", &c,
                                            error, sizeof error),
                      1);
    assert_string_equal (c.access_key_id, "AKIAOPS");
    assert_int_equal (
        ll_aws_profile_parse (NULL, s_config, "ops", &c, error, sizeof error),
        1);

    //  Not there at all; [sso-session corp] is no profile "corp"
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "nobody",
                                            &c, error, sizeof error),
                      0);
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "corp", &c,
                                            error, sizeof error),
                      0);
    assert_int_equal (
        ll_aws_profile_parse (NULL, NULL, "default", &c, error, sizeof error),
        0);

    //  Profiles that need more than keys: refused, naming why
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "admin",
                                            &c, error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "role_arn"));
    assert_int_equal (c.access_key_id[0], '\0');
    assert_int_equal (ll_aws_profile_parse (s_credentials, s_config, "sso", &c,
                                            error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "sso_session"));

    //  Half a pair
    assert_int_equal (ll_aws_profile_parse ("[x]\naws_access_key_id = A\n",
                                            NULL, "x", &c, error, sizeof error),
                      -1);
    assert_non_null (strstr (error, "lacks"));
}

static void
test_imds_document (void **state)
{
    ll_aws_creds_t c;
    char error[512] = "";
    static const char ok[] =
        "{\"Code\":\"Success\",\"LastUpdated\":\"2026-01-01T00:00:00Z\","
        "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAROLE\","
        "\"SecretAccessKey\":\"role/secret\",\"Token\":\"session==\","
        "\"Expiration\":\"2026-01-01T06:00:00Z\"}";
    assert_int_equal (
        ll_aws_imds_parse (ok, strlen (ok), &c, error, sizeof error), 0);
    assert_string_equal (c.access_key_id, "ASIAROLE");
    assert_string_equal (c.secret_access_key, "role/secret");
    assert_string_equal (c.session_token, "session==");
    assert_int_equal (c.expires, 1767247200);  //  2026-01-01T06:00:00Z

    static const char *const bad[] = {
        "not json",
        "{\"Code\":\"Failure\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\","
        "\"Expiration\":\"2026-01-01T06:00:00Z\"}",
        "{\"Code\":\"Success\",\"SecretAccessKey\":\"B\",\"Expiration\":"
        "\"2026-01-01T06:00:00Z\"}",
        "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\","
        "\"Expiration\":\"tomorrow\"}",
        "{\"Code\":\"Success\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"B\","
        "\"Expiration\":\"2026-01-01T06:00:00+02:00\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error[0] = '\0';
        assert_int_equal (ll_aws_imds_parse (bad[i], strlen (bad[i]), &c, error,
                                             sizeof error),
                          -1);
        assert_true (error[0] != '\0');
        assert_int_equal (c.access_key_id[0], '\0');
    }
}

static void
test_refresh_rule (void **state)
{
    ll_aws_creds_t c = {.expires = 0};
    assert_true (ll_aws_creds_fresh (&c, 1000));  //  static keys
    c.expires = 10000;
    assert_true (ll_aws_creds_fresh (&c, 10000 - LL_AWS_REFRESH_S - 1));
    assert_false (ll_aws_creds_fresh (&c, 10000 - LL_AWS_REFRESH_S));
    assert_false (ll_aws_creds_fresh (&c, 10001));
}

static void
test_chain_environment (void **state)
{
    char dir[] = "/tmp/lablink-aws-unit.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char credentials[256], config[256];
    snprintf (credentials, sizeof credentials, "%s/credentials", dir);
    snprintf (config, sizeof config, "%s/config", dir);
    FILE *f = fopen (credentials, "w");
    fputs (s_credentials, f);
    fclose (f);
    f = fopen (config, "w");
    fputs (s_config, f);
    fclose (f);
    setenv ("AWS_SHARED_CREDENTIALS_FILE", credentials, 1);
    setenv ("AWS_CONFIG_FILE", config, 1);
    setenv ("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv ("AWS_PROFILE");
    unsetenv ("AWS_ACCESS_KEY_ID");
    unsetenv ("AWS_SECRET_ACCESS_KEY");
    unsetenv ("AWS_SESSION_TOKEN");

    ll_aws_chain_t *chain = ll_aws_chain_new ();
    assert_non_null (chain);
    ll_aws_creds_t c;
    char error[512];
    //  The default profile of the files
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), 0);
    assert_string_equal (c.source, "profile default");
    //  AWS_PROFILE picks another
    setenv ("AWS_PROFILE", "dev", 1);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), 0);
    assert_string_equal (c.access_key_id, "AKIADEV");
    //  The environment's keys come first, even with AWS_PROFILE set
    setenv ("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv ("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), 0);
    assert_string_equal (c.source, "environment");
    assert_string_equal (c.access_key_id, "AKIAENV");
    assert_string_equal (c.session_token, "");
    setenv ("AWS_SESSION_TOKEN", "env-token", 1);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), 0);
    assert_string_equal (c.session_token, "env-token");
    //  Half a pair is an error, not a fall-through to the files
    unsetenv ("AWS_SECRET_ACCESS_KEY");
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), -1);
    assert_non_null (strstr (error, "AWS_ACCESS_KEY_ID is set without"));
    unsetenv ("AWS_ACCESS_KEY_ID");
    unsetenv ("AWS_SESSION_TOKEN");
    //  A named profile that is nowhere is an error (as in the AWS CLI)
    setenv ("AWS_PROFILE", "nobody", 1);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), -1);
    assert_non_null (strstr (error, "'nobody' is in neither"));
    setenv ("AWS_PROFILE", "admin", 1);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), -1);
    assert_non_null (strstr (error, "role_arn"));
    //  No profile, no files: the instance role, which is switched off here
    unsetenv ("AWS_PROFILE");
    unlink (credentials);
    unlink (config);
    assert_int_equal (ll_aws_chain_get (chain, &c, error, sizeof error), -1);
    assert_non_null (strstr (error, "AWS_EC2_METADATA_DISABLED"));
    ll_aws_chain_destroy (&chain);
    ll_aws_chain_destroy (&chain);
    rmdir (dir);
}

static void
test_config_state_backend (void **state)
{
    char error[512];
    ll_config_t *c = ll_config_new_defaults ();
    assert_string_equal (ll_config_state_backend (c), "s3");  //  aws
    assert_string_equal (c->provider.state_lock_table, "lock-table");
    char prefix[128];
    assert_int_equal (ll_config_s3_prefix (c, prefix, sizeof prefix), 0);
    assert_string_equal (prefix, "prod");
    free (c->deployment_name);
    c->deployment_name = strdup ("lablink");
    assert_int_equal (ll_config_s3_prefix (c, prefix, sizeof prefix), 0);
    assert_string_equal (prefix, "lablink/prod");
    free (c->environment);
    c->environment = strdup ("../x");
    assert_int_equal (ll_config_s3_prefix (c, prefix, sizeof prefix), -1);
    assert_int_equal (ll_config_validate (c, error, sizeof error), -1);
    assert_non_null (strstr (error, "state's key"));
    ll_config_destroy (&c);

    static const char local[] = "provider:\n  kind: local\n";
    c = ll_config_parse (local, strlen (local), error, sizeof error);
    assert_non_null (c);
    assert_string_equal (ll_config_state_backend (c), "local");
    ll_config_destroy (&c);

    static const char *const refused[] = {
        "provider:\n  state_backend: gcs\n",
        "bucket_name: Not_A_Bucket\n",
        "provider:\n  kind: local\n  state_backend: s3\nbucket_name: x\n",
        "provider:\n  state_lock_table: \"a b\"\n",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        c = ll_config_parse (refused[i], strlen (refused[i]), error,
                             sizeof error);
        assert_null (c);
    }
    //  An odd bucket name is fine while nothing uses the bucket
    static const char unused[] =
        "provider:\n  kind: local\nbucket_name: Not_A_Bucket\n";
    c = ll_config_parse (unused, strlen (unused), error, sizeof error);
    assert_non_null (c);
    ll_config_destroy (&c);
}

static void
test_config_warnings (void **state)
{
    char error[512];
    ll_config_t *c = ll_config_new_defaults ();
    char *w = ll_config_warnings (c);
    //  The default image names no registry
    assert_non_null (w);
    assert_non_null (strstr (w, "names no registry"));
    assert_null (strstr (w, "upstream"));
    free (w);
    static const char upstream[] =
        "machine:\n  image: ghcr.io/talmolab/lablink-client-base-image:latest\n"
        "provider:\n  state_backend: local\n";
    ll_config_destroy (&c);
    c = ll_config_parse (upstream, strlen (upstream), error, sizeof error);
    assert_non_null (c);
    w = ll_config_warnings (c);
    assert_non_null (w);
    assert_non_null (strstr (w, "upstream's client image"));
    assert_non_null (strstr (w, "state_backend: local"));
    free (w);
    ll_config_destroy (&c);
    static const char fine[] =
        "machine:\n  image: registry.example.org/lablink-client:0.1.0\n";
    c = ll_config_parse (fine, strlen (fine), error, sizeof error);
    assert_null (ll_config_warnings (c));
    ll_config_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_profiles),
        cmocka_unit_test (test_imds_document),
        cmocka_unit_test (test_refresh_rule),
        cmocka_unit_test (test_chain_environment),
        cmocka_unit_test (test_config_state_backend),
        cmocka_unit_test (test_config_warnings),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
