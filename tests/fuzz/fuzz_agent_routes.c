/*  The JSON bodies of every agent route, through the pure parsers the
    handlers use (http/routes.h): /vm_startup, /api/vm-startup-result,
    /api/vm-status, /api/gpu_health, /api/update_inuse_status,
    /api/heartbeat, /api/vm-metrics/<h>, /api/vm-logs. The first byte
    ('0' .. '7') picks the route, the rest is the body. A sound body has
    every field the handler sends on; a refused one has a message, and a
    refusal told after the token check names the VM to check it for. */
#include "fuzz_support.h"

#include <math.h>

#include "http/routes.h"
#include "runtime/logline.h"
#include "runtime/token.h"

typedef int (s_parse_fn) (const char *, size_t, ll_agent_body_t *);

static bool
s_one_of (const char *value, const char *const *set)
{
    for (; *set; set++)
        if (strcmp (value, *set) == 0)
            return true;
    return false;
}

static void
s_simple (int route, const char *body, size_t len)
{
    static s_parse_fn *parsers[] = {
        ll_vm_startup_parse, ll_vm_startup_result_parse, ll_vm_status_parse,
        ll_gpu_health_parse, ll_inuse_status_parse,      ll_heartbeat_parse,
    };
    static const char *const statuses[] = {"initializing", "running",   "error",
                                           "unknown",      "rebooting", NULL};
    static const char *const gpus[] = {"Healthy", "Unhealthy", "N/A", NULL};
    static const char *const bools[] = {"1", "0", NULL};
    static const char *const flags[] = {"1", "0", "", NULL};
    ll_agent_body_t in;
    int rc = parsers[route](body, len, &in);
    if (rc != 0) {
        FUZZ_CHECK (in.error && *in.error);
        if (in.check_first)
            FUZZ_CHECK (in.host && *in.host);
        ll_agent_body_free (&in);
        FUZZ_CHECK (in.doc == NULL);
        return;
    }
    FUZZ_CHECK (in.doc && !in.error && in.host && *in.host);
    switch (route) {
        case 0:
        case 1:
            FUZZ_CHECK (ll_token_scope_valid (in.host) && in.host[0] != '_');
            if (route == 1)
                FUZZ_CHECK (s_one_of (in.value, bools) && in.text);
            break;
        case 2:
            FUZZ_CHECK (s_one_of (in.value, statuses));
            break;
        case 3:
            FUZZ_CHECK (s_one_of (in.value, gpus));
            break;
        case 4:
            FUZZ_CHECK (s_one_of (in.value, bools));
            break;
        case 5:
            FUZZ_CHECK (in.text && strlen (in.text) <= 64);
            FUZZ_CHECK (in.flag && s_one_of (in.flag, flags));
            FUZZ_CHECK (in.number >= -1 && in.number <= 100);
            break;
    }
    ll_agent_body_free (&in);
}

static void
s_metrics (const char *body, size_t len)
{
    ll_vm_metrics_t in;
    if (ll_vm_metrics_parse (body, len, &in) != 0) {
        FUZZ_CHECK (in.error[0] != '\0');
        return;
    }
    FUZZ_CHECK (in.error[0] == '\0');
    bool any = false;
    for (int i = 0; i < 6; i++) {
        if (!in.given[i])
            continue;
        any = true;
        FUZZ_CHECK (isfinite (in.values[i]) && in.values[i] >= 0);
    }
    FUZZ_CHECK (any);
    FUZZ_CHECK (!(in.given[0] && in.given[1] && in.values[1] < in.values[0]));
    FUZZ_CHECK (!(in.given[3] && in.given[4] && in.values[4] < in.values[3]));
}

static void
s_logs (const char *body, size_t len)
{
    static const char *const streams[] = {"cloud_init", "docker", "agent",
                                          NULL};
    ll_vm_logs_t post;
    if (ll_vm_logs_parse (body, len, &post) != 0) {
        FUZZ_CHECK (post.error[0] != '\0');
        ll_vm_logs_free (&post);
        return;
    }
    FUZZ_CHECK (post.error[0] == '\0');
    if (!post.control) {
        FUZZ_CHECK (post.group && post.host && *post.host);
        FUZZ_CHECK (post.stream && s_one_of (post.stream, streams));
        FUZZ_CHECK (post.source[0] == '\0' || strlen (post.source) == 16);
        FUZZ_CHECK ((post.source[0] == '\0') == (post.seq[0] == '\0'));
        FUZZ_CHECK (json_array_size (post.messages) > 0);
        //  What the handler does next: clean each message into lines
        ll_textbuf_t lines = {0};
        size_t i;
        json_t *m;
        json_array_foreach (post.messages, i, m)
        {
            FUZZ_CHECK (json_is_string (m));
            ll_logline_clean (json_string_value (m), json_string_length (m),
                              256, &lines, NULL);
        }
        ll_textbuf_free (&lines);
    }
    ll_vm_logs_free (&post);
    FUZZ_CHECK (post.doc == NULL && post.decoded == NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int route = (uint8_t) (data[0] - '0') % 8;
    //  Exactly the body's bytes (no terminator): the parsers take a length
    char *body = malloc (size - 1 ? size - 1 : 1);
    if (!body)
        abort ();
    memcpy (body, data + 1, size - 1);
    if (route < 6)
        s_simple (route, body, size - 1);
    else if (route == 6)
        s_metrics (body, size - 1);
    else
        s_logs (body, size - 1);
    free (body);
    return 0;
}
