/*  AWS credentials, found the way AWS's own tools find them:

    1. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
       (+ AWS_SESSION_TOKEN); one without the other is an error;
    2. the shared files with the profile AWS_PROFILE (else "default"):
       AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials, section [name])
       first, then AWS_CONFIG_FILE (~/.aws/config, [profile name] or
       [default]); static keys only: a profile that assumes a role, runs a
       process or uses SSO is an error naming it. An AWS_PROFILE that is in
       neither file is an error, as in the AWS CLI;
    3. the instance role through IMDSv2 (unless AWS_EC2_METADATA_DISABLED is
       true): PUT /latest/api/token for a session token, then with it
       GET /latest/meta-data/iam/security-credentials/ (the role) and
       .../<role> (the keys and their Expiration). The endpoint is
       AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254).
       Keys are cached and fetched again once fewer than LL_AWS_REFRESH_S
       seconds remain; a refusal of the session token (401) fetches a new
       one once. If a refresh fails, keys still valid for LL_AWS_GRACE_S are
       used meanwhile.

    One chain per thread (it owns a libcurl handle). Nothing here logs a
    key; callers never should either. */
#ifndef LL_AWS_H
#define LL_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LL_AWS_REFRESH_S  900    //  refresh keys this close to Expiration
#define LL_AWS_GRACE_S    60     //  after a failed refresh, still usable
#define LL_AWS_KEY_MAX    256    //  access key id, secret key
#define LL_AWS_TOKEN_MAX  4096   //  session token
#define LL_AWS_FILE_MAX   65536  //  bytes read of a shared file
#define LL_AWS_SOURCE_MAX 160    //  "instance role <name>" etc.

typedef struct {
    char access_key_id[LL_AWS_KEY_MAX];
    char secret_access_key[LL_AWS_KEY_MAX];
    char session_token[LL_AWS_TOKEN_MAX];  //  "" when none
    int64_t expires;                       //  epoch seconds, 0 = never
    char source[LL_AWS_SOURCE_MAX];        //  where they came from (no secret)
} ll_aws_creds_t;

typedef struct ll_aws_chain ll_aws_chain_t;

ll_aws_chain_t *ll_aws_chain_new (void);
void ll_aws_chain_destroy (ll_aws_chain_t **self_p);

//  Current credentials (environment and files read at every call, the
//  instance role's cached). 0, or -1 with why (no secret in it).
int ll_aws_chain_get (ll_aws_chain_t *self,
                      ll_aws_creds_t *out,
                      char *error,
                      size_t errsize);

//  Wipe credentials from memory.
void ll_aws_creds_clear (ll_aws_creds_t *creds);

//  --- the pieces, pure (tests) ----------------------------------------------

//  Keys of profile from the shared files' texts (either may be NULL).
//  1 found, 0 the profile is in neither text, -1 the profile is there but
//  unusable (why in error).
int ll_aws_profile_parse (const char *credentials_text,
                          const char *config_text,
                          const char *profile,
                          ll_aws_creds_t *out,
                          char *error,
                          size_t errsize);

//  The instance role's credentials document (IMDS). 0 or -1 with why.
int ll_aws_imds_parse (const char *json,
                       size_t len,
                       ll_aws_creds_t *out,
                       char *error,
                       size_t errsize);

//  True when creds may be used at now without a refresh.
bool ll_aws_creds_fresh (const ll_aws_creds_t *creds, int64_t now);

#endif
