#include "agent/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/stop.h"

//  Copy src into dst (size bytes); -1 when it does not fit.
static int
s_copy (char *dst, size_t size, const char *src)
{
    size_t len = strlen (src);
    if (len >= size)
        return -1;
    memcpy (dst, src, len + 1);
    return 0;
}

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
    double v = (double) ms * scale;
    if (v < 1)
        v = 1;
    if (v > 86400000.0)
        v = 86400000.0;
    return (int) v;
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
            if (!*path || s_copy (file->path, sizeof file->path, path) != 0)
                return -1;
            s_copy (file->stream, sizeof file->stream, stream);
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

int
agent_settings_load (agent_settings_t *self,
                     bool need_allocator,
                     char *error,
                     size_t errsize)
{
    memset (self, 0, sizeof *self);
    const char *value;
    if ((value = s_env ("VM_NAME"))
        && s_copy (self->vm_name, sizeof self->vm_name, value) != 0)
        return s_invalid (error, errsize, "VM_NAME");
    if ((value = s_env ("API_TOKEN"))
        && s_copy (self->token, sizeof self->token, value) != 0)
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
    if ((value = s_env ("SUBJECT_SOFTWARE"))
        && s_copy (self->software, sizeof self->software, value) != 0)
        return s_invalid (error, errsize, "SUBJECT_SOFTWARE");

    value = s_env ("LABLINK_TRANSPORT");
    if (!value || strcmp (value, "http") == 0)
        self->transport = AGENT_TRANSPORT_HTTP;
    else if (strcmp (value, "zmq") == 0)
        self->transport = AGENT_TRANSPORT_ZMQ;
    else if (strcmp (value, "pg") == 0)
        self->transport = AGENT_TRANSPORT_PG;
    else
        return s_invalid (error, errsize, "LABLINK_TRANSPORT");

    value = s_env ("LABLINK_CRD_START_HOST");
    if (s_copy (self->start_host, sizeof self->start_host,
                value ? value : "/opt/google/chrome-remote-desktop/start-host")
        != 0)
        return s_invalid (error, errsize, "LABLINK_CRD_START_HOST");
    //  Absent means "nvidia-smi" on PATH; an explicit empty value none.
    value = getenv ("LABLINK_NVIDIA_SMI");
    if (s_copy (self->nvidia_smi, sizeof self->nvidia_smi,
                value ? value : "nvidia-smi")
        != 0)
        return s_invalid (error, errsize, "LABLINK_NVIDIA_SMI");
    value = s_env ("TUTORIAL_REPO_TO_CLONE");
    if (value && strcmp (value, "None") != 0
        && s_copy (self->tutorial_repo, sizeof self->tutorial_repo, value) != 0)
        return s_invalid (error, errsize, "TUTORIAL_REPO_TO_CLONE");
    value = s_env ("LABLINK_STARTUP_SCRIPT");
    if (s_copy (self->startup_script, sizeof self->startup_script,
                value ? value : "/docker_scripts/custom-startup.sh")
        != 0)
        return s_invalid (error, errsize, "LABLINK_STARTUP_SCRIPT");
    value = s_env ("STARTUP_ON_ERROR");
    if (value && strcmp (value, "fail") != 0 && strcmp (value, "continue") != 0)
        return s_invalid (error, errsize, "STARTUP_ON_ERROR");
    self->startup_fail = value && strcmp (value, "fail") == 0;
    value = s_env ("HOME");
    if (s_copy (self->home, sizeof self->home, value ? value : "/tmp") != 0)
        return s_invalid (error, errsize, "HOME");
    self->home_set = value != NULL;
    value = s_env ("LABLINK_SKELETON_DIR");
    if (s_copy (self->skeleton_dir, sizeof self->skeleton_dir,
                value ? value : "/etc/skel")
        != 0)
        return s_invalid (error, errsize, "LABLINK_SKELETON_DIR");
    value = s_env ("LABLINK_SESSION_USER");
    if (value
        && s_copy (self->session_user, sizeof self->session_user, value) != 0)
        return s_invalid (error, errsize, "LABLINK_SESSION_USER");
    value = s_env ("LABLINK_PROC_ROOT");
    if (s_copy (self->proc_root, sizeof self->proc_root,
                value ? value : "/proc")
        != 0)
        return s_invalid (error, errsize, "LABLINK_PROC_ROOT");
    value = s_env ("LABLINK_STATE_DIR");
    char state_dir[AGENT_PATH_MAX + 32];
    snprintf (state_dir, sizeof state_dir, "%s/.lablink-agent", self->home);
    if (s_copy (self->state_dir, sizeof self->state_dir,
                value ? value : state_dir)
        != 0)
        return s_invalid (error, errsize, "LABLINK_STATE_DIR");
    value = s_env ("LABLINK_DISK_PATH");
    if (s_copy (self->disk_path, sizeof self->disk_path, value ? value : "/")
        != 0)
        return s_invalid (error, errsize, "LABLINK_DISK_PATH");
    if (agent_log_files_parse (s_env ("LABLINK_LOG_FILES"), self->logs,
                               AGENT_LOG_FILES, &self->log_count)
        != 0)
        return s_invalid (error, errsize, "LABLINK_LOG_FILES");

    value = s_env ("LABLINK_ZMQ_ENDPOINT");
    if (value
        && s_copy (self->zmq_endpoint, sizeof self->zmq_endpoint, value) != 0)
        return s_invalid (error, errsize, "LABLINK_ZMQ_ENDPOINT");
    value = s_env ("LABLINK_ZMQ_SERVER_KEY");
    if (value
        && (strlen (value) != 40
            || s_copy (self->zmq_server_key, sizeof self->zmq_server_key, value)
                   != 0))
        return s_invalid (error, errsize, "LABLINK_ZMQ_SERVER_KEY");
    value = s_env ("LABLINK_PG_CONNINFO");
    if (value
        && s_copy (self->pg_conninfo, sizeof self->pg_conninfo, value) != 0)
        return s_invalid (error, errsize, "LABLINK_PG_CONNINFO");
    value = s_env ("LABLINK_PG_CHANNEL");
    if (s_copy (self->pg_channel, sizeof self->pg_channel,
                value ? value : "vm_updates")
        != 0)
        return s_invalid (error, errsize, "LABLINK_PG_CHANNEL");
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

    self->scale = 1.0;
    value = s_env ("LABLINK_INTERVAL_SCALE");
    if (value) {
        char *end;
        double scale = strtod (value, &end);
        if (*end || !(scale > 0.0001 && scale <= 100))
            return s_invalid (error, errsize, "LABLINK_INTERVAL_SCALE");
        self->scale = scale;
    }
    double k = self->scale;
    self->inuse_ms = s_scaled (k, 20000);
    self->gpu_ms = s_scaled (k, 20000);
    self->gpu_absent_ms = s_scaled (k, 300000);
    self->heartbeat_ms = s_scaled (k, 30000);
    self->jitter_ms = s_scaled (k, 5000);
    self->backoff_ms = s_scaled (k, 1000);
    self->backoff_max_ms = s_scaled (k, 60000);
    self->log_flush_ms =
        (int) s_env_long ("LABLINK_LOG_FLUSH_MS", 1000, 10, 60000);
    self->log_batch_lines =
        (int) s_env_long ("LABLINK_LOG_BATCH_LINES", 500, 1, 5000);
    self->log_queue_max =
        (int) s_env_long ("LABLINK_LOG_QUEUE_MAX", 20000, 10, 1000000);
    self->poll_timeout_s =
        (int) s_env_long ("LABLINK_POLL_TIMEOUT_S", 75, 1, 3600);
    self->relay_hold_s =
        (int) s_env_long ("LABLINK_RELAY_HOLD_S", 300, 0, 86400);
    self->request_timeout_s =
        (int) s_env_long ("LABLINK_REQUEST_TIMEOUT_S", 15, 1, 600);
    self->start_host_timeout_s =
        (int) s_env_long ("LABLINK_START_HOST_TIMEOUT_S", 60, 1, 3600);
    self->gpu_timeout_s =
        (int) s_env_long ("LABLINK_NVIDIA_SMI_TIMEOUT_S", 10, 1, 600);
    return 0;
}

int64_t
agent_settings_backoff (const agent_settings_t *self, int64_t *current)
{
    return agent_backoff_next (current, self->backoff_ms, self->backoff_max_ms);
}
