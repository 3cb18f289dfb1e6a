#include "actors/assigner.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/recovery.h"
#include "runtime/roster.h"

#include <math.h>
#include <sodium.h>

#define LL_ASSIGNER_TICK_MS     500
#define LL_ASSIGNER_BATCH_MAX   1024    //  claims per transaction
#define LL_ASSIGNER_COUNT_TTL   500     //  ms a free count is reused
#define LL_ASSIGNER_BUCKETS_MAX 200000  //  rate-limit entries kept
#define LL_ASSIGNER_FIELD_MAX   1100    //  longest email/code/address
#define LL_ASSIGNER_CLAIM_WAIT  300     //  ms a claim waits for a held VM

//  One rate-limit bucket: tokens refill continuously up to the capacity.
typedef struct {
    double tokens;    //  claims still allowed now
    int64_t last_ms;  //  when tokens was computed
} s_bucket_t;

//  One claim waiting for the batch.
typedef struct {
    ll_request_t *req;                //  the request (kept, owned)
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
    ll_actor_t actor;     //  pipe, ROUTER LL_ENDPOINT_ASSIGNER, database
    zhashx_t *buckets;    //  "e:<email>" / "a:<address>" -> s_bucket_t
    zlistx_t *pending;    //  s_claim_t waiting for the next batch
    ll_roster_t *roster;  //  the class roster (claim.allowed_*)
    int64_t roster_ms;    //  when the roster file was last looked at
    char error[600];      //  why START failed
    int64_t count_ms;     //  when count was read (0 = invalid)
    long count;           //  cached free count
    int64_t next_purge;   //  when full buckets are forgotten next
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

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->buckets = zhashx_new ();
    zhashx_set_destructor (self->buckets, s_bucket_free);
    self->pending = zlistx_new ();
    zlistx_set_destructor (self->pending, s_claim_free_item);
}

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zlistx_destroy (&self->pending);
    zhashx_destroy (&self->buckets);
    ll_roster_destroy (&self->roster);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    if (sodium_init () < 0)
        return "libsodium cannot start";
    self->roster = ll_roster_new (self->actor.runtime->config, self->error,
                                  sizeof self->error);
    if (!self->roster)
        return self->error;
    self->next_purge = ll_now_ms () + 60000;
    return NULL;
}

//  --- helpers -------------------------------------------------------------

//  A PostgreSQL text array literal of count strings (new string). Not
//  ll_pgarray: the claims' commands and PINs go through here, and this
//  sizes the literal once, so no realloc leaves a copy behind and the
//  caller can wipe the one there is.
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
    const ll_config_t *config = self->actor.runtime->config;
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

//  --- claims --------------------------------------------------------------

//  Answer OK LIMITED seconds (a rate limit).
static void
s_answer_limited (ll_request_t *req, int wait)
{
    char seconds[16];
    snprintf (seconds, sizeof seconds, "%d", wait);
    ll_request_answer (req, LL_CLAIM_LIMITED, seconds, NULL, NULL);
}

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

//  VM-CLAIM: bad requests, rate limits and roster refusals are answered
//  at once, the others wait for the batch.
static void
s_handle_claim (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *email = NULL, *code = NULL, *address = NULL, *proof = NULL,
         *access = NULL;
    if (ll_request_take (req, &email, &code, &address, &proof, &access) != 0)
        return;
    if (!*email || !*code || strlen (email) > LL_ASSIGNER_FIELD_MAX
        || strlen (code) > LL_ASSIGNER_FIELD_MAX
        || strlen (address) > LL_ASSIGNER_FIELD_MAX
        || strlen (access) > LL_ASSIGNER_FIELD_MAX
        || (*proof && strlen (proof) != LL_RECOVERY_LEN))
        ll_request_fail (req, LL_REASON_MALFORMED);
    else {
        for (char *c = email; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char) (*c - 'A' + 'a');
        const ll_config_t *config = self->actor.runtime->config;
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
            s_answer_limited (req, wait);
        else if (verdict != LL_ROSTER_OK)
            ll_request_answer (req, LL_CLAIM_REFUSED, ll_roster_rule (verdict),
                               NULL, NULL);
        else {
            s_claim_t *claim = calloc (1, sizeof *claim);
            claim->req = ll_request_keep (req);
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
            zlistx_add_end (self->pending, claim);
        }
    }
    free (email);
    sodium_memzero (code, strlen (code));
    free (code);
    free (address);
    sodium_memzero (proof, strlen (proof));
    free (proof);
    sodium_memzero (access, strlen (access));
    free (access);
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
    const ll_config_t *config = self->actor.runtime->config;
    char stale[16];
    ll_actor_stale (&self->actor, stale);
    const char *values[] = {array, stale};
    PGresult *res = ll_db_exec (self->actor.db, "claim_owned", 2, values);
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
        if (config->recovery.reassign_dead
            && streq (PQgetvalue (res, row, 4), "t")) {
            //  Their VM is dead: release and flag it, then a fresh one
            char why[400];
            snprintf (
                why, sizeof why, "%s was moved to a fresh VM: this one was %s",
                claim->email,
                streq (status, "error") ? "in error" : "dead or unhealthy");
            const char *args[] = {host, claim->email, why};
            PGresult *gone =
                ll_db_exec (self->actor.db, "claim_abandon", 3, args);
            if (!gone)
                rc = -1;
            PQclear (gone);
        }
        else if (streq (status, "error"))
            s_claim_set (claim, LL_CLAIM_UNRECOVERABLE, NULL, NULL);
        else if (running || recovering) {
            const char *args[] = {host, claim->email, claim->command,
                                  claim->pin};
            PGresult *renew =
                ll_db_exec (self->actor.db, "claim_renew", 4, args);
            if (!renew)
                rc = -1;
            else if (PQntuples (renew) != 1)
                s_claim_set (claim, LL_CLAIM_CHANGED, NULL, NULL);
            else {
                //  the PIN kept while the code it replaces is unacknowledged
                snprintf (claim->pin, sizeof claim->pin, "%s",
                          PQgetvalue (renew, 0, 1));
                if (running)
                    s_claim_set (claim, LL_CLAIM_ASSIGNED, host, claim->pin);
                else
                    s_claim_set (claim, LL_CLAIM_RECOVERING, host, status);
            }
            PQclear (renew);
        }
        //  any other status: a fresh VM (the old one stays theirs)
    }
    PQclear (res);
    return rc;
}

//  claim_free for these claims: the matched ones are ASSIGNED. Returns how
//  many, or -1 when the statement failed.
static int
s_claim_free (self_t *self,
              s_claim_t **claims,
              size_t k,
              const char *stale,
              const char *window)
{
    char **emails = malloc (k * sizeof *emails);
    char **commands = malloc (k * sizeof *commands);
    char **pins = malloc (k * sizeof *pins);
    char **hashes = malloc (k * sizeof *hashes);
    for (size_t i = 0; i < k; i++) {
        emails[i] = claims[i]->email;
        commands[i] = claims[i]->command;
        pins[i] = claims[i]->pin;
        hashes[i] = claims[i]->hash;
    }
    char *a_emails = s_pg_array (emails, k);
    char *a_commands = s_pg_array (commands, k);
    char *a_pins = s_pg_array (pins, k);
    char *a_hashes = s_pg_array (hashes, k);
    const char *values[] = {a_emails, a_commands, a_pins,
                            stale,    window,     a_hashes};
    PGresult *res = ll_db_exec (self->actor.db, "claim_free", 6, values);
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
    if (!res)
        return -1;
    int matched = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        long n_req = strtol (PQgetvalue (res, r, 0), NULL, 10);
        if (n_req >= 1 && (size_t) n_req <= k) {
            s_claim_t *claim = claims[n_req - 1];
            s_claim_set (claim, LL_CLAIM_ASSIGNED, PQgetvalue (res, r, 1),
                         claim->pin);
            matched++;
        }
    }
    PQclear (res);
    return matched;
}

//  claim_free skips the free VMs another session holds, and every liveness
//  write (heartbeat flush, last_seen_at, last_polled_at) holds the rows it
//  touches until it commits: without this, the last students of a class
//  could hear "no VM available" while free VMs exist. The claims left over
//  wait for those VMs (claim_wait_free) for at most LL_ASSIGNER_CLAIM_WAIT
//  ms, under PostgreSQL's 1 s deadlock_timeout so that a writer waiting on
//  this transaction's rows is never aborted for it, then take them. A
//  timeout rolls back to the savepoint and the claims stay NONE.
static int
s_claim_wait_free (self_t *self,
                   s_claim_t **left,
                   size_t m,
                   const char *stale,
                   const char *window)
{
    ll_db_t *db = self->actor.db;
    //  One round trip for both: a full class runs this on every batch
    char begin[80];
    snprintf (begin, sizeof begin,
              "SAVEPOINT claim_wait; SET LOCAL lock_timeout = '%dms'",
              LL_ASSIGNER_CLAIM_WAIT);
    if (ll_db_command (db, begin) != 0)
        return -1;
    char count[24];
    snprintf (count, sizeof count, "%zu", m);
    const char *values[] = {count, stale, window};
    PGresult *held = ll_db_exec (db, "claim_wait_free", 3, values);
    if (!held) {
        if (!ll_db_connected (db)
            || ll_db_command (db, "ROLLBACK TO SAVEPOINT claim_wait") != 0)
            return -1;
        ll_warn ("assigner: %zu claim(s) answered NONE: free VMs stayed "
                 "held by another session (%s)",
                 m, ll_db_error (db));
        return 0;
    }
    int rows = PQntuples (held);
    PQclear (held);
    if (rows > 0) {
        int matched = s_claim_free (self, left, m, stale, window);
        if (matched < 0)
            return -1;
        ll_debug ("assigner: %d claim(s) waited for a held free VM", matched);
    }
    return ll_db_command (db, "RELEASE SAVEPOINT claim_wait");
}

//  Claim free VMs for the batch's new students: one statement, then the
//  wait for held ones when some are left over.
static int
s_batch_fresh (self_t *self, s_claim_t **claims, size_t n)
{
    size_t k = 0;
    s_claim_t **fresh = malloc (n * sizeof *fresh);
    for (size_t i = 0; i < n; i++)
        if (claims[i]->fresh)
            fresh[k++] = claims[i];
    for (size_t i = 0; i < k; i++)
        s_claim_set (fresh[i], LL_CLAIM_NONE, NULL, NULL);
    char stale[16], window[16];
    ll_config_offer_params (self->actor.runtime->config, stale, window,
                            sizeof stale);
    int matched = k > 0 ? s_claim_free (self, fresh, k, stale, window) : 0;
    int rc = matched < 0 ? -1 : 0;
    if (rc == 0 && (size_t) matched < k) {
        size_t m = 0;
        for (size_t i = 0; i < k; i++)
            if (!fresh[i]->host)
                fresh[m++] = fresh[i];
        rc = s_claim_wait_free (self, fresh, m, stale, window);
    }
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
    PGresult *res = ll_db_exec (self->actor.db, "claim_audit", 3, values);
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

//  One batch: the claims and how many (ll_db_retry's argument)
typedef struct {
    self_t *self;        //  the assigner
    s_claim_t **claims;  //  the batch
    size_t n;            //  its size
} s_batch_t;

static int
s_batch_try (ll_db_t *db, void *arg)
{
    s_batch_t *batch = arg;
    self_t *self = batch->self;
    s_claim_t **claims = batch->claims;
    size_t n = batch->n;
    for (size_t i = 0; i < n; i++) {
        free (claims[i]->outcome);
        free (claims[i]->host);
        free (claims[i]->extra);
        claims[i]->outcome = claims[i]->host = claims[i]->extra = NULL;
        claims[i]->fresh = true;
    }
    int rc = ll_db_command (self->actor.db, "BEGIN");
    if (rc == 0)
        rc = s_batch_owned (self, claims, n);
    if (rc == 0)
        rc = s_batch_fresh (self, claims, n);
    if (rc == 0)
        rc = s_batch_audit (self, claims, n);
    if (rc == 0)
        rc = ll_db_command (self->actor.db, "COMMIT");
    if (rc != 0 && ll_db_connected (self->actor.db))
        ll_db_command (self->actor.db, "ROLLBACK");
    return rc;
}

//  Answer one batch of claims (distinct emails) from one transaction. A
//  connection that broke under it (PostgreSQL restarted) is replaced at
//  once and the transaction tried once more.
static void
s_batch_run (self_t *self, s_claim_t **claims, size_t n)
{
    s_batch_t batch = {self, claims, n};
    int rc = ll_db_ensure (self->actor.db) == 0
                 ? ll_db_retry (self->actor.db, s_batch_try, &batch)
                 : -1;
    if (rc != 0)
        ll_warn ("assigner: claim batch of %zu failed: %s", n,
                 ll_db_error (self->actor.db));
    self->count_ms = 0;
    for (size_t i = 0; i < n; i++) {
        s_claim_t *claim = claims[i];
        bool keeps = claim->outcome
                     && (streq (claim->outcome, LL_CLAIM_ASSIGNED)
                         || streq (claim->outcome, LL_CLAIM_RECOVERING));
        if (rc != 0 || !claim->outcome)
            ll_request_fail (claim->req, LL_REASON_DATABASE);
        else
            ll_request_answer (claim->req, claim->outcome, claim->host,
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
s_handle_count (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    int64_t now = ll_now_ms ();
    if (!self->count_ms || now - self->count_ms > LL_ASSIGNER_COUNT_TTL) {
        char stale[16], window[16];
        ll_config_offer_params (self->actor.runtime->config, stale, window,
                                sizeof stale);
        const char *values[] = {stale, window};
        PGresult *res =
            ll_db_exec_retry (self->actor.db, "vm_count_free", 2, values);
        if (!res || PQntuples (res) != 1) {
            PQclear (res);
            ll_request_fail (req, LL_REASON_DATABASE);
            return;
        }
        self->count = strtol (PQgetvalue (res, 0, 0), NULL, 10);
        self->count_ms = now;
        PQclear (res);
    }
    char text[24];
    snprintf (text, sizeof text, "%ld", self->count);
    ll_request_answer (req, text);
}

//  VM-RELEASE hostname actor [idle-s]: the VM leaves its student; what
//  happens to it next is claim.on_release (reset: a random id its agent
//  confirms). With idle-s (the idle rule) only while it is still held and
//  unused that long.
static void
s_handle_release (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *host = NULL, *actor = NULL, *idle = NULL;
    if (ll_request_take (req, &host, &actor, &idle) != 0)
        return;
    if (idle
        && (!*idle || strspn (idle, "0123456789") != strlen (idle)
            || strlen (idle) > 9)) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        goto done;
    }
    const char *on_release = self->actor.runtime->config->claim.on_release;
    const char *mode = streq (on_release, "destroy") ? "replace" : on_release;
    char reset_id[33] = "";
    if (streq (mode, "reset")) {
        unsigned char bytes[16];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (reset_id, sizeof reset_id, bytes, sizeof bytes);
    }
    const char *values[] = {host, actor, mode, *reset_id ? reset_id : NULL,
                            idle};
    PGresult *res = ll_db_exec_retry (self->actor.db, "vm_release", 5, values);
    if (ll_actor_rows (&self->actor, req, res, LL_REASON_DATABASE,
                       LL_REASON_NOT_FOUND))
        ll_request_answer (req, mode);
    PQclear (res);
    self->count_ms = 0;
done:
    free (host);
    free (actor);
    free (idle);
}

//  An agent's report (VM-RESULT: the start-host outcome, VM-RESET-DONE:
//  the reset's), counted only from the agent of the VM's current token.
//  values: the statement's arguments, ok the "1"|"0" among them; the
//  statement answers "current", "revoked" or, for a reset, "stale" (and
//  vm_result the delivery's latency, for the metrics).
static void
s_report (self_t *self,
          ll_request_t *req,
          const char *statement,
          const char **values,
          int n,
          const char *ok,
          char *text)
{
    if (!streq (ok, "1") && !streq (ok, "0")) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        return;
    }
    if (strlen (text) > 1000)
        text[1000] = '\0';
    PGresult *res = ll_db_exec_retry (self->actor.db, statement, n, values);
    if (!res)
        ll_request_fail (req, LL_REASON_DATABASE);
    else if (PQntuples (res) == 0)
        ll_request_fail (req, LL_REASON_NOT_FOUND);
    else if (streq (PQgetvalue (res, 0, 0), "current")) {
        //  vm_result: the seconds from claim to delivery, when this one
        //  delivered it
        if (PQnfields (res) > 1 && *PQgetvalue (res, 0, 1))
            ll_metrics_delivery (self->actor.runtime->metrics,
                                 LL_DELIVERY_AGENT,
                                 strtod (PQgetvalue (res, 0, 1), NULL));
        ll_request_answer (req);
    }
    else if (streq (PQgetvalue (res, 0, 0), "stale"))
        ll_request_fail (req, LL_REASON_STALE);
    else
        ll_request_fail (req, LL_REASON_REVOKED);
    PQclear (res);
    self->count_ms = 0;
}

//  VM-RESULT hostname 1|0 error generation
static void
s_handle_result (void *arg, ll_request_t *req)
{
    char *host = NULL, *ok = NULL, *text = NULL, *gen = NULL;
    if (ll_request_take (req, &host, &ok, &text, &gen) != 0)
        return;
    const char *values[] = {host, streq (ok, "1") ? "true" : "false", text,
                            gen};
    s_report (arg, req, "vm_result", values, 4, ok, text);
    free (host);
    free (ok);
    free (text);
    free (gen);
}

//  VM-RESET-DONE hostname reset-id 1|0 error generation
static void
s_handle_reset_done (void *arg, ll_request_t *req)
{
    char *host = NULL, *id = NULL, *ok = NULL, *text = NULL, *gen = NULL;
    if (ll_request_take (req, &host, &id, &ok, &text, &gen) != 0)
        return;
    const char *values[] = {host, id, streq (ok, "1") ? "true" : "false", text,
                            gen};
    s_report (arg, req, "vm_reset_done", values, 5, ok, text);
    free (host);
    free (id);
    free (ok);
    free (text);
    free (gen);
}

//  CLAIM-RESET email actor: a new secret for the student's VMs.
static void
s_handle_claim_reset (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *email = NULL, *actor = NULL;
    if (ll_request_take (req, &email, &actor) != 0)
        return;
    if (!*email || strlen (email) > LL_ASSIGNER_FIELD_MAX)
        ll_request_fail (req, LL_REASON_MALFORMED);
    else {
        for (char *c = email; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char) (*c - 'A' + 'a');
        char secret[LL_RECOVERY_LEN + 1], hash[LL_RECOVERY_HASH_HEX + 1];
        ll_recovery_new (secret);
        ll_recovery_hash (secret, hash);
        const char *values[] = {email, hash, actor};
        PGresult *res =
            ll_db_exec_retry (self->actor.db, "claim_reset", 3, values);
        if (ll_actor_rows (&self->actor, req, res, LL_REASON_DATABASE,
                           LL_REASON_NOT_FOUND)) {
            zmsg_t *hosts = zmsg_new ();
            for (int r = 0; r < PQntuples (res); r++)
                zmsg_addstr (hosts, PQgetvalue (res, r, 0));
            ll_request_answer (req, secret, &hosts);
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
s_handle_claim_who (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *hash = NULL, *address = NULL;
    if (ll_request_take (req, &hash, &address) != 0)
        return;
    char key[LL_ASSIGNER_FIELD_MAX + 8];
    int wait = 0;
    if (strlen (hash) != LL_RECOVERY_HASH_HEX
        || strlen (address) > LL_ASSIGNER_FIELD_MAX) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        goto done;
    }
    snprintf (key, sizeof key, "w:%s", address);
    wait = s_bucket_take (
        self, key, self->actor.runtime->config->claim.address_per_minute);
    if (wait) {
        char seconds[16];
        snprintf (seconds, sizeof seconds, "%d", wait);
        zmsg_t *rest = zmsg_new ();
        zmsg_addstr (rest, seconds);
        ll_request_answer (req, LL_CLAIM_LIMITED, &rest);
        goto done;
    }
    const char *values[] = {hash};
    PGresult *res = ll_db_exec_retry (self->actor.db, "claim_who", 1, values);
    if (ll_actor_rows (&self->actor, req, res, LL_REASON_DATABASE,
                       LL_REASON_NOT_FOUND)) {
        zmsg_t *rows = zmsg_new ();
        for (int r = 0; r < PQntuples (res); r++) {
            zmsg_addstr (rows, PQgetvalue (res, r, 1));
            zmsg_addstr (rows, PQgetvalue (res, r, 2));
        }
        ll_request_answer (req, PQgetvalue (res, 0, 0), &rows);
    }
    PQclear (res);
done:
    free (hash);
    free (address);
}

//  Served on LL_ENDPOINT_ASSIGNER
static const ll_handler_t s_handlers[] = {
    {LL_CMD_VM_CLAIM, s_handle_claim},
    {LL_CMD_VM_COUNT, s_handle_count},
    {LL_CMD_VM_RESULT, s_handle_result},
    {LL_CMD_VM_RESET_DONE, s_handle_reset_done},
    {LL_CMD_VM_RELEASE, s_handle_release},
    {LL_CMD_CLAIM_RESET, s_handle_claim_reset},
    {LL_CMD_CLAIM_WHO, s_handle_claim_who},
    {NULL, NULL},
};

//  Drain every waiting request; claims wait for the batch.
static void
s_self_handle_router (void *arg)
{
    self_t *self = arg;
    while (ll_actor_serve (&self->actor, s_handlers, self, true))
        ;
    s_claims_run (self);
}

//  Every minute: forget the buckets that refilled
static void
s_self_tick (void *arg)
{
    self_t *self = arg;
    if (ll_now_ms () > self->next_purge) {
        s_buckets_purge (self);
        self->next_purge = ll_now_ms () + 60000;
    }
}

static const ll_actor_kind_t s_kind = {
    .name = "assigner",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .class =
        {
            .endpoint = LL_ENDPOINT_ASSIGNER,
            .database = true,
            .handlers = s_handlers,
            .start = s_self_start,
            .tick_ms = LL_ASSIGNER_TICK_MS,
            .tick = s_self_tick,
            .drain = s_self_handle_router,
        },
};

void
assigner_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
