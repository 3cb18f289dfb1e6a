#include "agent/settings.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/stop.h"
#include "runtime/textbuf.h"

//  The token from a file (a mounted secret, never in the environment or on
//  a command line): its first line, which must not be empty. 0 or -1.
static int
s_read_token (const char *path, char *out, size_t size)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    size_t got = fread (out, 1, size, f);
    fclose (f);
    if (got == size)
        return -1;  //  longer than any token
    out[got] = '\0';
    out[strcspn (out, "\r\n")] = '\0';
    return *out ? 0 : -1;
}

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

//  An integer from the environment within [min, max], else fallback.
static long
s_env_long (const char *name, long fallback, long min, long max)
{
    const char *value = s_env (name);
    if (!value)
        return fallback;
    char *end;
    long n = strtol (value, &end, 10);
    if (*end || n < min || n > max)
        return fallback;
    return n;
}

static int
s_scaled (double scale, long ms)
{
    return (int) agent_clamp ((double) ms * scale, 1, 86400000.0);
}

int
agent_url_sanitize (const char *url, char *out, size_t size)
{
    if (!url || size == 0)
        return -1;
    const char *p = url;
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p == '.')  //  a leading '.' removed
        p++;
    size_t o = 0;
    while (*p) {
        if (strncmp (p, "://", 3) == 0) {
            if (o + 3 >= size)
                return -1;
            memcpy (out + o, "://", 3);
            o += 3;
            p += 3;
            while (*p == '.')  //  "://." collapsed to "://"
                p++;
            continue;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = *p++;
    }
    while (o > 0
           && (out[o - 1] == '/' || out[o - 1] == ' ' || out[o - 1] == '\n'
               || out[o - 1] == '\r' || out[o - 1] == '\t'))
        o--;  //  trailing '/' removed
    out[o] = '\0';
    return o > 0 ? 0 : -1;
}

int
agent_base_url (
    const char *url, const char *host, const char *port, char *out, size_t size)
{
    if (url && *url)
        return agent_url_sanitize (url, out, size);
    if (!host || !*host)
        return -1;
    char raw[AGENT_URL_MAX];
    int n;
    if (port && *port && strcmp (port, "80") != 0)
        n = snprintf (raw, sizeof raw, "http://%s:%s", host, port);
    else
        n = snprintf (raw, sizeof raw, "http://%s", host);
    if (n < 0 || (size_t) n >= sizeof raw)
        return -1;
    return agent_url_sanitize (raw, out, size);
}

static const char *
s_default_stream (const char *path)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    if (strstr (base, "cloud-init") || strstr (base, "cloud_init"))
        return "cloud_init";
    if (strstr (base, "agent"))
        return "agent";
    return "docker";
}

int
agent_log_files_parse (const char *value,
                       agent_log_file_t *files,
                       int max,
                       int *count)
{
    *count = 0;
    if (!value)
        return 0;
    const char *p = value;
    while (*p) {
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t) (end - p) : strlen (p);
        char item[AGENT_PATH_MAX + 32];
        if (len >= sizeof item)
            return -1;
        memcpy (item, p, len);
        item[len] = '\0';
        char *path = item;
        while (*path == ' ')
            path++;
        if (*path) {
            if (*count >= max)
                return -1;
            agent_log_file_t *file = &files[*count];
            char *eq = strchr (path, '=');
            const char *stream;
            if (eq && !memchr (path, '/', (size_t) (eq - path))) {
                *eq = '\0';
                stream = path;
                path = eq + 1;
                if (strcmp (stream, "cloud_init") != 0
                    && strcmp (stream, "docker") != 0
                    && strcmp (stream, "agent") != 0)
                    return -1;
            }
            else
                stream = s_default_stream (path);
            if (!*path || ll_strcopy (file->path, sizeof file->path, path) != 0)
                return -1;
            ll_strcopy (file->stream, sizeof file->stream, stream);
            (*count)++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int
s_missing (char *error, size_t errsize, const char *name)
{
    snprintf (error, errsize, "lablink-agent: missing required setting %s",
              name);
    return -1;
}

static int
s_invalid (char *error, size_t errsize, const char *name)
{
    snprintf (error, errsize, "lablink-agent: invalid setting %s", name);
    return -1;
}

//  A text setting: the variable, its field (offset, size) and the value
//  when unset or empty (NULL: ""). S_RAW: an empty value counts as set;
//  S_NONE: "None" counts as unset.
#define S_RAW  1
#define S_NONE 2
typedef struct {
    const char *name;
    size_t offset;
    size_t size;
    const char *fallback;
    int flags;
} s_text_t;

#define S_TEXT(name, field, fallback, flags)                                   \
    {                                                                          \
        name, offsetof (agent_settings_t, field),                              \
            sizeof ((agent_settings_t *) 0)->field, fallback, flags            \
    }

//  In the order they are checked (the first invalid one is named)
static const s_text_t s_texts[] = {
    S_TEXT ("SUBJECT_SOFTWARE", software, NULL, 0),
    S_TEXT ("LABLINK_CRD_START_HOST",
            start_host,
            "/opt/google/chrome-remote-desktop/start-host",
            0),
    //  Absent means "nvidia-smi" on PATH; an explicit empty value none
    S_TEXT ("LABLINK_NVIDIA_SMI", nvidia_smi, "nvidia-smi", S_RAW),
    S_TEXT ("TUTORIAL_REPO_TO_CLONE", tutorial_repo, NULL, S_NONE),
    S_TEXT ("LABLINK_STARTUP_SCRIPT",
            startup_script,
            "/docker_scripts/custom-startup.sh",
            0),
    S_TEXT ("HOME", home, "/tmp", 0),
    S_TEXT ("LABLINK_SKELETON_DIR", skeleton_dir, "/etc/skel", 0),
    S_TEXT ("LABLINK_SESSION_USER", session_user, NULL, 0),
    S_TEXT ("LABLINK_PROC_ROOT", proc_root, "/proc", 0),
    S_TEXT ("LABLINK_STATE_DIR", state_dir, NULL, 0),
    S_TEXT ("LABLINK_DISK_PATH", disk_path, "/", 0),
    S_TEXT ("LABLINK_ZMQ_ENDPOINT", zmq_endpoint, NULL, 0),
    S_TEXT ("LABLINK_ZMQ_SERVER_KEY", zmq_server_key, NULL, 0),
    S_TEXT ("LABLINK_PG_CONNINFO", pg_conninfo, NULL, 0),
    S_TEXT ("LABLINK_PG_CHANNEL", pg_channel, "vm_updates", 0),
};

//  An integer setting within [min, max]; fallback when unset or out of
//  range.
typedef struct {
    const char *name;
    size_t offset;
    long fallback;
    long min;
    long max;
} s_number_t;

#define S_NUMBER(name, field, fallback, min, max)                              \
    {                                                                          \
        name, offsetof (agent_settings_t, field), fallback, min, max           \
    }

static const s_number_t s_numbers[] = {
    S_NUMBER ("LABLINK_LOG_FLUSH_MS", log_flush_ms, 1000, 10, 60000),
    S_NUMBER ("LABLINK_LOG_BATCH_LINES", log_batch_lines, 500, 1, 5000),
    S_NUMBER ("LABLINK_LOG_QUEUE_MAX", log_queue_max, 20000, 10, 1000000),
    S_NUMBER ("LABLINK_POLL_TIMEOUT_S", poll_timeout_s, 75, 1, 3600),
    S_NUMBER ("LABLINK_RELAY_HOLD_S", relay_hold_s, 300, 0, 86400),
    S_NUMBER ("LABLINK_REQUEST_TIMEOUT_S", request_timeout_s, 15, 1, 600),
    S_NUMBER (
        "LABLINK_START_HOST_TIMEOUT_S", start_host_timeout_s, 60, 1, 3600),
    S_NUMBER ("LABLINK_NVIDIA_SMI_TIMEOUT_S", gpu_timeout_s, 10, 1, 600),
};

//  The periods LABLINK_INTERVAL_SCALE multiplies: field and milliseconds.
static const struct {
    size_t offset;
    long ms;
} s_periods[] = {
    {offsetof (agent_settings_t, inuse_ms), 20000},
    {offsetof (agent_settings_t, gpu_ms), 20000},
    {offsetof (agent_settings_t, gpu_absent_ms), 300000},
    {offsetof (agent_settings_t, heartbeat_ms), 30000},
    {offsetof (agent_settings_t, jitter_ms), 5000},
    {offsetof (agent_settings_t, backoff_ms), 1000},
    {offsetof (agent_settings_t, backoff_max_ms), 60000},
};

#define S_COUNT(table) (sizeof table / sizeof table[0])

//  Every text setting of s_texts: 0, or -1 naming the first that does not
//  fit.
static int
s_load_texts (agent_settings_t *self, char *error, size_t errsize)
{
    for (size_t i = 0; i < S_COUNT (s_texts); i++) {
        const s_text_t *text = &s_texts[i];
        const char *value =
            text->flags & S_RAW ? getenv (text->name) : s_env (text->name);
        if (value && text->flags & S_NONE && strcmp (value, "None") == 0)
            value = NULL;
        if (!value)
            value = text->fallback;
        if (value
            && ll_strcopy ((char *) self + text->offset, text->size, value)
                   != 0)
            return s_invalid (error, errsize, text->name);
    }
    return 0;
}

static int
s_load_transport (agent_settings_t *self, char *error, size_t errsize)
{
    const char *value = s_env ("LABLINK_TRANSPORT");
    if (!value || strcmp (value, "http") == 0)
        self->transport = AGENT_TRANSPORT_HTTP;
    else if (strcmp (value, "zmq") == 0)
        self->transport = AGENT_TRANSPORT_ZMQ;
    else if (strcmp (value, "pg") == 0)
        self->transport = AGENT_TRANSPORT_PG;
    else
        return s_invalid (error, errsize, "LABLINK_TRANSPORT");
    return 0;
}

//  LABLINK_INTERVAL_SCALE and the periods it scales, then the integers.
static int
s_load_numbers (agent_settings_t *self, char *error, size_t errsize)
{
    self->scale = 1.0;
    const char *value = s_env ("LABLINK_INTERVAL_SCALE");
    if (value) {
        char *end;
        double scale = strtod (value, &end);
        if (*end || !(scale > 0.0001 && scale <= 100))
            return s_invalid (error, errsize, "LABLINK_INTERVAL_SCALE");
        self->scale = scale;
    }
    for (size_t i = 0; i < S_COUNT (s_periods); i++)
        *(int *) ((char *) self + s_periods[i].offset) =
            s_scaled (self->scale, s_periods[i].ms);
    for (size_t i = 0; i < S_COUNT (s_numbers); i++) {
        const s_number_t *number = &s_numbers[i];
        *(int *) ((char *) self + number->offset) = (int) s_env_long (
            number->name, number->fallback, number->min, number->max);
    }
    return 0;
}

//  What the transport needs: the channel's name is a SQL identifier; zmq
//  and pg need their endpoint.
static int
s_check_transport (agent_settings_t *self,
                   bool need_allocator,
                   char *error,
                   size_t errsize)
{
    if (*self->zmq_server_key && strlen (self->zmq_server_key) != 40)
        return s_invalid (error, errsize, "LABLINK_ZMQ_SERVER_KEY");
    for (const char *c = self->pg_channel; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'
              || (c != self->pg_channel && *c >= '0' && *c <= '9')))
            return s_invalid (error, errsize, "LABLINK_PG_CHANNEL");
    if (need_allocator && self->transport == AGENT_TRANSPORT_ZMQ) {
        if (!*self->zmq_endpoint)
            return s_missing (error, errsize, "LABLINK_ZMQ_ENDPOINT");
        if (!*self->zmq_server_key)
            return s_missing (error, errsize, "LABLINK_ZMQ_SERVER_KEY");
    }
    if (need_allocator && self->transport == AGENT_TRANSPORT_PG
        && !*self->pg_conninfo)
        return s_missing (error, errsize, "LABLINK_PG_CONNINFO");
    return 0;
}

//  Who the agent is and where the allocator is.
static int
s_load_identity (agent_settings_t *self,
                 bool need_allocator,
                 char *error,
                 size_t errsize)
{
    const char *value;
    if ((value = s_env ("VM_NAME"))
        && ll_strcopy (self->vm_name, sizeof self->vm_name, value) != 0)
        return s_invalid (error, errsize, "VM_NAME");
    if ((value = s_env ("API_TOKEN"))
        && ll_strcopy (self->token, sizeof self->token, value) != 0)
        return s_invalid (error, errsize, "API_TOKEN");
    if (!value && (value = s_env ("API_TOKEN_FILE"))
        && s_read_token (value, self->token, sizeof self->token) != 0)
        return s_invalid (error, errsize, "API_TOKEN_FILE");
    const char *url = s_env ("ALLOCATOR_URL");
    const char *host = s_env ("ALLOCATOR_HOST");
    if ((url || host)
        && agent_base_url (url, host, s_env ("ALLOCATOR_PORT"), self->base_url,
                           sizeof self->base_url)
               != 0)
        return s_invalid (error, errsize,
                          url ? "ALLOCATOR_URL" : "ALLOCATOR_HOST");
    for (const char *c = self->vm_name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'
              || *c == '.'))
            return s_invalid (error, errsize, "VM_NAME");
    if (need_allocator) {
        if (!*self->vm_name)
            return s_missing (error, errsize, "VM_NAME");
        if (!*self->token)
            return s_missing (error, errsize, "API_TOKEN");
        if (!*self->base_url)
            return s_missing (error, errsize, "ALLOCATOR_URL");
    }
    return 0;
}

int
agent_settings_load (agent_settings_t *self,
                     bool need_allocator,
                     char *error,
                     size_t errsize)
{
    memset (self, 0, sizeof *self);
    if (s_load_identity (self, need_allocator, error, errsize) != 0
        || s_load_transport (self, error, errsize) != 0
        || s_load_texts (self, error, errsize) != 0)
        return -1;
    const char *value = s_env ("STARTUP_ON_ERROR");
    if (value && strcmp (value, "fail") != 0 && strcmp (value, "continue") != 0)
        return s_invalid (error, errsize, "STARTUP_ON_ERROR");
    self->startup_fail = value && strcmp (value, "fail") == 0;
    self->home_set = s_env ("HOME") != NULL;
    if (!*self->state_dir) {
        char state_dir[AGENT_PATH_MAX + 32];
        snprintf (state_dir, sizeof state_dir, "%s/.lablink-agent", self->home);
        if (ll_strcopy (self->state_dir, sizeof self->state_dir, state_dir)
            != 0)
            return s_invalid (error, errsize, "LABLINK_STATE_DIR");
    }
    if (agent_log_files_parse (s_env ("LABLINK_LOG_FILES"), self->logs,
                               AGENT_LOG_FILES, &self->log_count)
        != 0)
        return s_invalid (error, errsize, "LABLINK_LOG_FILES");
    if (s_check_transport (self, need_allocator, error, errsize) != 0
        || s_load_numbers (self, error, errsize) != 0)
        return -1;
    return 0;
}

int64_t
agent_settings_backoff (const agent_settings_t *self, int64_t *current)
{
    return agent_backoff_next (current, self->backoff_ms, self->backoff_max_ms);
}
