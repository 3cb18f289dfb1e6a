/*  The tfvars backup to S3 (libcurl's CURLOPT_AWS_SIGV4) against a local
    HTTP server that records the request: PUT of the exact bytes to
    /<bucket>/<key>, x-amz-date, x-amz-content-sha256 of the body, the
    session token, and an Authorization header whose AWS Signature V4 this
    test recomputes from the request it received. Non-2xx is a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <czmq.h>

#include <curl/curl.h>

#include "actors/terraform/s3.h"

typedef struct {
    int listener;         //  bound socket
    int status;           //  status to answer
    char request[16384];  //  what arrived (headers + body)
    size_t len;           //  bytes in request
} server_t;

static void *
s_serve (void *arg)
{
    server_t *self = arg;
    int conn = accept (self->listener, NULL, NULL);
    if (conn < 0)
        return NULL;
    size_t want = 0;
    while (self->len < sizeof self->request - 1) {
        ssize_t n = read (conn, self->request + self->len,
                          sizeof self->request - 1 - self->len);
        if (n <= 0)
            break;
        self->len += (size_t) n;
        self->request[self->len] = '\0';
        char *end = strstr (self->request, "\r\n\r\n");
        if (end && !want) {
            char *cl = strstr (self->request, "\r\nContent-Length:");
            want = (size_t) (end + 4 - self->request)
                   + (cl ? strtoul (cl + 17, NULL, 10) : 0);
        }
        if (want && self->len >= want)
            break;
    }
    char reply[128];
    int len = snprintf (reply, sizeof reply,
                        "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n",
                        self->status);
    if (write (conn, reply, (size_t) len) < 0)
        perror ("write");
    close (conn);
    return NULL;
}

static int
s_listen (server_t *self)
{
    self->listener = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (
        bind (self->listener, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (self->listener, 1), 0);
    socklen_t size = sizeof addr;
    getsockname (self->listener, (struct sockaddr *) &addr, &size);
    return ntohs (addr.sin_port);
}

//  Value of a request header (lower-case name), new string, or NULL.
static char *
s_header (const char *request, const char *name)
{
    const char *line = strstr (request, "\r\n");
    while (line && strncmp (line, "\r\n\r\n", 4) != 0) {
        line += 2;
        const char *eol = strstr (line, "\r\n");
        const char *colon = strchr (line, ':');
        if (colon && colon < eol && (size_t) (colon - line) == strlen (name)
            && strncasecmp (line, name, strlen (name)) == 0) {
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            return strndup (v, (size_t) (eol - v));
        }
        line = eol;
    }
    return NULL;
}

static void
s_hex_sha256 (const void *data, size_t len, char *hex)
{
    unsigned char digest[32];
    crypto_hash_sha256 (digest, data, len);
    sodium_bin2hex (hex, 65, digest, 32);
}

static void
s_hmac (const unsigned char *key,
        size_t key_len,
        const char *text,
        unsigned char *out)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init (&st, key, key_len);
    crypto_auth_hmacsha256_update (&st, (const unsigned char *) text,
                                   strlen (text));
    crypto_auth_hmacsha256_final (&st, out);
}

static void
test_put_signed (void **state)
{
    server_t server = {.status = 200};
    int port = s_listen (&server);
    pthread_t thread;
    pthread_create (&thread, NULL, s_serve, &server);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    const char body[] = "vm_names = [\"a\"]\nagent_tokens = {\"a\" = \"t\"}\n";
    ll_s3_put_t request = {
        .endpoint = endpoint,
        .region = "us-west-2",
        .bucket = "tf-state-bucket",
        .key = "lablink/prod/client/terraform.runtime.tfvars",
        .access_key_id = "AKIDEXAMPLE",
        .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        .session_token = "session-token-value",
        .timeout_s = 10,
    };
    char error[256] = "";
    assert_int_equal (
        ll_s3_put (&request, body, strlen (body), error, sizeof error), 0);
    pthread_join (thread, NULL);
    close (server.listener);
    const char *req = server.request;
    assert_true (strncmp (req,
                          "PUT /tf-state-bucket/lablink/prod/client/"
                          "terraform.runtime.tfvars HTTP/1.1\r\n",
                          72)
                 == 0);
    //  the body, byte for byte
    const char *payload = strstr (req, "\r\n\r\n") + 4;
    assert_int_equal (server.len - (size_t) (payload - req), strlen (body));
    assert_memory_equal (payload, body, strlen (body));
    char hash[65];
    s_hex_sha256 (body, strlen (body), hash);
    char *content_hash = s_header (req, "x-amz-content-sha256");
    assert_non_null (content_hash);
    assert_string_equal (content_hash, hash);
    char *token = s_header (req, "x-amz-security-token");
    assert_non_null (token);
    assert_string_equal (token, "session-token-value");
    char *date = s_header (req, "x-amz-date");
    assert_non_null (date);
    assert_int_equal (strlen (date), 16);
    assert_int_equal (date[8], 'T');
    assert_int_equal (date[15], 'Z');
    char *type = s_header (req, "content-type");
    assert_string_equal (type, "text/plain");

    //  Authorization: recompute the signature from what arrived
    char *auth = s_header (req, "authorization");
    assert_non_null (auth);
    char scope[128];
    snprintf (scope, sizeof scope, "%.8s/us-west-2/s3/aws4_request", date);
    char prefix[256];
    snprintf (
        prefix, sizeof prefix,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%s, SignedHeaders=", scope);
    assert_true (strncmp (auth, prefix, strlen (prefix)) == 0);
    const char *signed_headers = auth + strlen (prefix);
    const char *comma = strstr (signed_headers, ", Signature=");
    assert_non_null (comma);
    char *names = strndup (signed_headers, (size_t) (comma - signed_headers));
    const char *signature = comma + 12;
    assert_int_equal (strlen (signature), 64);
    assert_non_null (strstr (names, "host"));
    assert_non_null (strstr (names, "x-amz-content-sha256"));
    assert_non_null (strstr (names, "x-amz-date"));
    assert_non_null (strstr (names, "x-amz-security-token"));

    char canonical[8192];
    size_t len = (size_t) snprintf (canonical, sizeof canonical,
                                    "PUT\n/tf-state-bucket/lablink/prod/client/"
                                    "terraform.runtime.tfvars\n\n");
    char *list = strdup (names);
    for (char *save = NULL, *name = strtok_r (list, ";", &save); name;
         name = strtok_r (NULL, ";", &save)) {
        char *value = s_header (req, name);
        if (!value)
            fail_msg ("signed header %s not in the request:\n%s", name, req);
        len += (size_t) snprintf (canonical + len, sizeof canonical - len,
                                  "%s:%s\n", name, value);
        free (value);
    }
    free (list);
    snprintf (canonical + len, sizeof canonical - len, "\n%s\n%s", names, hash);
    char canonical_hash[65];
    s_hex_sha256 (canonical, strlen (canonical), canonical_hash);
    char to_sign[512];
    snprintf (to_sign, sizeof to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", date,
              scope, canonical_hash);
    char day[9];
    snprintf (day, sizeof day, "%.8s", date);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    const char *secret = "AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    s_hmac ((const unsigned char *) secret, strlen (secret), day, k1);
    s_hmac (k1, 32, "us-west-2", k2);
    s_hmac (k2, 32, "s3", k3);
    s_hmac (k3, 32, "aws4_request", k4);
    s_hmac (k4, 32, to_sign, sig);
    char expected[65];
    sodium_bin2hex (expected, sizeof expected, sig, 32);
    assert_string_equal (signature, expected);

    free (names);
    free (auth);
    free (type);
    free (date);
    free (token);
    free (content_hash);
}

static void
test_errors (void **state)
{
    server_t server = {.status = 403};
    int port = s_listen (&server);
    pthread_t thread;
    pthread_create (&thread, NULL, s_serve, &server);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    ll_s3_put_t request = {.endpoint = endpoint,
                           .region = "us-west-2",
                           .bucket = "b",
                           .key = "k",
                           .access_key_id = "AKID",
                           .secret_access_key = "secret",
                           .timeout_s = 10};
    char error[256] = "";
    assert_int_equal (ll_s3_put (&request, "x", 1, error, sizeof error), -1);
    assert_non_null (strstr (error, "403"));
    pthread_join (thread, NULL);
    close (server.listener);
    //  No credentials, or a key that would need escaping: nothing sent
    request.access_key_id = NULL;
    assert_int_equal (ll_s3_put (&request, "x", 1, error, sizeof error), -1);
    assert_string_equal (error, "no AWS credentials");
    request.access_key_id = "AKID";
    request.key = "a b/../c?x";
    assert_int_equal (ll_s3_put (&request, "x", 1, error, sizeof error), -1);
}

int
main (void)
{
    assert_true (sodium_init () >= 0);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_put_signed),
        cmocka_unit_test (test_errors),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return rc;
}
