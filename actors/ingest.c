#include "actors/ingest.h"

#include <arpa/inet.h>

#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/logline.h"
#include "runtime/textbuf.h"

#define LL_INGEST_TICK_MS 1000
//  One flush takes at most this much (then the next flush takes the rest)
#define LL_INGEST_FLUSH_LINES    100000
#define LL_INGEST_FLUSH_BYTES    (16 * 1024 * 1024)
#define LL_INGEST_FLUSH_REQUESTS 2000
//  A flush numbers its lines within one id block of 2^20 (migration 0007)
_Static_assert(LL_INGEST_FLUSH_LINES + LL_LOG_APPEND_MAX_LINES < (1 << 20),
               "a flush must fit one id block");
#define LL_INGEST_PRUNE_MS (10 * 60 * 1000)
#define LL_INGEST_READ_MAX 100000

typedef enum {
    S_PENDING = 0,  //  not decided yet
    S_NEW,          //  to store
    S_DUPLICATE,    //  agent batch stored before
    S_NOT_FOUND,    //  no such VM
    S_INVALID       //  malformed
} s_state_t;

//  One LOG-APPEND request waiting for the flush.
typedef struct {
    ll_request_t *req;  //  to answer (kept, owned)
    char *hostname;     //  the VM
    char *stream;       //  cloud_init | docker | agent
    char *source;       //  agent batch source, "" when none
    char *seq;          //  agent batch sequence, "" when none
    zframe_t *lines;    //  lines, each ended by '\n'
    size_t line_count;  //  lines in it
    s_state_t state;    //  what the flush decided
} s_append_t;

typedef struct {
    ll_actor_t actor;       //  pipe, ROUTER LL_ENDPOINT_LOGS, database
    zsock_t *pub;           //  LL_ENDPOINT_LOG_TAIL
    zlist_t *batch;         //  s_append_t * for the next flush
    size_t batch_lines;     //  lines in batch
    size_t batch_bytes;     //  bytes in batch
    zhash_t *since_trim;    //  hostname -> size_t * lines since last trim
    int64_t next_prune_ms;  //  when to prune old agent batch ids
} self_t;

static void
s_append_destroy (s_append_t **self_p)
{
    s_append_t *self = *self_p;
    if (!self)
        return;
    ll_request_destroy (&self->req);
    free (self->hostname);
    free (self->stream);
    free (self->source);
    free (self->seq);
    zframe_destroy (&self->lines);
    free (self);
    *self_p = NULL;
}

static void
s_self_init (void *arg)
{
    self_t *self = arg;
    self->batch = zlist_new ();
    self->since_trim = zhash_new ();
}

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    s_append_t *a;
    while ((a = zlist_pop (self->batch))) {
        ll_request_fail (a->req, LL_REASON_STOPPING);
        s_append_destroy (&a);
    }
    zlist_destroy (&self->batch);
    zhash_destroy (&self->since_trim);
    zsock_destroy (&self->pub);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub || zsock_bind (self->pub, LL_ENDPOINT_LOG_TAIL) != 0)
        return "cannot bind " LL_ENDPOINT_LOG_TAIL;
    self->next_prune_ms = ll_now_ms () + LL_INGEST_PRUNE_MS;
    return NULL;
}

static bool
s_stream_valid (const char *stream)
{
    return streq (stream, "cloud_init") || streq (stream, "docker")
           || streq (stream, "agent");
}

static bool
s_source_valid (const char *source, const char *seq)
{
    if (!*source && !*seq)
        return true;
    if (strlen (source) != 16 || strspn (source, "0123456789abcdef") != 16)
        return false;
    size_t digits = strspn (seq, "0123456789");
    return digits > 0 && digits <= 18 && seq[digits] == '\0';
}

//  --- appends --------------------------------------------------------------

//  LOG-APPEND: kept for the next flush
static void
s_handle_append (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    s_append_t *a = calloc (1, sizeof *a);
    if (ll_request_take (req, &a->hostname, &a->stream, &a->source, &a->seq,
                         &a->lines)
        != 0) {
        s_append_destroy (&a);
        return;
    }
    if (!*a->hostname || !s_stream_valid (a->stream)
        || !s_source_valid (a->source, a->seq)
        || !ll_utf8_valid ((char *) zframe_data (a->lines),
                           zframe_size (a->lines))) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        s_append_destroy (&a);
        return;
    }
    const char *data = (const char *) zframe_data (a->lines);
    size_t size = zframe_size (a->lines);
    for (size_t i = 0; i < size; i++)
        if (data[i] == '\n')
            a->line_count++;
    if (size && data[size - 1] != '\n')
        a->line_count++;
    if (a->line_count > LL_LOG_APPEND_MAX_LINES) {
        ll_request_fail (req, LL_REASON_LINES);
        s_append_destroy (&a);
        return;
    }
    a->req = ll_request_keep (req);
    zlist_append (self->batch, a);
    self->batch_lines += a->line_count;
    self->batch_bytes += size;
}

static void
s_answer (s_append_t *a, const char *error)
{
    if (error)
        ll_request_fail (a->req, error);
    else if (a->state == S_DUPLICATE)
        ll_request_answer (a->req, LL_LOG_DUPLICATE);
    else if (a->state == S_NOT_FOUND)
        ll_request_fail (a->req, LL_REASON_NOT_FOUND);
    else {
        char count[24];
        snprintf (count, sizeof count, "%zu", a->line_count);
        ll_request_answer (a->req, count);
    }
}

//  Reserve this flush's id block (*first_id) and mark the appends of
//  unknown VMs; -1 when the database failed.
static int
s_flush_start (self_t *self, long long *first_id)
{
    ll_textbuf_t hosts = {0};
    ll_pgarray_begin (&hosts);
    for (s_append_t *a = zlist_first (self->batch); a;
         a = zlist_next (self->batch))
        ll_pgarray_add (&hosts, a->hostname);
    ll_pgarray_end (&hosts);
    const char *values[] = {hosts.data};
    PGresult *res =
        ll_db_exec (self->actor.db, "vm_logs_flush_start", 1, values);
    ll_textbuf_free (&hosts);
    if (!res || PQntuples (res) < 1) {
        PQclear (res);
        return -1;
    }
    *first_id = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    zhash_t *known = zhash_new ();
    for (int row = 0; row < PQntuples (res); row++)
        if (!PQgetisnull (res, row, 1))
            zhash_insert (known, PQgetvalue (res, row, 1), (void *) 1);
    for (s_append_t *a = zlist_first (self->batch); a;
         a = zlist_next (self->batch))
        a->state = zhash_lookup (known, a->hostname) ? S_NEW : S_NOT_FOUND;
    zhash_destroy (&known);
    PQclear (res);
    return 0;
}

//  Claim the agent batches; those stored before become duplicates (also a
//  second copy of a batch inside this flush). -1 on database failure.
static int
s_claim_batches (self_t *self)
{
    ll_textbuf_t hosts = {0}, sources = {0}, seqs = {0};
    ll_pgarray_begin (&hosts);
    ll_pgarray_begin (&sources);
    ll_pgarray_begin (&seqs);
    size_t count = 0;
    for (s_append_t *a = zlist_first (self->batch); a;
         a = zlist_next (self->batch))
        if (a->state == S_NEW && *a->source) {
            ll_pgarray_add (&hosts, a->hostname);
            ll_pgarray_add (&sources, a->source);
            ll_pgarray_add (&seqs, a->seq);
            a->state = S_DUPLICATE;  //  until the claim says otherwise
            count++;
        }
    ll_pgarray_end (&hosts);
    ll_pgarray_end (&sources);
    ll_pgarray_end (&seqs);
    int rc = 0;
    if (count) {
        const char *values[] = {hosts.data, sources.data, seqs.data};
        PGresult *res =
            ll_db_exec (self->actor.db, "vm_log_batches_claim", 3, values);
        if (!res)
            rc = -1;
        for (int row = 0; res && row < PQntuples (res); row++) {
            const char *h = PQgetvalue (res, row, 0);
            const char *src = PQgetvalue (res, row, 1);
            const char *seq = PQgetvalue (res, row, 2);
            for (s_append_t *a = zlist_first (self->batch); a;
                 a = zlist_next (self->batch))
                if (a->state == S_DUPLICATE && *a->source
                    && streq (a->hostname, h) && streq (a->source, src)
                    && strtoll (a->seq, NULL, 10) == strtoll (seq, NULL, 10)) {
                    a->state = S_NEW;  //  the first copy only
                    break;
                }
        }
        PQclear (res);
    }
    ll_textbuf_free (&hosts);
    ll_textbuf_free (&sources);
    ll_textbuf_free (&seqs);
    return rc;
}

//  PostgreSQL's binary COPY format: fields are length-prefixed, so
//  neither side escapes or scans the lines for delimiters.
static void
s_copy_u32 (ll_textbuf_t *copy, uint32_t value)
{
    uint32_t be = htonl (value);
    ll_textbuf_append (copy, &be, 4);
}

static void
s_copy_text (ll_textbuf_t *copy, const char *text, size_t len)
{
    s_copy_u32 (copy, (uint32_t) len);
    ll_textbuf_append (copy, text, len);
}

//  One row: id, hostname, stream, line.
static void
s_copy_row (ll_textbuf_t *copy,
            long long id,
            const s_append_t *a,
            const char *line,
            size_t len)
{
    static const char fields[2] = {0, 4};
    ll_textbuf_append (copy, fields, 2);
    s_copy_u32 (copy, 8);
    s_copy_u32 (copy, (uint32_t) ((unsigned long long) id >> 32));
    s_copy_u32 (copy, (uint32_t) id);
    s_copy_text (copy, a->hostname, strlen (a->hostname));
    s_copy_text (copy, a->stream, strlen (a->stream));
    s_copy_text (copy, line, len);
}

//  COPY the new lines with ids from next_id on (reserved first, so the tail
//  can publish them). Fills tails: hostname -> ll_textbuf_t * rows. -1 on
//  failure.
static int
s_copy_lines (self_t *self, long long next_id, zhash_t *tails)
{
    ll_textbuf_t copy = {0};
    //  Signature, flags, header extension length
    ll_textbuf_append (&copy, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
    for (s_append_t *a = zlist_first (self->batch); a;
         a = zlist_next (self->batch)) {
        if (a->state != S_NEW)
            continue;
        ll_textbuf_t *tail = zhash_lookup (tails, a->hostname);
        if (!tail) {
            tail = calloc (1, sizeof *tail);
            zhash_insert (tails, a->hostname, tail);
        }
        const char *data = (const char *) zframe_data (a->lines);
        size_t size = zframe_size (a->lines);
        size_t start = 0;
        while (start < size) {
            const char *eol = memchr (data + start, '\n', size - start);
            size_t len = eol ? (size_t) (eol - data - start) : size - start;
            char id[24];
            snprintf (id, sizeof id, "%lld", next_id);
            s_copy_row (&copy, next_id++, a, data + start, len);
            ll_textbuf_puts (tail, id);
            ll_textbuf_putc (tail, '\t');
            ll_textbuf_puts (tail, a->stream);
            ll_textbuf_putc (tail, '\t');
            ll_textbuf_append (tail, data + start, len);
            ll_textbuf_putc (tail, '\n');
            start += len + 1;
        }
    }
    ll_textbuf_append (&copy, "\377\377", 2);  //  trailer
    PGconn *conn = ll_db_prepare (self->actor.db, "vm_logs_copy") == 0
                       ? ll_db_conn (self->actor.db)
                       : NULL;
    int rc = -1;
    PGresult *res =
        conn ? PQexecPrepared (conn, "vm_logs_copy", 0, NULL, NULL, NULL, 0)
             : NULL;
    if (res && PQresultStatus (res) == PGRES_COPY_IN) {
        PQclear (res);
        bool sent = PQputCopyData (conn, copy.data, (int) copy.len) == 1;
        if (PQputCopyEnd (conn, sent ? NULL : "send failed") == 1) {
            res = PQgetResult (conn);
            rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
            PQclear (res);
            while ((res = PQgetResult (conn)))
                PQclear (res);
        }
    }
    else
        PQclear (res);
    if (rc != 0 && conn)
        ll_warn ("ingest: copy failed: %s", PQerrorMessage (conn));
    ll_textbuf_free (&copy);
    return rc;
}

static void
s_trim (self_t *self, const char *hostname, size_t added)
{
    int retain = self->actor.runtime->config->logs.retain_lines;
    size_t threshold =
        (size_t) retain / 10 > 1000 ? (size_t) retain / 10 : 1000;
    size_t *since = zhash_lookup (self->since_trim, hostname);
    if (!since) {
        since = calloc (1, sizeof *since);
        zhash_insert (self->since_trim, hostname, since);
        zhash_freefn (self->since_trim, hostname, free);
    }
    *since += added;
    if (*since < threshold)
        return;
    char keep[32];
    snprintf (keep, sizeof keep, "%d", retain);
    const char *values[] = {hostname, keep};
    PGresult *res = ll_db_exec (self->actor.db, "vm_logs_trim", 2, values);
    if (res)
        *since = 0;
    else
        ll_warn ("ingest: cannot trim the logs of %s: %s", hostname,
                 ll_actor_db_reason (&self->actor));
    PQclear (res);
}

static void
s_tail_free (void *item)
{
    ll_textbuf_t *tail = item;
    ll_textbuf_free (tail);
    free (tail);
}

//  Write the batch, then answer every request. Agent batches are claimed in
//  the transaction that stores their lines; without any, the COPY alone is
//  the transaction (autocommit): two round trips fewer per flush, which
//  are a tenth of its time on a loaded machine.
static void
s_flush (self_t *self)
{
    if (zlist_size (self->batch) == 0)
        return;
    bool claims = false;
    for (s_append_t *a = zlist_first (self->batch); a && !claims;
         a = zlist_next (self->batch))
        claims = *a->source != '\0';
    const char *failure = NULL;
    zhash_t *tails = zhash_new ();
    long long first_id = 0;
    if (ll_db_ensure (self->actor.db) != 0
        || (claims && ll_db_command (self->actor.db, "BEGIN") != 0))
        failure = ll_actor_db_reason (&self->actor);
    else if (s_flush_start (self, &first_id) != 0
             || s_claim_batches (self) != 0)
        failure = ll_actor_db_reason (&self->actor);
    else {
        size_t lines = 0;
        for (s_append_t *a = zlist_first (self->batch); a;
             a = zlist_next (self->batch))
            if (a->state == S_NEW)
                lines += a->line_count;
        if (lines && s_copy_lines (self, first_id, tails) != 0)
            failure = "cannot store the lines";
        else if (claims && ll_db_command (self->actor.db, "COMMIT") != 0)
            failure = ll_actor_db_reason (&self->actor);
    }
    if (failure && claims && ll_db_connected (self->actor.db))
        ll_db_command (self->actor.db, "ROLLBACK");
    if (failure)
        ll_warn ("ingest: %zu lines not stored: %s", self->batch_lines,
                 failure);

    s_append_t *a;
    while ((a = zlist_pop (self->batch))) {
        s_answer (a, failure);
        s_append_destroy (&a);
    }
    if (!failure)
        for (ll_textbuf_t *tail = zhash_first (tails); tail;
             tail = zhash_next (tails)) {
            const char *hostname = zhash_cursor (tails);
            char *topic = zsys_sprintf ("%s\t", hostname);
            zmsg_t *msg = zmsg_new ();
            ll_msg_put (msg, "sb", topic, tail->data, tail->len);
            zstr_free (&topic);
            zmsg_send (&msg, self->pub);
            zmsg_destroy (&msg);
            size_t added = 0;
            for (size_t i = 0; i < tail->len; i++)
                if (tail->data[i] == '\n')
                    added++;
            s_trim (self, hostname, added);
        }
    for (ll_textbuf_t *tail = zhash_first (tails); tail;
         tail = zhash_next (tails))
        s_tail_free (tail);
    zhash_destroy (&tails);
    self->batch_lines = 0;
    self->batch_bytes = 0;
}

//  --- reads ----------------------------------------------------------------

static void
s_handle_read (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *hostname = NULL, *after = NULL, *limit = NULL;
    if (ll_request_take (req, &hostname, &after, &limit) != 0)
        return;
    long n = strtol (limit, NULL, 10);
    if (!*hostname || n <= 0 || n > LL_INGEST_READ_MAX) {
        ll_request_fail (req, LL_REASON_MALFORMED);
        goto done;
    }
    const char *vm_values[] = {hostname};
    PGresult *vm = ll_db_exec (self->actor.db, "vm_logs_vm", 1, vm_values);
    if (!vm) {
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
        goto done;
    }
    if (PQntuples (vm) == 0) {
        PQclear (vm);
        ll_request_fail (req, LL_REASON_NOT_FOUND);
        goto done;
    }
    bool newest = *after == '\0';
    const char *values[] = {hostname, newest ? limit : after, limit};
    PGresult *res =
        ll_db_exec (self->actor.db, newest ? "vm_logs_newest" : "vm_logs_after",
                    newest ? 2 : 3, values);
    if (!res) {
        PQclear (vm);
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
        goto done;
    }
    ll_textbuf_t rows = {0};
    int count = PQntuples (res);
    for (int i = 0; i < count; i++) {
        int row = newest ? count - 1 - i : i;  //  oldest first
        ll_textbuf_puts (&rows, PQgetvalue (res, row, 0));
        ll_textbuf_putc (&rows, '\t');
        ll_textbuf_puts (&rows, PQgetvalue (res, row, 1));
        ll_textbuf_putc (&rows, '\t');
        ll_textbuf_append (&rows, PQgetvalue (res, row, 2),
                           (size_t) PQgetlength (res, row, 2));
        ll_textbuf_putc (&rows, '\n');
    }
    ll_request_answer (req, PQgetvalue (vm, 0, 0), rows.data, rows.len);
    ll_textbuf_free (&rows);
    PQclear (res);
    PQclear (vm);
done:
    free (hostname);
    free (after);
    free (limit);
}

//  Served on LL_ENDPOINT_LOGS
static const ll_handler_t s_handlers[] = {
    {LL_CMD_LOG_APPEND, s_handle_append},
    {LL_CMD_LOG_READ, s_handle_read},
    {NULL, NULL},
};

//  Take every request waiting (up to the caps), then write the appends in
//  one transaction: appends that arrive during a flush make the next one.
static void
s_self_handle_router (void *arg)
{
    self_t *self = arg;
    for (int i = 0; i < LL_INGEST_FLUSH_REQUESTS; i++) {
        if (!ll_actor_serve (&self->actor, s_handlers, self, true))
            break;
        if (self->batch_lines >= LL_INGEST_FLUSH_LINES
            || self->batch_bytes >= LL_INGEST_FLUSH_BYTES)
            break;
    }
    s_flush (self);
}

static void
s_self_housekeeping (void *arg)
{
    self_t *self = arg;
    if (ll_db_ensure (self->actor.db) != 0)
        return;
    if (ll_now_ms () >= self->next_prune_ms) {
        PQclear (ll_db_exec (self->actor.db, "vm_log_batches_prune", 0, NULL));
        self->next_prune_ms = ll_now_ms () + LL_INGEST_PRUNE_MS;
    }
}

static const ll_actor_kind_t s_kind = {
    .name = "ingest",
    .size = sizeof (self_t),
    .init = s_self_init,
    .fini = s_self_fini,
    .class =
        {
            .endpoint = LL_ENDPOINT_LOGS,
            .database = true,
            .handlers = s_handlers,
            .start = s_self_start,
            .tick_ms = LL_INGEST_TICK_MS,
            .tick = s_self_housekeeping,
            .drain = s_self_handle_router,
        },
};

void
ingest_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
