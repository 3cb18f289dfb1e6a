#include "actors/scheduler.h"
#include "runtime/db.h"
#include "runtime/log.h"
#include "runtime/msg.h"
#include "runtime/protocol.h"
#include "runtime/schedule.h"

#include <jansson.h>
#include <time.h>

#define S_TICK_MS     1000   //  schedules, leadership
#define S_RULES_MS    5000   //  idle, budget, recovery
#define S_CALL_MS     10000  //  the terraform actor answers at once
#define S_MAX_ARG     512    //  longest argument frame accepted
#define S_BUDGET_WARN 0.8    //  the dashboard warns from here
#define S_CONFIG_NAME "config: schedule.destroy_at"

typedef struct {
    zsock_t *pipe;          //  to the supervisor
    zsock_t *router;        //  LL_ENDPOINT_SCHEDULER
    zsock_t *terraform;     //  DEALER to LL_ENDPOINT_TERRAFORM
    zsock_t *assigner;      //  DEALER to LL_ENDPOINT_ASSIGNER
    ll_runtime_t *runtime;  //  config and stats (not owned)
    ll_db_t *db;            //  our PostgreSQL connection
    bool leader;            //  we hold the lock: we act
    bool config_done;       //  schedule.destroy_at written on this session
    int64_t rules_ms;       //  when idle/budget/recovery run next
    bool started;           //  START done
    bool terminated;        //  $TERM received
} self_t;

static self_t *
s_self_new (zsock_t *pipe, ll_runtime_t *runtime)
{
    self_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->runtime = runtime;
    return self;
}

static void
s_self_destroy (self_t **self_p)
{
    self_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->router);
    zsock_destroy (&self->terraform);
    zsock_destroy (&self->assigner);
    ll_db_destroy (&self->db);
    free (self);
    *self_p = NULL;
}

static const char *
s_self_start (self_t *self)
{
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router || zsock_bind (self->router, LL_ENDPOINT_SCHEDULER) != 0)
        return "cannot bind " LL_ENDPOINT_SCHEDULER;
    self->terraform = zsock_new_dealer (LL_ENDPOINT_TERRAFORM);
    self->assigner = zsock_new_dealer (LL_ENDPOINT_ASSIGNER);
    if (!self->terraform || !self->assigner)
        return "cannot connect to the terraform and assigner actors";
    self->db =
        ll_db_new (self->runtime->config, self->runtime->stats, "scheduler");
    if (!self->db)
        return "embedded SQL is invalid";
    if (ll_db_connect (self->db) != 0)
        ll_warn ("scheduler: postgresql unavailable, will retry: %s",
                 ll_db_error (self->db));
    self->started = true;
    self->rules_ms = ll_now_ms () + S_RULES_MS;
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

//  --- helpers ----------------------------------------------------------------

static const char *
s_db_reason (self_t *self)
{
    const char *error = ll_db_error (self->db);
    return *error ? error : "database unavailable";
}

//  An audit row of the automatic actions (actor 'auto').
static void
s_audit (self_t *self,
         const char *action,
         const char *target,
         const char *outcome,
         const char *detail)
{
    const char *values[] = {"auto", action, target, outcome, detail};
    PQclear (ll_db_exec (self->db, "admin_audit_add", 5, values));
}

//  Ask the terraform actor for an operation: its id, 0 when another one
//  runs (try again later), -1 on any other refusal (reason logged).
static int64_t
s_operation (self_t *self, const char *command, const char *const *frames)
{
    zmsg_t *args = zmsg_new ();
    for (; *frames; frames++)
        zmsg_addstr (args, *frames);
    zmsg_t *reply = NULL;
    char *error = NULL;
    int64_t id = -1;
    if (ll_call (self->terraform, command, &args, S_CALL_MS, &reply, &error)
        == 0) {
        char *text = zmsg_popstr (reply);
        id = text ? strtoll (text, NULL, 10) : -1;
        free (text);
    }
    else if (error && strncmp (error, "busy", 4) == 0)
        id = 0;
    else
        ll_warn ("scheduler: %s refused: %s", command,
                 error ? error : "no answer");
    zmsg_destroy (&reply);
    free (error);
    return id;
}

//  A list of hostnames as the frames [first] [who] [rest...].
static int64_t
s_operation_on (self_t *self,
                const char *command,
                PGresult *hosts,
                const char *who)
{
    int n = PQntuples (hosts);
    const char **frames = calloc ((size_t) n + 2, sizeof *frames);
    frames[0] = PQgetvalue (hosts, 0, 0);
    frames[1] = who;
    for (int i = 1; i < n; i++)
        frames[i + 1] = PQgetvalue (hosts, i, 0);
    int64_t id = s_operation (self, command, frames);
    free (frames);
    return id;
}

//  --- schedules ----------------------------------------------------------------

//  schedule.destroy_at, once per database session.
static void
s_config_schedule (self_t *self)
{
    const ll_config_t *config = self->runtime->config;
    self->config_done = true;
    int64_t at;
    if (!*config->schedule.destroy_at) {
        PGresult *res = ll_db_exec (self->db, "sched_config_clear", 0, NULL);
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
    PGresult *res = ll_db_exec (self->db, "sched_config", 2, values);
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
    PGresult *res = ll_db_exec (self->db, "sched_ended", 0, NULL);
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
        PQclear (ll_db_exec (self->db, "sched_finish", 4, values));
        ll_info ("scheduler: schedule %s (%s): %s", id, name, result);
        s_audit (self, "schedule-destroy", name, ok ? "ok" : "failed", result);
    }
    PQclear (res);
}

//  Start the next due schedule (one per tick).
static void
s_schedules_due (self_t *self)
{
    PGresult *res = ll_db_exec (self->db, "sched_claim_due", 0, NULL);
    if (!res || PQntuples (res) != 1) {
        PQclear (res);
        return;
    }
    const char *id = PQgetvalue (res, 0, 0);
    const char *name = PQgetvalue (res, 0, 1);
    bool export_first = streq (PQgetvalue (res, 0, 2), "t");
    char who[300];
    snprintf (who, sizeof who, "schedule:%s", name);
    const char *frames[] = {who, NULL};
    int64_t op = s_operation (
        self, export_first ? LL_CMD_EXPORT_DESTROY : LL_CMD_DESTROY, frames);
    if (op > 0) {
        char op_text[24];
        snprintf (op_text, sizeof op_text, "%lld", (long long) op);
        const char *values[] = {id, op_text};
        PQclear (ll_db_exec (self->db, "sched_started", 2, values));
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
        PQclear (ll_db_exec (self->db, "sched_finish", 4, values));
        s_audit (self, "schedule-destroy", name, "failed",
                 "the teardown could not be started");
    }
    //  busy: it stays executing without an operation and is retried
    PQclear (res);
}

//  --- idle, budget, recovery ---------------------------------------------------

//  The budget as the database sees it now; -1 when it cannot be read.
static int
s_budget (self_t *self, ll_budget_t *budget)
{
    const ll_config_t *config = self->runtime->config;
    memset (budget, 0, sizeof *budget);
    budget->hourly_usd = config->machine.hourly_usd;
    budget->max_vm_hours = config->budget.max_vm_hours;
    budget->max_usd = config->budget.max_usd;
    PGresult *res = ll_db_exec (self->db, "budget_usage", 0, NULL);
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
    const char *frames[] = {"auto", NULL};
    int64_t op = s_operation (self, LL_CMD_DESTROY, frames);
    if (op > 0) {
        char detail[300];
        snprintf (detail, sizeof detail, "%s; operation %lld", why,
                  (long long) op);
        s_audit (self, action, NULL, "started", detail);
        ll_warn ("scheduler: destroying the fleet: %s", why);
    }
}

static void
s_rules (self_t *self)
{
    const ll_config_t *config = self->runtime->config;
    char number[24], stale[16];
    snprintf (stale, sizeof stale, "%d", config->agent.stale_after_s);
    //  budget: at 100 % the fleet goes when asked to
    ll_budget_t budget;
    if (config->budget.destroy_at_limit && s_budget (self, &budget) == 0
        && budget.vms > 0 && ll_budget_used (&budget) >= 1.0) {
        char why[128];
        snprintf (why, sizeof why,
                  "the budget is used up (%.1f VM-hours, %.0f %%)",
                  budget.vm_hours, ll_budget_used (&budget) * 100.0);
        s_destroy_fleet (self, "budget-destroy", why);
        return;
    }
    //  a fleet nobody used
    if (config->idle.stop_fleet_after_s > 0) {
        snprintf (number, sizeof number, "%d", config->idle.stop_fleet_after_s);
        const char *values[] = {number};
        PGresult *res = ll_db_exec (self->db, "idle_fleet", 1, values);
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
            ll_db_exec (self->db, "idle_release_candidates", 1, values);
        for (int i = 0; res && i < PQntuples (res); i++) {
            zmsg_t *args = zmsg_new ();
            zmsg_addstr (args, PQgetvalue (res, i, 0));
            zmsg_addstr (args, "auto:idle");
            zmsg_t *reply = NULL;
            char *error = NULL;
            if (ll_call (self->assigner, LL_CMD_VM_RELEASE, &args, S_CALL_MS,
                         &reply, &error)
                == 0) {
                char detail[64];
                snprintf (detail, sizeof detail, "not in use for %s s", number);
                s_audit (self, "idle-release", PQgetvalue (res, i, 0), "ok",
                         detail);
            }
            zmsg_destroy (&reply);
            free (error);
        }
        PQclear (res);
    }
    //  VMs silent or Unhealthy that long: new machines, same names
    if (config->recovery.replace_after_s > 0) {
        snprintf (number, sizeof number, "%d",
                  config->recovery.replace_after_s);
        const char *values[] = {number, stale};
        PGresult *res =
            ll_db_exec (self->db, "recovery_replace_candidates", 2, values);
        if (res && PQntuples (res) > 0) {
            int64_t op = s_operation_on (self, LL_CMD_REPLACE_VM, res, "auto");
            for (int i = 0; op > 0 && i < PQntuples (res); i++) {
                char detail[96];
                snprintf (detail, sizeof detail,
                          "silent or Unhealthy for %s s; operation %lld",
                          number, (long long) op);
                s_audit (self, "auto-replace", PQgetvalue (res, i, 0),
                         "started", detail);
            }
            PQclear (res);
            if (op != -1)
                return;  //  one operation at a time
        }
        else
            PQclear (res);
    }
    //  CRD never came up after delivery: reboot (a few times at most)
    if (config->recovery.reboot_unconnected_after_s > 0) {
        snprintf (number, sizeof number, "%d",
                  config->recovery.reboot_unconnected_after_s);
        char max[16];
        snprintf (max, sizeof max, "%d", config->recovery.max_reboots);
        const char *values[] = {number, max};
        PGresult *res =
            ll_db_exec (self->db, "recovery_reboot_candidates", 2, values);
        if (res && PQntuples (res) > 0) {
            int64_t op = s_operation_on (self, LL_CMD_REBOOT_VM, res, "auto");
            for (int i = 0; op > 0 && i < PQntuples (res); i++) {
                char detail[96];
                snprintf (detail, sizeof detail,
                          "CRD not connected %s s after delivery; operation "
                          "%lld",
                          number, (long long) op);
                s_audit (self, "auto-reboot", PQgetvalue (res, i, 0), "started",
                         detail);
            }
        }
        PQclear (res);
    }
}

//  One tick: lead if we can, then act.
static void
s_tick (self_t *self)
{
    if (ll_db_ensure (self->db) != 0) {
        self->leader = false;
        self->config_done = false;
        return;
    }
    if (!ll_db_connected (self->db))
        return;
    if (!self->leader) {
        PGresult *res = ll_db_exec (self->db, "sched_lead_try", 0, NULL);
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
    if (!ll_db_connected (self->db))
        self->leader = false;
}

//  --- requests -------------------------------------------------------------------

static void
s_reply_text (self_t *self, ll_request_t *req, const char *text)
{
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, text);
    ll_request_reply_ok (req, self->router, &payload);
}

//  SCHEDULE-ADD name epoch rule who notify hours export
static void
s_handle_add (self_t *self, ll_request_t *req, char **a)
{
    const char *values[] = {a[0],
                            a[1],
                            a[2],
                            a[3],
                            streq (a[4], "1") ? "true" : "false",
                            *a[5] ? a[5] : "1",
                            streq (a[6], "1") ? "true" : "false"};
    PGresult *res = ll_db_exec (self->db, "sched_add", 7, values);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (PQntuples (res) == 0)
        ll_request_reply_error (req, self->router, "duplicate");
    else {
        s_reply_text (self, req, PQgetvalue (res, 0, 0));
        ll_info ("scheduler: schedule %s (%s) added by %s",
                 PQgetvalue (res, 0, 0), a[0], a[3]);
    }
    PQclear (res);
}

static void
s_handle_json (self_t *self, ll_request_t *req, const char *id, const char *st)
{
    const char *values[] = {id, st};
    PGresult *res = ll_db_exec (self->db, "sched_json", 2, values);
    if (!res || PQntuples (res) != 1)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (!streq (id, "0")) {
        //  One schedule: the object, not the array
        json_t *list = json_loads (PQgetvalue (res, 0, 0), 0, NULL);
        json_t *one = json_array_get (list, 0);
        char *text = one ? json_dumps (one, JSON_COMPACT) : NULL;
        if (text)
            s_reply_text (self, req, text);
        else
            ll_request_reply_error (req, self->router, "not found");
        free (text);
        json_decref (list);
    }
    else
        s_reply_text (self, req, PQgetvalue (res, 0, 0));
    PQclear (res);
}

static void
s_handle_cancel (self_t *self, ll_request_t *req, const char *id)
{
    const char *values[] = {id};
    PGresult *res = ll_db_exec (self->db, "sched_status", 1, values);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else if (PQntuples (res) == 0)
        ll_request_reply_error (req, self->router, "not found");
    else {
        char status[64];
        snprintf (status, sizeof status, "%s", PQgetvalue (res, 0, 0));
        PQclear (res);
        res = ll_db_exec (self->db, "sched_cancel", 1, values);
        if (!res)
            ll_request_reply_error (req, self->router, s_db_reason (self));
        else if (PQntuples (res) == 0) {
            char reason[96];
            snprintf (reason, sizeof reason, "status %s", status);
            ll_request_reply_error (req, self->router, reason);
        }
        else
            ll_request_reply_ok (req, self->router, NULL);
    }
    PQclear (res);
}

static void
s_handle_class_end (self_t *self, ll_request_t *req)
{
    PGresult *res = ll_db_exec (self->db, "sched_next", 0, NULL);
    if (!res)
        ll_request_reply_error (req, self->router, s_db_reason (self));
    else
        s_reply_text (self, req,
                      PQntuples (res) == 1 ? PQgetvalue (res, 0, 2) : "");
    PQclear (res);
}

//  The dashboard's figures as one JSON object (runtime/protocol.h).
static void
s_handle_dashboard (self_t *self, ll_request_t *req)
{
    const ll_config_t *config = self->runtime->config;
    char stale[16];
    snprintf (stale, sizeof stale, "%d", config->agent.stale_after_s);
    const char *sv[] = {stale};
    static const char *const states[] = {"starting",   "free",      "assigned",
                                         "connecting", "connected", "in_use",
                                         "unhealthy",  "stale",     "error"};
    PGresult *counts = ll_db_exec (self->db, "dash_counts", 1, sv);
    PGresult *attention =
        counts ? ll_db_exec (self->db, "dash_attention", 1, sv) : NULL;
    PGresult *op =
        attention ? ll_db_exec (self->db, "dash_operation", 0, NULL) : NULL;
    PGresult *next = op ? ll_db_exec (self->db, "sched_next", 0, NULL) : NULL;
    PGresult *autos = next ? ll_db_exec (self->db, "dash_auto", 0, NULL) : NULL;
    ll_budget_t budget;
    if (!autos || s_budget (self, &budget) != 0) {
        ll_request_reply_error (req, self->router, s_db_reason (self));
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
    double used = ll_budget_used (&budget);
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
    s_reply_text (self, req, text ? text : "{}");
    free (text);
done:
    PQclear (counts);
    PQclear (attention);
    PQclear (op);
    PQclear (next);
    PQclear (autos);
}

static void
s_self_handle_router (self_t *self)
{
    ll_request_t *req = ll_request_recv (self->router);
    if (!req)
        return;
    const char *cmd = req->command;
    int n = streq (cmd, LL_CMD_SCHEDULE_ADD)      ? 7
            : streq (cmd, LL_CMD_SCHEDULE_LIST)   ? 1
            : streq (cmd, LL_CMD_SCHEDULE_GET)    ? 1
            : streq (cmd, LL_CMD_SCHEDULE_CANCEL) ? 1
            : streq (cmd, LL_CMD_DASHBOARD)       ? 0
            : streq (cmd, LL_CMD_CLASS_END)       ? 0
                                                  : -1;
    char *a[7] = {NULL};
    bool ok = n >= 0;
    for (int i = 0; i < n; i++) {
        a[i] = zmsg_popstr (req->args);
        if (!a[i])
            a[i] = strdup ("");
        if (strlen (a[i]) > S_MAX_ARG)
            ok = false;
    }
    ll_db_ensure (self->db);
    if (n < 0)
        ll_request_reply_error (req, self->router, "unknown command");
    else if (!ok)
        ll_request_reply_error (req, self->router, "argument too long");
    else if (streq (cmd, LL_CMD_SCHEDULE_ADD))
        s_handle_add (self, req, a);
    else if (streq (cmd, LL_CMD_SCHEDULE_LIST))
        s_handle_json (self, req, "0", a[0]);
    else if (streq (cmd, LL_CMD_SCHEDULE_GET))
        s_handle_json (self, req, *a[0] ? a[0] : "-1", "");
    else if (streq (cmd, LL_CMD_SCHEDULE_CANCEL))
        s_handle_cancel (self, req, a[0]);
    else if (streq (cmd, LL_CMD_DASHBOARD))
        s_handle_dashboard (self, req);
    else if (streq (cmd, LL_CMD_CLASS_END))
        s_handle_class_end (self, req);
    for (int i = 0; i < 7; i++)
        free (a[i]);
    ll_request_destroy (&req);
}

void
scheduler_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, args);
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int64_t tick_at = ll_now_ms () + S_TICK_MS;
    while (!self->terminated) {
        int64_t wait = tick_at - ll_now_ms ();
        void *which = zpoller_wait (poller, wait > 0 ? (int) wait : 0);
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
        if (self->started && !self->terminated && ll_now_ms () >= tick_at) {
            s_tick (self);
            tick_at = ll_now_ms () + S_TICK_MS;
        }
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}
