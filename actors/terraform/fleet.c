/*  The fleet rows after terraform (outputs stored, reconcile after a
    failure), the console's per-VM actions (reboot, replace with the
    student kept, move), and export-then-destroy with the exporter. */
#include "actors/terraform/internal.h"

//  --- console actions: reboot, replacement with the student kept --------

char *
tf_nth (zlist_t *list, int n)
{
    int i = 0;
    for (char *name = zlist_first (list); name; name = zlist_next (list), i++)
        if (i == n)
            return name;
    return NULL;
}

//  Wipe and free the text of terraform.runtime.tfvars (it holds tokens).
static void
s_tfvars_free (char **text_p)
{
    if (*text_p) {
        sodium_memzero (*text_p, strlen (*text_p));
        free (*text_p);
        *text_p = NULL;
    }
}

void
tf_reboot_continue (self_t *self, op_t *op)
{
    char *script = tf_path_join (self->module_dir, TF_REBOOT_SCRIPT);
    char *path = tf_path_join (self->work_dir, TF_TFVARS_JSON);
    char *tfvars = ll_file_read (path, 16 * 1024 * 1024, NULL);
    free (path);
    char *name;
    while ((name = tf_nth (op->names, op->done + op->failed_vms))) {
        const char *argv[] = {
            script, name, self->work_dir,
            self->actor.runtime->config->provider.terraform_bin, NULL};
        const char *values[] = {name};
        PGresult *res =
            ll_db_exec (self->actor.db, "vm_reboot_begin", 1, values);
        snprintf (op->before, sizeof op->before, "%s",
                  res && PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "");
        PQclear (res);
        char shown[TF_MAX_NAME + 64];
        snprintf (shown, sizeof shown, "%s %s", TF_REBOOT_SCRIPT, name);
        //  The VM's token, as at launch (terraform/local restarts its
        //  agent with it; it is never on a command line)
        char token[LL_TOKEN_MAX] = "", entry[LL_TOKEN_MAX + 16];
        if (tfvars)
            ll_tfvars_token_of (tfvars, name, token, sizeof token);
        snprintf (entry, sizeof entry, "API_TOKEN=%s", token);
        const char *env[] = {entry, NULL};
        int spawned = tf_op_spawn (self, op, STEP_REBOOT, argv, shown, env,
                                   tf_after_deadline (self));
        sodium_memzero (token, sizeof token);
        sodium_memzero (entry, sizeof entry);
        if (spawned == 0) {
            s_tfvars_free (&tfvars);
            free (script);
            return;
        }
        const char *undo[] = {name, op->before};
        tf_exec (self, "vm_reboot_undo", 2, undo);
        op->failed_vms++;
        tf_publish_progress (self, op);
    }
    s_tfvars_free (&tfvars);
    free (script);
    if (op->failed_vms) {
        char reason[96];
        snprintf (reason, sizeof reason, "%d of %d VM%s could not be rebooted",
                  op->failed_vms, op->total, op->total == 1 ? "" : "s");
        free (op->error);
        op->error = strdup (reason);
    }
    tf_op_end (self, op->failed_vms == 0);
}

//  What became of a student's CRD code on a new VM (replaced, moved):
//  delivered is the query's "t" when the new VM got it
static const char *
s_delivery (const char *delivered)
{
    return delivered[0] == 't' ? "their code is delivered to the new VM"
                               : "their code was used already: their page "
                                 "asks for a new CRD command";
}

//  Archive the VMs of the array names[0], then remove them from vms and
//  the fleet (in the caller's transaction): 0, or -1
static int
s_drop (self_t *self, const char *const *names)
{
    return tf_exec (self, "vms_archive", 1, names) == 0
                   && tf_exec (self, "vms_remove", 1, names) == 0
                   && tf_exec (self, "fleet_drop", 1, names) == 0
               ? 0
               : -1;
}

void
tf_redeliver (self_t *self, op_t *op)
{
    char *array = tf_pg_array (op->names);
    char id[24];
    snprintf (id, sizeof id, "%lld", (long long) op->id);
    const char *values[] = {array, id};
    PGresult *res = ll_db_exec (self->actor.db, "vm_redeliver", 2, values);
    if (!res)
        tf_say (self, op, "warning: cannot renew the students' deliveries: %s",
                ll_db_error (self->actor.db));
    for (int i = 0; res && i < PQntuples (res); i++)
        tf_say (self, op, "%s: its student stays assigned; %s",
                PQgetvalue (res, i, 0), s_delivery (PQgetvalue (res, i, 2)));
    PQclear (res);
    free (array);
}

int
tf_move_student (self_t *self, op_t *op)
{
    zlist_t *old = tf_names_new ();
    zlist_append (old, op->target);
    char *array = tf_pg_array (old);
    zlist_destroy (&old);
    const char *move[] = {op->target, op->moved_to};
    const char *names[] = {array};
    PGresult *res = NULL;
    int rc = -1;
    if (ll_db_command (self->actor.db, "BEGIN") == 0
        && (res = ll_db_exec (self->actor.db, "vm_move_assignment", 2, move))
        && s_drop (self, names) == 0
        && ll_db_command (self->actor.db, "COMMIT") == 0)
        rc = 0;
    else
        ll_db_command (self->actor.db, "ROLLBACK");
    if (rc == 0 && PQntuples (res) == 1) {
        tf_say (self, op, "the student of %s moved to %s; %s", op->target,
                op->moved_to, s_delivery (PQgetvalue (res, 0, 1)));
        const char *audit[] = {"terraform", "move-student", op->moved_to, "ok",
                               op->target};
        tf_exec (self, "tf_audit", 5, audit);
    }
    if (rc == 0)
        tf_say (self, op, "removed %s from the fleet", op->target);
    PQclear (res);
    free (array);
    return rc;
}

int
tf_drop_names (self_t *self, zlist_t *names)
{
    if (zlist_size (names) == 0)
        return 0;
    char *array = tf_pg_array (names);
    const char *values[] = {array};
    int rc = -1;
    if (ll_db_command (self->actor.db, "BEGIN") == 0
        && s_drop (self, values) == 0
        && ll_db_command (self->actor.db, "COMMIT") == 0)
        rc = 0;
    else
        ll_db_command (self->actor.db, "ROLLBACK");
    free (array);
    return rc;
}

int
tf_set_state (self_t *self, zlist_t *names, const char *state)
{
    if (zlist_size (names) == 0)
        return 0;
    char *array = tf_pg_array (names);
    const char *values[] = {array, state, NULL};
    int rc = tf_exec (self, "fleet_set_state", 3, values);
    free (array);
    return rc;
}

void
tf_store_outputs (self_t *self, op_t *op)
{
    ll_tf_vm_t *vms = NULL;
    size_t count = 0;
    char error[256];
    if (ll_tf_parse_outputs (ll_textbuf_text (&op->capture), op->capture.len,
                             &vms, &count, error, sizeof error)
        != 0) {
        tf_say (self, op, "warning: cannot read terraform's outputs: %s",
                error);
        return;
    }
    zhash_t *fleet = zhash_new ();
    PGresult *res = ll_db_exec (self->actor.db, "fleet_list", 0, NULL);
    for (int r = 0; res && r < PQntuples (res); r++)
        zhash_insert (fleet, PQgetvalue (res, r, 0), "");
    PQclear (res);
    int stored = 0;
    for (size_t i = 0; i < count; i++) {
        ll_tf_vm_t *vm = &vms[i];
        if (!ll_token_scope_valid (vm->name) || vm->name[0] == '_')
            continue;
        char seconds[32] = "", port[16] = "";
        if (vm->seconds >= 0)
            snprintf (seconds, sizeof seconds, "%.3f", vm->seconds);
        if (vm->ssh_port > 0)
            snprintf (port, sizeof port, "%d", vm->ssh_port);
        const char *values[] = {
            vm->name,
            ll_tf_parse_time (vm->start_time) >= 0 ? vm->start_time : NULL,
            ll_tf_parse_time (vm->end_time) >= 0 ? vm->end_time : NULL,
            *seconds ? seconds : NULL,
            vm->address,
            *port ? port : NULL};
        //  Only VMs of the fleet get rows
        if (!zhash_lookup (fleet, vm->name))
            continue;
        res = ll_db_exec (self->actor.db, "vm_terraform_times", 6, values);
        if (res && PQntuples (res) == 1) {
            stored++;
            //  A VM's apply time counts once, when terraform first gives it
            if (streq (PQgetvalue (res, 0, 0), "t"))
                ll_metrics_phase (self->actor.runtime->metrics,
                                  LL_PHASE_TERRAFORM, vm->seconds);
        }
        PQclear (res);
    }
    zhash_destroy (&fleet);
    tf_say (self, op, "recorded Terraform timings of %d VM%s", stored,
            stored == 1 ? "" : "s");
    ll_tf_vms_free (&vms, count);
}

void
tf_reconcile (self_t *self, op_t *op, bool state_known)
{
    zlist_t *keep = tf_names_new ();
    zlist_t *drop = tf_names_new ();
    for (char *name = zlist_first (op->names); name;
         name = zlist_next (op->names))
        if (!state_known
            || ll_tf_state_has_vm (ll_textbuf_text (&op->capture), name))
            zlist_append (keep, name);
        else
            zlist_append (drop, name);
    if (tf_set_state (self, keep, "active") != 0
        || tf_drop_names (self, drop) != 0)
        tf_say (self, op, "warning: cannot update the fleet: %s",
                ll_db_error (self->actor.db));
    else if (state_known)
        tf_say (self, op, "fleet: %zu kept, %zu removed (terraform's state)",
                zlist_size (keep), zlist_size (drop));
    else
        tf_say (self, op, "fleet: terraform's state unreadable, %zu kept",
                zlist_size (keep));
    zlist_destroy (&keep);
    zlist_destroy (&drop);
}

//  --- export, then destroy ------------------------------------------------


//  The export step failed: nothing is destroyed, the fleet stays.
static void
s_export_fail (self_t *self, op_t *op, const char *reason)
{
    if (op->export_fd >= 0)
        close (op->export_fd);
    op->export_fd = -1;
    if (op->export_path)
        unlink (op->export_path);  //  the data is still on the VMs
    tf_say (self, op, "%s: nothing destroyed", reason);
    tf_reconcile (self, op, false);
    tf_op_fail (self, reason);
}

void
tf_export_cancel (self_t *self, const char *id)
{
    ll_client_t exporter = ll_client_dealer (self->exporter);
    char *error = NULL;
    ll_ask_export_cancel (&exporter, id, &error);
    free (error);
}

void
tf_export_begin (self_t *self, op_t *op)
{
    const ll_config_t *config = self->actor.runtime->config;
    char *dir = tf_absolute (config->export.keep_dir);
    if (tf_mkdirs (dir, 0700) != 0) {
        tf_say (self, op, "cannot create %s: %s", dir, strerror (errno));
        free (dir);
        s_export_fail (self, op, "cannot create export.keep_dir");
        return;
    }
    ll_client_t exporter = ll_client_dealer (self->exporter);
    char *id = NULL, *name = NULL, *error = NULL;
    int rc =
        ll_ask_export_start (&exporter, "terraform", NULL, &id, &name, &error);
    if (rc != 0 && error && streq (error, LL_REASON_NO_VMS)) {
        tf_say (self, op, "no VM to export");
        op->step = STEP_MAIN;
        tf_op_terraform (self, op);
    }
    else if (!id || !name) {
        char reason[300];
        snprintf (reason, sizeof reason, "the export could not start: %s",
                  error && streq (error, LL_REASON_BUSY)
                      ? "another export is running"
                  : error ? error
                          : "no answer");
        s_export_fail (self, op, reason);
    }
    else {
        size_t n = strlen (dir) + strlen (name) + 8;
        op->export_path = malloc (n);
        snprintf (op->export_path, n, "%s/%s.part", dir, name);
        op->export_fd = open (op->export_path,
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        snprintf (op->export_id, sizeof op->export_id, "%s", id);
        if (op->export_fd < 0) {
            tf_say (self, op, "cannot write %s: %s", op->export_path,
                    strerror (errno));
            tf_export_cancel (self, id);
            s_export_fail (self, op, "cannot write the export");
        }
        else {
            op->step = STEP_EXPORT;
            op->export_next_ms = ll_now_ms ();
            tf_say (self, op, "exporting every VM's data to %s",
                    op->export_path);
        }
    }
    free (id);
    free (name);
    free (error);
    free (dir);
}

//  The zip is complete: check it against its manifest, keep it, destroy.
static void
s_export_done (self_t *self, op_t *op)
{
    bool synced = fsync (op->export_fd) == 0;
    close (op->export_fd);
    op->export_fd = -1;
    if (!synced) {
        s_export_fail (self, op, "the export could not be written to disk");
        return;
    }
    ll_export_check_t check;
    char error[400];
    if (ll_export_check (op->export_path, &check, error, sizeof error) != 0) {
        char reason[500];
        snprintf (reason, sizeof reason, "the export failed its check (%s)",
                  error);
        s_export_fail (self, op, reason);
        return;
    }
    if (check.failed_vms > 0) {
        char reason[200];
        snprintf (reason, sizeof reason,
                  "%d VM%s could not be exported (see MANIFEST.txt in %s)",
                  check.failed_vms, check.failed_vms == 1 ? "" : "s",
                  op->export_path);
        s_export_fail (self, op, reason);
        return;
    }
    //  name.part -> name
    char *final = strdup (op->export_path);
    final[strlen (final) - 5] = '\0';
    if (rename (op->export_path, final) != 0) {
        free (final);
        s_export_fail (self, op, "the export could not be kept");
        return;
    }
    const char *base = strrchr (final, '/') + 1;
    char bytes[24], files[16], op_id[24], host[256] = "";
    snprintf (bytes, sizeof bytes, "%llu",
              (unsigned long long) op->export_bytes);
    snprintf (files, sizeof files, "%d", check.files);
    snprintf (op_id, sizeof op_id, "%lld", (long long) op->id);
    gethostname (host, sizeof host - 1);
    const char *values[] = {base, bytes, files, host, op_id};
    if (tf_exec (self, "export_archive_add", 5, values) != 0) {
        free (final);
        s_export_fail (self, op, "the export could not be recorded");
        return;
    }
    tf_say (self, op,
            "kept %s: %d files, %llu bytes of data, %llu bytes in all; every "
            "file matches MANIFEST.txt",
            final, check.files, (unsigned long long) check.bytes,
            (unsigned long long) op->export_bytes);
    free (final);
    //  Only now do the VMs lose their credentials
    char *array = tf_pg_array (op->names);
    const char *revoke[] = {array};
    int revoked = tf_exec (self, "vm_tokens_revoke", 1, revoke);
    free (array);
    if (revoked != 0) {
        tf_reconcile (self, op, false);
        tf_op_fail (self, "database unavailable");
        return;
    }
    tf_op_terraform (self, op);
}

void
tf_export_step (self_t *self, op_t *op)
{
    ll_client_t exporter = ll_client_dealer (self->exporter);
    zmsg_t *reply = NULL;
    char *kind = NULL, *error = NULL;
    if (ll_ask_export_read (&exporter, op->export_id, &kind, &reply, &error)
        != 0) {
        char reason[300];
        snprintf (reason, sizeof reason, "the export failed: %s",
                  error ? error : "no answer");
        free (error);
        s_export_fail (self, op, reason);
        return;
    }
    if (kind && streq (kind, LL_EXPORT_DATA)) {
        zframe_t *data = zmsg_pop (reply);
        const unsigned char *p = data ? zframe_data (data) : NULL;
        size_t left = data ? zframe_size (data) : 0;
        bool ok = true;
        while (ok && left) {
            ssize_t w = write (op->export_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            ok = w > 0;
            if (ok) {
                p += w;
                left -= (size_t) w;
                op->export_bytes += (uint64_t) w;
            }
        }
        zframe_destroy (&data);
        if (!ok) {
            char reason[200];
            snprintf (reason, sizeof reason, "writing the export failed: %s",
                      strerror (errno));
            tf_export_cancel (self, op->export_id);
            s_export_fail (self, op, reason);
        }
        else if (op->export_bytes - op->export_said >= TF_EXPORT_SAY) {
            tf_say (self, op, "exported %llu MiB",
                    (unsigned long long) (op->export_bytes >> 20));
            op->export_said = op->export_bytes;
        }
        op->export_next_ms = ll_now_ms ();
    }
    else if (kind && streq (kind, LL_EXPORT_WAIT))
        op->export_next_ms = ll_now_ms () + TF_EXPORT_WAIT_MS;
    else if (kind && streq (kind, LL_EXPORT_END))
        s_export_done (self, op);
    else if (kind && streq (kind, LL_EXPORT_EMPTY)) {
        char *failed = zmsg_popstr (reply);
        long n = failed ? strtol (failed, NULL, 10) : -1;
        free (failed);
        close (op->export_fd);
        op->export_fd = -1;
        unlink (op->export_path);
        if (n == 0) {
            tf_say (self, op, "no VM has a %s file: nothing to keep",
                    self->actor.runtime->config->machine.extension);
            tf_op_terraform (self, op);
        }
        else {
            char reason[160];
            snprintf (reason, sizeof reason,
                      "%ld VM%s could not be read and none had a file", n,
                      n == 1 ? "" : "s");
            s_export_fail (self, op, reason);
        }
    }
    else
        s_export_fail (self, op, "the exporter's answer was not understood");
    free (kind);
    zmsg_destroy (&reply);
}
