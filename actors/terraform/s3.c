#include "actors/terraform/s3.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    return size * count;
}

//  Only characters that need no escaping in a URL path, and '/'.
static int
s_key_ok (const char *key)
{
    if (!key || !*key || *key == '/')
        return 0;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || strchr ("-._~/", *p)))
            return 0;
    return 1;
}

int
ll_s3_put (const ll_s3_put_t *r,
           const void *body,
           size_t len,
           char *error,
           size_t errsize)
{
    if (!r->bucket || !*r->bucket || !s_key_ok (r->key) || !r->region
        || !*r->region || !s_key_ok (r->bucket) || strchr (r->bucket, '/')
        || !s_key_ok (r->region) || strchr (r->region, '/')) {
        snprintf (error, errsize, "invalid bucket, key or region");
        return -1;
    }
    if (!r->access_key_id || !*r->access_key_id || !r->secret_access_key
        || !*r->secret_access_key) {
        snprintf (error, errsize, "no AWS credentials");
        return -1;
    }
    char url[2048];
    if (r->endpoint && *r->endpoint)
        snprintf (url, sizeof url, "%s/%s/%s", r->endpoint, r->bucket, r->key);
    else
        snprintf (url, sizeof url, "https://%s.s3.%s.amazonaws.com/%s",
                  r->bucket, r->region, r->key);
    char sigv4[256];
    snprintf (sigv4, sizeof sigv4, "aws:amz:%s:s3", r->region);

    //  S3 wants the payload's hash in a header of its own
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, body, len);
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    char header[512];
    struct curl_slist *headers = NULL;
    snprintf (header, sizeof header, "x-amz-content-sha256: %s", hex);
    headers = curl_slist_append (headers, header);
    snprintf (header, sizeof header, "Content-Type: %s",
              r->content_type ? r->content_type : "text/plain");
    headers = curl_slist_append (headers, header);
    char *token_header = NULL;
    if (r->session_token && *r->session_token) {
        size_t n = strlen (r->session_token) + 32;
        token_header = malloc (n);
        snprintf (token_header, n, "x-amz-security-token: %s",
                  r->session_token);
        headers = curl_slist_append (headers, token_header);
    }
    //  No "Expect:" override: libcurl would sign that empty header without
    //  sending it, and S3 would refuse the signature (bodies here are far
    //  below the size where libcurl asks for 100-continue)

    CURL *curl = curl_easy_init ();
    if (!curl) {
        curl_slist_free_all (headers);
        free (token_header);
        snprintf (error, errsize, "libcurl cannot start");
        return -1;
    }
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt (curl, CURLOPT_USERNAME, r->access_key_id);
    curl_easy_setopt (curl, CURLOPT_PASSWORD, r->secret_access_key);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT,
                      (long) (r->timeout_s > 0 ? r->timeout_s : 30));
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (curl);
    curl_slist_free_all (headers);
    if (token_header) {
        sodium_memzero (token_header, strlen (token_header));
        free (token_header);
    }
    if (rc != CURLE_OK) {
        snprintf (error, errsize, "%s", curl_easy_strerror (rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf (error, errsize, "S3 answered HTTP %ld", status);
        return -1;
    }
    return 0;
}
