/*  A one-call S3 upload signed with AWS Signature V4 by libcurl
    (CURLOPT_AWS_SIGV4): the terraform actor backs up
    terraform.runtime.tfvars with it (reference 2.4 step 9). */
#ifndef LL_ACTOR_S3_H
#define LL_ACTOR_S3_H

#include <stddef.h>

typedef struct {
    const char *endpoint;  //  NULL = https://<bucket>.s3.<region>.amazonaws.com
                           //  else <endpoint>/<bucket>/<key> (path style)
    const char *region;
    const char *bucket;
    const char *key;  //  object key, no leading '/'
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;  //  NULL or "" = none
    const char *content_type;   //  NULL = text/plain
    int timeout_s;              //  whole request
} ll_s3_put_t;

//  PUT body as the object. 0 on a 2xx answer, else -1 with the reason
//  (HTTP status or transport error) in error.
int ll_s3_put (const ll_s3_put_t *request,
               const void *body,
               size_t len,
               char *error,
               size_t errsize);

#endif
