#include "runtime/aws.h"
#include "runtime/textbuf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_IMDS_DEFAULT   "http://169.254.169.254"
#define S_IMDS_TTL       "21600"  //  seconds a session token lives
#define S_IMDS_TTL_S     21600
#define S_IMDS_REPLY_MAX 16384  //  bytes of any IMDS answer
#define S_IMDS_TIMEOUT_S 2L     //  per request (AWS SDKs: 1 s, one retry)

struct ll_aws_chain {
    CURL *curl;           //  IMDS requests
    ll_aws_creds_t role;  //  the instance role's keys, cached
    bool have_role;       //  role holds keys
    char token[1024];     //  IMDSv2 session token, "" when none
    int64_t token_until;  //  when to stop using it
};

void
ll_aws_creds_clear (ll_aws_creds_t *creds)
{
    sodium_memzero (creds, sizeof *creds);
}

bool
ll_aws_creds_fresh (const ll_aws_creds_t *creds, int64_t now)
{
    return creds->expires == 0 || creds->expires - now > LL_AWS_REFRESH_S;
}

//  --- the environment ---------------------------------------------------------

//  1 found, 0 none, -1 half of a pair.
static int
s_from_env (ll_aws_creds_t *out, char *error, size_t errsize)
{
    const char *id = getenv ("AWS_ACCESS_KEY_ID");
    const char *secret = getenv ("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv ("AWS_SESSION_TOKEN");
    bool has_id = id && *id, has_secret = secret && *secret;
    if (!has_id && !has_secret)
        return 0;
    if (!has_id || !has_secret) {
        snprintf (error, errsize,
                  "%s is set without its pair (AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY go together)",
                  has_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
        return -1;
    }
    memset (out, 0, sizeof *out);
    if (ll_strcopy (out->access_key_id, sizeof out->access_key_id, id) != 0
        || ll_strcopy (out->secret_access_key, sizeof out->secret_access_key,
                       secret)
               != 0
        || ll_strcopy (out->session_token, sizeof out->session_token,
                       token ? token : "")
               != 0) {
        ll_aws_creds_clear (out);
        snprintf (error, errsize, "%s",
                  "AWS_* credentials in the environment are too "
                  "long");
        return -1;
    }
    snprintf (out->source, sizeof out->source, "environment");
    return 1;
}

//  --- the shared files ------------------------------------------------------------

//  Trim spaces and tabs at both ends, in place.
static char *
s_trim (char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen (s);
    while (len
           && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        s[--len] = '\0';
    return s;
}

//  Find [section] in an INI text (config: [profile name], or [default]),
//  and fill out's keys from it. 1 found, 0 not, -1 unusable.
static int
s_ini_profile (const char *text,
               bool config,
               const char *profile,
               ll_aws_creds_t *out,
               char *unusable,
               size_t unusable_size)
{
    if (!text)
        return 0;
    char *copy = strdup (text);
    bool in = false, found = false;
    char *save = NULL;
    for (char *line = strtok_r (copy, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save)) {
        //  Indented lines continue a nested setting (s3 = ...): not ours
        bool indented = *line == ' ' || *line == '\t';
        char *l = s_trim (line);
        if (!*l || *l == '#' || *l == ';')
            continue;
        if (*l == '[') {
            char *close = strchr (l, ']');
            if (!close)
                continue;
            *close = '\0';
            char *name = s_trim (l + 1);
            if (config && strncmp (name, "profile", 7) == 0
                && (name[7] == ' ' || name[7] == '\t'))
                name = s_trim (name + 8);
            else if (config && strcmp (name, "default") != 0)
                name = "";  //  [sso-session x], [services y]
            in = strcmp (name, profile) == 0;
            found = found || in;
            continue;
        }
        if (!in || indented)
            continue;
        char *eq = strchr (l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *key = s_trim (l);
        char *value = s_trim (eq + 1);
        char *slot = NULL;
        size_t size = 0;
        if (strcasecmp (key, "aws_access_key_id") == 0) {
            slot = out->access_key_id;
            size = sizeof out->access_key_id;
        }
        else if (strcasecmp (key, "aws_secret_access_key") == 0) {
            slot = out->secret_access_key;
            size = sizeof out->secret_access_key;
        }
        else if (strcasecmp (key, "aws_session_token") == 0) {
            slot = out->session_token;
            size = sizeof out->session_token;
        }
        else if (strcasecmp (key, "role_arn") == 0
                 || strcasecmp (key, "credential_process") == 0
                 || strcasecmp (key, "sso_session") == 0
                 || strcasecmp (key, "sso_start_url") == 0
                 || strcasecmp (key, "web_identity_token_file") == 0) {
            if (!*unusable)
                snprintf (unusable, unusable_size, "%s", key);
        }
        if (slot && ll_strcopy (slot, size, value) != 0)
            snprintf (unusable, unusable_size, "an over-long %s", key);
    }
    sodium_memzero (copy, strlen (text));
    free (copy);
    return found ? 1 : 0;
}

int
ll_aws_profile_parse (const char *credentials_text,
                      const char *config_text,
                      const char *profile,
                      ll_aws_creds_t *out,
                      char *error,
                      size_t errsize)
{
    memset (out, 0, sizeof *out);
    char unusable[64] = "";
    //  The credentials file wins for each key it names
    ll_aws_creds_t from_config = {0};
    int in_config = s_ini_profile (config_text, true, profile, &from_config,
                                   unusable, sizeof unusable);
    int in_credentials = s_ini_profile (credentials_text, false, profile, out,
                                        unusable, sizeof unusable);
    if (!in_config && !in_credentials) {
        ll_aws_creds_clear (&from_config);
        return 0;
    }
    if (!*out->access_key_id && !*out->secret_access_key) {
        memcpy (out->access_key_id, from_config.access_key_id,
                sizeof out->access_key_id);
        memcpy (out->secret_access_key, from_config.secret_access_key,
                sizeof out->secret_access_key);
        if (!*out->session_token)
            memcpy (out->session_token, from_config.session_token,
                    sizeof out->session_token);
    }
    ll_aws_creds_clear (&from_config);
    if (*out->access_key_id && *out->secret_access_key) {
        snprintf (out->source, sizeof out->source, "profile %.100s", profile);
        return 1;
    }
    if (*unusable)
        snprintf (error, errsize,
                  "AWS profile '%.64s' uses %s, which lablink-allocator "
                  "does not support: give it aws_access_key_id and "
                  "aws_secret_access_key, or use the instance role",
                  profile, unusable);
    else
        snprintf (error, errsize,
                  "AWS profile '%.64s' lacks aws_access_key_id or "
                  "aws_secret_access_key",
                  profile);
    ll_aws_creds_clear (out);
    return -1;
}

//  AWS_<var> when set, else ~/.aws/<name>.
static char *
s_shared_path (const char *var, const char *name)
{
    const char *set = getenv (var);
    if (set && *set)
        return strdup (set);
    const char *home = getenv ("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen (home) + strlen (name) + 8;
    char *path = malloc (n);
    snprintf (path, n, "%s/.aws/%s", home, name);
    return path;
}

static void
s_free_text (char *text)
{
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
}

//  1 found, 0 none, -1 error.
static int
s_from_files (ll_aws_creds_t *out, char *error, size_t errsize)
{
    const char *named = getenv ("AWS_PROFILE");
    const char *profile = named && *named ? named : "default";
    char *credentials_path =
        s_shared_path ("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *config_path = s_shared_path ("AWS_CONFIG_FILE", "config");
    char *credentials = ll_file_read (credentials_path, LL_AWS_FILE_MAX, NULL);
    char *config = ll_file_read (config_path, LL_AWS_FILE_MAX, NULL);
    free (credentials_path);
    free (config_path);
    int rc = ll_aws_profile_parse (credentials, config, profile, out, error,
                                   errsize);
    s_free_text (credentials);
    s_free_text (config);
    if (rc == 0 && named && *named) {
        snprintf (error, errsize,
                  "AWS_PROFILE '%.64s' is in neither ~/.aws/credentials nor "
                  "~/.aws/config",
                  profile);
        return -1;
    }
    return rc;
}

//  --- the instance role (IMDSv2) ---------------------------------------------------

//  "2024-05-01T12:34:56Z" (fractions allowed) -> epoch seconds, or -1.
static int64_t
s_parse_time (const char *text)
{
    struct tm tm = {0};
    int used = 0;
    if (!text
        || sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used)
               != 6
        || used != 19)
        return -1;
    const char *end = text + used;
    if (*end == '.')
        end += 1 + strspn (end + 1, "0123456789");
    if (strcmp (end, "Z") != 0 && strcmp (end, "+00:00") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm (&tm);
    return t == (time_t) -1 ? -1 : (int64_t) t;
}

int
ll_aws_imds_parse (const char *json,
                   size_t len,
                   ll_aws_creds_t *out,
                   char *error,
                   size_t errsize)
{
    memset (out, 0, sizeof *out);
    json_t *doc = json_loadb (json, len, 0, NULL);
    const char *code = json_string_value (json_object_get (doc, "Code"));
    const char *id = json_string_value (json_object_get (doc, "AccessKeyId"));
    const char *secret =
        json_string_value (json_object_get (doc, "SecretAccessKey"));
    const char *token = json_string_value (json_object_get (doc, "Token"));
    const char *expiration =
        json_string_value (json_object_get (doc, "Expiration"));
    int rc = -1;
    if (!json_is_object (doc))
        snprintf (error, errsize, "%s",
                  "the instance role's credentials are not JSON");
    else if (code && strcmp (code, "Success") != 0)
        snprintf (error, errsize, "the instance role's credentials: Code %.64s",
                  code);
    else if (!id || !secret || !*id || !*secret)
        snprintf (error, errsize, "%s",
                  "the instance role's credentials lack AccessKeyId or "
                  "SecretAccessKey");
    else if ((out->expires = s_parse_time (expiration)) < 0)
        snprintf (error, errsize, "%s",
                  "the instance role's credentials have no valid Expiration");
    else if (ll_strcopy (out->access_key_id, sizeof out->access_key_id, id) != 0
             || ll_strcopy (out->secret_access_key,
                            sizeof out->secret_access_key, secret)
                    != 0
             || ll_strcopy (out->session_token, sizeof out->session_token,
                            token ? token : "")
                    != 0)
        snprintf (error, errsize, "%s",
                  "the instance role's credentials are too long");
    else
        rc = 0;
    json_decref (doc);
    if (rc != 0)
        ll_aws_creds_clear (out);
    return rc;
}

//  An IMDS answer before it arrives; s_reply_free wipes one (it may hold
//  credentials)
static const ll_textbuf_sink_t s_reply_empty = {.max = S_IMDS_REPLY_MAX};

static void
s_reply_free (ll_textbuf_sink_t *reply)
{
    if (reply->buf.data)
        sodium_memzero (reply->buf.data, reply->buf.len);
    ll_textbuf_free (&reply->buf);
}

//  One IMDS request: the HTTP status (0 = no answer), the body in reply.
static long
s_imds (ll_aws_chain_t *self,
        bool put,
        const char *path,
        const char *header,
        ll_textbuf_sink_t *reply)
{
    const char *base = getenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base || !*base)
        base = S_IMDS_DEFAULT;
    size_t blen = strlen (base);
    while (blen && base[blen - 1] == '/')
        blen--;
    char url[1024];
    snprintf (url, sizeof url, "%.*s%s", (int) blen, base, path);
    CURL *c = self->curl;
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_TIMEOUT, S_IMDS_TIMEOUT_S);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 1L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (c, CURLOPT_NOPROXY, "*");  //  IMDS is never proxied
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, ll_textbuf_sink);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, reply);
    if (put) {
        curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt (c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    struct curl_slist *headers = curl_slist_append (NULL, header);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
    long status = 0;
    if (curl_easy_perform (c) == CURLE_OK && !reply->overflow)
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all (headers);
    return status;
}

//  A session token, new or still valid. 0 or -1 with why.
static int
s_imds_token (ll_aws_chain_t *self, char *error, size_t errsize)
{
    if (*self->token && (int64_t) time (NULL) < self->token_until)
        return 0;
    ll_textbuf_sink_t reply = s_reply_empty;
    long status =
        s_imds (self, true, "/latest/api/token",
                "X-aws-ec2-metadata-token-ttl-seconds: " S_IMDS_TTL, &reply);
    int rc = -1;
    if (status == 0)
        snprintf (
            error, errsize, "%s",
            "no instance metadata service answered (no AWS credentials in "
            "the environment or ~/.aws either)");
    else if (status != 200 || reply.buf.len == 0
             || reply.buf.len >= sizeof self->token)
        snprintf (error, errsize,
                  "the instance metadata service refused a session token "
                  "(HTTP %ld)",
                  status);
    else {
        memcpy (self->token, reply.buf.data, reply.buf.len);
        self->token[reply.buf.len] = '\0';
        //  Renewed well before the service forgets it
        self->token_until = (int64_t) time (NULL) + S_IMDS_TTL_S - 60;
        rc = 0;
    }
    s_reply_free (&reply);
    return rc;
}

//  GET path with the session token; a 401 gets a new token once.
static long
s_imds_get (ll_aws_chain_t *self,
            const char *path,
            ll_textbuf_sink_t *reply,
            char *error,
            size_t errsize)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s_imds_token (self, error, errsize) != 0)
            return -1;
        char header[sizeof self->token + 64];
        snprintf (header, sizeof header, "X-aws-ec2-metadata-token: %s",
                  self->token);
        s_reply_free (reply);
        *reply = s_reply_empty;
        long status = s_imds (self, false, path, header, reply);
        sodium_memzero (header, sizeof header);
        if (status != 401)
            return status;
        //  The service forgot our token (restarted, expired): a new one
        sodium_memzero (self->token, sizeof self->token);
        self->token_until = 0;
    }
    return 401;
}

static int
s_from_role (ll_aws_chain_t *self, char *error, size_t errsize)
{
    static const char base[] = "/latest/meta-data/iam/security-credentials/";
    ll_textbuf_sink_t reply = s_reply_empty;
    long status = s_imds_get (self, base, &reply, error, errsize);
    if (status < 0) {
        s_reply_free (&reply);
        return -1;
    }
    char role[256] = "";
    if (status == 200) {
        const char *text = ll_textbuf_text (&reply.buf);
        size_t len = strcspn (text, "\r\n");
        if (len < sizeof role
            && strspn (text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                             "VWXYZ0123456789+=,.@_-")
                   == len) {
            memcpy (role, text, len);
            role[len] = '\0';
        }
    }
    s_reply_free (&reply);
    if (!*role) {
        if (status == 404)
            snprintf (error, errsize, "%s",
                      "this instance has no IAM role (instance metadata: 404)");
        else
            snprintf (error, errsize,
                      "cannot read the instance role's name (HTTP %ld)",
                      status);
        return -1;
    }
    char path[sizeof base + sizeof role];
    snprintf (path, sizeof path, "%s%s", base, role);
    memset (&reply, 0, sizeof reply);
    status = s_imds_get (self, path, &reply, error, errsize);
    int rc = -1;
    ll_aws_creds_t fresh;
    if (status == 200
        && ll_aws_imds_parse (reply.buf.data, reply.buf.len, &fresh, error,
                              errsize)
               == 0) {
        snprintf (fresh.source, sizeof fresh.source, "instance role %.128s",
                  role);
        self->role = fresh;
        self->have_role = true;
        ll_aws_creds_clear (&fresh);
        rc = 0;
    }
    else if (status >= 0 && status != 200)
        snprintf (error, errsize,
                  "cannot read the instance role's credentials (HTTP %ld)",
                  status);
    s_reply_free (&reply);
    return rc;
}

//  --- the chain -------------------------------------------------------------------

ll_aws_chain_t *
ll_aws_chain_new (void)
{
    ll_aws_chain_t *self = calloc (1, sizeof *self);
    self->curl = curl_easy_init ();
    if (!self->curl) {
        free (self);
        return NULL;
    }
    return self;
}

void
ll_aws_chain_destroy (ll_aws_chain_t **self_p)
{
    ll_aws_chain_t *self = *self_p;
    if (!self)
        return;
    curl_easy_cleanup (self->curl);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

static bool
s_true (const char *value)
{
    return value && strcasecmp (value, "true") == 0;
}

int
ll_aws_chain_get (ll_aws_chain_t *self,
                  ll_aws_creds_t *out,
                  char *error,
                  size_t errsize)
{
    int rc = s_from_env (out, error, errsize);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    rc = s_from_files (out, error, errsize);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    if (s_true (getenv ("AWS_EC2_METADATA_DISABLED"))) {
        snprintf (error, errsize, "%s",
                  "no AWS credentials: none in the environment or ~/.aws, and "
                  "AWS_EC2_METADATA_DISABLED forbids the instance role");
        return -1;
    }
    int64_t now = (int64_t) time (NULL);
    if (!self->have_role || !ll_aws_creds_fresh (&self->role, now)) {
        char why[512] = "";
        if (s_from_role (self, why, sizeof why) != 0) {
            //  Keys that still work are better than none
            if (!self->have_role || self->role.expires - now < LL_AWS_GRACE_S) {
                snprintf (error, errsize, "%s", why);
                return -1;
            }
        }
    }
    if (self->role.expires <= now) {
        snprintf (error, errsize, "%s",
                  "the instance role's credentials have expired and no fresh "
                  "ones came");
        return -1;
    }
    *out = self->role;
    return 0;
}
