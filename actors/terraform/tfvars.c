#include "actors/terraform/tfvars.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t
ll_tf_clean_line (char *line, size_t len)
{
    size_t out = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char) line[i];
        if (c == 0x1b) {
            //  ESC [ params... final (0x40..0x7e); ESC ] ... BEL or ESC \;
            //  else ESC + one character
            i++;
            if (i < len && line[i] == '[') {
                i++;
                while (i < len
                       && !((unsigned char) line[i] >= 0x40
                            && (unsigned char) line[i] <= 0x7e))
                    i++;
                i++;
            }
            else if (i < len && line[i] == ']') {
                i++;
                while (
                    i < len && line[i] != '\a'
                    && !(line[i] == 0x1b && i + 1 < len && line[i + 1] == '\\'))
                    i++;
                i += (i < len && line[i] == 0x1b) ? 2 : 1;
            }
            else
                i++;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            i++;
            continue;
        }
        if (out < LL_TF_LINE_MAX)
            line[out++] = (char) c;
        i++;
    }
    //  Never cut a UTF-8 sequence in half at the cap
    if (out == LL_TF_LINE_MAX)
        while (out > 0 && ((unsigned char) line[out - 1] & 0xc0) == 0x80)
            out--;
    line[out] = '\0';
    //  Invalid UTF-8 would be refused by PostgreSQL and JSON: '?' instead
    size_t i8 = 0;
    while (i8 < out) {
        unsigned char c = (unsigned char) line[i8];
        size_t need = c < 0x80                          ? 0
                      : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 1
                      : (c & 0xf0) == 0xe0              ? 2
                      : (c & 0xf8) == 0xf0 && c <= 0xf4 ? 3
                                                        : 99;
        bool ok = need != 99;
        for (size_t k = 1; ok && k <= need; k++)
            ok = i8 + k < out && ((unsigned char) line[i8 + k] & 0xc0) == 0x80;
        if (!ok) {
            line[i8++] = '?';
            continue;
        }
        i8 += need + 1;
    }
    return out;
}

int
ll_tf_event (const char *line, char *text, size_t size, ll_tf_line_t *kind)
{
    *kind = LL_TF_LINE_OTHER;
    if (line[0] != '{')
        return -1;
    json_t *event = json_loads (line, 0, NULL);
    const char *message =
        json_string_value (json_object_get (event, "@message"));
    if (!message) {
        json_decref (event);
        return -1;
    }
    const char *type = json_string_value (json_object_get (event, "type"));
    type = type ? type : "";
    const char *detail = NULL;
    if (strcmp (type, "diagnostic") == 0)
        detail = json_string_value (
            json_object_get (json_object_get (event, "diagnostic"), "detail"));
    snprintf (text, size, "%s%s%s", message, detail && *detail ? "\n" : "",
              detail && *detail ? detail : "");
    json_t *hook = json_object_get (event, "hook");
    const char *name = json_string_value (
        json_object_get (json_object_get (hook, "resource"), "resource_name"));
    const char *action = json_string_value (json_object_get (hook, "action"));
    if (strcmp (type, "apply_complete") == 0 && name && action
        && strcmp (name, "vm") == 0) {
        if (strcmp (action, "create") == 0)
            *kind = LL_TF_LINE_CREATED;
        else if (strcmp (action, "delete") == 0)
            *kind = LL_TF_LINE_DESTROYED;
    }
    json_decref (event);
    return 0;
}

void
ll_tf_hcl_string (void *out, const char *text)
{
    FILE *f = out;
    fputc ('"', f);
    for (const char *p = text ? text : ""; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c == '"' || c == '\\')
            fprintf (f, "\\%c", c);
        else if (c == '\n')
            fputs ("\\n", f);
        else if (c == '\r')
            fputs ("\\r", f);
        else if (c == '\t')
            fputs ("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf (f, "\\u%04x", c);
        else if ((c == '$' || c == '%') && p[1] == '{') {
            //  ${ and %{ open templates: doubled they stay literal
            fputc (c, f);
            fputc (c, f);
        }
        else
            fputc (c, f);
    }
    fputc ('"', f);
}

static void
s_assign (FILE *f, const char *name, const char *value)
{
    fprintf (f, "%s = ", name);
    ll_tf_hcl_string (f, value);
    fputc ('\n', f);
}

char *
ll_tfvars_render_json (const ll_tfvars_t *v)
{
    json_t *root = json_object ();
    const char *pairs[][2] = {
        {"allocator_ip", v->allocator_ip},
        {"allocator_url", v->allocator_url},
        {"machine_type", v->machine_type},
        {"image_name", v->image_name},
        {"repository", v->repository ? v->repository : ""},
        {"client_ami_id", v->client_ami_id},
        {"subject_software", v->subject_software},
        {"resource_suffix", v->resource_suffix},
        {"gpu_support", v->gpu_support ? "true" : "false"},
        {"cloud_init_output_log_group", v->cloud_init_output_log_group},
        {"region", v->region},
        {"startup_on_error", v->startup_on_error},
        {"ssh_public_key", v->ssh_public_key},
        {"custom_startup_script", v->startup_script ? v->startup_script : ""},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        json_object_set_new (root, pairs[i][0],
                             json_string (pairs[i][1] ? pairs[i][1] : ""));
    if (v->agent_bin)
        json_object_set_new (root, "agent_bin", json_string (v->agent_bin));
    if (v->crd_start_host)
        json_object_set_new (root, "crd_start_host",
                             json_string (v->crd_start_host));
    json_t *names = json_array ();
    json_t *tokens = json_object ();
    for (size_t i = 0; i < v->count; i++) {
        json_array_append_new (names, json_string (v->names[i]));
        json_object_set_new (tokens, v->names[i], json_string (v->tokens[i]));
    }
    json_object_set_new (root, "vm_names", names);
    json_object_set_new (root, "agent_tokens", tokens);
    char *text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    json_decref (root);
    if (!text)
        return NULL;
    //  json_dumps has no final newline; the file gets one
    size_t len = strlen (text);
    char *file = realloc (text, len + 2);
    if (!file) {
        free (text);
        return NULL;
    }
    file[len] = '\n';
    file[len + 1] = '\0';
    return file;
}

char *
ll_tfvars_render (const ll_tfvars_t *v)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&text, &size);
    if (!f)
        return NULL;
    fputs ("# Written by lablink-allocator for each operation; do not edit.\n"
           "# Holds agent tokens: keep it private (mode 0600).\n",
           f);
    s_assign (f, "allocator_ip", v->allocator_ip);
    s_assign (f, "allocator_url", v->allocator_url);
    s_assign (f, "machine_type", v->machine_type);
    s_assign (f, "image_name", v->image_name);
    s_assign (f, "repository", v->repository ? v->repository : "");
    s_assign (f, "client_ami_id", v->client_ami_id);
    s_assign (f, "subject_software", v->subject_software);
    s_assign (f, "resource_suffix", v->resource_suffix);
    s_assign (f, "gpu_support", v->gpu_support ? "true" : "false");
    s_assign (f, "cloud_init_output_log_group", v->cloud_init_output_log_group);
    s_assign (f, "region", v->region);
    s_assign (f, "startup_on_error", v->startup_on_error);
    s_assign (f, "ssh_public_key", v->ssh_public_key);
    s_assign (f, "custom_startup_script",
              v->startup_script ? v->startup_script : "");
    if (v->agent_bin)
        s_assign (f, "agent_bin", v->agent_bin);
    if (v->crd_start_host)
        s_assign (f, "crd_start_host", v->crd_start_host);
    fputs ("vm_names = [", f);
    for (size_t i = 0; i < v->count; i++) {
        fputs (i ? ", " : "", f);
        ll_tf_hcl_string (f, v->names[i]);
    }
    fputs ("]\nagent_tokens = {\n", f);
    for (size_t i = 0; i < v->count; i++) {
        fputs ("  ", f);
        ll_tf_hcl_string (f, v->names[i]);
        fputs (" = ", f);
        ll_tf_hcl_string (f, v->tokens[i]);
        fputc ('\n', f);
    }
    fputs ("}\n", f);
    fclose (f);
    return text;
}

int
ll_tfvars_token_of (const char *text, const char *name, char *out, size_t size)
{
    if (text && text[0] == '{') {
        json_t *root = json_loads (text, 0, NULL);
        const char *token = json_string_value (
            json_object_get (json_object_get (root, "agent_tokens"), name));
        int rc = token && strlen (token) < size ? 0 : -1;
        if (rc == 0)
            snprintf (out, size, "%s", token);
        json_decref (root);
        return rc;
    }
    const char *block = text ? strstr (text, "\nagent_tokens = {\n") : NULL;
    if (!block || !name || !*name || size == 0)
        return -1;
    size_t len = strlen (name);
    for (const char *line = strchr (block + 1, '\n'); line && line[1] != '}';
         line = strchr (line + 1, '\n')) {
        const char *at = line + 1;
        if (strncmp (at, "  \"", 3) != 0 || strncmp (at + 3, name, len) != 0
            || strncmp (at + 3 + len, "\" = \"", 5) != 0)
            continue;
        const char *token = at + 3 + len + 5;
        size_t tlen = strcspn (token, "\"\n");
        if (token[tlen] != '"' || tlen >= size)
            return -1;
        memcpy (out, token, tlen);
        out[tlen] = '\0';
        return 0;
    }
    return -1;
}

long long
ll_tf_parse_time (const char *text)
{
    if (!text)
        return -1;
    struct tm tm = {0};
    int used = 0;
    if (sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used)
            != 6
        || used != 19)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *end = text + used;
    if (*end == '.')  //  fractions
        for (end++; isdigit ((unsigned char) *end); end++)
            ;
    if (strcmp (end, "Z") != 0 && strcmp (end, "+00:00") != 0)
        return -1;
    time_t t = timegm (&tm);
    return t == (time_t) -1 ? -1 : (long long) t;
}

void
ll_tf_vms_free (ll_tf_vm_t **vms, size_t count)
{
    if (!vms || !*vms)
        return;
    for (size_t i = 0; i < count; i++) {
        free ((*vms)[i].name);
        free ((*vms)[i].start_time);
        free ((*vms)[i].end_time);
        free ((*vms)[i].address);
    }
    free (*vms);
    *vms = NULL;
}

static char *
s_strdup_or_null (json_t *value)
{
    return json_is_string (value) ? strdup (json_string_value (value)) : NULL;
}

int
ll_tf_parse_outputs (const char *json,
                     size_t len,
                     ll_tf_vm_t **vms,
                     size_t *count,
                     char *error,
                     size_t errsize)
{
    *vms = NULL;
    *count = 0;
    json_error_t jerr;
    json_t *root = json_loadb (json, len, 0, &jerr);
    if (!json_is_object (root)) {
        snprintf (error, errsize, "terraform output is not a JSON object");
        json_decref (root);
        return -1;
    }
    json_t *times = json_object_get (
        json_object_get (root, "instance_terraform_apply_times"), "value");
    json_t *addresses =
        json_object_get (json_object_get (root, "vm_addresses"), "value");
    json_t *ports =
        json_object_get (json_object_get (root, "vm_ssh_ports"), "value");
    if (!json_is_object (times)) {
        snprintf (error, errsize,
                  "terraform output lacks instance_terraform_apply_times");
        json_decref (root);
        return -1;
    }
    size_t n = json_object_size (times);
    *vms = calloc (n ? n : 1, sizeof **vms);
    const char *name;
    json_t *entry;
    json_object_foreach (times, name, entry)
    {
        ll_tf_vm_t *vm = &(*vms)[(*count)++];
        vm->name = strdup (name);
        vm->start_time =
            s_strdup_or_null (json_object_get (entry, "start_time"));
        vm->end_time = s_strdup_or_null (json_object_get (entry, "end_time"));
        json_t *seconds = json_object_get (entry, "seconds");
        long long start = ll_tf_parse_time (vm->start_time);
        long long end = ll_tf_parse_time (vm->end_time);
        if (json_is_number (seconds) && json_number_value (seconds) >= 0)
            vm->seconds = json_number_value (seconds);
        else if (start >= 0 && end >= start)
            vm->seconds = (double) (end - start);
        else
            vm->seconds = -1;
        vm->address = s_strdup_or_null (json_object_get (addresses, name));
        json_t *port = json_object_get (ports, name);
        if (json_is_integer (port) && json_integer_value (port) > 0
            && json_integer_value (port) < 65536)
            vm->ssh_port = (int) json_integer_value (port);
    }
    json_decref (root);
    return 0;
}

bool
ll_tf_state_has_vm (const char *state_list, const char *name)
{
    static const char *const types[] = {"terraform_data.vm[\"",
                                        "aws_instance.vm[\"", NULL};
    size_t name_len = strlen (name);
    const char *line = state_list;
    while (line && *line) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        for (int t = 0; types[t]; t++) {
            size_t tl = strlen (types[t]);
            if (len == tl + name_len + 2 && strncmp (line, types[t], tl) == 0
                && strncmp (line + tl, name, name_len) == 0
                && strncmp (line + tl + name_len, "\"]", 2) == 0)
                return true;
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

bool
ll_tf_gpu_type (const char *machine_type)
{
    //  EC2 families with NVIDIA GPUs: g3, g4dn, g5, g6, p2..p5 (g4ad and
    //  g5g carry AMD / ARM parts but still count as GPU types here)
    return machine_type && (machine_type[0] == 'g' || machine_type[0] == 'p')
           && isdigit ((unsigned char) machine_type[1]);
}

int
ll_tf_vm_name (const ll_config_t *config, int n, char *out, size_t size)
{
    char env[64];
    size_t j = 0;
    for (const char *p = config->environment; *p && j < sizeof env - 1; p++)
        if (isalnum ((unsigned char) *p) || *p == '-')
            env[j++] = (char) tolower ((unsigned char) *p);
    env[j] = '\0';
    int w = snprintf (out, size, "lablink-vm-%s%s%d", env, j ? "-" : "", n);
    return w > 0 && (size_t) w < size ? 0 : -1;
}

char *
ll_tf_allocator_url (const ll_config_t *config)
{
    char *url = NULL;
    if (*config->app.public_url)
        url = strdup (config->app.public_url);
    else if (getenv ("ALLOCATOR_FQDN") && *getenv ("ALLOCATOR_FQDN")) {
        const char *fqdn = getenv ("ALLOCATOR_FQDN");
        size_t len = strlen (fqdn) + 8;
        url = malloc (len + 1);
        snprintf (url, len + 1, "%s%s", strstr (fqdn, "://") ? "" : "http://",
                  fqdn);
    }
    else if (strcmp (config->provider.kind, "local") == 0) {
        const char *listen = config->app.listen;
        const char *colon = strrchr (listen, ':');
        const char *port = colon ? colon + 1 : listen;
        char host[128] = "127.0.0.1";
        if (colon && (size_t) (colon - listen) < sizeof host
            && strncmp (listen, "0.0.0.0", 7) != 0)
            snprintf (host, sizeof host, "%.*s", (int) (colon - listen),
                      listen);
        size_t len = strlen (host) + strlen (port) + 16;
        url = malloc (len);
        snprintf (url, len, "http://%s:%s", host, port);
    }
    else {
        bool https =
            strcmp (config->ssl.provider, "none") != 0 && !config->ssl.staging;
        char host[512] = "";
        if (config->dns.enabled && *config->dns.domain) {
            bool sub = (strcmp (config->dns.pattern, "custom") == 0
                        || strcmp (config->dns.pattern, "auto") == 0)
                       && *config->dns.custom_subdomain;
            snprintf (host, sizeof host, "%s%s%s",
                      sub ? config->dns.custom_subdomain : "", sub ? "." : "",
                      config->dns.domain);
        }
        else if (getenv ("ALLOCATOR_PUBLIC_IP"))
            snprintf (host, sizeof host, "%s", getenv ("ALLOCATOR_PUBLIC_IP"));
        const char *h = host;
        while (*h == '.')
            h++;
        if (!*h)
            return NULL;
        size_t len = strlen (h) + 16;
        url = malloc (len);
        snprintf (url, len, "%s://%s", https ? "https" : "http", h);
    }
    //  No trailing slash (the agent appends paths)
    size_t len = strlen (url);
    while (len > 0 && url[len - 1] == '/')
        url[--len] = '\0';
    return url;
}
