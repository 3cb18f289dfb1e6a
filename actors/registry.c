#include "actors/registry.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/token.h"

#include "runtime/textbuf.h"

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
    char *boot_id;      //  heartbeat boot_id or NULL
    int crd_active;     //  1, 0, -1 = NULL
    int disk_free_pct;  //  0..100, -1 = NULL
    bool needs_update;  //  anything but the status to write (or a touch)
    zlist_t *waiters;   //  ll_request_t * answered after the flush
} s_pending_t;

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_REGISTRY
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  our PostgreSQL connection
    zhash_t *pending;       //  hostname -> s_pending_t, for the next flush
    zlist_t *auths;         //  VM-AUTH requests for the next token check
    int async_backend;      //  backend pid whose session commits async, 0
    bool started;           //  START done
    bool terminated;        //  $TERM received
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

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    self->pending = zhash_new ();
    self->auths = zlist_new ();
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->router);
    zhash_destroy (&self->pending);
    ll_request_t *req;
    while ((req = zlist_pop (self->auths)))
        ll_request_destroy (&req);
    zlist_destroy (&self->auths);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_REGISTRY) != 0)
        return "cannot bind " LL_ENDPOINT_REGISTRY;
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "registry");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("registry: postgresql unavailable, will retry: %s",
                 ll_db_error (self->db));
    self->started = true;
    return NULL;
}

static void
s_self_handle_pipe (self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, LL_CMD_TERM))
        self->terminated = true;
    else if (command && streq (command, LL_CMD_START))
        ll_actor_started (self->pipe, s_self_start (self));
    free (command);
    zmsg_destroy (&msg);
}

static void
s_handle_health (self_t *self, ll_request_t *req)
{
    PGresult *res = ll_db_exec (self->db, "health_ping", 0, NULL);
    if (res)
        ll_request_reply_ok (req, self->router, NULL);
    else
        ll_request_reply_error (req, self->router,
                                *ll_db_error (self->db) ? ll_db_error (self->db)
                                                        : "not connected");
    PQclear (res);
}

//  The server secret: created once (random), then always the same, so agent
//  tokens survive restarts and every allocator sharing the database agrees.
static void
s_handle_secret (self_t *self, ll_request_t *req)
{
    char fresh[65];
    ll_token_new_secret (fresh, sizeof fresh);
    const char *init[] = {"server_secret", fresh};
    const char *key[] = {"server_secret"};
    PGresult *res = ll_db_exec (self->db, "settings_init", 2, init);
    PQclear (res);
    res = res ? ll_db_exec (self->db, "settings_get", 1, key) : NULL;
    if (res && PQntuples (res) == 1) {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    else
        ll_request_reply_error (req, self->router, "database unavailable");
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

//  Take a write request into the pending set; the request is owned by the
//  pending entry from here. Returns -1 (request answered and destroyed)
//  when its arguments are malformed.
static int
s_take_write (self_t *self, ll_request_t **req_p)
{
    ll_request_t *req = *req_p;
    char *hostname = zmsg_popstr (req->args);
    char *a = zmsg_popstr (req->args);
    char *b = zmsg_popstr (req->args);
    char *c = zmsg_popstr (req->args);
    int rc = 0;
    bool is_touch = streq (req->command, LL_CMD_VM_TOUCH);
    if (!hostname || !*hostname || (!is_touch && !a)) {
        ll_request_reply_error (req, self->router, "missing arguments");
        ll_request_destroy (req_p);
        rc = -1;
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
        p->crd_active = b && *b ? streq (b, "1") : -1;
        p->disk_free_pct = c && *c ? (int) strtol (c, NULL, 10) : -1;
        p->needs_update = true;
    }
    else
        p->needs_update = true;  //  VM-TOUCH
    zlist_append (p->waiters, req);
    *req_p = NULL;
done:
    free (hostname);
    free (a);
    free (b);
    free (c);
    return rc;
}

static void
s_answer_all (self_t *self, s_pending_t *p, const char *error)
{
    ll_request_t *req;
    while ((req = zlist_pop (p->waiters))) {
        if (error)
            ll_request_reply_error (req, self->router, error);
        else
            ll_request_reply_ok (req, self->router, NULL);
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
    PGconn *conn = ll_db_conn (self->db);
    int backend = conn ? PQbackendPID (conn) : 0;
    bool is_async = backend && backend == self->async_backend;
    if (soft == is_async)
        return 0;
    PGresult *res = ll_db_exec (
        self->db, soft ? "telemetry_commit_async" : "telemetry_commit_sync", 0,
        NULL);
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
    if (ll_db_ensure (self->db) != 0 || s_commit_mode (self, soft) != 0)
        failure = *ll_db_error (self->db) ? ll_db_error (self->db)
                                          : "database unavailable";
    //  found[i]: VM i exists (a statement found its row)
    bool *found = calloc (n, sizeof *found);
    if (status_count && !failure) {
        const char *values[] = {hosts.data, statuses.data};
        PGresult *res = ll_db_exec (self->db, "vm_status_update", 2, values);
        if (!res)
            failure = *ll_db_error (self->db) ? ll_db_error (self->db)
                                              : "database unavailable";
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

    ll_textbuf_t cols[7] = {{0}};
    size_t update_count = 0;
    for (int k = 0; k < 7; k++)
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
        update_count++;
    }
    for (int k = 0; k < 7; k++)
        ll_pgarray_end (&cols[k]);
    if (update_count && !failure) {
        const char *values[7];
        for (int k = 0; k < 7; k++)
            values[k] = cols[k].data;
        PGresult *res = ll_db_exec (self->db, "vm_telemetry_update", 7, values);
        if (!res)
            failure = *ll_db_error (self->db) ? ll_db_error (self->db)
                                              : "database unavailable";
        for (int row = 0; res && row < PQntuples (res); row++) {
            const char *host = PQgetvalue (res, row, 0);
            s_pending_t key = {.hostname = (char *) host}, *kp = &key;
            s_pending_t **hit =
                bsearch (&kp, list, n, sizeof *list, s_compare_hostnames);
            if (hit)
                found[hit - list] = true;
            if (streq (PQgetvalue (res, row, 1), "t"))
                s_heartbeat_warnings (res, row);
        }
        PQclear (res);
    }
    for (size_t i = 0; i < n; i++)
        s_answer_all (self, list[i],
                      failure    ? failure
                      : found[i] ? NULL
                                 : LL_REASON_NOT_FOUND);
    for (int k = 0; k < 7; k++)
        ll_textbuf_free (&cols[k]);
    ll_textbuf_free (&hosts);
    ll_textbuf_free (&statuses);
    free (found);
    free (list);
    zhash_destroy (&self->pending);
    self->pending = zhash_new ();
}

//  --- reads and rare writes (answered at once) -----------------------------

static const char *
s_db_reason (self_t *self)
{
    return *ll_db_error (self->db) ? ll_db_error (self->db)
                                   : "database unavailable";
}

static void
s_handle_metrics (self_t *self, ll_request_t *req)
{
    const char *values[7] = {NULL};
    char *owned[7] = {NULL};
    for (int i = 0; i < 7; i++) {
        owned[i] = zmsg_popstr (req->args);
        values[i] = owned[i] && *owned[i] ? owned[i] : NULL;
    }
    if (!values[0]) {
        ll_request_reply_error (req, self->router, "missing arguments");
        goto done;
    }
    PGresult *res = ll_db_exec (self->db, "vm_metrics_update", 7, values);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (PQntuples (res) == 0)
        ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
done:
    for (int i = 0; i < 7; i++)
        free (owned[i]);
}

static void
s_handle_status_get (self_t *self, ll_request_t *req)
{
    char *hostname = zmsg_popstr (req->args);
    char stale[16];
    snprintf (stale, sizeof stale, "%d",
              self->runtime->config->agent.stale_after_s);
    const char *values[] = {hostname ? hostname : "", stale};
    PGresult *res = ll_db_exec (self->db, "vm_status_get", 2, values);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (PQntuples (res) == 0)
        ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        zmsg_addstr (payload, streq (PQgetvalue (res, 0, 1), "t") ? "1" : "0");
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
    free (hostname);
}

static void
s_handle_status_all (self_t *self, ll_request_t *req)
{
    char stale[16];
    snprintf (stale, sizeof stale, "%d",
              self->runtime->config->agent.stale_after_s);
    const char *values[] = {stale};
    PGresult *res = ll_db_exec (self->db, "vm_status_all", 1, values);
    if (!res) {
        ll_request_reply_error (req, self->router, s_db_reason (self));
        return;
    }
    zmsg_t *payload = zmsg_new ();
    for (int row = 0; row < PQntuples (res); row++) {
        zmsg_addstr (payload, PQgetvalue (res, row, 0));
        //  A NULL status travels as "-" (JSON null at the edge)
        zmsg_addstr (payload, streq (PQgetvalue (res, row, 3), "t")
                                  ? "-"
                                  : PQgetvalue (res, row, 1));
        zmsg_addstr (payload,
                     streq (PQgetvalue (res, row, 2), "t") ? "1" : "0");
    }
    ll_request_reply_ok (req, self->router, &payload);
    PQclear (res);
}

static void
s_handle_export (self_t *self, ll_request_t *req)
{
    char stale[16];
    snprintf (stale, sizeof stale, "%d",
              self->runtime->config->agent.stale_after_s);
    const char *values[] = {stale};
    PGresult *res = ll_db_exec (self->db, "vm_export_metrics", 1, values);
    if (!res || PQntuples (res) != 1)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
}

//  Bring your own VM: the admin registers a VM terraform does not manage,
//  with the hash of the token just minted for it.
static void
s_handle_register (self_t *self, ll_request_t *req)
{
    char *hostname = zmsg_popstr (req->args);
    char *hash = zmsg_popstr (req->args);
    char *actor = zmsg_popstr (req->args);
    const char *values[] = {hostname, hash, actor};
    PGresult *res = hostname && hash && actor
                        ? ll_db_exec (self->db, "vm_register", 3, values)
                        : NULL;
    if (!hostname || !hash || !actor)
        ll_request_reply_error (req, self->router, "missing arguments");
    else if (!res || PQntuples (res) != 1)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (streq (PQgetvalue (res, 0, 0), "t"))
        ll_request_reply_error (req, self->router, LL_REASON_MANAGED);
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 1));
        zmsg_addstr (payload, streq (PQgetvalue (res, 0, 2), "t") ? "1" : "0");
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
    free (hostname);
    free (hash);
    free (actor);
}

//  --- token checks (batched: one query for every VM-AUTH waiting) --------

static void
s_take_auth (self_t *self, ll_request_t **req_p)
{
    zlist_append (self->auths, *req_p);
    *req_p = NULL;
}

//  Answer every VM-AUTH taken since the last check with one query.
static void
s_check_auths (self_t *self)
{
    size_t n = zlist_size (self->auths);
    if (n == 0)
        return;
    ll_request_t **reqs = calloc (n, sizeof *reqs);
    ll_textbuf_t hosts = {0}, hashes = {0};
    ll_pgarray_begin (&hosts);
    ll_pgarray_begin (&hashes);
    for (size_t i = 0; i < n; i++) {
        reqs[i] = zlist_pop (self->auths);
        char *host = zmsg_popstr (reqs[i]->args);
        char *hash = zmsg_popstr (reqs[i]->args);
        ll_pgarray_add (&hosts, host ? host : "");
        ll_pgarray_add (&hashes, hash ? hash : "");
        free (host);
        free (hash);
    }
    ll_pgarray_end (&hosts);
    ll_pgarray_end (&hashes);
    const char *values[] = {hosts.data, hashes.data};
    PGresult *res = ll_db_ensure (self->db) == 0
                        ? ll_db_exec (self->db, "vm_auth", 2, values)
                        : NULL;
    bool ok = res && (size_t) PQntuples (res) == n;
    for (size_t i = 0; i < n; i++) {
        if (!ok)
            ll_request_reply_error (reqs[i], self->router, s_db_reason (self));
        else if (!PQgetisnull (res, (int) i, 0)) {
            zmsg_t *payload = zmsg_new ();
            zmsg_addstr (payload, PQgetvalue (res, (int) i, 0));
            ll_request_reply_ok (reqs[i], self->router, &payload);
        }
        else
            ll_request_reply_error (reqs[i], self->router,
                                    streq (PQgetvalue (res, (int) i, 2), "t")
                                        ? LL_REASON_REVOKED
                                    : streq (PQgetvalue (res, (int) i, 1), "f")
                                        ? LL_REASON_NOT_FOUND
                                        : LL_REASON_INVALID);
        ll_request_destroy (&reqs[i]);
    }
    PQclear (res);
    ll_textbuf_free (&hosts);
    ll_textbuf_free (&hashes);
    free (reqs);
}

static bool
s_is_write (const char *command)
{
    return streq (command, LL_CMD_VM_STATUS_SET)
           || streq (command, LL_CMD_VM_GPU_SET)
           || streq (command, LL_CMD_VM_INUSE_SET)
           || streq (command, LL_CMD_VM_HEARTBEAT)
           || streq (command, LL_CMD_VM_TOUCH);
}

static void
s_self_handle_request (self_t *self, ll_request_t *req)
{
    if (s_is_write (req->command)) {
        s_take_write (self, &req);
        return;  //  answered by the next flush (or already, when malformed)
    }
    if (streq (req->command, LL_CMD_VM_AUTH)) {
        s_take_auth (self, &req);
        return;  //  answered by the next token check
    }
    //  The other writes (metrics, the server secret) are hard state; reads
    //  leave the session as it is
    bool writes = streq (req->command, LL_CMD_SECRET)
                  || streq (req->command, LL_CMD_VM_METRICS_SET)
                  || streq (req->command, LL_CMD_VM_REGISTER);
    if (writes && ll_db_connected (self->db))
        s_commit_mode (self, false);
    if (streq (req->command, LL_CMD_HEALTH))
        s_handle_health (self, req);
    else if (streq (req->command, LL_CMD_SECRET))
        s_handle_secret (self, req);
    else if (streq (req->command, LL_CMD_VM_METRICS_SET))
        s_handle_metrics (self, req);
    else if (streq (req->command, LL_CMD_VM_STATUS_GET))
        s_handle_status_get (self, req);
    else if (streq (req->command, LL_CMD_VM_STATUS_ALL))
        s_handle_status_all (self, req);
    else if (streq (req->command, LL_CMD_VM_EXPORT))
        s_handle_export (self, req);
    else if (streq (req->command, LL_CMD_VM_REGISTER))
        s_handle_register (self, req);
    else
        ll_request_reply_error (req, self->router, "unknown command");
    ll_request_destroy (&req);
}

//  Take every request waiting (up to a cap), then flush the writes: what
//  arrived while the previous flush ran is written together.
static void
s_self_handle_router (self_t *self)
{
    for (int i = 0; i < LL_REGISTRY_DRAIN_MAX; i++) {
        ll_request_t *req = ll_request_recv_nowait (self->router);
        if (!req)
            break;
        s_self_handle_request (self, req);
    }
    s_check_auths (self);
    s_flush (self);
}

void
registry_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (!self->terminated) {
        void *which = zpoller_wait (poller, LL_REGISTRY_TICK_MS);
        if (which == pipe) {
            bool was_started = self->started;
            s_self_handle_pipe (self);
            if (!was_started && self->started)
                zpoller_add (poller, self->router);
        }
        else if (self->router && which == self->router)
            s_self_handle_router (self);
        else if (zpoller_terminated (poller))
            break;
        else if (self->started)
            ll_db_ensure (self->db);  //  idle tick: reconnect in the background
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
