/*  lablink-lambda: the CloudWatch Logs subscription handler as an AWS Lambda
    custom runtime (provided.al2023; the zip holds this binary as
    `bootstrap`). Reference 7.3, with its weaknesses fixed (12.12).

    Loop: GET the next invocation from the Runtime API
    (http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next),
    decode event.awslogs.data (base64, gzip, JSON; capped), POST
    {"log_group","log_stream","messages"} to $API_ENDPOINT with
    "Authorization: Bearer $API_TOKEN" (the allocator's token of scope
    _lambda), in chunks the allocator accepts. Each chunk carries "source"
    (16 hex of the decoded payload's SHA-256) and "seq" (its number), the
    allocator's batch key: when Lambda delivers an event again (its retry
    after an error, or at-least-once delivery) the chunks already stored
    are acknowledged and not stored twice. Success -> .../response with
    upstream's return value; any failure (bad event, allocator not 200,
    transport error) -> .../error, so Lambda's retry policy applies.
    Missing configuration -> /runtime/init/error and exit 1. */
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cli.h"
#include "runtime/logline.h"
#include "runtime/textbuf.h"

#define S_API_VERSION "2018-06-01"
//  An invocation event is at most 6 MB (the service's payload limit)
#define S_EVENT_MAX (6 * 1024 * 1024)
//  Bytes of messages per POST, well under the allocator's body cap
#define S_CHUNK_BYTES (256 * 1024)
#define S_REPLY_MAX   (64 * 1024)
#define S_ID_MAX      128

typedef struct {
    const char *runtime_api;  //  host:port of the Runtime API
    const char *endpoint;     //  the allocator's /api/vm-logs URL
    const char *token;        //  Bearer token (scope _lambda)
    CURL *curl;               //  one handle, connections reused
} s_lambda_t;

//  The request id header of /next.
static size_t
s_header (char *data, size_t size, size_t count, void *arg)
{
    char *id = arg;
    size_t len = size * count;
    static const char name[] = "lambda-runtime-aws-request-id:";
    if (len > sizeof name - 1
        && strncasecmp (data, name, sizeof name - 1) == 0) {
        const char *v = data + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen
               && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'
                   || v[vlen - 1] == ' '))
            vlen--;
        if (vlen < S_ID_MAX) {
            memcpy (id, v, vlen);
            id[vlen] = '\0';
        }
    }
    return len;
}

//  One HTTP exchange. Returns the status (0 on transport failure).
static long
s_http (s_lambda_t *self,
        const char *method,
        const char *url,
        const char *body,
        const char *const *headers,
        ll_textbuf_sink_t *reply,
        char *request_id,
        long timeout_s)
{
    CURL *c = self->curl;
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, ll_textbuf_sink);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, reply);
    if (request_id) {
        curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, s_header);
        curl_easy_setopt (c, CURLOPT_HEADERDATA, request_id);
    }
    struct curl_slist *list = NULL;
    for (int i = 0; headers && headers[i]; i++)
        list = curl_slist_append (list, headers[i]);
    if (list)
        curl_easy_setopt (c, CURLOPT_HTTPHEADER, list);
    if (strcmp (method, "POST") == 0) {
        curl_easy_setopt (c, CURLOPT_POST, 1L);
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE,
                          (long) (body ? strlen (body) : 0));
    }
    long status = 0;
    if (curl_easy_perform (c) == CURLE_OK)
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all (list);
    return status;
}

//  POST one chunk of messages (batch source, number seq); 0, or -1 with why.
static int
s_post_chunk (s_lambda_t *self,
              const char *group,
              const char *stream,
              const char *source,
              json_int_t seq,
              json_t *messages,
              char *why,
              size_t whysize)
{
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:I, s:O}", "log_group", group,
                             "log_stream", stream, "source", source, "seq", seq,
                             "messages", messages);
    char *text = doc ? json_dumps (doc, JSON_COMPACT) : NULL;
    json_decref (doc);
    if (!text) {
        snprintf (why, whysize, "cannot encode the log post");
        return -1;
    }
    char auth[600];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", self->token);
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    ll_textbuf_sink_t reply = {.max = S_REPLY_MAX};
    long status =
        s_http (self, "POST", self->endpoint, text, headers, &reply, NULL, 30);
    free (text);
    int rc = 0;
    if (status != 200) {
        //  The allocator's {"error": ...} says why
        json_t *err =
            json_loadb (ll_textbuf_text (&reply.buf), reply.buf.len, 0, NULL);
        const char *message =
            json_string_value (json_object_get (err, "error"));
        if (status == 0)
            snprintf (why, whysize, "cannot reach the allocator");
        else
            snprintf (why, whysize, "allocator answered %ld: %s", status,
                      message ? message : "(no message)");
        json_decref (err);
        rc = -1;
    }
    ll_textbuf_free (&reply.buf);
    return rc;
}

//  Handle one event; 0 with *result (new JSON text), or -1 with why.
static int
s_handle (s_lambda_t *self,
          const char *event_text,
          size_t event_len,
          char **result,
          char *why,
          size_t whysize)
{
    int rc = -1;
    char *decoded = NULL;
    json_t *logs = NULL;
    json_t *event = json_loadb (event_text, event_len, 0, NULL);
    const char *data = json_string_value (
        json_object_get (json_object_get (event, "awslogs"), "data"));
    if (!data) {
        snprintf (why, whysize, "event has no awslogs.data");
        goto done;
    }
    size_t len = 0;
    const char *reason = NULL;
    if (ll_cwlogs_decode (data, strlen (data), LL_CWLOGS_MAX, &decoded, &len,
                          &reason)
        != 0) {
        snprintf (why, whysize, "awslogs.data: %s", reason);
        goto done;
    }
    logs = json_loadb (decoded, len, 0, NULL);
    const char *group = json_string_value (json_object_get (logs, "logGroup"));
    const char *stream =
        json_string_value (json_object_get (logs, "logStream"));
    const char *type =
        json_string_value (json_object_get (logs, "messageType"));
    json_t *events = json_object_get (logs, "logEvents");
    size_t count = 0;
    if (type && strcmp (type, "CONTROL_MESSAGE") == 0)
        ;  //  CloudWatch checking the subscription: nothing to post
    else if (!group || !stream || !json_is_array (events)) {
        snprintf (why, whysize,
                  "decoded payload lacks logGroup, logStream or logEvents");
        goto done;
    }
    else {
        //  The same event, delivered again, gives the same batch keys
        unsigned char digest[crypto_hash_sha256_BYTES];
        crypto_hash_sha256 (digest, (const unsigned char *) decoded, len);
        char source[17];
        sodium_bin2hex (source, sizeof source, digest, 8);
        json_int_t seq = 1;
        json_t *chunk = json_array ();
        size_t bytes = 0;
        size_t i;
        json_t *e;
        json_array_foreach (events, i, e)
        {
            json_t *m = json_object_get (e, "message");
            if (!json_is_string (m))
                continue;
            json_array_append (chunk, m);
            bytes += json_string_length (m) + 8;
            count++;
            if (bytes >= S_CHUNK_BYTES) {
                int posted = s_post_chunk (self, group, stream, source, seq++,
                                           chunk, why, whysize);
                json_decref (chunk);
                chunk = json_array ();
                bytes = 0;
                if (posted != 0) {
                    json_decref (chunk);
                    goto done;
                }
            }
        }
        int posted = json_array_size (chunk) ? s_post_chunk (
                         self, group, stream, source, seq, chunk, why, whysize)
                                             : 0;
        json_decref (chunk);
        if (posted != 0)
            goto done;
    }
    //  Upstream's return value
    json_t *inner =
        json_pack ("{s:s, s:s?, s:s?, s:I}", "message",
                   "Logs processed successfully", "log_group", group,
                   "log_stream", stream, "log_count", (json_int_t) count);
    char *inner_text = json_dumps (inner, JSON_COMPACT);
    json_decref (inner);
    json_t *outer = json_pack ("{s:i, s:s}", "statusCode", 200, "body",
                               inner_text ? inner_text : "{}");
    free (inner_text);
    *result = json_dumps (outer, JSON_COMPACT);
    json_decref (outer);
    rc = *result ? 0 : -1;
done:
    json_decref (logs);
    free (decoded);
    json_decref (event);
    return rc;
}

static void
s_report_error (s_lambda_t *self, const char *path, const char *message)
{
    json_t *err = json_pack ("{s:s, s:s}", "errorMessage", message, "errorType",
                             "LogForwardingError");
    char *text = json_dumps (err, JSON_COMPACT);
    json_decref (err);
    char url[512];
    snprintf (url, sizeof url, "http://%s/%s/%s", self->runtime_api,
              S_API_VERSION, path);
    const char *headers[] = {"Content-Type: application/json",
                             "Lambda-Runtime-Function-Error-Type: Unhandled",
                             NULL};
    ll_textbuf_sink_t reply = {.max = S_REPLY_MAX};
    s_http (self, "POST", url, text, headers, &reply, NULL, 10);
    ll_textbuf_free (&reply.buf);
    free (text);
}

static const char *const s_usage[] = {"(no arguments: run inside Lambda)",
                                      "--help | --version | --man", NULL};

static const ll_cli_item_t s_env[] = {
    {"AWS_LAMBDA_RUNTIME_API", "Set by Lambda: the Runtime API's address."},
    {"API_ENDPOINT", "The allocator's POST /api/vm-logs URL."},
    {"API_TOKEN", "The agent token of the _lambda scope; never logged."},
    {NULL, NULL},
};

static const ll_cli_item_t s_exit_codes[] = {
    {"0", "--help, --version or --man."},
    {"1", "Not inside Lambda, or API_ENDPOINT / API_TOKEN missing (reported "
          "to the Runtime API as an init error)."},
    {"2", "An unknown option or argument."},
    {NULL, NULL},
};

static const ll_cli_t s_cli = {
    .program = "lablink-lambda",
    .summary = "CloudWatch Logs subscription handler for LabLink",
    .usage = s_usage,
    .description =
        "The bootstrap of a provided.al2023 Lambda: takes each CloudWatch "
        "Logs subscription event from the Runtime API and posts it to the "
        "allocator's POST /api/vm-logs with the _lambda token. Runs until "
        "Lambda stops it.",
    .env = s_env,
    .exit_codes = s_exit_codes,
};

int
main (int argc, char **argv)
{
    if (argc > 1) {
        if (ll_cli_standard (&s_cli, argv[1]))
            return LL_EXIT_OK;
        return ll_cli_refuse (&s_cli, "unknown %s '%s'",
                              argv[1][0] == '-' ? "option" : "argument",
                              argv[1]);
    }
    signal (SIGPIPE, SIG_IGN);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    if (sodium_init () < 0)
        return 1;
    s_lambda_t self = {.runtime_api = getenv ("AWS_LAMBDA_RUNTIME_API"),
                       .endpoint = getenv ("API_ENDPOINT"),
                       .token = getenv ("API_TOKEN"),
                       .curl = curl_easy_init ()};
    if (!self.runtime_api || !*self.runtime_api
        || strlen (self.runtime_api) > 256) {
        fprintf (stderr, "lablink-lambda: AWS_LAMBDA_RUNTIME_API is not set "
                         "(run me inside Lambda)\n");
        return 1;
    }
    if (!self.endpoint || !*self.endpoint || !self.token || !*self.token
        || strlen (self.token) > 400) {
        fprintf (stderr,
                 "lablink-lambda: API_ENDPOINT and API_TOKEN must be set\n");
        s_report_error (&self, "runtime/init/error",
                        "API_ENDPOINT and API_TOKEN must be set");
        return 1;
    }
    char next_url[512];
    snprintf (next_url, sizeof next_url,
              "http://%s/" S_API_VERSION "/runtime/invocation/next",
              self.runtime_api);
    for (;;) {
        char id[S_ID_MAX] = "";
        ll_textbuf_sink_t event = {.max = S_EVENT_MAX};
        //  The Runtime API holds /next until an invocation arrives
        long status =
            s_http (&self, "GET", next_url, NULL, NULL, &event, id, 0);
        if (status != 200 || !*id
            || strspn (id,
                       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789-_")
                   != strlen (id)) {
            fprintf (stderr, "lablink-lambda: next invocation: status %ld\n",
                     status);
            ll_textbuf_free (&event.buf);
            usleep (200 * 1000);
            continue;
        }
        char why[512] = "";
        char *result = NULL;
        char path[256];
        if (event.overflow)
            snprintf (why, sizeof why, "event larger than %d bytes",
                      S_EVENT_MAX);
        if (!event.overflow
            && s_handle (&self, ll_textbuf_text (&event.buf), event.buf.len,
                         &result, why, sizeof why)
                   == 0) {
            char url[512];
            snprintf (url, sizeof url,
                      "http://%s/" S_API_VERSION "/runtime/invocation/%s/"
                      "response",
                      self.runtime_api, id);
            const char *headers[] = {"Content-Type: application/json", NULL};
            ll_textbuf_sink_t reply = {.max = S_REPLY_MAX};
            s_http (&self, "POST", url, result, headers, &reply, NULL, 10);
            ll_textbuf_free (&reply.buf);
            free (result);
        }
        else {
            fprintf (stderr, "lablink-lambda: invocation %s failed: %s\n", id,
                     why);
            snprintf (path, sizeof path, "runtime/invocation/%s/error", id);
            s_report_error (&self, path, why);
        }
        ll_textbuf_free (&event.buf);
    }
}
