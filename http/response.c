/*  Answers (status line, security headers, JSON, errors, chunked bodies)
    and the fields a handler reads from a request (headers, query, form,
    JSON body): the helpers for handlers declared in http/server.h. */
#include "http/server.h"
#include "runtime/log.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

//  Answers under this size (headers and body) are built on the stack
#define S_SMALL_ANSWER 8192

static const char s_security_headers[] =
    "Content-Security-Policy: default-src 'self'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: same-origin\r\n"
    "X-Frame-Options: DENY\r\n";

//  The status line and headers of an answer into out (snprintf's result)
static int
s_format_head (char *out,
               size_t size,
               ll_http_req_t *req,
               int status,
               const char *content_type,
               size_t len,
               const char *extra_headers)
{
    return snprintf (out, size,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n"
                     "%s%s\r\n",
                     status, mg_get_response_code_text (req->conn, status),
                     content_type, len, s_security_headers,
                     extra_headers ? extra_headers : "");
}

//  Tests only (LABLINK_API_CAPTURE_DIR, docs/testing.md): one JSON line
//  per answer, for the OpenAPI check: route, method, status, content type
//  and, when it is JSON and under 256 KiB, the body. One write() per line
//  (O_APPEND), so workers never interleave.
#define S_CAPTURE_BODY_MAX (256 * 1024)
static void
s_capture (ll_http_req_t *req,
           int status,
           const char *content_type,
           const void *body,
           size_t len)
{
    int capture_fd = ll_http_server_capture_fd (req->server);
    if (capture_fd < 0 || strcmp (req->info->request_method, "HEAD") == 0)
        return;
    json_t *line = json_pack (
        "{s:s, s:s?, s:s, s:i, s:s}", "method", req->info->request_method,
        "route", req->route ? req->route->pattern : NULL, "path",
        req->info->local_uri ? req->info->local_uri : "", "status", status,
        "content_type", content_type ? content_type : "");
    if (!line)
        return;
    bool json =
        content_type && strncmp (content_type, "application/json", 16) == 0;
    if (json && body && len && len <= S_CAPTURE_BODY_MAX) {
        json_t *parsed = json_loadb (body, len, 0, NULL);
        json_object_set_new (line, "body",
                             parsed ? parsed : json_string ("(not JSON)"));
    }
    json_object_set_new (line, "body_len", json_integer ((json_int_t) len));
    char *text = json_dumps (line, JSON_COMPACT);
    json_decref (line);
    if (text) {
        size_t n = strlen (text);
        text[n] = '\n';  //  replaces the terminator: written by length
        if (write (capture_fd, text, n + 1) < 0)
            ll_warn ("http: capture: %s", strerror (errno));
        free (text);
    }
}

int
ll_http_send (ll_http_req_t *req,
              int status,
              const char *content_type,
              const void *body,
              size_t len,
              const char *extra_headers)
{
    if (req->answered)  //  e.g. 503 for want of a socket, then the handler's
        return req->status;
    req->answered = true;
    req->status = status;
    s_capture (req, status, content_type, body, len);
    //  HEAD: the headers of the answer (its Content-Length too), no body
    size_t send_len = strcmp (req->info->request_method, "HEAD") == 0 ? 0 : len;
    //  Headers and body leave in one write: one system call and one TCP
    //  segment for the common small answer
    char small[S_SMALL_ANSWER];
    int n = s_format_head (small, sizeof small, req, status, content_type, len,
                           extra_headers);
    if (n < 0)
        return status;
    if ((size_t) n + send_len < sizeof small) {
        if (send_len)
            memcpy (small + n, body, send_len);
        mg_write (req->conn, small, (size_t) n + send_len);
        return status;
    }
    //  A large answer: headers (on the heap when they alone do not fit),
    //  then the body without copying it
    char *head = (size_t) n < sizeof small ? small : malloc ((size_t) n + 1);
    if (!head)
        return status;
    if (head != small)
        s_format_head (head, (size_t) n + 1, req, status, content_type, len,
                       extra_headers);
    mg_write (req->conn, head, (size_t) n);
    if (head != small)
        free (head);
    if (send_len)
        mg_write (req->conn, body, send_len);
    return status;
}

int
ll_http_head (ll_http_req_t *req,
              int status,
              const char *content_type,
              size_t len,
              const char *extra_headers)
{
    req->status = status;
    char head[S_SMALL_ANSWER];
    int n = s_format_head (head, sizeof head, req, status, content_type, len,
                           extra_headers);
    if (n < 0 || (size_t) n >= sizeof head)
        return -1;
    return mg_write (req->conn, head, (size_t) n) == n ? 0 : -1;
}

int
ll_http_chunked_begin (ll_http_req_t *req,
                       int status,
                       const char *content_type,
                       const char *extra_headers)
{
    if (req->answered)
        return -1;
    req->answered = true;
    req->status = status;
    s_capture (req, status, content_type, NULL, 0);
    int n = mg_printf (req->conn,
                       "HTTP/1.1 %d %s\r\n"
                       "Content-Type: %s\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "Cache-Control: no-store\r\n"
                       "%s%s\r\n",
                       status, mg_get_response_code_text (req->conn, status),
                       content_type, s_security_headers,
                       extra_headers ? extra_headers : "");
    return n > 0 ? 0 : -1;
}

int
ll_http_chunk (ll_http_req_t *req, const void *data, size_t len)
{
    char head[32];
    int n = snprintf (head, sizeof head, "%zx\r\n", len);
    if (mg_write (req->conn, head, (size_t) n) != n)
        return -1;
    if (len && mg_write (req->conn, data, len) != (int) len)
        return -1;
    //  The last chunk is followed by an empty trailer
    return mg_write (req->conn, len ? "\r\n" : "\r\n", 2) == 2 ? 0 : -1;
}

void
ll_http_chunk_abort (ll_http_req_t *req)
{
    //  Not a chunk size: the client's decoder fails instead of taking a
    //  truncated body for a whole one
    mg_write (req->conn, "abort\r\n\r\n", 9);
}

int
ll_http_json (ll_http_req_t *req, int status, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_REAL_PRECISION (12));
    json_decref (json);
    if (!text)
        return ll_http_send (req, 500, "application/json",
                             "{\"error\":\"encoding failed\"}", 27, NULL);
    int rc = ll_http_send (req, status, "application/json", text, strlen (text),
                           NULL);
    free (text);
    return rc;
}

int
ll_http_error_with (ll_http_req_t *req,
                    int status,
                    const char *message,
                    const char *extra_headers)
{
    json_t *json = json_pack ("{s:s}", "error", message);
    char *text = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    int rc;
    if (text) {
        rc = ll_http_send (req, status, "application/json", text, strlen (text),
                           extra_headers);
        free (text);
    }
    else
        rc = ll_http_send (req, status, "application/json", "{}", 2,
                           extra_headers);
    return rc;
}

int
ll_http_error (ll_http_req_t *req, int status, const char *message)
{
    return ll_http_error_with (req, status, message,
                               status == 401 && req->route
                                       && req->route->auth == LL_AUTH_ADMIN
                                   ? LL_HTTP_BASIC_CHALLENGE
                                   : NULL);
}

json_t *
ll_http_json_parse (const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    json_error_t err;
    json_t *json = json_loadb (body, len, JSON_REJECT_DUPLICATES, &err);
    if (!json || !json_is_object (json)) {
        json_decref (json);
        return NULL;
    }
    return json;
}

char *
ll_http_answer_text (ll_http_req_t *req,
                     char *value,
                     char *error,
                     const char *message)
{
    free (error);
    if (!value)
        ll_http_error (req, 503, message);
    return value;
}

json_t *
ll_http_json_body (ll_http_req_t *req)
{
    json_t *json = ll_http_json_parse (req->body, req->body_len);
    if (!json)
        ll_http_error (req, 400, LL_HTTP_NOT_JSON);
    return json;
}

int
ll_http_form_var (
    const char *data, size_t len, const char *name, char *out, size_t size)
{
    if (!data || size == 0)
        return -1;
    //  refused (-2) when the value decoded to a NUL byte: every C string
    //  would end there, silently
    int rc = mg_get_var (data, len, name, out, size);
    if (rc > 0 && memchr (out, '\0', (size_t) rc)) {
        out[0] = '\0';
        return -2;
    }
    return rc;
}

int
ll_http_form_field (ll_http_req_t *req,
                    const char *name,
                    char *out,
                    size_t outsize)
{
    return ll_http_form_var (req->body, req->body_len, name, out, outsize);
}

int
ll_http_query_field (ll_http_req_t *req,
                     const char *name,
                     char *out,
                     size_t outsize)
{
    const char *qs = req->info->query_string;
    return ll_http_form_var (qs, qs ? strlen (qs) : 0, name, out, outsize);
}

//  True when urlencoded text decodes to a NUL byte somewhere ("%00").
static bool
s_encodes_nul (const char *text, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++)
        if (text[i] == '%' && text[i + 1] == '0' && text[i + 2] == '0')
            return true;
    return false;
}

//  A query string or form body holding a NUL byte (%00, or a raw NUL in a
//  form body) is refused before any handler reads a field: 400, never a
//  value silently cut at the NUL. Any body but JSON may be read as a form
//  (mg_get_var does not look at Content-Type); the agents' routes take
//  JSON only. 0, or -1 after answering.
int
ll_http_check_nul (ll_http_req_t *req)
{
    const char *qs = req->info->query_string;
    bool bad = qs && s_encodes_nul (qs, strlen (qs));
    const char *type = ll_http_header (req, "Content-Type");
    bool json = type && strncasecmp (type, "application/json", 16) == 0;
    if (!bad && req->body && !json && req->route->auth != LL_AUTH_AGENT)
        bad = memchr (req->body, '\0', req->body_len)
              || s_encodes_nul (req->body, req->body_len);
    if (!bad)
        return 0;
    ll_http_error (req, 400, "A form field holds a NUL byte (%00).");
    return -1;
}

const char *
ll_http_header (ll_http_req_t *req, const char *name)
{
    return mg_get_header (req->conn, name);
}

bool
ll_http_wants_json (ll_http_req_t *req)
{
    const char *accept = ll_http_header (req, "Accept");
    return accept && strstr (accept, "application/json")
           && !strstr (accept, "text/html");
}
