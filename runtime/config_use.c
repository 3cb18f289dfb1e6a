/*  What the allocator derives from a loaded configuration (runtime/config.h):
    whether it may start with this admin password, the libpq conninfo, the
    one-line summary it logs, the state backend and the offer window. Kept
    apart from the loader (runtime/config.c). */
#include "runtime/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
ll_config_refuse_reason (const ll_config_t *self)
{
    if (*self->app.admin_password_hash)
        return NULL;
    if (!*self->app.admin_password)
        return "app.admin_password is not set (set it in the config, or "
               "LABLINK_ADMIN_PASSWORD, or app.admin_password_hash)";
    if (strncmp (self->app.admin_password, "PLACEHOLDER_", 12) == 0)
        return "app.admin_password is still a PLACEHOLDER_ value: replace it "
               "with a real password";
    //  Defaults anyone can look up (upstream's, ours, the examples')
    static const char *const known[] = {
        "change-me", "changeme", "admin",         "lablink", "password",
        "admin123",  "secret",   "lablink-admin", NULL};
    for (const char *const *k = known; *k; k++)
        if (strcasecmp (self->app.admin_password, *k) == 0)
            return "app.admin_password is a well-known default: choose "
                   "another";
    if (strlen (self->app.admin_password) < LL_ADMIN_PASSWORD_MIN)
        return "app.admin_password is shorter than 12 characters: choose a "
               "longer one";
    return NULL;
}

//  Append key='value' to a libpq conninfo, quoting as libpq wants.
static void
s_conninfo_add (char *out, size_t size, const char *key, const char *value)
{
    size_t len = strlen (out);
    len += (size_t) snprintf (out + len, size > len ? size - len : 0, "%s%s='",
                              len ? " " : "", key);
    for (const char *c = value; *c && len + 3 < size; c++) {
        if (*c == '\'' || *c == '\\')
            out[len++] = '\\';
        out[len++] = *c;
    }
    if (len + 2 < size) {
        out[len++] = '\'';
        out[len] = '\0';
    }
}

char *
ll_config_conninfo (const ll_config_t *self)
{
    char out[2048] = "";
    char port[16];
    snprintf (port, sizeof port, "%d", self->db.port);
    s_conninfo_add (out, sizeof out, "host", self->db.host);
    s_conninfo_add (out, sizeof out, "port", port);
    s_conninfo_add (out, sizeof out, "dbname", self->db.dbname);
    s_conninfo_add (out, sizeof out, "user", self->db.user);
    s_conninfo_add (out, sizeof out, "password", self->db.password);
    s_conninfo_add (out, sizeof out, "sslmode", self->db.sslmode);
    if (*self->db.sslrootcert)
        s_conninfo_add (out, sizeof out, "sslrootcert", self->db.sslrootcert);
    s_conninfo_add (out, sizeof out, "connect_timeout", "2");
    s_conninfo_add (out, sizeof out, "application_name", "lablink-allocator");
    s_conninfo_add (out, sizeof out, "keepalives_idle", "5");
    s_conninfo_add (out, sizeof out, "keepalives_interval", "2");
    s_conninfo_add (out, sizeof out, "keepalives_count", "2");
    return strdup (out);
}

char *
ll_config_describe (const ll_config_t *self)
{
    char out[1024];
    snprintf (out, sizeof out,
              "config %s: provider=%s listen=%s db=%s@%s:%d/%s channel=%s "
              "transport=%s long_poll_s=%d admin_user=%s admin_password=%s",
              *self->source_path ? self->source_path : "(defaults)",
              self->provider.kind, self->app.listen, self->db.user,
              self->db.host, self->db.port, self->db.dbname,
              self->db.message_channel, self->agent.transport,
              self->agent.long_poll_s, self->app.admin_user,
              *self->app.admin_password || *self->app.admin_password_hash
                  ? "****"
                  : "(unset)");
    return strdup (out);
}

const char *
ll_config_state_backend (const ll_config_t *self)
{
    if (*self->provider.state_backend)
        return self->provider.state_backend;
    return strcmp (self->provider.kind, "aws") == 0 ? "s3" : "local";
}

int
ll_config_poll_window_s (const ll_config_t *self)
{
    return self->agent.long_poll_s + LL_POLL_GRACE_S;
}

void
ll_config_offer_params (const ll_config_t *self,
                        char *stale,
                        char *window,
                        size_t size)
{
    snprintf (stale, size, "%d", self->agent.stale_after_s);
    snprintf (window, size, "%d", ll_config_poll_window_s (self));
}
