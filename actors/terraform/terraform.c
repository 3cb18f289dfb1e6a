/*  The terraform actor: its requests (LAUNCH, DESTROY, the per-VM
    actions, EXPORT-DESTROY, OP-GET, OP-LIST), the budget check, and the
    loop polling the router and the child's pipes. The operation itself is
    in op.c, output.c, workdir.c and fleet.c (internal.h). */
#include "actors/terraform/internal.h"

#include <ctype.h>

static void
s_reply_busy (self_t *self, ll_request_t *req, int64_t busy)
{
    char reason[48];
    snprintf (reason, sizeof reason, LL_REASON_BUSY " %lld", (long long) busy);
    ll_request_fail (req, reason);
}

static void
s_reply_id (self_t *self, ll_request_t *req, int64_t id)
{
    char text[24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    ll_request_answer (req, text);
}

//  Common start of every kind: not busy here, lock taken. 0, or -1 after
//  replying.
static int
s_begin_request (self_t *self, ll_request_t *req)
{
    if (self->op) {
        s_reply_busy (self, req, self->op->id);
        return -1;
    }
    int64_t busy = 0;
    int rc = tf_acquire (self, &busy);
    if (rc == TF_LOCK_BUSY) {
        s_reply_busy (self, req, busy);
        return -1;
    }
    if (rc != 0) {
        ll_request_fail (req, LL_REASON_DATABASE);
        return -1;
    }
    return 0;
}

//  Common end of LAUNCH, the removals and MOVE-VM, in the transaction
//  they began (ok: every step went through): COMMIT, then the operation
//  (kind, target) takes names and tokens (total: the names) and the
//  request is answered its id. NULL after a ROLLBACK (the lock released,
//  names and tokens destroyed, ERROR database answered).
static op_t *
s_commit_op (self_t *self,
             ll_request_t *req,
             bool ok,
             int64_t id,
             const char *kind,
             const char *target,
             zlist_t **names,
             zhash_t **tokens)
{
    ok = ok && ll_db_command (self->actor.db, "COMMIT") == 0;
    if (!ok) {
        ll_db_command (self->actor.db, "ROLLBACK");
        tf_release (self);
        zlist_destroy (names);
        tf_tokens_destroy (tokens);
        ll_request_fail (req, LL_REASON_DATABASE);
        return NULL;
    }
    self->op = tf_op_new (id, kind, target);
    zlist_destroy (&self->op->names);
    self->op->names = *names;
    *names = NULL;
    self->op->tokens = *tokens;
    *tokens = NULL;
    self->op->total = (int) zlist_size (self->op->names);
    s_reply_id (self, req, id);
    return self->op;
}

//  budget.max_vm_hours / budget.max_usd: may `adding` VMs be launched?
//  0, or -1 with the admin's message (also when the budget cannot be read:
//  a limit that cannot be checked is not passed).
static int
s_budget_refuses (self_t *self, int adding, char *message, size_t size)
{
    const ll_config_t *config = self->actor.runtime->config;
    ll_class_budget_t budget = {.hourly_usd = config->machine.hourly_usd,
                                .max_vm_hours = config->budget.max_vm_hours,
                                .max_usd = config->budget.max_usd};
    if (budget.max_vm_hours <= 0
        && (budget.max_usd <= 0 || budget.hourly_usd <= 0))
        return 0;
    PGresult *use = ll_db_exec (self->actor.db, "budget_usage", 0, NULL);
    PGresult *next =
        use ? ll_db_exec (self->actor.db, "sched_next", 0, NULL) : NULL;
    int rc = -1;
    if (next && PQntuples (use) == 1) {
        budget.vm_hours = strtod (PQgetvalue (use, 0, 0), NULL);
        budget.vms = (int) strtol (PQgetvalue (use, 0, 1), NULL, 10);
        double hours = 1;
        if (PQntuples (next) == 1) {
            double left = (double) (strtoll (PQgetvalue (next, 0, 2), NULL, 10)
                                    - (int64_t) time (NULL));
            if (left > 0)
                hours = left / 3600.0;
        }
        rc = ll_class_budget_allows (&budget, adding, hours, message, size);
    }
    else
        snprintf (message, size, "The budget cannot be checked now.");
    PQclear (use);
    PQclear (next);
    return rc;
}

static void
s_handle_launch (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char *count_text = NULL, *who = NULL;
    if (ll_request_take (req, &count_text, &who) != 0)
        return;
    char *end = NULL;
    long count = strtol (count_text, &end, 10);
    if (*end || count <= 0 || count > config->app.max_vms) {
        ll_request_fail (req, LL_REASON_BAD_COUNT);
        goto done;
    }
    char *url = ll_tf_allocator_url (config);
    if (!url) {
        ll_request_fail (req, LL_REASON_NO_URL);
        goto done;
    }
    free (url);
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_next_ordinal", 0, NULL);
    long next = res && PQntuples (res) == 1
                    ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                    : -1;
    PQclear (res);
    res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    long fleet = res ? PQntuples (res) : -1;
    PQclear (res);
    if (next < 1 || fleet < 0) {
        tf_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (fleet + count > config->app.max_vms) {
        tf_release (self);
        char reason[48];
        snprintf (reason, sizeof reason, LL_REASON_TOO_MANY " %d",
                  config->app.max_vms);
        ll_request_fail (req, reason);
        goto done;
    }
    char refusal[320];
    if (s_budget_refuses (self, (int) count, refusal, sizeof refusal) != 0) {
        tf_release (self);
        char reason[340];
        snprintf (reason, sizeof reason, "budget %s", refusal);
        ll_request_fail (req, reason);
        ll_warn ("terraform: launch of %ld refused: %s", count, refusal);
        goto done;
    }
    int64_t id = 0;
    zlist_t *names = tf_names_new ();
    zhash_t *tokens = zhash_new ();
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && tf_op_create (self, req, "launch", (int) count, (int) count,
                               who, NULL, &id)
                     == 0;
    for (long i = 0; ok && i < count; i++) {
        char name[TF_MAX_NAME], ordinal[24], op_id[24];
        snprintf (ordinal, sizeof ordinal, "%ld", next + i);
        snprintf (op_id, sizeof op_id, "%lld", (long long) id);
        ok = ll_tf_vm_name (config, (int) (next + i), name, sizeof name) == 0;
        const char *fleet_values[] = {name, ordinal, op_id};
        ok = ok && tf_exec (self, "fleet_add", 3, fleet_values) == 0
             && tf_mint (self, tokens, name) == 0;
        if (ok)
            zlist_append (names, name);
    }
    ok = ok && tf_exec (self, "vm_tokens_prune", 0, NULL) == 0;
    if (!s_commit_op (self, req, ok, id, "launch", NULL, &names, &tokens))
        goto done;
    ll_info ("terraform: operation %lld: launch %ld VM%s", (long long) id,
             count, count == 1 ? "" : "s");
    tf_op_begin (self);
done:
    free (count_text);
    free (who);
}

//  The VMs a request names: first, then those of rest (taken) (DESTROY-VM,
//  REPLACE-VM, REBOOT-VM, MOVE-VM). NULL after answering "unknown-vm
//  <host>" for a name that cannot be a VM; duplicates are dropped.
static zlist_t *
s_request_hosts (ll_request_t *req, const char *first, zmsg_t *rest)
{
    zlist_t *hosts = tf_names_new ();
    char *host = strdup (first);
    while (host) {
        if (!ll_token_scope_valid (host) || host[0] == '_'
            || strlen (host) >= TF_MAX_NAME
            || zlist_size (hosts) >= LL_BULK_MAX) {
            char reason[TF_MAX_NAME + 16];
            snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %.*s",
                      TF_MAX_NAME - 1, host);
            ll_request_fail (req, reason);
            free (host);
            zlist_destroy (&hosts);
            return NULL;
        }
        if (!zlist_exists (hosts, host))
            zlist_append (hosts, host);
        free (host);
        host = rest ? zmsg_popstr (rest) : NULL;
    }
    return hosts;
}

//  The hosts as one text for operations.target ("a b c").
static char *
s_hosts_text (zlist_t *hosts)
{
    size_t n = 1;
    for (char *h = zlist_first (hosts); h; h = zlist_next (hosts))
        n += strlen (h) + 1;
    char *text = calloc (1, n);
    for (char *h = zlist_first (hosts); h; h = zlist_next (hosts)) {
        if (*text)
            strncat (text, " ", n - strlen (text) - 1);
        strncat (text, h, n - strlen (text) - 1);
    }
    return text;
}

//  DESTROY who, EXPORT-DESTROY who, or DESTROY-VM / REPLACE-VM / REBOOT-VM
//  host who [host...]: the operation's kind is the command in lower case
static void
s_handle_remove (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char kind[sizeof self->op->kind];
    snprintf (kind, sizeof kind, "%s", req->command);
    for (char *c = kind; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    bool all =
        strcmp (kind, "destroy") == 0 || strcmp (kind, "export-destroy") == 0;
    char *first = NULL, *who = NULL;
    zmsg_t *rest = NULL;
    zlist_t *hosts = NULL;
    char *target = NULL;
    if ((all ? ll_request_take (req, &who)
             : ll_request_take (req, &first, &who, &rest))
        != 0)
        return;
    if (!all && !(hosts = s_request_hosts (req, first, rest)))
        goto done;
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    if (!res) {
        tf_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    zlist_t *names = tf_names_new ();
    for (int i = 0; i < PQntuples (res); i++)
        if (all || zlist_exists (hosts, PQgetvalue (res, i, 0)))
            zlist_append (names, PQgetvalue (res, i, 0));
    PQclear (res);
    //  Every VM named must be in the fleet
    for (char *h = hosts ? zlist_first (hosts) : NULL; h;
         h = zlist_next (hosts))
        if (!zlist_exists (names, h)) {
            char reason[TF_MAX_NAME + 16];
            snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %s", h);
            tf_release (self);
            zlist_destroy (&names);
            ll_request_fail (req, reason);
            goto done;
        }
    target = hosts ? s_hosts_text (hosts) : NULL;
    int64_t id = 0;
    zhash_t *tokens = zhash_new ();
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && tf_op_create (self, req, kind, 0, (int) zlist_size (names),
                               who, target, &id)
                     == 0;
    char *array = tf_pg_array (names);
    if (ok && (all || strcmp (kind, "destroy-vm") == 0)) {
        //  A VM asked to go loses its credential as the destroy starts;
        //  export-destroy's VMs keep theirs until the zip is sound (back to
        //  active if the export fails)
        char op_id[24];
        snprintf (op_id, sizeof op_id, "%lld", (long long) id);
        const char *values[] = {array, "removing", op_id};
        const char *revoke[] = {array};
        ok = tf_exec (self, "fleet_set_state", 3, values) == 0
             && (strcmp (kind, "export-destroy") == 0
                 || tf_exec (self, "vm_tokens_revoke", 1, revoke) == 0);
    }
    else if (ok && strcmp (kind, "replace-vm") == 0) {
        const char *values[] = {array};
        ok = tf_exec (self, "vm_replace_mark", 1, values) == 0;
        //  Each new VM gets a new token; the old ones die now
        for (char *name = zlist_first (names); ok && name;
             name = zlist_next (names))
            ok = tf_mint (self, tokens, name) == 0;
    }
    free (array);
    if (!s_commit_op (self, req, ok, id, kind, target, &names, &tokens))
        goto done;
    ll_info ("terraform: operation %lld: %s%s%s", (long long) id, kind,
             target ? " " : "", target ? target : "");
    tf_op_begin (self);
done:
    zlist_destroy (&hosts);
    zmsg_destroy (&rest);
    free (target);
    free (first);
    free (who);
}

//  MOVE-VM host who: a new VM under a new name takes over host's student;
//  host is destroyed, in one apply.
static void
s_handle_move (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char *first = NULL, *who = NULL;
    if (ll_request_take (req, &first, &who) != 0)
        return;
    zlist_t *hosts = s_request_hosts (req, first, NULL);
    if (!hosts)
        goto done;
    const char *old = zlist_first (hosts);
    if (s_begin_request (self, req) != 0)
        goto done;
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    bool known = false;
    for (int i = 0; res && i < PQntuples (res); i++)
        if (strcmp (PQgetvalue (res, i, 0), old) == 0
            && strcmp (PQgetvalue (res, i, 2), "active") == 0)
            known = true;
    bool db_ok = res != NULL;
    PQclear (res);
    res = db_ok ? ll_db_exec (self->actor.db, "fleet_next_ordinal", 0, NULL)
                : NULL;
    long next = res && PQntuples (res) == 1
                    ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                    : -1;
    PQclear (res);
    char name[TF_MAX_NAME];
    if (!db_ok || next < 1
        || ll_tf_vm_name (config, (int) next, name, sizeof name) != 0) {
        tf_release (self);
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (!known) {
        char reason[TF_MAX_NAME + 16];
        snprintf (reason, sizeof reason, LL_REASON_UNKNOWN_VM " %s", old);
        tf_release (self);
        ll_request_fail (req, reason);
        goto done;
    }
    int64_t id = 0;
    char op_id[24], ordinal[24];
    bool ok = ll_db_command (self->actor.db, "BEGIN") == 0
              && tf_op_create (self, req, "move-vm", 1, 2, who, old, &id) == 0;
    snprintf (op_id, sizeof op_id, "%lld", (long long) id);
    snprintf (ordinal, sizeof ordinal, "%ld", next);
    zlist_t *gone = tf_names_new ();
    zlist_append (gone, (void *) old);
    char *array = tf_pg_array (gone);
    zlist_destroy (&gone);
    const char *add[] = {name, ordinal, op_id};
    const char *removing[] = {array, "removing", op_id};
    const char *revoke[] = {array};
    const char *withhold[] = {name};
    //  The new VM gets its own token, withheld from claims until the move
    //  ends; the old one's token dies now
    zhash_t *tokens = zhash_new ();
    ok = ok && tf_exec (self, "fleet_add", 3, add) == 0
         && tf_mint (self, tokens, name) == 0
         && tf_exec (self, "vm_withhold", 1, withhold) == 0
         && tf_exec (self, "fleet_set_state", 3, removing) == 0
         && tf_exec (self, "vm_tokens_revoke", 1, revoke) == 0;
    free (array);
    zlist_t *names = tf_names_new ();
    zlist_append (names, (void *) old);
    zlist_append (names, name);
    if (!s_commit_op (self, req, ok, id, "move-vm", old, &names, &tokens))
        goto done;
    self->op->moved_to = strdup (name);
    ll_info ("terraform: operation %lld: move-vm %s to %s", (long long) id, old,
             name);
    tf_op_begin (self);
done:
    zlist_destroy (&hosts);
    free (first);
    free (who);
}

static void
s_handle_op_get (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *id = NULL, *after_text = NULL;
    if (ll_request_take (req, &id, &after_text) != 0)
        return;
    char *end = NULL;
    long long id_value = strtoll (id, &end, 10);
    long long after = strtoll (after_text, NULL, 10);
    if (*end || id_value <= 0) {
        ll_request_fail (req, LL_REASON_OP_MISSING);
        goto done;
    }
    if (self->op && self->op->id == id_value)
        tf_flush (self, self->op);  //  the freshest output
    const char *values[] = {id};
    PGresult *res = ll_db_exec (self->actor.db, "op_get", 1, values);
    if (!res) {
        ll_request_fail (req, LL_REASON_DATABASE);
        goto done;
    }
    if (PQntuples (res) != 1) {
        PQclear (res);
        ll_request_fail (req, LL_REASON_OP_MISSING);
        goto done;
    }
    zmsg_t *payload = zmsg_new ();
    //  kind status requested done total
    for (int c = 1; c <= 5; c++)
        ll_msg_put (payload, "s", PQgetvalue (res, 0, c));
    //  error created_by target created_at started_at finished_at
    static const int columns[] = {7, 8, 9, 10, 11, 12};
    for (size_t i = 0; i < 6; i++)
        ll_msg_put (payload, "s", PQgetvalue (res, 0, columns[i]));
    const char *output = PQgetvalue (res, 0, 6);
    long long lines = 0;
    for (const char *p = output; *p; p++)
        if (*p == '\n')
            lines++;
    char count[24];
    snprintf (count, sizeof count, "%lld", lines);
    ll_msg_put (payload, "s", count);
    long long index = 0;
    const char *line = output;
    while (*line) {
        const char *eol = strchr (line, '\n');
        size_t len = eol ? (size_t) (eol - line) : strlen (line);
        if (index >= after)
            ll_msg_put (payload, "b", line, len);
        index++;
        line = eol ? eol + 1 : line + len;
    }
    PQclear (res);
    ll_request_answer (req, &payload);
done:
    free (id);
    free (after_text);
}

static void
s_handle_op_list (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *limit_text = NULL;
    if (ll_request_take (req, &limit_text) != 0)
        return;
    long limit = strtol (limit_text, NULL, 10);
    free (limit_text);
    if (limit < 1 || limit > 100)
        limit = 20;
    char value[16];
    snprintf (value, sizeof value, "%ld", limit);
    const char *values[] = {value};
    PGresult *res = ll_db_exec (self->actor.db, "op_list", 1, values);
    if (!res) {
        ll_request_fail (req, LL_REASON_DATABASE);
        return;
    }
    zmsg_t *rows = zmsg_new ();
    for (int r = 0; r < PQntuples (res); r++)
        for (int c = 0; c < 10; c++)
            ll_msg_put (rows, "s", PQgetvalue (res, r, c));
    PQclear (res);
    ll_request_answer (req, &rows);
}

//  Served on LL_ENDPOINT_TERRAFORM
static const ll_handler_t s_handlers[] = {
    {LL_CMD_LAUNCH, s_handle_launch},
    {LL_CMD_DESTROY, s_handle_remove},
    {LL_CMD_DESTROY_VM, s_handle_remove},
    {LL_CMD_REPLACE_VM, s_handle_remove},
    {LL_CMD_REBOOT_VM, s_handle_remove},
    {LL_CMD_MOVE_VM, s_handle_move},
    {LL_CMD_EXPORT_DESTROY, s_handle_remove},
    {LL_CMD_OP_GET, s_handle_op_get},
    {LL_CMD_OP_LIST, s_handle_op_list},
    {NULL, NULL},
};

//  --- actor plumbing ----------------------------------------------------

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    tf_op_destroy (&self->op);
    zsock_destroy (&self->pub);
    zsock_destroy (&self->exporter);
    ll_aws_chain_destroy (&self->aws);
    free (self->init_id);
    free (self->module_dir);
    free (self->work_dir);
    free (self->key_file);
    free (self->exe_dir);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    ll_actor_t *actor = &self->actor;
    const ll_config_t *config = actor->runtime->config;
    const char *error = ll_actor_open (actor, LL_ENDPOINT_TERRAFORM, true);
    if (error)
        return error;
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub || zsock_bind (self->pub, LL_ENDPOINT_OPERATIONS) != 0)
        return "cannot bind " LL_ENDPOINT_OPERATIONS;
    self->exporter = zsock_new_dealer (LL_ENDPOINT_EXPORTER);
    if (!self->exporter)
        return "cannot connect to " LL_ENDPOINT_EXPORTER;
    char fallback[PATH_MAX];
    snprintf (fallback, sizeof fallback, "terraform/%s", config->provider.kind);
    self->module_dir = tf_absolute (*config->provider.terraform_dir
                                        ? config->provider.terraform_dir
                                        : fallback);
    snprintf (fallback, sizeof fallback, "var/%s", config->provider.kind);
    self->work_dir = tf_absolute (
        *config->provider.work_dir ? config->provider.work_dir : fallback);
    if (*config->provider.ssh_key_file)
        self->key_file = tf_absolute (config->provider.ssh_key_file);
    else if (*config->export.key_file)
        //  The exporter's client key: VMs authorize exactly the key it uses
        self->key_file = tf_absolute (config->export.key_file);
    else
        self->key_file = tf_path_join (self->work_dir, "id_ed25519");
    char exe[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = '\0';
            self->exe_dir = strdup (exe);
        }
    }
    if (!tf_file_exists (self->module_dir))
        ll_warn ("terraform: module folder %s not found: operations will fail",
                 self->module_dir);
    if (tf_uses_aws (self) && !(self->aws = ll_aws_chain_new ()))
        return "cannot start libcurl for AWS credentials";
    return NULL;
}

//  Its own loop: the poll set changes with its work
static void
s_self_loop (void *arg)
{
    self_t *self = arg;
    zsock_t *pipe = self->actor.pipe;
    ll_actor_t *actor = &self->actor;
    zsock_signal (pipe, 0);
    while (!actor->terminated) {
        zmq_pollitem_t items[2];
        int n = 0;
        int out_index = -1, err_index = -1;
        op_t *op = self->op;
        if (op && tf_stream_fd (op, &op->out) >= 0) {
            out_index = n;
            items[n++] = (zmq_pollitem_t){NULL, tf_stream_fd (op, &op->out),
                                          ZMQ_POLLIN, 0};
        }
        if (op && tf_stream_fd (op, &op->err) >= 0) {
            err_index = n;
            items[n++] = (zmq_pollitem_t){NULL, tf_stream_fd (op, &op->err),
                                          ZMQ_POLLIN, 0};
        }
        ll_actor_poll (actor, items, n, op ? TF_TICK_MS : TF_IDLE_TICK_MS,
                       s_self_start, s_handlers, self);
        if (actor->terminated)
            break;
        //  the operation may have changed under the router's handling
        if (op && op == self->op) {
            if (out_index >= 0 && tf_stream_fd (op, &op->out) >= 0
                && (items[out_index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                tf_stream_read (self, op, &op->out);
            if (err_index >= 0 && tf_stream_fd (op, &op->err) >= 0
                && (items[err_index].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
                tf_stream_read (self, op, &op->err);
        }
        if (self->op)
            tf_op_tick (self);
        else if (actor->started && !self->swept)
            tf_sweep (self);
        else if (actor->started)
            ll_db_ensure (
                self->actor.db);  //  idle: reconnect in the background
    }
    tf_op_abort (self);
}

static const ll_actor_kind_t s_kind = {
    .name = "terraform",
    .size = sizeof (self_t),
    .fini = s_self_fini,
    .loop = s_self_loop,
};

void
terraform_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
