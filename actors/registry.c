#include "actors/registry.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/textbuf.h"
#include "runtime/token.h"

#include <sodium.h>

#define LL_REGISTRY_TICK_MS 500
//  Requests taken in one go before the coalesced writes are flushed
#define LL_REGISTRY_DRAIN_MAX 20000

//  What one flush writes for one VM: the merge of every write request that
//  arrived for it since the last flush (later requests win field by field).
typedef struct {
    char *hostname;     //  the VM
    char *status;       //  new status, or NULL
    char *gpu_health;   //  new GPU health, or NULL
    int in_use;         //  1, 0, or -1 when not given
    bool heartbeat;     //  heartbeat fields given
    bool waiting;       //  the heartbeat says its client waits (pg)
    char *boot_id;      //  heartbeat boot_id or NULL
    int crd_active;     //  1, 0, -1 = NULL
    int disk_free_pct;  //  0..100, -1 = NULL
    bool needs_update;  //  anything but the status to write (or a touch)
    zlist_t *waiters;   //  ll_request_t * answered after the flush
} s_pending_t;

typedef struct {
    ll_actor_t actor;  //  pipe, ROUTER LL_ENDPOINT_REGISTRY, database
    zhash_t *pending;  //  hostname -> s_pending_t, for the next flush
    zlist_t *auths;    //  VM-AUTH requests for the next token check
    ll_textbuf_t auth_hosts, auth_hashes;  //  their arguments (arrays)
    int async_backend;  //  backend pid whose session commits async, 0
} self_t;

static void
s_pending_destroy (void *item)
{
    s_pending_t *p = item;
    free (p->hostname);
    free (p->status);
    free (p->gpu_health);
    free (p->boot_id);
    ll_request_t *req;
    while ((req = zlist_pop (p->waiters)))
        ll_request_destroy (&req);
    zlist_destroy (&p->waiters);
    free (p);
}

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->pending = zhash_new ();
    self->auths = zlist_new ();
}

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zhash_destroy (&self->pending);
    ll_request_t *req;
    while ((req = zlist_pop (self->auths)))
        ll_request_destroy (&req);
    zlist_destroy (&self->auths);
    ll_textbuf_free (&self->auth_hosts);
    ll_textbuf_free (&self->auth_hashes);
}

static void
s_handle_health (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    PGresult *res = ll_db_exec (self->actor.db, "health_ping", 0, NULL);
    if (res)
        ll_request_answer (req);
    else
        ll_request_fail (req, *ll_db_error (self->actor.db)
                                  ? ll_db_error (self->actor.db)
                                  : "not connected");
    PQclear (res);
}

static int s_commit_mode (self_t *self, bool soft);

//  The server secret: created once (random), then always the same, so agent
//  tokens survive restarts and every allocator sharing the database agrees.
static void
s_handle_secret (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    s_commit_mode (self, false);
    char fresh[65];
    ll_token_new_secret (fresh, sizeof fresh);
    const char *init[] = {"server_secret", fresh};
    const char *key[] = {"server_secret"};
    PGresult *res = ll_db_exec (self->actor.db, "settings_init", 2, init);
    PQclear (res);
    res = res ? ll_db_exec (self->actor.db, "settings_get", 1, key) : NULL;
    if (res && PQntuples (res) == 1)
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    else
        ll_request_fail (req, LL_REASON_DATABASE);
    PQclear (res);
    sodium_memzero (fresh, sizeof fresh);
}

//  --- coalesced writes ----------------------------------------------------

static s_pending_t *
s_pending_for (self_t *self, const char *hostname)
{
    s_pending_t *p = zhash_lookup (self->pending, hostname);
    if (!p) {
        p = calloc (1, sizeof *p);
        p->hostname = strdup (hostname);
        p->in_use = -1;
        p->crd_active = -1;
        p->disk_free_pct = -1;
        p->waiters = zlist_new ();
        zhash_insert (self->pending, hostname, p);
        zhash_freefn (self->pending, hostname, s_pending_destroy);
    }
    return p;
}

static void
s_replace (char **field, const char *value)
{
    free (*field);
    *field = value ? strdup (value) : NULL;
}

//  A coalesced write: kept in the pending set of its VM and answered by
//  the next flush.
static void
s_handle_write (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *hostname = NULL, *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    if (ll_request_take (req, &hostname, &a, &b, &c, &d) != 0)
        return;
    if (!*hostname) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        goto done;
    }
    s_pending_t *p = s_pending_for (self, hostname);
    if (streq (req->command, LL_CMD_VM_STATUS_SET))
        s_replace (&p->status, a);
    else if (streq (req->command, LL_CMD_VM_GPU_SET)) {
        s_replace (&p->gpu_health, a);
        p->needs_update = true;
    }
    else if (streq (req->command, LL_CMD_VM_INUSE_SET)) {
        p->in_use = streq (a, "1") ? 1 : 0;
        p->needs_update = true;
    }
    else if (streq (req->command, LL_CMD_VM_HEARTBEAT)) {
        p->heartbeat = true;
        s_replace (&p->boot_id, *a ? a : NULL);
        p->crd_active = *b ? streq (b, "1") : -1;
        p->disk_free_pct = *c ? (int) strtol (c, NULL, 10) : -1;
        p->waiting = d && streq (d, "1");
        p->needs_update = true;
    }
    else
        p->needs_update = true;  //  VM-TOUCH
    zlist_append (p->waiters, ll_request_keep (req));
done:
    free (hostname);
    free (a);
    free (b);
    free (c);
    free (d);
}

static void
s_answer_all (self_t *self, s_pending_t *p, const char *error)
{
    ll_request_t *req;
    while ((req = zlist_pop (p->waiters))) {
        if (error)
            ll_request_fail (req, error);
        else
            ll_request_answer (req);
        ll_request_destroy (&req);
    }
}

static int
s_compare_hostnames (const void *a, const void *b)
{
    const s_pending_t *x = *(s_pending_t *const *) a;
    const s_pending_t *y = *(s_pending_t *const *) b;
    return strcmp (x->hostname, y->hostname);
}

static void
s_heartbeat_warnings (PGresult *res, int row)
{
    const char *host = PQgetvalue (res, row, 0);
    const char *prev_boot = PQgetvalue (res, row, 2);
    const char *boot = PQgetvalue (res, row, 3);
    const char *prev_crd = PQgetvalue (res, row, 4);
    const char *crd = PQgetvalue (res, row, 5);
    const char *disk = PQgetvalue (res, row, 6);
    if (*prev_boot && *boot && strcmp (prev_boot, boot) != 0)
        ll_warn ("registry: %s rebooted (boot id changed)", host);
    if (streq (prev_crd, "true") && streq (crd, "false"))
        ll_warn ("registry: %s: chrome remote desktop stopped", host);
    if (*disk && strtol (disk, NULL, 10) < 10)
        ll_warn ("registry: %s: disk almost full (%s%% free)", host, disk);
}

//  Put the session in the commit mode the next writes need: asynchronous
//  for soft state only (heartbeats and touches, which every agent re-sends:
//  a crash can lose the last fraction of a second of them, nothing else),
//  synchronous for everything else. A new connection starts synchronous;
//  the mode changes only when needed, so a stream of heartbeat flushes
//  costs one statement each. 0, or -1 when the database failed.
static int
s_commit_mode (self_t *self, bool soft)
{
    PGconn *conn = ll_db_conn (self->actor.db);
    int backend = conn ? PQbackendPID (conn) : 0;
    bool is_async = backend && backend == self->async_backend;
    if (soft == is_async)
        return 0;
    PGresult *res = ll_db_exec (
        self->actor.db,
        soft ? "telemetry_commit_async" : "telemetry_commit_sync", 0, NULL);
    if (!res)
        return -1;
    PQclear (res);
    self->async_backend = soft ? backend : 0;
    return 0;
}

//  Write everything pending: one upsert for the statuses, one update for
//  the rest; then answer every waiting request.
static void
s_flush (self_t *self)
{
    size_t count = zhash_size (self->pending);
    if (count == 0)
        return;
    s_pending_t **list = malloc (count * sizeof *list);
    size_t n = 0;
    for (s_pending_t *p = zhash_first (self->pending); p;
         p = zhash_next (self->pending))
        list[n++] = p;
    qsort (list, n, sizeof *list, s_compare_hostnames);

    ll_textbuf_t hosts = {0}, statuses = {0};
    ll_pgarray_begin (&hosts);
    ll_pgarray_begin (&statuses);
    size_t status_count = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i]->status) {
            ll_pgarray_add (&hosts, list[i]->hostname);
            ll_pgarray_add (&statuses, list[i]->status);
            status_count++;
        }
    ll_pgarray_end (&hosts);
    ll_pgarray_end (&statuses);
    bool soft = status_count == 0;
    for (size_t i = 0; i < n && soft; i++)
        if (list[i]->gpu_health || list[i]->in_use >= 0)
            soft = false;
    const char *failure = NULL;
    if (ll_db_ensure (self->actor.db) != 0 || s_commit_mode (self, soft) != 0)
        failure = ll_actor_db_reason (&self->actor);
    //  found[i]: VM i exists (a statement found its row)
    bool *found = calloc (n, sizeof *found);
    if (status_count && !failure) {
        const char *values[] = {hosts.data, statuses.data};
        PGresult *res =
            ll_db_exec (self->actor.db, "vm_status_update", 2, values);
        if (!res)
            failure = ll_actor_db_reason (&self->actor);
        for (int row = 0; res && row < PQntuples (res); row++) {
            s_pending_t key = {.hostname = PQgetvalue (res, row, 0)};
            s_pending_t *kp = &key;
            s_pending_t **hit =
                bsearch (&kp, list, n, sizeof *list, s_compare_hostnames);
            if (hit)
                found[hit - list] = true;
        }
        PQclear (res);
    }

    ll_textbuf_t cols[8] = {{0}};
    size_t update_count = 0;
    for (int k = 0; k < 8; k++)
        ll_pgarray_begin (&cols[k]);
    for (size_t i = 0; i < n && !failure; i++) {
        s_pending_t *p = list[i];
        if (!p->needs_update)
            continue;
        char num[16], disk[16];
        snprintf (num, sizeof num, "%s", p->in_use == 1 ? "t" : "f");
        snprintf (disk, sizeof disk, "%d", p->disk_free_pct);
        ll_pgarray_add (&cols[0], p->hostname);
        ll_pgarray_add (&cols[1], p->gpu_health);
        ll_pgarray_add (&cols[2], p->in_use < 0 ? NULL : num);
        ll_pgarray_add (&cols[3], p->heartbeat ? "t" : "f");
        ll_pgarray_add (&cols[4], p->boot_id);
        ll_pgarray_add (&cols[5], p->crd_active < 0    ? NULL
                                  : p->crd_active == 1 ? "t"
                                                       : "f");
        ll_pgarray_add (&cols[6], p->disk_free_pct < 0 ? NULL : disk);
        ll_pgarray_add (&cols[7], p->waiting ? "t" : "f");
        update_count++;
    }
    for (int k = 0; k < 8; k++)
        ll_pgarray_end (&cols[k]);
    if (update_count && !failure) {
        const char *values[8];
        for (int k = 0; k < 8; k++)
            values[k] = cols[k].data;
        PGresult *res =
            ll_db_exec (self->actor.db, "vm_telemetry_update", 8, values);
        if (!res)
            failure = ll_actor_db_reason (&self->actor);
        for (int row = 0; res && row < PQntuples (res); row++) {
            const char *host = PQgetvalue (res, row, 0);
            s_pending_t key = {.hostname = (char *) host}, *kp = &key;
            s_pending_t **hit =
                bsearch (&kp, list, n, sizeof *list, s_compare_hostnames);
            if (hit)
                found[hit - list] = true;
            if (streq (PQgetvalue (res, row, 1), "t"))
                s_heartbeat_warnings (res, row);
            if (*PQgetvalue (res, row, 7)) {
                ll_info ("registry: %s: chrome remote desktop active: "
                         "assignment delivered",
                         host);
                ll_metrics_delivery (self->actor.runtime->metrics,
                                     LL_DELIVERY_HEARTBEAT,
                                     strtod (PQgetvalue (res, row, 7), NULL));
            }
        }
        PQclear (res);
    }
    for (size_t i = 0; i < n; i++)
        s_answer_all (self, list[i],
                      failure    ? failure
                      : found[i] ? NULL
                                 : LL_REASON_NOT_FOUND);
    for (int k = 0; k < 8; k++)
        ll_textbuf_free (&cols[k]);
    ll_textbuf_free (&hosts);
    ll_textbuf_free (&statuses);
    free (found);
    free (list);
    zhash_destroy (&self->pending);
    self->pending = zhash_new ();
}

//  --- reads and rare writes (answered at once) -----------------------------

static void
s_handle_metrics (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *owned[7] = {NULL};
    if (ll_request_take (req, &owned[0], &owned[1], &owned[2], &owned[3],
                         &owned[4], &owned[5], &owned[6])
        != 0)
        return;
    s_commit_mode (self, false);
    const char *values[7];
    for (int i = 0; i < 7; i++)
        values[i] = *owned[i] ? owned[i] : NULL;
    PGresult *res =
        values[0] ? ll_db_exec (self->actor.db, "vm_metrics_update", 7, values)
                  : NULL;
    if (!values[0])
        ll_request_fail (req, LL_REASON_MALFORMED);
    else if (!res)
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    else if (PQntuples (res) == 0)
        ll_request_fail (req, LL_REASON_NOT_FOUND);
    else {
        static const ll_phase_t phases[] = {LL_PHASE_CLOUD_INIT,
                                            LL_PHASE_CONTAINER, LL_PHASE_TOTAL};
        for (int i = 0; i < 3; i++)
            if (*PQgetvalue (res, 0, i + 1))
                ll_metrics_phase (self->actor.runtime->metrics, phases[i],
                                  strtod (PQgetvalue (res, 0, i + 1), NULL));
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    }
    PQclear (res);
    for (int i = 0; i < 7; i++)
        free (owned[i]);
}

static void
s_handle_fleet (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char stale[16], window[16];
    ll_config_offer_params (self->actor.runtime->config, stale, window,
                            sizeof stale);
    const char *values[] = {stale, window};
    PGresult *res = ll_db_exec (self->actor.db, "vm_fleet", 2, values);
    if (!res) {
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
        return;
    }
    //  The scheduled end is the same on every row; without VMs, no row
    zmsg_t *rows = zmsg_new ();
    for (int row = 0; row < PQntuples (res); row++)
        ll_msg_put (rows, "ssssss", PQgetvalue (res, row, 0),
                    PQgetvalue (res, row, 1), PQgetvalue (res, row, 2),
                    PQgetvalue (res, row, 3), PQgetvalue (res, row, 4),
                    PQgetvalue (res, row, 5));
    ll_request_answer (req, PQntuples (res) ? PQgetvalue (res, 0, 6) : "",
                       &rows);
    PQclear (res);
}

static void
s_handle_status_get (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *hostname = NULL;
    if (ll_request_take (req, &hostname) != 0)
        return;
    char stale[16];
    const char *values[] = {hostname, ll_actor_stale (&self->actor, stale)};
    PGresult *res = ll_db_exec (self->actor.db, "vm_status_get", 2, values);
    if (ll_actor_rows (&self->actor, req, res, NULL, LL_REASON_NOT_FOUND))
        ll_request_answer (req, PQgetvalue (res, 0, 0),
                           streq (PQgetvalue (res, 0, 1), "t") ? "1" : "0");
    PQclear (res);
    free (hostname);
}

static void
s_handle_status_all (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char stale[16];
    const char *values[] = {ll_actor_stale (&self->actor, stale)};
    PGresult *res = ll_db_exec (self->actor.db, "vm_status_all", 1, values);
    if (!res) {
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
        return;
    }
    zmsg_t *rows = zmsg_new ();
    for (int row = 0; row < PQntuples (res); row++)
        //  A NULL status travels as "-" (JSON null at the edge)
        ll_msg_put (rows, "sss", PQgetvalue (res, row, 0),
                    streq (PQgetvalue (res, row, 3), "t")
                        ? "-"
                        : PQgetvalue (res, row, 1),
                    streq (PQgetvalue (res, row, 2), "t") ? "1" : "0");
    ll_request_answer (req, &rows);
    PQclear (res);
}

static void
s_handle_export (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char stale[16];
    const char *values[] = {ll_actor_stale (&self->actor, stale)};
    ll_actor_answer_value (
        &self->actor, req,
        ll_db_exec (self->actor.db, "vm_export_metrics", 1, values));
}

//  Bring your own VM: the admin registers a VM terraform does not manage,
//  with the hash of the token just minted for it.
static void
s_handle_register (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *hostname = NULL, *hash = NULL, *actor = NULL;
    if (ll_request_take (req, &hostname, &hash, &actor) != 0)
        return;
    s_commit_mode (self, false);
    const char *values[] = {hostname, hash, actor};
    PGresult *res = ll_db_exec (self->actor.db, "vm_register", 3, values);
    if (!res || PQntuples (res) != 1)
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    else if (streq (PQgetvalue (res, 0, 0), "t"))
        ll_request_fail (req, LL_REASON_MANAGED);
    else
        ll_request_answer (req, PQgetvalue (res, 0, 1),
                           streq (PQgetvalue (res, 0, 2), "t") ? "1" : "0");
    PQclear (res);
    free (hostname);
    free (hash);
    free (actor);
}

//  VM-SEEN / VM-POLLED hostname...: last_seen_at (the gateway's live
//  agents) or last_polled_at (the waiters' parked ZeroMQ clients) of a
//  whole fleet, in one statement. Written here, where nothing waits on it:
//  10,000 rows take half a second, which held claims (in the assigner) and
//  deliveries (in the waiters) up.
static void
s_handle_refresh (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    zmsg_t *list = NULL;
    if (ll_request_take (req, &list) != 0)
        return;
    ll_textbuf_t hosts = {0};
    ll_pgarray_begin (&hosts);
    char *host;
    while ((host = zmsg_popstr (list))) {
        ll_pgarray_add (&hosts, host);
        free (host);
    }
    ll_pgarray_end (&hosts);
    const char *values[] = {ll_textbuf_text (&hosts)};
    PGresult *res = ll_db_exec_retry (
        self->actor.db,
        streq (req->command, LL_CMD_VM_SEEN) ? "vm_seen" : "vm_polled", 1,
        values);
    if (res)
        ll_request_answer (req);
    else
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    PQclear (res);
    ll_textbuf_free (&hosts);
    zmsg_destroy (&list);
}

//  --- token checks (batched: one query for every VM-AUTH waiting) --------

//  VM-AUTH: kept with its hostname and hash in the arrays of the next check
static void
s_handle_auth (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *host = NULL, *hash = NULL;
    if (ll_request_take (req, &host, &hash) != 0)
        return;
    if (zlist_size (self->auths) == 0) {
        ll_pgarray_begin (&self->auth_hosts);
        ll_pgarray_begin (&self->auth_hashes);
    }
    ll_pgarray_add (&self->auth_hosts, host);
    ll_pgarray_add (&self->auth_hashes, hash);
    zlist_append (self->auths, ll_request_keep (req));
    free (host);
    free (hash);
}

//  Answer every VM-AUTH taken since the last check with one query.
static void
s_check_auths (self_t *self)
{
    size_t n = zlist_size (self->auths);
    if (n == 0)
        return;
    ll_pgarray_end (&self->auth_hosts);
    ll_pgarray_end (&self->auth_hashes);
    const char *values[] = {self->auth_hosts.data, self->auth_hashes.data};
    PGresult *res = ll_db_ensure (self->actor.db) == 0
                        ? ll_db_exec (self->actor.db, "vm_auth", 2, values)
                        : NULL;
    bool ok = res && (size_t) PQntuples (res) == n;
    for (int i = 0; i < (int) n; i++) {
        ll_request_t *req = zlist_pop (self->auths);
        if (!ok)
            ll_request_fail (req, ll_actor_db_reason (&self->actor));
        else if (!PQgetisnull (res, i, 0))
            ll_request_answer (req, PQgetvalue (res, i, 0));
        else
            ll_request_fail (
                req, streq (PQgetvalue (res, i, 2), "t")   ? LL_REASON_REVOKED
                     : streq (PQgetvalue (res, i, 1), "f") ? LL_REASON_NOT_FOUND
                                                           : LL_REASON_INVALID);
        ll_request_destroy (&req);
    }
    PQclear (res);
    ll_textbuf_reset (&self->auth_hosts);
    ll_textbuf_reset (&self->auth_hashes);
}

//  Served on LL_ENDPOINT_REGISTRY. The hard writes (metrics, the server
//  secret, registrations) put the session back to synchronous commits;
//  reads leave it
static const ll_handler_t s_handlers[] = {
    {LL_CMD_VM_HEARTBEAT, s_handle_write},
    {LL_CMD_VM_STATUS_SET, s_handle_write},
    {LL_CMD_VM_TOUCH, s_handle_write},
    {LL_CMD_VM_SEEN, s_handle_refresh},
    {LL_CMD_VM_POLLED, s_handle_refresh},
    {LL_CMD_VM_GPU_SET, s_handle_write},
    {LL_CMD_VM_INUSE_SET, s_handle_write},
    {LL_CMD_HEALTH, s_handle_health},
    {LL_CMD_VM_AUTH, s_handle_auth},
    {LL_CMD_SECRET, s_handle_secret},
    {LL_CMD_VM_METRICS_SET, s_handle_metrics},
    {LL_CMD_VM_STATUS_GET, s_handle_status_get},
    {LL_CMD_VM_STATUS_ALL, s_handle_status_all},
    {LL_CMD_VM_EXPORT, s_handle_export},
    {LL_CMD_VM_FLEET, s_handle_fleet},
    {LL_CMD_VM_REGISTER, s_handle_register},
    {NULL, NULL},
};

//  Take every request waiting (up to a cap), then flush the writes: what
//  arrived while the previous flush ran is written together.
static void
s_self_handle_router (void *arg)
{
    self_t *self = arg;
    for (int i = 0; i < LL_REGISTRY_DRAIN_MAX; i++)
        if (!ll_actor_serve (&self->actor, s_handlers, self, true))
            break;
    s_check_auths (self);
    s_flush (self);
}

static const ll_actor_kind_t s_kind = {
    .name = "registry",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .class =
        {
            .endpoint = LL_ENDPOINT_REGISTRY,
            .database = true,
            .handlers = s_handlers,
            .tick_ms = LL_REGISTRY_TICK_MS,
            .drain = s_self_handle_router,
        },
};

void
registry_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
