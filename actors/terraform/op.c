/*  The terraform actor's operation: the advisory lock, its row, the agent
    tokens it mints, its steps (init, apply/destroy, output, state list)
    and their ends, and the running child's deadline (op_tick). */
#include "actors/terraform/internal.h"

//  --- small helpers ------------------------------------------------------

char *
tf_path_join (const char *a, const char *b)
{
    size_t n = strlen (a) + strlen (b) + 2;
    char *p = malloc (n);
    snprintf (p, n, "%s/%s", a, b);
    return p;
}

char *
tf_absolute (const char *path)
{
    if (path[0] == '/')
        return strdup (path);
    char cwd[PATH_MAX];
    if (!getcwd (cwd, sizeof cwd))
        return strdup (path);
    return tf_path_join (cwd, path);
}

int
tf_mkdirs (const char *path, mode_t mode)
{
    char *copy = strdup (path);
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir (copy, mode);
            *p = '/';
        }
    int rc = mkdir (copy, mode);
    free (copy);
    return rc == 0 || errno == EEXIST ? 0 : -1;
}

bool
tf_file_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

int
tf_write_file (const char *path, const char *text, mode_t mode)
{
    size_t n = strlen (path) + 8;
    char *tmp = malloc (n);
    snprintf (tmp, n, "%s.tmp", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen (text);
        ssize_t w = write (fd, text, len);
        rc = (w == (ssize_t) len && fchmod (fd, mode) == 0) ? 0 : -1;
        close (fd);
        if (rc == 0)
            rc = rename (tmp, path);
        if (rc != 0)
            unlink (tmp);
    }
    free (tmp);
    return rc;
}

char *
tf_pg_array (zlist_t *names)
{
    size_t n = 3;
    for (char *s = zlist_first (names); s; s = zlist_next (names))
        n += strlen (s) + 3;
    char *out = malloc (n);
    size_t len = 0;
    out[len++] = '{';
    for (char *s = zlist_first (names); s; s = zlist_next (names))
        len += (size_t) snprintf (out + len, n - len, "%s\"%s\"",
                                  len > 1 ? "," : "", s);
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

zlist_t *
tf_names_new (void)
{
    zlist_t *list = zlist_new ();
    zlist_autofree (list);
    zlist_comparefn (list, (zlist_compare_fn *) strcmp);  //  zlist_exists
    return list;
}

bool
tf_all_go (const op_t *op)
{
    return strcmp (op->kind, "destroy") == 0
           || strcmp (op->kind, "export-destroy") == 0;
}

//  --- database ---------------------------------------------------------

int
tf_exec (self_t *self, const char *name, int n, const char *const *values)
{
    PGresult *res = ll_db_exec (self->actor.db, name, n, values);
    PQclear (res);
    return res ? 0 : -1;
}

void
tf_release (self_t *self)
{
    if (self->locked && tf_exec (self, "tf_unlock", 0, NULL) != 0)
        ll_warn ("terraform: cannot release the advisory lock: %s",
                 ll_db_error (self->actor.db));
    self->locked = false;
}

int
tf_acquire (self_t *self, int64_t *busy)
{
    *busy = 0;
    if (ll_db_ensure (self->actor.db) != 0)
        return -1;
    PGresult *res = ll_db_exec (self->actor.db, "tf_lock_try", 0, NULL);
    if (!res)
        return -1;
    bool got = PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
    PQclear (res);
    if (!got) {
        res = ll_db_exec (self->actor.db, "op_active", 0, NULL);
        if (res && PQntuples (res) == 1)
            *busy = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
        PQclear (res);
        return TF_LOCK_BUSY;
    }
    self->locked = true;
    const char *reason[] = {TF_STALE_REASON};
    res = ll_db_exec (self->actor.db, "op_fail_stale", 1, reason);
    for (int i = 0; res && i < PQntuples (res); i++)
        ll_warn ("terraform: operation %s was left unfinished; marked failed",
                 PQgetvalue (res, i, 0));
    PQclear (res);
    if (tf_exec (self, "fleet_settle", 0, NULL) != 0) {
        tf_release (self);
        return -1;
    }
    return 0;
}

void
tf_sweep (self_t *self)
{
    int64_t busy;
    int rc = tf_acquire (self, &busy);
    if (rc == 0)
        tf_release (self);
    if (rc >= 0)
        self->swept = true;
}

//  --- operations: begin, steps, end -------------------------------------

//  --- agent tokens, minted per launch -------------------------------------

static void
s_token_free (void *item)
{
    char *token = item;
    sodium_memzero (token, strlen (token));
    free (token);
}

void
tf_tokens_destroy (zhash_t **tokens_p)
{
    zhash_destroy (tokens_p);  //  s_token_free wipes each token
}

int
tf_mint (self_t *self, zhash_t *tokens, const char *name)
{
    char token[LL_TOKEN_MAX], hash[LL_TOKEN_HASH_HEX];
    if (ll_token_mint (name, token, sizeof token) != 0)
        return -1;
    ll_token_hash (token, hash);
    const char *values[] = {name, hash};
    int rc = tf_exec (self, "vm_launch_token", 2, values);
    if (rc == 0) {
        zhash_update (tokens, name, strdup (token));
        zhash_freefn (tokens, name, s_token_free);
    }
    sodium_memzero (token, sizeof token);
    return rc;
}

op_t *
tf_op_new (int64_t id, const char *kind, const char *target)
{
    op_t *op = calloc (1, sizeof *op);
    op->started_ms = ll_now_ms ();
    op->id = id;
    snprintf (op->kind, sizeof op->kind, "%s", kind);
    op->target = target ? strdup (target) : NULL;
    op->names = tf_names_new ();
    op->out.which = TF_CHILD_OUT;
    op->err.which = TF_CHILD_ERR;
    op->export_fd = -1;
    op->flush_ms = ll_now_ms () + TF_FLUSH_MS;
    //  Every line this thread logs until the operation ends names it
    char text[24];
    snprintf (text, sizeof text, "%lld", (long long) id);
    ll_log_context_set ("operation_id", text);
    return op;
}

void
tf_op_destroy (op_t **op_p)
{
    op_t *op = *op_p;
    if (!op)
        return;
    tf_child_destroy (&op->child);
    zlist_destroy (&op->names);
    tf_tokens_destroy (&op->tokens);
    free (op->target);
    free (op->moved_to);
    if (op->export_fd >= 0)
        close (op->export_fd);
    free (op->export_path);
    ll_textbuf_free (&op->capture);
    ll_textbuf_free (&op->pending);
    free (op->error);
    free (op);
    *op_p = NULL;
    ll_log_context_set ("operation_id", NULL);
}

//  names are no longer withheld (vm_replaced): the fresh machines of a
//  replace, or a move's new VM once the move has ended.
static void
s_replaced (self_t *self, op_t *op, zlist_t *names)
{
    char *array = tf_pg_array (names);
    const char *values[] = {array};
    if (tf_exec (self, "vm_replaced", 1, values) != 0)
        tf_say (self, op, "warning: %s stay withheld: %s", array,
                ll_db_error (self->actor.db));
    free (array);
}

void
tf_op_end (self_t *self, bool ok)
{
    op_t *op = self->op;
    if (!ok && !op->error)
        op->error = strdup ("failed");
    //  A move's new VM was withheld until now (vm_withhold): it holds the
    //  old one's student, or it is free (or, failed, gone)
    if (op->moved_to) {
        zlist_t *moved = tf_names_new ();
        zlist_append (moved, op->moved_to);
        s_replaced (self, op, moved);
        zlist_destroy (&moved);
    }
    tf_say (self, op, "%s", ok ? "operation succeeded" : "operation failed");
    tf_flush (self, op);
    char id[24];
    snprintf (id, sizeof id, "%lld", (long long) op->id);
    const char *values[] = {id, ok ? "succeeded" : "failed",
                            ok ? NULL : op->error};
    if (tf_exec (self, "op_finish", 3, values) != 0)
        ll_error ("terraform: cannot record the end of operation %s: %s", id,
                  ll_db_error (self->actor.db));
    const char *audit[] = {"terraform", op->kind, op->target,
                           ok ? "ok" : "failed", ok ? NULL : op->error};
    tf_exec (self, "tf_audit", 5, audit);
    tf_publish (self, op, "status", ok ? "succeeded" : "failed",
                ok ? "" : op->error);
    ll_metrics_operation (self->actor.runtime->metrics, op->kind, ok,
                          (double) (ll_now_ms () - op->started_ms) / 1000.0);
    if (ok)
        ll_info ("terraform: operation %s (%s) succeeded", id, op->kind);
    else
        ll_warn ("terraform: operation %s (%s) failed: %s", id, op->kind,
                 op->error);
    tf_release (self);
    tf_op_destroy (&self->op);
}

void
tf_op_fail (self_t *self, const char *reason)
{
    op_t *op = self->op;
    if (!op->error)
        op->error = strdup (reason);
    tf_op_end (self, false);
}

static const char *
s_vm_type (self_t *self)
{
    return strcmp (self->actor.runtime->config->provider.kind, "aws") == 0
               ? "aws_instance"
               : "terraform_data";
}

static int
s_op_limit_s (self_t *self)
{
    int limit = self->actor.runtime->config->provider.operation_timeout_s;
    return limit > 0 ? limit : 1800;
}

//  The main command: apply or destroy.
static int
s_op_run_main (self_t *self, op_t *op)
{
    //  -json: progress is read from terraform's machine-readable events
    static const char *const tail[] = {"-json", "-auto-approve", "-input=false",
                                       "-no-color",
                                       ("-var-file=" TF_TFVARS_JSON)};
    const char *args[TF_ARGV_MAX];
    size_t n = 0;
    args[n++] = tf_all_go (op) ? "destroy" : "apply";
    for (size_t i = 0; i < 5; i++)
        args[n++] = tail[i];
    //  Another terraform on the same state (a person, an allocator on
    //  another database) is waited for a little, then the step fails
    char lock[48];
    int wait_s = s_op_limit_s (self) / 2;
    snprintf (lock, sizeof lock, "-lock-timeout=%ds",
              wait_s < TF_LOCK_WAIT_MAX_S ? wait_s : TF_LOCK_WAIT_MAX_S);
    args[n++] = lock;
    //  One -replace per VM being replaced (same names, new machines)
    zlist_t *replace = tf_names_new ();
    if (strcmp (op->kind, "replace-vm") == 0)
        for (char *name = zlist_first (op->names); name && n < TF_ARGV_MAX - 1;
             name = zlist_next (op->names)) {
            char arg[TF_MAX_NAME + 64];
            snprintf (arg, sizeof arg, "-replace=%s.vm[\"%s\"]",
                      s_vm_type (self), name);
            zlist_append (replace, arg);
            args[n++] = zlist_last (replace);
        }
    args[n] = NULL;
    int rc = tf_op_run (self, op, STEP_MAIN, args, op->op_deadline_ms);
    zlist_destroy (&replace);
    return rc;
}

int64_t
tf_after_deadline (self_t *self)
{
    int limit = s_op_limit_s (self) < TF_AFTER_MAX_S ? s_op_limit_s (self)
                                                     : TF_AFTER_MAX_S;
    return ll_now_ms () + (int64_t) limit * 1000;
}

//  Reconciliation after a failure: which names does terraform hold?
static int
s_op_run_state (self_t *self, op_t *op)
{
    static const char *const args[] = {"state", "list", NULL};
    return tf_op_run (self, op, STEP_STATE, args, tf_after_deadline (self));
}

static int
s_op_run_output (self_t *self, op_t *op)
{
    static const char *const args[] = {"output", "-json", "-no-color", NULL};
    return tf_op_run (self, op, STEP_OUTPUT, args, tf_after_deadline (self));
}

static bool
s_step_ok (op_t *op)
{
    return op->exited && WIFEXITED (op->status) && WEXITSTATUS (op->status) == 0
           && !op->timed_out;
}

//  The current step ended: decide the next.
static void
s_op_step_done (self_t *self)
{
    op_t *op = self->op;
    bool ok = s_step_ok (op);
    tf_child_destroy (&op->child);
    char reason[256];
    if (op->timed_out)
        snprintf (reason, sizeof reason, "terraform timed out after %d s",
                  s_op_limit_s (self));
    else if (op->exited && WIFSIGNALED (op->status))
        snprintf (reason, sizeof reason, "terraform killed by signal %d",
                  WTERMSIG (op->status));
    else
        snprintf (reason, sizeof reason, "terraform %s exited with status %d",
                  op->step == STEP_INIT     ? "init"
                  : op->step == STEP_OUTPUT ? "output"
                  : op->step == STEP_STATE  ? "state list"
                  : op->step == STEP_REBOOT ? TF_REBOOT_SCRIPT
                  : tf_all_go (op)          ? "destroy"
                                            : "apply",
                  op->exited && WIFEXITED (op->status)
                      ? WEXITSTATUS (op->status)
                      : -1);
    if (!ok)
        tf_say (self, op, "%s", reason);

    switch (op->step) {
        case STEP_INIT:
            if (ok) {
                char *marker = tf_path_join (self->work_dir, TF_INIT_MARKER);
                tf_write_file (marker, self->init_id, 0644);
                free (marker);
                if (s_op_run_main (self, op) == 0)
                    return;
            }
            else if (!op->error)
                op->error = strdup (reason);
            //  Nothing ran: the names of this operation go back
            tf_reconcile (self, op, false);
            if (strcmp (op->kind, "launch") == 0) {
                //  ...except that a launch's new names never reached
                //  terraform at all: forget them
                tf_drop_names (self, op->names);
            }
            tf_op_end (self, false);
            return;
        case STEP_MAIN:
            if (ok) {
                op->backup_failed = tf_backup_tfvars (self, op) != 0;
                if (tf_all_go (op) || strcmp (op->kind, "destroy-vm") == 0) {
                    zlist_t *gone = op->names;
                    if (tf_all_go (op)) {
                        //  Every row goes, also rows of names we never had
                        PGresult *res = ll_db_exec (self->actor.db,
                                                    "vms_hostnames", 0, NULL);
                        for (int i = 0; res && i < PQntuples (res); i++)
                            if (!zlist_exists (gone, PQgetvalue (res, i, 0)))
                                zlist_append (gone, PQgetvalue (res, i, 0));
                        PQclear (res);
                    }
                    if (tf_drop_names (self, gone) != 0) {
                        tf_op_fail (self, "cannot remove the VM rows");
                        return;
                    }
                    tf_say (self, op, "removed %zu VM%s from the fleet",
                            zlist_size (gone),
                            zlist_size (gone) == 1 ? "" : "s");
                    tf_op_end (self, !op->backup_failed);
                    return;
                }
                if (strcmp (op->kind, "replace-vm") == 0) {
                    //  Fresh machines: the releases waiting for them are
                    //  over (each one, also when several were replaced)
                    s_replaced (self, op, op->names);
                    tf_redeliver (self, op);
                }
                if (strcmp (op->kind, "move-vm") == 0
                    && tf_move_student (self, op) != 0) {
                    tf_say (self, op, "warning: cannot move the student: %s",
                            ll_db_error (self->actor.db));
                    tf_reconcile (self, op, false);
                    tf_op_fail (self, "cannot move the student to the new VM");
                    return;
                }
                if (s_op_run_output (self, op) == 0)
                    return;
                //  Could not even start: the VMs exist, keep them
                tf_set_state (self, op->names, "active");
                tf_op_end (self, !op->backup_failed);
                return;
            }
            if (!op->error)
                op->error = strdup (reason);
            if (s_op_run_state (self, op) == 0)
                return;
            tf_reconcile (self, op, false);
            tf_op_end (self, false);
            return;
        case STEP_OUTPUT:
            tf_set_state (self, op->names, "active");
            if (ok)
                tf_store_outputs (self, op);
            tf_op_end (self, !op->backup_failed);
            return;
        case STEP_STATE:
            tf_reconcile (self, op, ok);
            tf_op_end (self, false);
            return;
        case STEP_EXPORT:
            return;  //  no child runs while exporting
        case STEP_REBOOT: {
            const char *name = tf_nth (op->names, op->done + op->failed_vms);
            const char *values[] = {name};
            const char *undo[] = {name, op->before};
            if (ok && tf_exec (self, "vm_reboot_mark", 1, values) == 0) {
                op->done++;
                tf_say (self, op, "%s: reboot initiated", name);
            }
            else {
                tf_exec (self, "vm_reboot_undo", 2, undo);
                op->failed_vms++;
                tf_say (self, op, "%s: not rebooted: %s", name,
                        ok ? ll_db_error (self->actor.db) : reason);
            }
            tf_publish_progress (self, op);
            tf_reboot_continue (self, op);
            return;
        }
    }
}

void
tf_op_begin (self_t *self)
{
    op_t *op = self->op;
    op->op_deadline_ms = ll_now_ms () + (int64_t) s_op_limit_s (self) * 1000;
    tf_publish (self, op, "status", "running", "");
    tf_publish_progress (self, op);
    if (strcmp (op->kind, "reboot-vm") == 0) {
        //  No terraform: the provider's script restarts each VM
        char *script = tf_path_join (self->module_dir, TF_REBOOT_SCRIPT);
        bool found = access (script, X_OK) == 0;
        free (script);
        if (!found) {
            tf_say (self, op, "%s has no executable %s", self->module_dir,
                    TF_REBOOT_SCRIPT);
            tf_op_fail (self, "this provider cannot reboot a VM");
            return;
        }
        tf_reboot_continue (self, op);
        return;
    }
    if (strcmp (op->kind, "export-destroy") == 0) {
        tf_export_begin (self, op);  //  terraform runs once the zip is sound
        return;
    }
    tf_op_terraform (self, op);
}

//  The working directory could not be prepared: the operation fails, a
//  launch's names are dropped.
static void
s_op_unprepared (self_t *self, op_t *op)
{
    tf_reconcile (self, op, false);
    if (strcmp (op->kind, "launch") == 0)
        tf_drop_names (self, op->names);
    tf_op_fail (self, "cannot prepare the terraform working directory");
}

void
tf_op_terraform (self_t *self, op_t *op)
{
    char *public_key = NULL;
    if (tf_mkdirs (self->work_dir, 0700) != 0) {
        tf_say (self, op, "cannot create %s: %s", self->work_dir,
                strerror (errno));
        tf_reconcile (self, op, false);
        tf_op_fail (self, "cannot create the working directory");
        return;
    }
    if (tf_ensure_key (self, op, &public_key) != 0
        || tf_write_tfvars (self, op, public_key) != 0
        || tf_link_module (self) != 0) {
        free (public_key);
        tf_say (self, op, "cannot prepare %s (module %s)", self->work_dir,
                self->module_dir);
        s_op_unprepared (self, op);
        return;
    }
    free (public_key);
    char *backend = NULL;
    if (tf_write_backend (self, &backend) != 0) {
        tf_say (self, op, "cannot write the state backend's settings in %s",
                self->work_dir);
        s_op_unprepared (self, op);
        return;
    }
    free (self->init_id);
    size_t n = strlen (self->module_dir) + strlen (backend) + 2;
    self->init_id = malloc (n);
    snprintf (self->init_id, n, "%s\n%s", self->module_dir, backend);
    free (backend);
    char *marker = tf_path_join (self->work_dir, TF_INIT_MARKER);
    char *initialised = ll_file_read (marker, 64 * 1024, NULL);
    free (marker);
    bool need_init = !initialised || strcmp (initialised, self->init_id) != 0;
    free (initialised);
    int rc;
    if (need_init) {
        //  A changed backend takes the state with it (local -> s3 on an
        //  upgrade); a fresh directory has nothing to move
        const char *args[8] = {"init",           "-input=false", "-no-color",
                               "-migrate-state", "-force-copy",  NULL};
        char config_arg[PATH_MAX + 32], extra_arg[PATH_MAX + 32];
        const ll_config_t *config = self->actor.runtime->config;
        size_t a = 5;
        if (strcmp (ll_config_state_backend (config), "s3") == 0) {
            snprintf (config_arg, sizeof config_arg, "-backend-config=%s",
                      TF_BACKEND_CONFIG);
            args[a++] = config_arg;
            if (*config->provider.state_backend_config) {
                char *extra =
                    tf_absolute (config->provider.state_backend_config);
                snprintf (extra_arg, sizeof extra_arg, "-backend-config=%s",
                          extra);
                free (extra);
                args[a++] = extra_arg;
            }
        }
        args[a] = NULL;
        rc = tf_op_run (self, op, STEP_INIT, args, op->op_deadline_ms);
    }
    else
        rc = s_op_run_main (self, op);
    if (rc != 0) {
        op->exited = true;
        op->status = 127 << 8;
        s_op_step_done (self);
    }
}

int
tf_op_create (self_t *self,
              ll_request_t *req,
              const char *kind,
              int requested,
              int total,
              const char *who,
              const char *target,
              int64_t *id)
{
    char req_text[16], total_text[16];
    snprintf (req_text, sizeof req_text, "%d", requested);
    snprintf (total_text, sizeof total_text, "%d", total);
    const char *values[] = {kind, req_text, total_text, who, target};
    PGresult *res = ll_db_exec (self->actor.db, "op_insert", 5, values);
    if (!res || PQntuples (res) != 1) {
        PQclear (res);
        return -1;
    }
    *id = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    PQclear (res);
    return 0;
}

//  --- the running child: reap, time out, drain ------------------------------

void
tf_op_tick (self_t *self)
{
    op_t *op = self->op;
    if (!op)
        return;
    int64_t now = ll_now_ms ();
    if (op->step == STEP_EXPORT && !op->child) {
        if (now >= op->export_next_ms)
            tf_export_step (self, op);
        if (self->op == op && now >= op->flush_ms)
            tf_flush (self, op);
        return;
    }
    tf_child_t *child = op->child;
    if (child && !op->exited && tf_child_reap (child, now)) {
        op->exited = true;
        op->status = tf_child_status (child);
    }
    if (child && !op->exited) {
        if (!tf_child_terminated (child) && now >= op->deadline_ms) {
            op->timed_out = true;
            tf_say (self, op, "timed out: stopping terraform (SIGTERM)");
            tf_child_terminate (child, SIGTERM, TF_KILL_GRACE_MS, now);
        }
        else if (tf_child_escalate (child, now))
            tf_say (self, op, "still running: SIGKILL");
    }
    if (child && op->exited
        && ((tf_stream_fd (op, &op->out) < 0 && tf_stream_fd (op, &op->err) < 0)
            || now - tf_child_exited_ms (child) >= TF_DRAIN_MS)) {
        //  Whatever a left-over grandchild still writes is not ours
        if (op->out.len && !op->out.capture)
            tf_stream_line (self, op, &op->out);
        if (op->err.len)
            tf_stream_line (self, op, &op->err);
        tf_child_close (child, TF_CHILD_OUT);
        tf_child_close (child, TF_CHILD_ERR);
        s_op_step_done (self);
        return;
    }
    if (now >= op->flush_ms)
        tf_flush (self, op);
}

void
tf_op_abort (self_t *self)
{
    op_t *op = self->op;
    if (!op)
        return;
    if (op->step == STEP_EXPORT && op->export_fd >= 0) {
        tf_export_cancel (self, op->export_id);
    }
    if (op->child)
        tf_child_stop_wait (op->child, SIGINT, TF_STOP_GRACE_MS);
    tf_say (self, op, "%s", TF_SHUTDOWN_REASON);
    free (op->error);
    op->error = strdup (TF_SHUTDOWN_REASON);
    tf_op_end (self, false);
}
