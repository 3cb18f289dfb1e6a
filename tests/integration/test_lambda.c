/*  lablink-lambda as `make lambda` packages it (lambda/package: bootstrap
    and lib/, unzipped and run with lib/ on LD_LIBRARY_PATH as Lambda does)
    against a stand-in for the Lambda Runtime API (written here with
    civetweb) and the real allocator with PostgreSQL: a CloudWatch event's
    lines are stored and the invocation answered with upstream's return
    value; an event for an unknown VM, a malformed payload and a wrong token
    are reported as invocation errors (so Lambda retries); control messages
    (also CloudWatch's own, verbatim) succeed without a post; an event of
    real CloudWatch shape larger than one post is posted in chunks and,
    delivered twice (Lambda's retry), stored once: every line arrives once;
    missing configuration is an init error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <civetweb.h>
#include <czmq.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/config.h"
#include "runtime/db.h"
#include "runtime/textbuf.h"
#include "runtime/token.h"
#include "support.h"

#define S_EVENTS 12

//  The stand-in Runtime API: a queue of events, the answers received.
typedef struct {
    pthread_mutex_t lock;     //  guards everything below
    char *events[S_EVENTS];   //  queued invocation bodies
    int queued, served;       //  queue positions
    char *answers[S_EVENTS];  //  "response <body>" / "error <body>"
    int answered;             //  answers received
    char init_error[512];     //  body of /runtime/init/error
} s_runtime_t;

static int
s_runtime_request (struct mg_connection *conn)
{
    const struct mg_request_info *info = mg_get_request_info (conn);
    s_runtime_t *rt = mg_get_user_data (mg_get_context (conn));
    const char *uri = info->local_uri;
    if (strcmp (uri, "/2018-06-01/runtime/invocation/next") == 0) {
        //  Hold the request up to 1 s for an event, like the real API
        for (int i = 0; i < 10; i++) {
            pthread_mutex_lock (&rt->lock);
            char *event =
                rt->served < rt->queued ? rt->events[rt->served] : NULL;
            int id = rt->served;
            if (event)
                rt->served++;
            pthread_mutex_unlock (&rt->lock);
            if (event) {
                char head[512];
                int n = snprintf (
                    head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Lambda-Runtime-Aws-Request-Id: req-%d\r\n"
                    "Lambda-Runtime-Deadline-Ms: 9999999999999\r\n"
                    "Content-Length: %zu\r\n\r\n",
                    id, strlen (event));
                mg_write (conn, head, (size_t) n);
                mg_write (conn, event, strlen (event));
                return 200;
            }
            usleep (100 * 1000);
        }
        mg_printf (conn, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
        return 503;
    }
    //  On the heap: civetweb's worker stacks are small
    size_t cap = 65536;
    char *body = malloc (cap);
    int len = 0, n;
    while (len < (int) cap - 1
           && (n = mg_read (conn, body + len, cap - 1 - (size_t) len)) > 0)
        len += n;
    body[len] = '\0';
    int id = -1;
    char kind[16] = "";
    if (sscanf (uri, "/2018-06-01/runtime/invocation/req-%d/%15s", &id, kind)
            == 2
        && id >= 0 && id < S_EVENTS) {
        pthread_mutex_lock (&rt->lock);
        size_t size = strlen (kind) + 2 + (size_t) len;
        rt->answers[id] = malloc (size);
        snprintf (rt->answers[id], size, "%s %s", kind, body);
        rt->answered++;
        pthread_mutex_unlock (&rt->lock);
    }
    else if (strcmp (uri, "/2018-06-01/runtime/init/error") == 0) {
        pthread_mutex_lock (&rt->lock);
        snprintf (rt->init_error, sizeof rt->init_error, "%.500s", body);
        pthread_mutex_unlock (&rt->lock);
    }
    free (body);
    mg_printf (conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}");
    return 202;
}

//  base64 (gzip (text))
static char *
s_gzip_b64 (const char *text)
{
    size_t len = strlen (text);
    size_t cap = compressBound (len) + 64;
    unsigned char *gz = malloc (cap);
    z_stream z = {0};
    deflateInit2 (&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *) text;
    z.avail_in = (uInt) len;
    z.next_out = gz;
    z.avail_out = (uInt) cap;
    deflate (&z, Z_FINISH);
    size_t gz_len = cap - z.avail_out;
    deflateEnd (&z);
    size_t b64_len =
        sodium_base64_encoded_len (gz_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc (b64_len);
    sodium_bin2base64 (b64, b64_len, gz, gz_len,
                       sodium_base64_VARIANT_ORIGINAL);
    free (gz);
    return b64;
}

static char *
s_event (const char *type, const char *stream, const char *messages_json)
{
    char inner[4096];
    snprintf (inner, sizeof inner,
              "{\"messageType\":\"%s\",\"owner\":\"123\",\"logGroup\":"
              "\"lablink-cloud-init-test\",\"logStream\":\"%s\","
              "\"subscriptionFilters\":[\"f\"],\"logEvents\":%s}",
              type, stream, messages_json);
    char *b64 = s_gzip_b64 (inner);
    size_t size = strlen (b64) + 64;
    char *event = malloc (size);
    snprintf (event, size, "{\"awslogs\":{\"data\":\"%s\"}}", b64);
    free (b64);
    return event;
}

//  An event as CloudWatch Logs sends it: lines lines of about 600 bytes,
//  "big-<n> ..." (unique), with CloudWatch's 56-digit event ids and
//  millisecond timestamps.
static char *
s_cw_event (const char *group, const char *stream, int lines)
{
    json_t *events = json_array ();
    char id[64], message[700];
    for (int n = 0; n < lines; n++) {
        snprintf (id, sizeof id, "3%055d", n);
        snprintf (message, sizeof message,
                  "big-%04d Dec 02 18:00:00 cloud-init[1234]: %0560d", n, n);
        json_array_append_new (
            events,
            json_pack ("{s:s, s:I, s:s}", "id", id, "timestamp",
                       (json_int_t) 1764698400000 + n, "message", message));
    }
    json_t *doc = json_pack (
        "{s:s, s:s, s:s, s:s, s:[s], s:o}", "messageType", "DATA_MESSAGE",
        "owner", "123456789012", "logGroup", group, "logStream", stream,
        "subscriptionFilters", "lablink-prod-to-lambda", "logEvents", events);
    char *inner = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    char *b64 = s_gzip_b64 (inner);
    free (inner);
    size_t size = strlen (b64) + 64;
    char *event = malloc (size);
    snprintf (event, size, "{\"awslogs\":{\"data\":\"%s\"}}", b64);
    free (b64);
    return event;
}

static size_t
s_sink (char *data, size_t size, size_t count, void *arg)
{
    ll_textbuf_append (arg, data, size * count);
    return size * count;
}

//  An HTTP call to the allocator; returns the status, body into out.
static long
s_request (const char *url,
           const char *token,
           const char *body,
           ll_textbuf_t *out)
{
    CURL *c = curl_easy_init ();
    char auth[600];
    struct curl_slist *headers = NULL;
    if (token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append (headers, auth);
    }
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_sink);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, out);
    if (body)
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform (c) == CURLE_OK)
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (headers);
    curl_easy_cleanup (c);
    return status;
}

static pid_t
s_spawn (char *const argv[], char *const env[], const char *log)
{
    pid_t pid = fork ();
    if (pid == 0) {
        FILE *f = fopen (log, "a");
        if (f) {
            dup2 (fileno (f), 1);
            dup2 (fileno (f), 2);
        }
        if (env)
            execve (argv[0], argv, env);
        else
            execv (argv[0], argv);
        _exit (127);
    }
    return pid;
}

static int
s_stop (pid_t pid)
{
    kill (pid, SIGTERM);
    int status = 0;
    waitpid (pid, &status, 0);
    return status;
}

//  The port the allocator logged it listens on (it listens on port 0, so
//  no other test can hold it), or -1 when it did not start within 10 s.
static int
s_allocator_port (const char *log)
{
    for (int i = 0; i < 100; i++) {
        char *text = ll_file_read (log, 1 << 20, NULL);
        const char *line = text ? strstr (text, "http: listening on ") : NULL;
        const char *at = line ? strstr (line, "(port ") : NULL;
        int port = at ? (int) strtol (at + 6, NULL, 10) : 0;
        free (text);
        if (port > 0)
            return port;
        usleep (100 * 1000);
    }
    return -1;
}

static void
test_lambda (void **state)
{
    const char *dir = getenv ("LABLINK_TEST_DIR");
    const char *build = getenv ("LABLINK_BUILD_DIR");
    curl_global_init (CURL_GLOBAL_DEFAULT);
    assert_true (sodium_init () >= 0);

    //  The real allocator on a port of its own
    char path[1024], log[1024], url[256];
    snprintf (path, sizeof path, "%s/config.yaml", dir);
    snprintf (log, sizeof log, "%s/allocator.log", dir);
    FILE *f = fopen (path, "w");
    fprintf (f,
             "db:\n  host: 127.0.0.1\n  port: %s\napp:\n  admin_password: "
             "test-admin-password\n  listen: 127.0.0.1:0\nprovider:\n  kind: "
             "local\n",
             getenv ("LABLINK_DB_PORT"));
    fclose (f);
    char allocator[1024];
    snprintf (allocator, sizeof allocator, "%s/lablink-allocator", build);
    char *alloc_argv[] = {allocator, "--config", path, NULL};
    pid_t alloc = s_spawn (alloc_argv, NULL, log);
    int port = s_allocator_port (log);
    assert_true (port > 0);
    snprintf (url, sizeof url, "http://127.0.0.1:%d", port);
    char probe[300];
    snprintf (probe, sizeof probe, "%s/api/vm-status/x", url);
    long status = 0;
    for (int i = 0; i < 100 && status == 0; i++) {
        ll_textbuf_t out = {0};
        //  A service token makes the allocator create the server secret
        status = s_request (probe,
                            "_lambda.000000000000000000000000000000000000000000"
                            "0000000000000000000000",
                            NULL, &out);
        ll_textbuf_free (&out);
        if (status == 0)
            usleep (100 * 1000);
    }
    assert_int_equal (status, 401);

    //  Tokens from the server secret
    //  Through the allocator's own config and its named query
    char config_error[256];
    ll_config_t *config =
        ll_config_load (path, config_error, sizeof config_error);
    assert_non_null (config);
    ll_db_t *db = ll_db_new (config, NULL, "test");
    assert_non_null (db);
    assert_int_equal (ll_db_connect (db), 0);
    const char *key[] = {"server_secret"};
    PGresult *res = ll_db_exec (db, "settings_get", 1, key);
    assert_non_null (res);
    assert_int_equal (PQntuples (res), 1);
    char secret[129];
    snprintf (secret, sizeof secret, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    //  vm-1 is a registered VM with its own token (the CLI's statement);
    //  the Lambda's token is derived from the server secret
    char vm_token[LL_TOKEN_MAX], lambda_token[LL_TOKEN_MAX];
    char vm_hash[LL_TOKEN_HASH_HEX];
    assert_int_equal (ll_token_mint ("vm-1", vm_token, sizeof vm_token), 0);
    ll_token_hash (vm_token, vm_hash);
    const char *reg[] = {"vm-1", vm_hash, "test"};
    res = ll_db_exec (db, "vm_register", 3, reg);
    assert_non_null (res);
    PQclear (res);
    assert_int_equal (
        ll_token_derive (secret, "_lambda", lambda_token, sizeof lambda_token),
        0);
    char status_url[300];
    snprintf (status_url, sizeof status_url, "%s/api/vm-status", url);
    ll_textbuf_t out = {0};
    assert_int_equal (
        s_request (status_url, vm_token,
                   "{\"hostname\":\"vm-1\",\"status\":\"running\"}", &out),
        200);
    ll_textbuf_free (&out);

    //  The stand-in Runtime API with four invocations
    s_runtime_t rt = {.lock = PTHREAD_MUTEX_INITIALIZER};
    rt.events[rt.queued++] = s_event (
        "DATA_MESSAGE", "vm-1",
        "[{\"id\":\"1\",\"timestamp\":1,\"message\":\"lambda one\"},"
        "{\"id\":\"2\",\"timestamp\":2,\"message\":\"\\u001b[32mlambda "
        "two\\u001b[0m\"}]");
    rt.events[rt.queued++] =
        s_event ("DATA_MESSAGE", "ghost",
                 "[{\"id\":\"1\",\"timestamp\":1,\"message\":\"lost\"}]");
    rt.events[rt.queued++] = strdup ("{\"awslogs\":{\"data\":\"%%%\"}}");
    rt.events[rt.queued++] = s_event ("CONTROL_MESSAGE", "x", "[]");
    //  5: CloudWatch's own health check, verbatim; 6 and 7: one event of
    //  real CloudWatch shape, too big for one post, delivered twice
    char *control = s_gzip_b64 (
        "{\"messageType\": \"CONTROL_MESSAGE\", \"owner\": \"CloudwatchLogs\", "
        "\"logGroup\": \"\", \"logStream\": \"\", \"subscriptionFilters\": [], "
        "\"logEvents\": [{\"id\": \"\", \"timestamp\": 1432826855105, "
        "\"message\": \"CWL CONTROL MESSAGE: Checking health of destination "
        "Kinesis stream.\"}]}");
    size_t control_size = strlen (control) + 32;
    rt.events[rt.queued] = malloc (control_size);
    snprintf (rt.events[rt.queued++], control_size,
              "{\"awslogs\":{\"data\":\"%s\"}}", control);
    free (control);
    const int big_lines = 1200;  //  about 700 KiB: three posts
    rt.events[rt.queued++] =
        s_cw_event ("lablink-prod-cloud-init", "vm-1", big_lines);
    rt.events[rt.queued] = strdup (rt.events[rt.queued - 1]);
    rt.queued++;
    struct mg_callbacks callbacks = {.begin_request = s_runtime_request};
    const char *options[] = {"listening_ports", "127.0.0.1:0", "num_threads",
                             "4", NULL};
    struct mg_context *ctx = mg_start (&callbacks, &rt, options);
    assert_non_null (ctx);
    struct mg_server_port ports[1];
    assert_int_equal (mg_get_server_ports (ctx, 1, ports), 1);

    char runtime_api[64], endpoint[300], env_api[128], env_endpoint[400],
        env_token[600];
    snprintf (runtime_api, sizeof runtime_api, "127.0.0.1:%d", ports[0].port);
    snprintf (endpoint, sizeof endpoint, "%s/api/vm-logs", url);
    snprintf (env_api, sizeof env_api, "AWS_LAMBDA_RUNTIME_API=%s",
              runtime_api);
    snprintf (env_endpoint, sizeof env_endpoint, "API_ENDPOINT=%s", endpoint);
    snprintf (env_token, sizeof env_token, "API_TOKEN=%s", lambda_token);
    //  The package `make lambda` makes, unzipped as Lambda does
    char lambda[1100], lambda_log[1024], zip[1024], task[1024], source[1024];
    char binary[1024], env_lib[1100], env_root[1100];
    snprintf (source, sizeof source, "%s/lambda/package",
              getenv ("LABLINK_SOURCE_DIR"));
    snprintf (binary, sizeof binary, "%s/lablink-lambda", build);
    snprintf (zip, sizeof zip, "%s/lablink-lambda.zip", dir);
    snprintf (task, sizeof task, "%s/task", dir);
    snprintf (lambda_log, sizeof lambda_log, "%s/lambda.log", dir);
    char *package_argv[] = {"/bin/bash", source, binary, zip, NULL};
    int wstatus = 0;
    waitpid (s_spawn (package_argv, NULL, lambda_log), &wstatus, 0);
    assert_true (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0);
    char *unzip_argv[] = {"/usr/bin/unzip", "-q", zip, "-d", task, NULL};
    waitpid (s_spawn (unzip_argv, NULL, lambda_log), &wstatus, 0);
    assert_true (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0);
    snprintf (lambda, sizeof lambda, "%s/bootstrap", task);
    assert_int_equal (access (lambda, X_OK), 0);
    static const char *const libs[] = {"libcurl.so.4", "libjansson.so.4",
                                       "libsodium.so.23", "libz.so.1"};
    for (size_t l = 0; l < sizeof libs / sizeof libs[0]; l++) {
        char lib[1200];
        snprintf (lib, sizeof lib, "%s/lib/%s", task, libs[l]);
        if (access (lib, R_OK) != 0)
            fail_msg ("the package lacks lib/%s", libs[l]);
    }
    snprintf (env_lib, sizeof env_lib, "LD_LIBRARY_PATH=%s/lib", task);
    snprintf (env_root, sizeof env_root, "LAMBDA_TASK_ROOT=%s", task);
    char *lambda_argv[] = {lambda, NULL};
    char *env[] = {env_api,  env_endpoint,         env_token, env_lib,
                   env_root, "_HANDLER=bootstrap", NULL};
    pid_t pid = s_spawn (lambda_argv, env, lambda_log);
    for (int i = 0; i < 600; i++) {
        pthread_mutex_lock (&rt.lock);
        int answered = rt.answered;
        pthread_mutex_unlock (&rt.lock);
        if (answered == 7)
            break;
        usleep (100 * 1000);
    }
    s_stop (pid);
    assert_int_equal (rt.answered, 7);
    //  1: stored, upstream's return value
    assert_non_null (rt.answers[0]);
    assert_int_equal (strncmp (rt.answers[0], "response ", 9), 0);
    json_t *reply = json_loads (rt.answers[0] + 9, 0, NULL);
    assert_int_equal (
        json_integer_value (json_object_get (reply, "statusCode")), 200);
    json_t *inner = json_loads (
        json_string_value (json_object_get (reply, "body")), 0, NULL);
    assert_string_equal (json_string_value (json_object_get (inner, "message")),
                         "Logs processed successfully");
    assert_string_equal (
        json_string_value (json_object_get (inner, "log_stream")), "vm-1");
    assert_int_equal (json_integer_value (json_object_get (inner, "log_count")),
                      2);
    json_decref (inner);
    json_decref (reply);
    //  2: unknown VM -> the allocator's 404 -> invocation error; the
    //  Lambda's token made no row and stored no line for a VM nobody
    //  launched
    assert_int_equal (strncmp (rt.answers[1], "error ", 6), 0);
    assert_non_null (strstr (rt.answers[1], "404"));
    res = PQexec (ll_db_conn (db),
                  "SELECT (SELECT count(*) FROM vms WHERE hostname = 'ghost')"
                  " + (SELECT count(*) FROM vm_logs WHERE hostname = 'ghost')");
    assert_int_equal (PQresultStatus (res), PGRES_TUPLES_OK);
    assert_string_equal (PQgetvalue (res, 0, 0), "0");
    PQclear (res);
    //  3: malformed payload -> invocation error
    assert_int_equal (strncmp (rt.answers[2], "error ", 6), 0);
    assert_non_null (strstr (rt.answers[2], "base64"));
    //  4, 5: control messages succeed without posting
    assert_int_equal (strncmp (rt.answers[3], "response ", 9), 0);
    assert_int_equal (strncmp (rt.answers[4], "response ", 9), 0);
    //  6, 7: the big event, both deliveries acknowledged with its count
    for (int a = 5; a <= 6; a++) {
        if (strncmp (rt.answers[a], "response ", 9) != 0)
            fail_msg ("delivery %d of the big event: %s", a - 4, rt.answers[a]);
        json_t *big = json_loads (rt.answers[a] + 9, 0, NULL);
        json_t *body = json_loads (
            json_string_value (json_object_get (big, "body")), 0, NULL);
        assert_int_equal (
            json_integer_value (json_object_get (body, "log_count")),
            big_lines);
        json_decref (body);
        json_decref (big);
    }
    //  ...in three posts (256 KiB each at most), every line stored once
    char big_url[300];
    snprintf (big_url, sizeof big_url, "%s/api/vm-logs/vm-1?lines=10000", url);
    ll_textbuf_t big_logs = {0};
    assert_int_equal (s_request (big_url, vm_token, NULL, &big_logs), 200);
    json_t *read = json_loads (ll_textbuf_text (&big_logs), 0, NULL);
    ll_textbuf_free (&big_logs);
    zhash_t *seen = zhash_new ();
    size_t li, stored = 0;
    json_t *line;
    json_array_foreach (json_object_get (read, "lines"), li, line)
    {
        const char *text = json_string_value (json_object_get (line, "line"));
        if (!text || strncmp (text, "big-", 4) != 0)
            continue;
        stored++;
        char number[9];
        snprintf (number, sizeof number, "%.8s", text);
        if (zhash_insert (seen, number, "") != 0)
            fail_msg ("line %s stored twice", number);
        assert_string_equal (
            json_string_value (json_object_get (line, "stream")), "cloud_init");
    }
    assert_int_equal (stored, big_lines);
    zhash_destroy (&seen);
    json_decref (read);
    //  The lines are in the allocator, cleaned
    char logs_url[300];
    snprintf (logs_url, sizeof logs_url, "%s/api/vm-logs/vm-1?after=0&lines=2",
              url);
    ll_textbuf_t logs = {0};
    assert_int_equal (s_request (logs_url, vm_token, NULL, &logs), 200);
    assert_non_null (
        strstr (ll_textbuf_text (&logs),
                "\"cloud_init_logs\":\"lambda one\\nlambda two\""));
    ll_textbuf_free (&logs);

    //  A wrong token: every invocation fails (so Lambda retries). A fresh
    //  stand-in: the old one may still hold the killed process's /next
    mg_stop (ctx);
    for (int i = 0; i < S_EVENTS; i++) {
        free (rt.answers[i]);
        rt.answers[i] = NULL;
    }
    rt.answered = 0;
    int bad = rt.queued;
    rt.events[rt.queued++] =
        s_event ("DATA_MESSAGE", "vm-1",
                 "[{\"id\":\"1\",\"timestamp\":1,\"message\":\"x\"}]");
    ctx = mg_start (&callbacks, &rt, options);
    assert_non_null (ctx);
    assert_int_equal (mg_get_server_ports (ctx, 1, ports), 1);
    snprintf (env_api, sizeof env_api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d",
              ports[0].port);
    char bad_token[700];
    snprintf (bad_token, sizeof bad_token, "API_TOKEN=_lambda.%064d", 0);
    char *bad_env[] = {env_api, env_endpoint, bad_token, env_lib, NULL};
    pid = s_spawn (lambda_argv, bad_env, lambda_log);
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock (&rt.lock);
        bool done = rt.answers[bad] != NULL;
        pthread_mutex_unlock (&rt.lock);
        if (done)
            break;
        usleep (100 * 1000);
    }
    s_stop (pid);
    assert_non_null (rt.answers[bad]);
    assert_int_equal (strncmp (rt.answers[bad], "error ", 6), 0);
    assert_non_null (strstr (rt.answers[bad], "401"));

    //  No configuration: an init error and exit 1
    char *no_env[] = {env_api, env_lib, NULL};
    pid = s_spawn (lambda_argv, no_env, lambda_log);
    waitpid (pid, &wstatus, 0);
    assert_true (WIFEXITED (wstatus));
    assert_int_equal (WEXITSTATUS (wstatus), 1);
    //  Under the lock: the stand-in's worker thread wrote it (make test-tsan)
    pthread_mutex_lock (&rt.lock);
    bool init_error_named = strstr (rt.init_error, "API_ENDPOINT") != NULL;
    pthread_mutex_unlock (&rt.lock);
    assert_true (init_error_named);

    mg_stop (ctx);
    for (int i = 0; i < S_EVENTS; i++) {
        free (rt.events[i]);
        free (rt.answers[i]);
    }
    ll_db_destroy (&db);
    ll_config_destroy (&config);
    int alloc_status = s_stop (alloc);
    assert_true (WIFEXITED (alloc_status));
    assert_int_equal (WEXITSTATUS (alloc_status), 0);
    curl_global_cleanup ();
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lambda),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
