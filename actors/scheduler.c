#include "actors/scheduler.h"
#include "runtime/actor.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/release.h"
#include "runtime/schedule.h"

#include <jansson.h>
#include <time.h>

#define S_TICK_MS     1000  //  schedules, leadership
#define S_RULES_MS    5000  //  idle, budget, recovery
#define S_MAX_ARG     512   //  longest argument frame accepted
#define S_BUDGET_WARN 0.8   //  the dashboard warns from here
#define S_CONFIG_NAME "config: schedule.destroy_at"

typedef struct {
    ll_actor_t actor;    //  pipe, ROUTER LL_ENDPOINT_SCHEDULER, database
    zsock_t *terraform;  //  DEALER to LL_ENDPOINT_TERRAFORM
    zsock_t *assigner;   //  DEALER to LL_ENDPOINT_ASSIGNER
    bool leader;         //  we hold the lock: we act
    bool config_done;    //  schedule.destroy_at written on this session
    int64_t rules_ms;    //  when idle/budget/recovery run next
} self_t;

static void
s_self_fini (void *arg)
{
    self_t *self = arg;
    zsock_destroy (&self->terraform);
    zsock_destroy (&self->assigner);
}

static const char *
s_self_start (void *arg)
{
    self_t *self = arg;
    self->terraform = zsock_new_dealer (LL_ENDPOINT_TERRAFORM);
    self->assigner = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    if (!self->terraform || !self->assigner)
        return "cannot connect to the terraform and assigner actors";
    self->rules_ms = ll_now_ms () + S_RULES_MS;
    return NULL;
}

//  --- helpers ----------------------------------------------------------------

//  An audit row of the automatic actions (actor 'auto').
static void
s_audit (self_t *self,
         const char *action,
         const char *target,
         const char *outcome,
         const char *detail)
{
    const char *values[] = {"auto", action, target, outcome, detail};
    PQclear (ll_db_exec (self->actor.db, "admin_audit_add", 5, values));
}

//  The answer of the terraform actor to an operation's request (rc, id and
//  error taken): its id, 0 when another one runs (try again later), -1 on
//  any other refusal (reason logged).
static int64_t
s_operation_id (const char *command, int rc, char *text, char *error)
{
    int64_t id = -1;
    if (rc == 0)
        id = strtoll (text, NULL, 10);
    else if (error && strncmp (error, LL_REASON_BUSY, 4) == 0)
        id = 0;
    else
        ll_warn ("scheduler: %s refused: %s", command,
                 error ? error : "no answer");
    free (text);
    free (error);
    return id;
}

//  DESTROY or EXPORT-DESTROY for who.
static int64_t
s_operation_all (self_t *self, const char *command, const char *who)
{
    ll_client_t terraform = ll_client_dealer (self->terraform);
    char *id = NULL, *error = NULL;
    int rc = streq (command, LL_CMD_EXPORT_DESTROY)
                 ? ll_ask_export_destroy (&terraform, who, &id, &error)
                 : ll_ask_destroy (&terraform, who, &id, &error);
    return s_operation_id (command, rc, id, error);
}

//  REPLACE-VM or REBOOT-VM of the hostnames in the first column of hosts.
static int64_t
s_operation_on (self_t *self,
                const char *command,
                PGresult *hosts,
                const char *who)
{
    int n = PQntuples (hosts);
    if (n > LL_BULK_MAX)
        n = LL_BULK_MAX;  //  the rest next time
    const char **names = calloc ((size_t) n + 1, sizeof *names);
    for (int i = 0; i < n; i++)
        names[i] = PQgetvalue (hosts, i, 0);
    ll_client_t terraform = ll_client_dealer (self->terraform);
    char *id = NULL, *error = NULL;
    int rc = ll_ask_vm_operation (&terraform, command, names, who, &id, &error);
    free (names);
    return s_operation_id (command, rc, id, error);
}

//  Release an idle VM (as auto:idle) if it still is (its student may have
//  come back since idle_release_candidates read it); one released under
//  claim.on_release: destroy is replaced (it stays out of the pool until
//  then; a busy terraform: the admin sees it). 0 when released.
static int
s_release_idle (self_t *self, const char *host)
{
    const char *names[] = {host, NULL};
    ll_client_t assigner = ll_client_dealer (self->assigner);
    ll_client_t terraform = ll_client_dealer (self->terraform);
    ll_release_t release;
    ll_release_vms (&release, &assigner, &terraform, names, "auto:idle",
                    self->actor.runtime->config->idle.release_after_s);
    int rc = release.vms[0].rc;
    if (release.replaced > 0 && !release.operation_id) {
        s_operation_id (LL_CMD_REPLACE_VM, -1, NULL, release.operation_error);
        release.operation_error = NULL;  //  freed there
    }
    ll_release_free (&release);
    return rc;
}

//  --- schedules ----------------------------------------------------------------

//  schedule.destroy_at, once per database session.
static void
s_config_schedule (self_t *self)
{
    const ll_config_t *config = self->actor.runtime->config;
    self->config_done = true;
    int64_t at;
    if (!*config->schedule.destroy_at) {
        PGresult *res =
            ll_db_exec (self->actor.db, "sched_config_clear", 0, NULL);
        if (!res)
            self->config_done = false;
        else if (PQntuples (res) > 0)
            ll_info ("scheduler: schedule.destroy_at is no longer set: its "
                     "teardown is cancelled");
        PQclear (res);
        return;
    }
    if (ll_time_parse_iso (config->schedule.destroy_at, true, &at) != 0)
        return;
    char epoch[24];
    snprintf (epoch, sizeof epoch, "%lld", (long long) at);
    const char *values[] = {
        epoch, config->schedule.export_before_destroy ? "true" : "false"};
    PGresult *res = ll_db_exec (self->actor.db, "sched_config", 2, values);
    if (!res)
        self->config_done = false;  //  try again
    else if (PQntuples (res) == 1)
        ll_info ("scheduler: teardown scheduled for %s (schedule.destroy_at)",
                 config->schedule.destroy_at);
    else if (at <= (int64_t) time (NULL))
        ll_warn ("scheduler: schedule.destroy_at %s is past: nothing "
                 "scheduled",
                 config->schedule.destroy_at);
    PQclear (res);
}

//  Record schedules whose operation ended; a recurrence is scheduled again.
static void
s_schedules_ended (self_t *self)
{
    PGresult *res = ll_db_exec (self->actor.db, "sched_ended", 0, NULL);
    for (int i = 0; res && i < PQntuples (res); i++) {
        const char *id = PQgetvalue (res, i, 0);
        const char *name = PQgetvalue (res, i, 1);
        bool ok = streq (PQgetvalue (res, i, 2), "succeeded");
        const char *error = PQgetvalue (res, i, 3);
        const char *rule_text = PQgetvalue (res, i, 4);
        int64_t first = strtoll (PQgetvalue (res, i, 5), NULL, 10);
        char result[600], next[24] = "";
        snprintf (result, sizeof result, "operation %s %s%s%s",
                  PQgetvalue (res, i, 6), ok ? "succeeded" : "failed",
                  ok ? "" : ": ", ok ? "" : error);
        ll_rrule_t rule;
        if (*rule_text && ll_rrule_parse (rule_text, &rule, NULL, 0) == 0)
            snprintf (next, sizeof next, "%lld",
                      (long long) ll_rrule_next (&rule, first,
                                                 (int64_t) time (NULL)));
        const char *values[] = {id,
                                *next ? "scheduled"
                                : ok  ? "completed"
                                      : "failed",
                                result, next};
        PQclear (ll_db_exec (self->actor.db, "sched_finish", 4, values));
        ll_info ("scheduler: schedule %s (%s): %s", id, name, result);
        s_audit (self, "schedule-destroy", name, ok ? "ok" : "failed", result);
    }
    PQclear (res);
}

//  Start the next due schedule (one per tick).
static void
s_schedules_due (self_t *self)
{
    PGresult *res = ll_db_exec (self->actor.db, "sched_claim_due", 0, NULL);
    if (!res || PQntuples (res) != 1) {
        PQclear (res);
        return;
    }
    const char *id = PQgetvalue (res, 0, 0);
    const char *name = PQgetvalue (res, 0, 1);
    bool export_first = streq (PQgetvalue (res, 0, 2), "t");
    char who[300];
    snprintf (who, sizeof who, "schedule:%s", name);
    int64_t op = s_operation_all (
        self, export_first ? LL_CMD_EXPORT_DESTROY : LL_CMD_DESTROY, who);
    if (op > 0) {
        char op_text[24];
        snprintf (op_text, sizeof op_text, "%lld", (long long) op);
        const char *values[] = {id, op_text};
        PQclear (ll_db_exec (self->actor.db, "sched_started", 2, values));
        char detail[64];
        snprintf (detail, sizeof detail, "operation %s", op_text);
        s_audit (self,
                 export_first ? "schedule-export-destroy" : "schedule-destroy",
                 name, "started", detail);
        ll_info ("scheduler: schedule %s (%s) started operation %s", id, name,
                 op_text);
    }
    else if (op < 0) {
        //  Not a busy actor: record the failure (a recurrence goes on)
        const char *values[] = {id, "failed",
                                "the teardown could not be started", ""};
        PQclear (ll_db_exec (self->actor.db, "sched_finish", 4, values));
        s_audit (self, "schedule-destroy", name, "failed",
                 "the teardown could not be started");
    }
    //  busy: it stays executing without an operation and is retried
    PQclear (res);
}

//  --- idle, budget, recovery ---------------------------------------------------

//  The budget as the database sees it now; -1 when it cannot be read.
static int
s_budget (self_t *self, ll_class_budget_t *budget)
{
    const ll_config_t *config = self->actor.runtime->config;
    memset (budget, 0, sizeof *budget);
    budget->hourly_usd = config->machine.hourly_usd;
    budget->max_vm_hours = config->budget.max_vm_hours;
    budget->max_usd = config->budget.max_usd;
    PGresult *res = ll_db_exec (self->actor.db, "budget_usage", 0, NULL);
    if (!res || PQntuples (res) != 1) {
        PQclear (res);
        return -1;
    }
    budget->vm_hours = strtod (PQgetvalue (res, 0, 0), NULL);
    budget->vms = (int) strtol (PQgetvalue (res, 0, 1), NULL, 10);
    PQclear (res);
    return 0;
}

static void
s_destroy_fleet (self_t *self, const char *action, const char *why)
{
    int64_t op = s_operation_all (self, LL_CMD_DESTROY, "auto");
    if (op > 0) {
        char detail[300];
        snprintf (detail, sizeof detail, "%s; operation %lld", why,
                  (long long) op);
        s_audit (self, action, NULL, "started", detail);
        ll_warn ("scheduler: destroying the fleet: %s", why);
    }
}

//  A recovery rule: command (REPLACE-VM, REBOOT-VM) on the candidates of
//  statement, each audited as action with why and the operation. Its id
//  (0 when another one runs), or -1 when there were none or it failed.
static int64_t
s_recover (self_t *self,
           const char *statement,
           const char **values,
           const char *command,
           const char *action,
           const char *why)
{
    PGresult *res = ll_db_exec (self->actor.db, statement, 2, values);
    int64_t op = -1;
    if (res && PQntuples (res) > 0) {
        op = s_operation_on (self, command, res, "auto");
        for (int i = 0; op > 0 && i < PQntuples (res); i++) {
            char detail[96];
            snprintf (detail, sizeof detail, "%s; operation %lld", why,
                      (long long) op);
            s_audit (self, action, PQgetvalue (res, i, 0), "started", detail);
        }
    }
    PQclear (res);
    return op;
}

static void
s_rules (self_t *self)
{
    const ll_config_t *config = self->actor.runtime->config;
    char number[24], stale[16];
    ll_actor_stale (&self->actor, stale);
    //  budget: at 100 % the fleet goes when asked to
    ll_class_budget_t budget;
    if (config->budget.destroy_at_limit && s_budget (self, &budget) == 0
        && budget.vms > 0 && ll_class_budget_used (&budget) >= 1.0) {
        char why[128];
        snprintf (why, sizeof why,
                  "the budget is used up (%.1f VM-hours, %.0f %%)",
                  budget.vm_hours, ll_class_budget_used (&budget) * 100.0);
        s_destroy_fleet (self, "budget-destroy", why);
        return;
    }
    //  a fleet nobody used
    if (config->idle.stop_fleet_after_s > 0) {
        snprintf (number, sizeof number, "%d", config->idle.stop_fleet_after_s);
        const char *values[] = {number};
        PGresult *res = ll_db_exec (self->actor.db, "idle_fleet", 1, values);
        bool idle = res && PQntuples (res) == 1
                    && strtol (PQgetvalue (res, 0, 0), NULL, 10) > 0;
        PQclear (res);
        if (idle) {
            char why[128];
            snprintf (why, sizeof why, "nobody used the fleet for %d s",
                      config->idle.stop_fleet_after_s);
            s_destroy_fleet (self, "idle-stop-fleet", why);
            return;
        }
    }
    //  VMs held but not used
    if (config->idle.release_after_s > 0) {
        snprintf (number, sizeof number, "%d", config->idle.release_after_s);
        const char *values[] = {number};
        PGresult *res =
            ll_db_exec (self->actor.db, "idle_release_candidates", 1, values);
        for (int i = 0; res && i < PQntuples (res); i++) {
            if (s_release_idle (self, PQgetvalue (res, i, 0)) == 0) {
                char detail[64];
                snprintf (detail, sizeof detail, "not in use for %s s", number);
                s_audit (self, "idle-release", PQgetvalue (res, i, 0), "ok",
                         detail);
            }
        }
        PQclear (res);
    }
    //  VMs silent or Unhealthy that long: new machines, same names
    if (config->recovery.replace_after_s > 0) {
        snprintf (number, sizeof number, "%d",
                  config->recovery.replace_after_s);
        const char *values[] = {number, stale};
        char why[64];
        snprintf (why, sizeof why, "silent or Unhealthy for %s s", number);
        if (s_recover (self, "recovery_replace_candidates", values,
                       LL_CMD_REPLACE_VM, "auto-replace", why)
            != -1)
            return;  //  one operation at a time
    }
    //  CRD never came up after delivery: reboot (a few times at most)
    if (config->recovery.reboot_unconnected_after_s > 0) {
        snprintf (number, sizeof number, "%d",
                  config->recovery.reboot_unconnected_after_s);
        char max[16];
        snprintf (max, sizeof max, "%d", config->recovery.max_reboots);
        const char *values[] = {number, max};
        char why[64];
        snprintf (why, sizeof why, "CRD not connected %s s after delivery",
                  number);
        s_recover (self, "recovery_reboot_candidates", values, LL_CMD_REBOOT_VM,
                   "auto-reboot", why);
    }
}

//  One tick: lead if we can, then act.
static void
s_tick (void *arg)
{
    self_t *self = arg;
    if (ll_db_ensure (self->actor.db) != 0) {
        self->leader = false;
        self->config_done = false;
        return;
    }
    if (!ll_db_connected (self->actor.db))
        return;
    if (!self->leader) {
        PGresult *res = ll_db_exec (self->actor.db, "sched_lead_try", 0, NULL);
        self->leader =
            res && PQntuples (res) == 1 && PQgetvalue (res, 0, 0)[0] == 't';
        PQclear (res);
        if (!self->leader)
            return;
        ll_info ("scheduler: this allocator runs the schedules and rules");
        self->config_done = false;
    }
    if (!self->config_done)
        s_config_schedule (self);
    s_schedules_ended (self);
    s_schedules_due (self);
    if (ll_now_ms () >= self->rules_ms) {
        s_rules (self);
        self->rules_ms = ll_now_ms () + S_RULES_MS;
    }
    //  A broken connection lost the lock with it
    if (!ll_db_connected (self->actor.db))
        self->leader = false;
}

//  --- requests -------------------------------------------------------------------

//  Take the request's n arguments into a (new strings): 0, or -1 when they
//  do not fit or one is longer than S_MAX_ARG (answered).
static int
s_args (ll_request_t *req, char **a, int n)
{
    if (ll_request_take (req, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6])
        != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (strlen (a[i]) > S_MAX_ARG) {
            ll_request_fail (req, LL_REASON_TOO_LONG);
            return -1;
        }
    return 0;
}

static void
s_args_free (char **a)
{
    for (int i = 0; i < 7; i++)
        free (a[i]);
}

//  SCHEDULE-ADD name epoch rule who notify hours export
static void
s_handle_add (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *a[7] = {NULL};
    if (s_args (req, a, 7) != 0)
        goto done;
    const char *values[] = {a[0],
                            a[1],
                            a[2],
                            a[3],
                            streq (a[4], "1") ? "true" : "false",
                            *a[5] ? a[5] : "1",
                            streq (a[6], "1") ? "true" : "false"};
    PGresult *res = ll_db_exec (self->actor.db, "sched_add", 7, values);
    if (ll_actor_rows (&self->actor, req, res, NULL,
                       LL_REASON_DUPLICATE_NAME)) {
        ll_request_answer (req, PQgetvalue (res, 0, 0));
        ll_info ("scheduler: schedule %s (%s) added by %s",
                 PQgetvalue (res, 0, 0), a[0], a[3]);
    }
    PQclear (res);
done:
    s_args_free (a);
}

//  The schedules of status st (id "0": the array) or the schedule id (the
//  object, ERROR "not found").
static void
s_answer_json (self_t *self, ll_request_t *req, const char *id, const char *st)
{
    const char *values[] = {id, st};
    PGresult *res = ll_db_exec (self->actor.db, "sched_json", 2, values);
    if (!res || PQntuples (res) != 1)
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    else if (!streq (id, "0")) {
        //  One schedule: the object, not the array
        json_t *list = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
        json_t *one = json_array_get (list, 0);
        char *text = one ? json_dumps (one, JSON_COMPACT) : NULL;
        if (text)
            ll_request_answer (req, text);
        else
            ll_request_fail (req, LL_REASON_NOT_FOUND);
        free (text);
        json_decref (list);
    }
    else
        ll_request_answer (req, PQgetvalue (res, 0, 0));
    PQclear (res);
}

static void
s_handle_list (void *self, ll_request_t *req)
{
    char *a[7] = {NULL};
    if (s_args (req, a, 1) == 0)
        s_answer_json (self, req, "0", a[0]);
    s_args_free (a);
}

static void
s_handle_get (void *self, ll_request_t *req)
{
    char *a[7] = {NULL};
    if (s_args (req, a, 1) == 0)
        s_answer_json (self, req, *a[0] ? a[0] : "-1", "");
    s_args_free (a);
}

static void
s_handle_cancel (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    char *a[7] = {NULL};
    if (s_args (req, a, 1) != 0) {
        s_args_free (a);
        return;
    }
    const char *values[] = {a[0]};
    PGresult *res = ll_db_exec (self->actor.db, "sched_status", 1, values);
    if (ll_actor_rows (&self->actor, req, res, NULL, LL_REASON_NOT_FOUND)) {
        char status[64];
        snprintf (status, sizeof status, "%s", PQgetvalue (res, 0, 0));
        PQclear (res);
        res = ll_db_exec (self->actor.db, "sched_cancel", 1, values);
        if (!res)
            ll_request_fail (req, ll_actor_db_reason (&self->actor));
        else if (PQntuples (res) == 0) {
            char reason[96];
            snprintf (reason, sizeof reason, LL_REASON_STATUS " %s", status);
            ll_request_fail (req, reason);
        }
        else
            ll_request_answer (req);
    }
    PQclear (res);
    s_args_free (a);
}

static void
s_handle_class_end (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    if (ll_request_take (req) != 0)
        return;
    PGresult *res = ll_db_exec (self->actor.db, "sched_next", 0, NULL);
    if (!res)
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
    else
        ll_request_answer (req,
                           PQntuples (res) == 1 ? PQgetvalue (res, 0, 2) : "");
    PQclear (res);
}

//  The dashboard's figures as one JSON object (runtime/protocol.h).
static void
s_handle_dashboard (void *arg, ll_request_t *req)
{
    self_t *self = arg;
    const ll_config_t *config = self->actor.runtime->config;
    char stale[16];
    ll_actor_stale (&self->actor, stale);
    const char *sv[] = {stale};
    static const char *const states[] = {"starting",   "free",      "assigned",
                                         "connecting", "connected", "in_use",
                                         "unhealthy",  "stale",     "error"};
    PGresult *counts = ll_db_exec (self->actor.db, "dash_counts", 1, sv);
    PGresult *attention =
        counts ? ll_db_exec (self->actor.db, "dash_attention", 1, sv) : NULL;
    PGresult *op = attention
                       ? ll_db_exec (self->actor.db, "dash_operation", 0, NULL)
                       : NULL;
    PGresult *next =
        op ? ll_db_exec (self->actor.db, "sched_next", 0, NULL) : NULL;
    PGresult *autos =
        next ? ll_db_exec (self->actor.db, "dash_auto", 0, NULL) : NULL;
    ll_class_budget_t budget;
    if (!autos || s_budget (self, &budget) != 0) {
        ll_request_fail (req, ll_actor_db_reason (&self->actor));
        goto done;
    }
    json_t *c = json_object ();
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        json_object_set_new (c, states[i], json_integer (0));
    long total = 0;
    for (int i = 0; i < PQntuples (counts); i++) {
        long n = strtol (PQgetvalue (counts, i, 1), NULL, 10);
        json_object_set_new (c, PQgetvalue (counts, i, 0), json_integer (n));
        total += n;
    }
    json_t *d = json_pack ("{s:o, s:i}", "counts", c, "total", (int) total);
    json_t *list = json_array ();
    for (int i = 0; i < PQntuples (attention); i++) {
        const char *state = PQgetvalue (attention, i, 1);
        const char *error = PQgetvalue (attention, i, 2);
        const char *note = PQgetvalue (attention, i, 3);
        const char *disk = PQgetvalue (attention, i, 4);
        char reason[400];
        if (streq (state, "error") || streq (state, "stale")
            || streq (state, "unhealthy"))
            snprintf (reason, sizeof reason, "%s",
                      streq (state, "error")   ? "the VM reports an error"
                      : streq (state, "stale") ? "no report for a while"
                                               : "its GPU is Unhealthy");
        else if (streq (PQgetvalue (attention, i, 5), "false"))
            snprintf (reason, sizeof reason, "start-host failed: %s",
                      *error ? error : "no reason given");
        else if (*note)
            snprintf (reason, sizeof reason, "%s", note);
        else
            snprintf (reason, sizeof reason, "disk %s %% free", disk);
        json_array_append_new (list,
                               json_pack ("{s:s, s:s, s:s}", "hostname",
                                          PQgetvalue (attention, i, 0), "state",
                                          state, "reason", reason));
    }
    json_object_set_new (d, "attention", list);
    if (PQntuples (op) == 1)
        json_object_set_new (
            d, "operation",
            json_pack ("{s:I, s:s, s:s, s:i, s:i, s:s}", "id",
                       (json_int_t) strtoll (PQgetvalue (op, 0, 0), NULL, 10),
                       "kind", PQgetvalue (op, 0, 1), "status",
                       PQgetvalue (op, 0, 2), "done",
                       (int) strtol (PQgetvalue (op, 0, 3), NULL, 10), "total",
                       (int) strtol (PQgetvalue (op, 0, 4), NULL, 10), "target",
                       PQgetvalue (op, 0, 5)));
    else
        json_object_set_new (d, "operation", json_null ());
    if (PQntuples (next) == 1) {
        int64_t at = strtoll (PQgetvalue (next, 0, 2), NULL, 10);
        char iso[32] = "";
        ll_time_format_iso (at, iso, sizeof iso);
        json_object_set_new (
            d, "schedule",
            json_pack ("{s:I, s:s, s:s, s:I, s:s}", "id",
                       (json_int_t) strtoll (PQgetvalue (next, 0, 0), NULL, 10),
                       "name", PQgetvalue (next, 0, 1), "at", iso,
                       "seconds_left",
                       (json_int_t) (at - (int64_t) time (NULL)), "status",
                       PQgetvalue (next, 0, 3)));
    }
    else
        json_object_set_new (d, "schedule", json_null ());
    double used = ll_class_budget_used (&budget);
    bool limited = budget.max_vm_hours > 0
                   || (budget.max_usd > 0 && budget.hourly_usd > 0);
    json_object_set_new (
        d, "cost",
        json_pack ("{s:b, s:f, s:f, s:f, s:f, s:i}", "estimate", 1,
                   "hourly_usd", budget.hourly_usd, "vm_hours", budget.vm_hours,
                   "so_far_usd", budget.vm_hours * budget.hourly_usd,
                   "per_hour_usd", budget.vms * budget.hourly_usd, "vms",
                   budget.vms));
    json_object_set_new (d, "budget",
                         json_pack ("{s:f, s:f, s:f, s:s, s:b}", "max_vm_hours",
                                    budget.max_vm_hours, "max_usd",
                                    budget.max_usd, "used_ratio", used, "state",
                                    !limited                ? "off"
                                    : used >= 1.0           ? "exceeded"
                                    : used >= S_BUDGET_WARN ? "warning"
                                                            : "ok",
                                    "destroy_at_limit",
                                    config->budget.destroy_at_limit));
    json_t *recent = json_array ();
    for (int i = 0; i < PQntuples (autos); i++)
        json_array_append_new (recent,
                               json_pack ("{s:s, s:s, s:s, s:s, s:s}", "at",
                                          PQgetvalue (autos, i, 0), "action",
                                          PQgetvalue (autos, i, 1), "target",
                                          PQgetvalue (autos, i, 2), "outcome",
                                          PQgetvalue (autos, i, 3), "detail",
                                          PQgetvalue (autos, i, 4)));
    json_object_set_new (d, "automatic", recent);
    json_object_set_new (d, "leader", json_boolean (self->leader));
    char *text = json_dumps (d, JSON_COMPACT);
    json_decref (d);
    ll_request_answer (req, text ? text : "{}");
    free (text);
done:
    PQclear (counts);
    PQclear (attention);
    PQclear (op);
    PQclear (next);
    PQclear (autos);
}

//  Served on LL_ENDPOINT_SCHEDULER
static const ll_handler_t s_handlers[] = {
    {LL_CMD_DASHBOARD, s_handle_dashboard},
    {LL_CMD_CLASS_END, s_handle_class_end},
    {LL_CMD_SCHEDULE_ADD, s_handle_add},
    {LL_CMD_SCHEDULE_LIST, s_handle_list},
    {LL_CMD_SCHEDULE_GET, s_handle_get},
    {LL_CMD_SCHEDULE_CANCEL, s_handle_cancel},
    {NULL, NULL},
};

static const ll_actor_kind_t s_kind = {
    .name = "scheduler",
    .size = sizeof (self_t),
    .fini = s_self_fini,
    .class =
        {
            .endpoint = LL_ENDPOINT_SCHEDULER,
            .database = true,
            .handlers = s_handlers,
            .start = s_self_start,
            .tick_ms = S_TICK_MS,
            .tick = s_tick,
        },
};

void
scheduler_actor (zsock_t *pipe, void *args)
{
    ll_actor_main (pipe, args, &s_kind);
}
