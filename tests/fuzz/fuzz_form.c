/*  The form and URL parsers of the HTTP edge: the student's claim form
    (ll_claim_form_parse: urlencoded email and crd_command, trimmed and
    validated), ll_http_form_field / ll_http_query_field with the field
    names and buffer sizes the routes use, and ll_http_match (path
    captures, URL-decoded) against every pattern of the route table. */
#include "fuzz_support.h"

#include "http/routes.h"

//  The fields the routes read, with their buffer sizes.
static const struct {
    const char *name;
    size_t size;
} s_fields[] = {
    {"email", LL_CLAIM_EMAIL_MAX + 2},
    {"crd_command", LL_CRD_COMMAND_MAX + 2},
    {"next", 600},
    {"username", 64},
    {"password", 512},
    {"num_vms", 16},
    {"after", 32},
    {"lines", 16},
    {"format", 16},
    {"x", 1},
};

static void
s_check_field (int rc, const char *out, size_t size)
{
    FUZZ_CHECK (rc >= -2);
    if (rc >= 0) {
        FUZZ_CHECK ((size_t) rc < size);
        FUZZ_CHECK (out[rc] == '\0');
        FUZZ_CHECK (strlen (out) == (size_t) rc);  //  no NUL inside: never cut
    }
}

static void
s_claim_form (const char *body, size_t len)
{
    ll_claim_form_t form;
    if (ll_claim_form_parse (body, len, &form) == 0) {
        FUZZ_CHECK (form.error == NULL);
        size_t n = strlen (form.email);
        FUZZ_CHECK (n >= 3 && n <= LL_CLAIM_EMAIL_MAX);
        FUZZ_CHECK (strchr (form.email, '@') != NULL);
        FUZZ_CHECK (strpbrk (form.email, " \t\r\n\"'<>;") == NULL);
        FUZZ_CHECK (form.code[0] != '\0');
    }
    else
        FUZZ_CHECK (form.error != NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fuzz_text (data, size);

    //  The whole input as a POST body (NUL-terminated, as the edge keeps it)
    s_claim_form (text, size);
    ll_http_req_t req = {0};
    req.body = text;
    req.body_len = size;
    struct mg_request_info info = {0};
    info.query_string = text;
    req.info = &info;
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++) {
        char *out = malloc (s_fields[i].size);
        if (!out)
            abort ();
        int rc =
            ll_http_form_field (&req, s_fields[i].name, out, s_fields[i].size);
        s_check_field (rc, out, s_fields[i].size);
        rc =
            ll_http_query_field (&req, s_fields[i].name, out, s_fields[i].size);
        s_check_field (rc, out, s_fields[i].size);
        free (out);
    }

    //  The input as a request path against every route pattern
    size_t count = 0;
    const ll_route_t *routes = ll_routes (&count);
    for (size_t i = 0; i < count; i++) {
        char *params[LL_HTTP_MAX_PARAMS] = {NULL};
        int n = 0;
        if (ll_http_match (routes[i].pattern, text, params, &n)) {
            FUZZ_CHECK (n >= 0 && n <= LL_HTTP_MAX_PARAMS);
            for (int k = 0; k < n; k++) {
                FUZZ_CHECK (params[k] != NULL);
                free (params[k]);
            }
        }
        else
            FUZZ_CHECK (n == 0);
    }
    free (text);
    return 0;
}
