#include "actors/assigner.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/recovery.h"
#include "runtime/roster.h"

#include <math.h>
#include <sodium.h>

#define LL_ASSIGNER_TICK_MS     500
#define LL_ASSIGNER_BATCH_MAX   1024    //  claims per transaction
#define LL_ASSIGNER_COUNT_TTL   500     //  ms a free count is reused
#define LL_ASSIGNER_BUCKETS_MAX 200000  //  rate-limit entries kept
#define LL_ASSIGNER_FIELD_MAX   1100    //  longest email/code/address

//  One rate-limit bucket: tokens refill continuously up to the capacity.
typedef struct {
    double tokens;    //  claims still allowed now
    int64_t last_ms;  //  when tokens was computed
} s_bucket_t;

//  One claim waiting for the batch.
typedef struct {
    ll_request_t *req;                //  the request (owned)
    char *email;                      //  lower-cased (owned)
    char *command;                    //  "--code=<code>" (owned)
    char pin[8];                      //  fresh 6-digit PIN
    char *outcome;                    //  reply frames, space-free words (owned)
    char *host;                       //  hostname given (owned) or NULL
    char *extra;                      //  pin or status (owned) or NULL
    bool fresh;                       //  needs a free VM
    char proof[LL_RECOVERY_LEN + 1];  //  the secret shown, or ""
    char secret[LL_RECOVERY_LEN + 1];     //  the secret this claim keeps
    char hash[LL_RECOVERY_HASH_HEX + 1];  //  ... its stored hash
} s_claim_t;

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_ASSIGNER
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  our PostgreSQL connection
    zhashx_t *buckets;      //  "e:<email>" / "a:<address>" -> s_bucket_t
    zlistx_t *pending;      //  s_claim_t waiting for the next batch
    ll_roster_t *roster;    //  the class roster (claim.allowed_*)
    int64_t roster_ms;      //  when the roster file was last looked at
    char error[600];        //  why START failed
    int64_t count_ms;       //  when count was read (0 = invalid)
    long count;             //  cached free count
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static void
s_claim_destroy (s_claim_t **self_p)
{
    s_claim_t *self = *self_p;
    if (!self)
        return;
    ll_request_destroy (&self->req);
    free (self->email);
    if (self->command)
        sodium_memzero (self->command, strlen (self->command));
    free (self->command);
    sodium_memzero (self->pin, sizeof self->pin);
    free (self->outcome);
    free (self->host);
    free (self->extra);
    sodium_memzero (self->proof, sizeof self->proof);
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    *self_p = NULL;
}

static void
s_claim_free_item (void **item)
{
    s_claim_destroy ((s_claim_t **) item);
}

static void
s_bucket_free (void **item)
{
    free (*item);
    *item = NULL;
}

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    self->buckets = zhashx_new ();
    zhashx_set_destructor (self->buckets, s_bucket_free);
    self->pending = zlistx_new ();
    zlistx_set_destructor (self->pending, s_claim_free_item);
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->pending);
    zhashx_destroy (&self->buckets);
    ll_roster_destroy (&self->roster);
    zsock_destroy (&self->router);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    if (sodium_init () < 0)
        return "libsodium cannot start";
    self->roster =
        ll_roster_new (self->runtime->config, self->error, sizeof self->error);
    if (!self->roster)
        return self->error;
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_ASSIGNER) != 0)
        return "cannot bind " LL_ENDPOINT_ASSIGNER;
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "assigner");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("assigner: postgresql unavailable, will retry: %s",
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

//  --- helpers -------------------------------------------------------------

//  A PostgreSQL text array literal of count strings (new string).
static char *
s_pg_array (char *const *items, size_t count)
{
    size_t cap = 3;
    for (size_t i = 0; i < count; i++)
        cap += 2 * strlen (items[i]) + 3;
    char *out = malloc (cap);
    size_t len = 0;
    out[len++] = '{';
    for (size_t i = 0; i < count; i++) {
        if (i)
            out[len++] = ',';
        out[len++] = '"';
        for (const char *c = items[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                out[len++] = '\\';
            out[len++] = *c;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

//  Take one claim from a bucket; 0 when allowed, else the seconds to wait.
static int
s_bucket_take (self_t *self, const char *key, int per_minute)
{
    if (per_minute <= 0)
        return 0;
    int64_t now = ll_now_ms ();
    double rate = per_minute / 60000.0;  //  tokens per ms
    s_bucket_t *b = zhashx_lookup (self->buckets, key);
    if (!b) {
        if (zhashx_size (self->buckets) >= LL_ASSIGNER_BUCKETS_MAX)
            return 0;  //  bounded memory beats perfect limiting
        b = calloc (1, sizeof *b);
        b->tokens = per_minute;
        b->last_ms = now;
        zhashx_insert (self->buckets, key, b);
    }
    b->tokens += (double) (now - b->last_ms) * rate;
    if (b->tokens > per_minute)
        b->tokens = per_minute;
    b->last_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    int wait = (int) ceil ((1.0 - b->tokens) / rate / 1000.0);
    return wait < 1 ? 1 : wait;
}

//  Forget buckets that refilled completely (they hold no information).
static void
s_buckets_purge (self_t *self)
{
    const ll_config_t *config = self->runtime->config;
    int64_t now = ll_now_ms ();
    zlistx_t *keys = zhashx_keys (self->buckets);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_bucket_t *b = zhashx_lookup (self->buckets, key);
        //  "e:" email buckets; "a:" claims and "w:" look-ups per address
        int cap = key[0] == 'e' ? config->claim.email_per_minute
                                : config->claim.address_per_minute;
        double rate = cap / 60000.0;
        if (b->tokens + (double) (now - b->last_ms) * rate >= cap)
            zhashx_delete (self->buckets, key);
    }
    zlistx_destroy (&keys);
}

//  Reply OK with up to four frames (the first NULL ends them).
static void
s_reply_frames (self_t *self,
                ll_request_t *req,
                const char *a,
                const char *b,
                const char *c,
                const char *d)
{
    zmsg_t *payload = zmsg_new ();
    const char *frames[] = {a, b, c, d};
    for (size_t i = 0; i < 4 && frames[i]; i++)
        zmsg_addstr (payload, frames[i]);
    ll_request_reply_ok (req, self->router, &payload);
}

//  Reply OK LIMITED seconds (a rate limit).
static void
s_reply_limited (self_t *self, ll_request_t *req, int wait)
{
    char seconds[16];
    snprintf (seconds, sizeof seconds, "%d", wait);
    s_reply_frames (self, req, LL_CLAIM_LIMITED, seconds, NULL, NULL);
}

static void
s_claim_set (s_claim_t *claim,
             const char *outcome,
             const char *host,
             const char *extra)
{
    free (claim->outcome);
    free (claim->host);
    free (claim->extra);
    claim->outcome = strdup (outcome);
    claim->host = host ? strdup (host) : NULL;
    claim->extra = extra ? strdup (extra) : NULL;
    claim->fresh = false;
}

//  Run a statement; when it failed because the connection had broken
//  (PostgreSQL restarted), reconnect at once and try once more.
static PGresult *
s_exec (ll_db_t *db, const char *name, int n, const char *const *values)
{
    bool was_connected = ll_db_connected (db);
    PGresult *res = ll_db_exec (db, name, n, values);
    if (!res && was_connected && !ll_db_connected (db)
        && ll_db_connect (db) == 0)
        res = ll_db_exec (db, name, n, values);
    return res;
}

//  --- claims --------------------------------------------------------------

//  The roster's verdict on a claim; the email file is looked at again at
//  most once a second.
static ll_roster_verdict_t
s_roster_check (self_t *self, const char *email, const char *access_code)
{
    int64_t now = ll_now_ms ();
    if (now - self->roster_ms >= 1000) {
        self->roster_ms = now;
        char error[600];
        int rc = ll_roster_refresh (self->roster, error, sizeof error);
        if (rc < 0)
            ll_warn ("assigner: roster kept as it was: %s", error);
        else if (rc > 0)
            ll_info ("assigner: roster reloaded: %zu addresses",
                     ll_roster_size (self->roster));
    }
    return ll_roster_check (self->roster, email, access_code);
}

//  Read a claim request; answers bad requests, rate limits and roster
//  refusals itself and returns NULL for them.
static s_claim_t *
s_claim_new (self_t *self, ll_request_t **req_p)
{
    ll_request_t *req = *req_p;
    char *email = zmsg_popstr (req->args);
    char *code = zmsg_popstr (req->args);
    char *address = zmsg_popstr (req->args);
    char *proof = zmsg_popstr (req->args);
    char *access = zmsg_popstr (req->args);
    s_claim_t *claim = NULL;
    if (!email || !code || !address || !proof || !access || !*email || !*code
        || strlen (email) > LL_ASSIGNER_FIELD_MAX
        || strlen (code) > LL_ASSIGNER_FIELD_MAX
        || strlen (address) > LL_ASSIGNER_FIELD_MAX
        || strlen (access) > LL_ASSIGNER_FIELD_MAX
        || (*proof && strlen (proof) != LL_RECOVERY_LEN))
        ll_request_reply_error (req, self->router, "malformed claim");
    else {
        for (char *c = email; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char) (*c - 'A' + 'a');
        const ll_config_t *config = self->runtime->config;
        char key[LL_ASSIGNER_FIELD_MAX + 8];
        snprintf (key, sizeof key, "a:%s", address);
        int wait = s_bucket_take (self, key, config->claim.address_per_minute);
        if (!wait) {
            snprintf (key, sizeof key, "e:%s", email);
            wait = s_bucket_take (self, key, config->claim.email_per_minute);
        }
        ll_roster_verdict_t verdict =
            wait ? LL_ROSTER_OK : s_roster_check (self, email, access);
        if (wait)
            s_reply_limited (self, req, wait);
        else if (verdict != LL_ROSTER_OK)
            s_reply_frames (self, req, LL_CLAIM_REFUSED,
                            ll_roster_rule (verdict), NULL, NULL);
        else {
            claim = calloc (1, sizeof *claim);
            claim->req = req;
            *req_p = NULL;
            claim->email = email;
            email = NULL;
            size_t len = strlen (code) + 8;
            claim->command = malloc (len);
            snprintf (claim->command, len, "--code=%s", code);
            snprintf (claim->pin, sizeof claim->pin, "%06u",
                      (unsigned) randombytes_uniform (1000000));
            snprintf (claim->proof, sizeof claim->proof, "%s", proof);
            ll_recovery_new (claim->secret);
            ll_recovery_hash (claim->secret, claim->hash);
            claim->fresh = true;
        }
    }
    free (email);
    if (code)
        sodium_memzero (code, strlen (code));
    free (code);
    free (address);
    if (proof)
        sodium_memzero (proof, strlen (proof));
    free (proof);
    if (access)
        sodium_memzero (access, strlen (access));
    free (access);
    return claim;
}

//  True when the claim's proof is the secret of one of the email's rows
//  (rows first..last of res, column 3 the stored hash); constant time per
//  row. A proven claim keeps that secret.
static bool
s_claim_proven (s_claim_t *claim, PGresult *res, int first, int last)
{
    if (!*claim->proof)
        return false;
    char hash[LL_RECOVERY_HASH_HEX + 1];
    ll_recovery_hash (claim->proof, hash);
    bool proven = false;
    for (int r = first; r <= last; r++)
        proven |= ll_recovery_hash_equal (hash, PQgetvalue (res, r, 3));
    if (proven) {
        snprintf (claim->secret, sizeof claim->secret, "%s", claim->proof);
        snprintf (claim->hash, sizeof claim->hash, "%s", hash);
    }
    return proven;
}

//  The returning students of the batch (reference 2.6): each must show
//  the secret of its claim (issue 15), else DENIED and nothing changes.
//  0 or -1.
static int
s_batch_owned (self_t *self, s_claim_t **claims, size_t n)
{
    char **emails = calloc (n + 1, sizeof *emails);
    for (size_t i = 0; i < n; i++)
        emails[i] = claims[i]->email;
    char *array = s_pg_array (emails, n);
    free (emails);
    const char *values[] = {array};
    PGresult *res = ll_db_exec (self->db, "claim_owned", 1, values);
    free (array);
    if (!res)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        s_claim_t *claim = claims[i];
        int row = -1, last = -1;
        for (int r = 0; r < PQntuples (res); r++)
            if (streq (PQgetvalue (res, r, 0), claim->email)) {
                if (row < 0)
                    row = r;  //  rows come best first
                last = r;
            }
        if (row < 0)
            continue;
        if (!s_claim_proven (claim, res, row, last)) {
            s_claim_set (claim, LL_CLAIM_DENIED, NULL, NULL);
            continue;
        }
        const char *host = PQgetvalue (res, row, 1);
        const char *status = PQgetvalue (res, row, 2);
        bool running = streq (status, "running");
        bool recovering =
            streq (status, "rebooting") || streq (status, "initializing");
        if (streq (status, "error"))
            s_claim_set (claim, LL_CLAIM_UNRECOVERABLE, NULL, NULL);
        else if (running || recovering) {
            const char *args[] = {host, claim->email, claim->command,
                                  claim->pin};
            PGresult *renew = ll_db_exec (self->db, "claim_renew", 4, args);
            if (!renew)
                rc = -1;
            else if (PQntuples (renew) != 1)
                s_claim_set (claim, LL_CLAIM_CHANGED, NULL, NULL);
            else if (running)
                s_claim_set (claim, LL_CLAIM_ASSIGNED, host, claim->pin);
            else
                s_claim_set (claim, LL_CLAIM_RECOVERING, host, status);
            PQclear (renew);
        }
        //  any other status: a fresh VM (the old one stays theirs)
    }
    PQclear (res);
    return rc;
}

//  Claim free VMs for the batch's new students, in one statement.
static int
s_batch_fresh (self_t *self, s_claim_t **claims, size_t n)
{
    size_t k = 0;
    s_claim_t **fresh = malloc (n * sizeof *fresh);
    for (size_t i = 0; i < n; i++)
        if (claims[i]->fresh)
            fresh[k++] = claims[i];
    if (k == 0) {
        free (fresh);
        return 0;
    }
    char **emails = malloc (k * sizeof *emails);
    char **commands = malloc (k * sizeof *commands);
    char **pins = malloc (k * sizeof *pins);
    char **hashes = malloc (k * sizeof *hashes);
    for (size_t i = 0; i < k; i++) {
        emails[i] = fresh[i]->email;
        commands[i] = fresh[i]->command;
        pins[i] = fresh[i]->pin;
        hashes[i] = fresh[i]->hash;
    }
    char *a_emails = s_pg_array (emails, k);
    char *a_commands = s_pg_array (commands, k);
    char *a_pins = s_pg_array (pins, k);
    char *a_hashes = s_pg_array (hashes, k);
    char stale[16];
    snprintf (stale, sizeof stale, "%d",
              self->runtime->config->agent.stale_after_s);
    const char *values[] = {a_emails, a_commands, a_pins, stale, a_hashes};
    PGresult *res = ll_db_exec (self->db, "claim_free", 5, values);
    sodium_memzero (a_commands, strlen (a_commands));
    sodium_memzero (a_pins, strlen (a_pins));
    free (a_emails);
    free (a_commands);
    free (a_pins);
    free (a_hashes);
    free (emails);
    free (commands);
    free (pins);
    free (hashes);
    int rc = -1;
    if (res) {
        for (size_t i = 0; i < k; i++)
            s_claim_set (fresh[i], LL_CLAIM_NONE, NULL, NULL);
        for (int r = 0; r < PQntuples (res); r++) {
            long n_req = strtol (PQgetvalue (res, r, 0), NULL, 10);
            if (n_req >= 1 && (size_t) n_req <= k) {
                s_claim_t *claim = fresh[n_req - 1];
                s_claim_set (claim, LL_CLAIM_ASSIGNED, PQgetvalue (res, r, 1),
                             claim->pin);
            }
        }
        rc = 0;
    }
    PQclear (res);
    free (fresh);
    return rc;
}

static int
s_batch_audit (self_t *self, s_claim_t **claims, size_t n)
{
    char **emails = malloc (n * sizeof *emails);
    char **hosts = malloc (n * sizeof *hosts);
    char **outcomes = malloc (n * sizeof *outcomes);
    for (size_t i = 0; i < n; i++) {
        emails[i] = claims[i]->email;
        hosts[i] = claims[i]->host ? claims[i]->host : "";
        outcomes[i] = claims[i]->outcome;
    }
    char *a = s_pg_array (emails, n), *b = s_pg_array (hosts, n),
         *c = s_pg_array (outcomes, n);
    const char *values[] = {a, b, c};
    PGresult *res = ll_db_exec (self->db, "claim_audit", 3, values);
    int rc = res ? 0 : -1;
    PQclear (res);
    free (a);
    free (b);
    free (c);
    free (emails);
    free (hosts);
    free (outcomes);
    return rc;
}

static int
s_batch_try (self_t *self, s_claim_t **claims, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free (claims[i]->outcome);
        free (claims[i]->host);
        free (claims[i]->extra);
        claims[i]->outcome = claims[i]->host = claims[i]->extra = NULL;
        claims[i]->fresh = true;
    }
    int rc = ll_db_command (self->db, "BEGIN");
    if (rc == 0)
        rc = s_batch_owned (self, claims, n);
    if (rc == 0)
        rc = s_batch_fresh (self, claims, n);
    if (rc == 0)
        rc = s_batch_audit (self, claims, n);
    if (rc == 0)
        rc = ll_db_command (self->db, "COMMIT");
    if (rc != 0 && ll_db_connected (self->db))
        ll_db_command (self->db, "ROLLBACK");
    return rc;
}

//  Answer one batch of claims (distinct emails) from one transaction. A
//  connection that broke under it (PostgreSQL restarted) is replaced at
//  once and the transaction tried once more.
static void
s_batch_run (self_t *self, s_claim_t **claims, size_t n)
{
    int rc = -1;
    if (ll_db_ensure (self->db) == 0) {
        rc = s_batch_try (self, claims, n);
        if (rc != 0 && !ll_db_connected (self->db)
            && ll_db_connect (self->db) == 0)
            rc = s_batch_try (self, claims, n);
    }
    if (rc != 0)
        ll_warn ("assigner: claim batch of %zu failed: %s", n,
                 ll_db_error (self->db));
    self->count_ms = 0;
    for (size_t i = 0; i < n; i++) {
        s_claim_t *claim = claims[i];
        bool keeps = claim->outcome
                     && (streq (claim->outcome, LL_CLAIM_ASSIGNED)
                         || streq (claim->outcome, LL_CLAIM_RECOVERING));
        if (rc != 0 || !claim->outcome)
            ll_request_reply_error (claim->req, self->router,
                                    "database unavailable");
        else
            s_reply_frames (self, claim->req, claim->outcome, claim->host,
                            claim->extra, keeps ? claim->secret : NULL);
    }
}

//  Run the pending claims: batches of distinct emails (a second claim of
//  the same email waits for the next batch, so it sees the first one).
static void
s_claims_run (self_t *self)
{
    while (zlistx_size (self->pending)) {
        size_t n = 0;
        s_claim_t **batch =
            malloc (zlistx_size (self->pending) * sizeof *batch);
        zhashx_t *seen = zhashx_new ();
        size_t total = zlistx_size (self->pending);
        for (size_t i = 0; i < total; i++) {
            s_claim_t *claim = zlistx_detach (self->pending, NULL);
            if (n < LL_ASSIGNER_BATCH_MAX
                && !zhashx_lookup (seen, claim->email)) {
                zhashx_insert (seen, claim->email, claim);
                batch[n++] = claim;
            }
            else
                zlistx_add_end (self->pending, claim);
        }
        zhashx_destroy (&seen);
        s_batch_run (self, batch, n);
        for (size_t i = 0; i < n; i++)
            s_claim_destroy (&batch[i]);
        free (batch);
    }
}

//  --- other commands --------------------------------------------------------

static void
s_handle_count (self_t *self, ll_request_t *req)
{
    int64_t now = ll_now_ms ();
    if (!self->count_ms || now - self->count_ms > LL_ASSIGNER_COUNT_TTL) {
        char stale[16];
        snprintf (stale, sizeof stale, "%d",
                  self->runtime->config->agent.stale_after_s);
        const char *values[] = {stale};
        PGresult *res = s_exec (self->db, "vm_count_free", 1, values);
        if (!res || PQntuples (res) != 1) {
            PQclear (res);
            ll_request_reply_error (req, self->router, "database unavailable");
            return;
        }
        self->count = strtol (PQgetvalue (res, 0, 0), NULL, 10);
        self->count_ms = now;
        PQclear (res);
    }
    char text[24];
    snprintf (text, sizeof text, "%ld", self->count);
    s_reply_frames (self, req, text, NULL, NULL, NULL);
}

//  VM-RELEASE hostname actor: the VM leaves its student; what happens to
//  it next is claim.on_release (reset: a random id its agent confirms).
static void
s_handle_release (self_t *self, ll_request_t *req)
{
    char *host = zmsg_popstr (req->args);
    char *actor = zmsg_popstr (req->args);
    const char *on_release = self->runtime->config->claim.on_release;
    const char *mode = streq (on_release, "destroy") ? "replace" : on_release;
    char reset_id[33] = "";
    if (streq (mode, "reset")) {
        unsigned char bytes[16];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (reset_id, sizeof reset_id, bytes, sizeof bytes);
    }
    if (!host || !actor)
        ll_request_reply_error (req, self->router, "malformed release");
    else {
        const char *values[] = {host, actor, mode, *reset_id ? reset_id : NULL};
        PGresult *res = s_exec (self->db, "vm_release", 4, values);
        if (!res)
            ll_request_reply_error (req, self->router, "database unavailable");
        else if (PQntuples (res) == 0)
            ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
        else
            s_reply_frames (self, req, mode, NULL, NULL, NULL);
        PQclear (res);
        self->count_ms = 0;
    }
    free (host);
    free (actor);
}

//  VM-RESULT hostname 1|0 error generation (the start-host outcome) and
//  VM-RESET-DONE hostname reset-id 1|0 error generation (the reset's): an
//  agent's report, counted only from the agent of the VM's current token.
//  The statement answers "current", "revoked" or, for a reset, "stale".
static void
s_handle_report (self_t *self,
                 ll_request_t *req,
                 const char *statement,
                 bool with_id)
{
    char *host = zmsg_popstr (req->args);
    char *id = with_id ? zmsg_popstr (req->args) : NULL;
    char *ok = zmsg_popstr (req->args);
    char *text = zmsg_popstr (req->args);
    char *gen = zmsg_popstr (req->args);
    if (!host || (with_id && !id) || !ok || !gen
        || (!streq (ok, "1") && !streq (ok, "0")))
        ll_request_reply_error (req, self->router, "malformed report");
    else {
        if (text && strlen (text) > 1000)
            text[1000] = '\0';
        const char *values[5];
        int n = 0;
        values[n++] = host;
        if (with_id)
            values[n++] = id;
        values[n++] = streq (ok, "1") ? "true" : "false";
        values[n++] = text ? text : "";
        values[n++] = gen;
        PGresult *res = s_exec (self->db, statement, n, values);
        if (!res)
            ll_request_reply_error (req, self->router, "database unavailable");
        else if (PQntuples (res) == 0)
            ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
        else if (!streq (PQgetvalue (res, 0, 0), "current"))
            ll_request_reply_error (req, self->router, PQgetvalue (res, 0, 0));
        else
            ll_request_reply_ok (req, self->router, NULL);
        PQclear (res);
        self->count_ms = 0;
    }
    free (host);
    free (id);
    free (ok);
    free (text);
    free (gen);
}

static void
s_handle_seen (self_t *self, ll_request_t *req)
{
    size_t n = zmsg_size (req->args);
    if (n == 0) {
        ll_request_reply_ok (req, self->router, NULL);
        return;
    }
    char **hosts = calloc (n, sizeof *hosts);
    for (size_t i = 0; i < n; i++)
        hosts[i] = zmsg_popstr (req->args);
    char *array = s_pg_array (hosts, n);
    const char *values[] = {array};
    PGresult *res = s_exec (self->db, "vm_seen", 1, values);
    if (res)
        ll_request_reply_ok (req, self->router, NULL);
    else
        ll_request_reply_error (req, self->router, "database unavailable");
    PQclear (res);
    free (array);
    for (size_t i = 0; i < n; i++)
        free (hosts[i]);
    free (hosts);
}

//  CLAIM-RESET email actor: a new secret for the student's VMs.
static void
s_handle_claim_reset (self_t *self, ll_request_t *req)
{
    char *email = zmsg_popstr (req->args);
    char *actor = zmsg_popstr (req->args);
    if (!email || !actor || !*email || strlen (email) > LL_ASSIGNER_FIELD_MAX)
        ll_request_reply_error (req, self->router, "malformed reset");
    else {
        for (char *c = email; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char) (*c - 'A' + 'a');
        char secret[LL_RECOVERY_LEN + 1], hash[LL_RECOVERY_HASH_HEX + 1];
        ll_recovery_new (secret);
        ll_recovery_hash (secret, hash);
        const char *values[] = {email, hash, actor};
        PGresult *res = s_exec (self->db, "claim_reset", 3, values);
        if (!res)
            ll_request_reply_error (req, self->router, "database unavailable");
        else if (PQntuples (res) == 0)
            ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
        else {
            zmsg_t *payload = zmsg_new ();
            zmsg_addstr (payload, secret);
            for (int r = 0; r < PQntuples (res); r++)
                zmsg_addstr (payload, PQgetvalue (res, r, 0));
            ll_request_reply_ok (req, self->router, &payload);
        }
        PQclear (res);
        sodium_memzero (secret, sizeof secret);
    }
    free (email);
    free (actor);
}

//  CLAIM-WHO hash address: the claim a secret proves (rate limited per
//  address like claims, in a bucket of its own).
static void
s_handle_claim_who (self_t *self, ll_request_t *req)
{
    char *hash = zmsg_popstr (req->args);
    char *address = zmsg_popstr (req->args);
    if (!hash || !address || strlen (hash) != LL_RECOVERY_HASH_HEX
        || strlen (address) > LL_ASSIGNER_FIELD_MAX) {
        ll_request_reply_error (req, self->router, "malformed lookup");
        goto done;
    }
    char key[LL_ASSIGNER_FIELD_MAX + 8];
    snprintf (key, sizeof key, "w:%s", address);
    int wait = s_bucket_take (self, key,
                              self->runtime->config->claim.address_per_minute);
    if (wait) {
        s_reply_limited (self, req, wait);
        goto done;
    }
    const char *values[] = {hash};
    PGresult *res = s_exec (self->db, "claim_who", 1, values);
    if (!res)
        ll_request_reply_error (req, self->router, "database unavailable");
    else if (PQntuples (res) == 0)
        ll_request_reply_error (req, self->router, LL_REASON_NOT_FOUND);
    else {
        zmsg_t *payload = zmsg_new ();
        zmsg_addstr (payload, PQgetvalue (res, 0, 0));
        for (int r = 0; r < PQntuples (res); r++) {
            zmsg_addstr (payload, PQgetvalue (res, r, 1));
            zmsg_addstr (payload, PQgetvalue (res, r, 2));
        }
        ll_request_reply_ok (req, self->router, &payload);
    }
    PQclear (res);
done:
    free (hash);
    free (address);
}

//  Drain every waiting request; claims wait for the batch.
static void
s_self_handle_router (self_t *self)
{
    ll_request_t *req;
    while ((req = ll_request_recv_nowait (self->router))) {
        if (streq (req->command, LL_CMD_VM_CLAIM)) {
            s_claim_t *claim = s_claim_new (self, &req);
            if (claim)
                zlistx_add_end (self->pending, claim);
        }
        else if (streq (req->command, LL_CMD_VM_COUNT))
            s_handle_count (self, req);
        else if (streq (req->command, LL_CMD_VM_RELEASE))
            s_handle_release (self, req);
        else if (streq (req->command, LL_CMD_VM_RESET_DONE))
            s_handle_report (self, req, "vm_reset_done", true);
        else if (streq (req->command, LL_CMD_VM_RESULT))
            s_handle_report (self, req, "vm_result", false);
        else if (streq (req->command, LL_CMD_VM_SEEN))
            s_handle_seen (self, req);
        else if (streq (req->command, LL_CMD_CLAIM_RESET))
            s_handle_claim_reset (self, req);
        else if (streq (req->command, LL_CMD_CLAIM_WHO))
            s_handle_claim_who (self, req);
        else
            ll_request_reply_error (req, self->router, "unknown command");
        ll_request_destroy (&req);
    }
    s_claims_run (self);
}

void
assigner_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int64_t next_purge = ll_now_ms () + 60000;
    while (!self->terminated) {
        void *which = zpoller_wait (poller, LL_ASSIGNER_TICK_MS);
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
        if (ll_now_ms () > next_purge) {
            s_buckets_purge (self);
            next_purge = ll_now_ms () + 60000;
        }
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
