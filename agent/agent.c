#include "agent/agent.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/crd.h"
#include "agent/logship.h"
#include "agent/probe.h"
#include "agent/reset.h"
#include "agent/reporter.h"
#include "agent/spawn.h"
#include "runtime/log.h"

bool
agent_status_valid (const char *status)
{
    const char *valid[] = {"initializing", "running", "error", "unknown",
                           "rebooting"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        if (status && strcmp (status, valid[i]) == 0)
            return true;
    return false;
}

//  The compact text of body, which is taken; NULL when out of memory.
static char *
s_text (json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    return text;
}

static char *
s_status_body (agent_t *self, const char *status)
{
    return s_text (json_pack ("{s:s, s:s}", "hostname", self->settings.vm_name,
                              "status", status));
}

//  Hand the reporter the newest value of a kind (text may be NULL: out of
//  memory, nothing to set); text is taken.
static void
s_set (agent_t *self, const char *kind, const char *path, char *text)
{
    if (text)
        agent_reporter_set (self->reporter, kind, path, text);
    free (text);
}

static void
s_set_status (agent_t *self, const char *status)
{
    s_set (self, "status", "/api/vm-status", s_status_body (self, status));
}

//  --- assignment ------------------------------------------------------------

//  POST a report (body taken) until it is recorded; a 4xx other than
//  408/429 is final.
static void
s_report (agent_t *self, const char *path, json_t *body)
{
    char *text = s_text (body);
    int64_t backoff = 0;
    while (text && !agent_stop_requested (&self->stop)) {
        agent_reply_t reply;
        int status = agent_transport_post (
            &self->transport, path, text,
            self->settings.request_timeout_s * 1000, true, &reply);
        agent_reply_free (&reply);
        if (status >= 200 && status < 300)
            break;
        if (status >= 400 && status < 500 && status != 408 && status != 429) {
            ll_warn ("agent: %s refused with HTTP %d", path, status);
            break;
        }
        ll_warn ("agent: %s not recorded (%s %d), retrying", path,
                 status < 0 ? "transport error" : "HTTP", status);
        agent_stop_sleep (&self->stop,
                          agent_settings_backoff (&self->settings, &backoff));
    }
    free (text);
}

//  Report the result of an assignment (retried until accepted).
static void
s_report_result (agent_t *self, bool success, const char *error)
{
    s_report (self, "/api/vm-startup-result",
              json_pack ("{s:s, s:b, s:s}", "hostname", self->settings.vm_name,
                         "success", success, "error", error ? error : ""));
}

static void s_clone_tutorial (agent_t *self);

int
agent_handle_reset (agent_t *self, const char *reset_id)
{
    char error[512];
    ll_info ("agent: reset asked: ending the session, restoring the home");
    int rc =
        agent_reset_desktop (&self->settings, &self->stop, error, sizeof error);
    if (rc == 0) {
        s_clone_tutorial (self);
        ll_info ("agent: reset done: the desktop is as the image made it");
    }
    else
        ll_warn ("agent: reset failed: %s", error);
    s_report (self, "/api/vm-reset-result",
              json_pack ("{s:s, s:s, s:b, s:s}", "hostname",
                         self->settings.vm_name, "reset_id", reset_id,
                         "success", rc == 0, "error", rc == 0 ? "" : error));
    return rc;
}

int
agent_parse_reset (const char *text, char **reset_id)
{
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
    const char *status = NULL, *id = NULL;
    int rc = -1;
    if (json_is_object (root)
        && json_unpack (root, "{s:s, s:s}", "status", &status, "reset_id", &id)
               == 0
        && strcmp (status, "reset") == 0 && strlen (id) == 32
        && strspn (id, "0123456789abcdef") == 32) {
        *reset_id = strdup (id);
        rc = *reset_id ? 0 : -1;
    }
    json_decref (root);
    return rc;
}

//  Run start-host: 0, or -1 with error filled. Also the gateway link's
//  assign callback (agent_zmq_assign_fn).
static int
s_start_host (void *arg,
              const char *command,
              const char *pin,
              char *error,
              size_t error_size)
{
    agent_t *self = arg;
    ll_info ("agent: assignment received, running start-host");
    int rc = agent_crd_connect (&self->settings, &self->stop, command, pin,
                                error, error_size);
    if (rc == 0)
        ll_info ("agent: start-host succeeded");
    else
        ll_warn ("agent: connecting to CRD failed: %s", error);
    return rc;
}

//  The gateway link's reset callback (agent_zmq_reset_fn).
static int
s_reset (void *arg, const char *reset_id)
{
    return agent_handle_reset (arg, reset_id);
}

int
agent_handle_assignment (agent_t *self, const char *command, const char *pin)
{
    char error[256];
    int rc = s_start_host (self, command, pin, error, sizeof error);
    s_report_result (self, rc == 0, rc == 0 ? "" : error);
    return rc;
}

int
agent_parse_assignment (const char *text, char **command, char **pin)
{
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
    const char *status = NULL, *c = NULL, *p = NULL;
    int rc = -1;
    if (json_is_object (root)
        && json_unpack (root, "{s:s, s:s, s:s}", "status", &status, "command",
                        &c, "pin", &p)
               == 0
        && strcmp (status, "success") == 0) {
        *command = strdup (c);
        *pin = strdup (p);
        rc = *command && *pin ? 0 : -1;
    }
    json_decref (root);
    return rc;
}

static void *
s_assign_http (void *arg)
{
    agent_t *self = arg;
    const agent_settings_t *settings = &self->settings;
    char *body = s_text (json_pack ("{s:s}", "hostname", settings->vm_name));
    int64_t backoff = 0;
    int failures = 0;
    while (body && !agent_stop_requested (&self->stop)) {
        agent_reply_t reply;
        int status =
            agent_http_post (settings, &self->stop, "/vm_startup", body,
                             settings->poll_timeout_s * 1000, &reply);
        if (agent_stop_requested (&self->stop)) {
            agent_reply_free (&reply);
            break;
        }
        int64_t delay = -1;  //  re-poll at once
        if (status == 200) {
            char *command = NULL, *pin = NULL, *reset_id = NULL;
            if (agent_parse_assignment (reply.body, &command, &pin) == 0) {
                agent_handle_assignment (self, command, pin);
                backoff = 0;
            }
            else if (agent_parse_reset (reply.body, &reset_id) == 0) {
                agent_handle_reset (self, reset_id);
                free (reset_id);
                backoff = 0;
            }
            else {
                ll_warn ("agent: /vm_startup answered 200 without an "
                         "assignment");
                delay = agent_settings_backoff (settings, &backoff);
            }
            if (pin)
                memset (pin, 0, strlen (pin));
            free (command);
            free (pin);
        }
        else if (status == 204) {
            backoff = 0;
            if (reply.retry_after_s > 0)
                delay = (int64_t) reply.retry_after_s * 1000
                        + agent_random (settings->jitter_ms / 5);
        }
        else {
            if (failures == 0 || failures % 10 == 0) {
                if (status < 0)
                    ll_warn ("agent: /vm_startup failed: %s", reply.error);
                else
                    ll_warn ("agent: /vm_startup answered HTTP %d", status);
            }
            delay = agent_settings_backoff (settings, &backoff);
        }
        failures = status == 200 || status == 204 ? 0 : failures + 1;
        agent_reply_free (&reply);
        if (delay >= 0)
            agent_stop_sleep (&self->stop, delay);
    }
    free (body);
    return NULL;
}

//  Direct LISTEN on the assignment channel (trusted networks only: every VM
//  sees every assignment's payload).
static void *
s_assign_pg (void *arg)
{
    agent_t *self = arg;
    const agent_settings_t *settings = &self->settings;
    int64_t backoff = 0;
    while (!agent_stop_requested (&self->stop)) {
        const char *keys[] = {"dbname", "connect_timeout", NULL};
        const char *values[] = {settings->pg_conninfo, "5", NULL};
        PGconn *conn = PQconnectdbParams (keys, values, 1);
        char listen[128];
        //  The channel is a validated identifier ([a-z_][a-z0-9_]*)
        snprintf (listen, sizeof listen, "LISTEN %s", settings->pg_channel);
        PGresult *result = NULL;
        if (PQstatus (conn) == CONNECTION_OK)
            result = PQexec (conn, listen);
        if (!result || PQresultStatus (result) != PGRES_COMMAND_OK) {
            ll_warn ("agent: pg transport: cannot listen: %s",
                     PQerrorMessage (conn));
            PQclear (result);
            PQfinish (conn);
            agent_stop_sleep (&self->stop,
                              agent_settings_backoff (settings, &backoff));
            continue;
        }
        PQclear (result);
        backoff = 0;
        ll_info ("agent: pg transport: listening on %s", settings->pg_channel);
        while (!agent_stop_requested (&self->stop)) {
            struct pollfd fd = {PQsocket (conn), POLLIN, 0};
            if (poll (&fd, 1, 200) < 0 && errno != EINTR)
                break;
            if (PQconsumeInput (conn) == 0)
                break;
            PGnotify *notify;
            while ((notify = PQnotifies (conn))) {
                json_t *root = json_loads (notify->extra, 0, NULL);
                const char *host = NULL, *command = NULL, *pin = NULL;
                const char *reset = NULL;
                if (json_unpack (root, "{s:s, s:s, s:s}", "HostName", &host,
                                 "CrdCommand", &command, "Pin", &pin)
                        == 0
                    && strcmp (host, settings->vm_name) == 0)
                    agent_handle_assignment (self, command, pin);
                else if (json_unpack (root, "{s:s, s:s}", "HostName", &host,
                                      "Reset", &reset)
                             == 0
                         && strcmp (host, settings->vm_name) == 0)
                    agent_handle_reset (self, reset);
                json_decref (root);
                PQfreemem (notify);
            }
            if (PQstatus (conn) != CONNECTION_OK)
                break;
        }
        if (!agent_stop_requested (&self->stop))
            ll_warn ("agent: pg transport: connection lost, reconnecting");
        PQfinish (conn);
    }
    return NULL;
}

//  --- the monitoring loops ----------------------------------------------

static void *
s_inuse_loop (void *arg)
{
    agent_t *self = arg;
    const agent_settings_t *settings = &self->settings;
    int last = -1;
    do {
        int found = agent_proc_find (settings->proc_root, settings->software,
                                     getpid ());
        if (found < 0)
            ll_warn ("agent: cannot scan %s", settings->proc_root);
        else if (found != last) {
            s_set (self, "inuse", "/api/update_inuse_status",
                   s_text (json_pack ("{s:s, s:b}", "hostname",
                                      settings->vm_name, "status", found)));
            if (last >= 0)
                ll_info ("agent: in-use changed to %s",
                         found ? "true" : "false");
            last = found;
        }
    } while (!agent_stop_sleep (
        &self->stop, settings->inuse_ms + agent_random (settings->jitter_ms)));
    return NULL;
}

static void *
s_gpu_loop (void *arg)
{
    agent_t *self = arg;
    const agent_settings_t *settings = &self->settings;
    const char *last = NULL;
    while (!agent_stop_requested (&self->stop)) {
        const char *health = agent_gpu_probe (
            settings->nvidia_smi, settings->gpu_timeout_s * 1000, &self->stop);
        if (agent_stop_requested (&self->stop))
            break;
        if (!last || strcmp (health, last) != 0) {
            s_set (
                self, "gpu", "/api/gpu_health",
                s_text (json_pack ("{s:s, s:s}", "hostname", settings->vm_name,
                                   "gpu_status", health)));
            ll_info ("agent: GPU health %s", health);
            last = health;
        }
        //  No GPU: keep probing, slowly (a driver may come later)
        int period = strcmp (health, AGENT_GPU_NONE) == 0
                         ? settings->gpu_absent_ms
                         : settings->gpu_ms;
        agent_stop_sleep (&self->stop,
                          period + agent_random (settings->jitter_ms));
    }
    return NULL;
}

static void *
s_heartbeat_loop (void *arg)
{
    agent_t *self = arg;
    const agent_settings_t *settings = &self->settings;
    char boot_id[64];
    agent_boot_id (boot_id, sizeof boot_id);
    do {
        char stamp[32];
        time_t now = time (NULL);
        struct tm tm;
        gmtime_r (&now, &tm);
        strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        int crd = agent_proc_find (settings->proc_root, "chrome-remote-desktop",
                                   getpid ());
        int disk = agent_disk_free_pct (settings->disk_path);
        json_t *body =
            json_pack ("{s:s, s:s*, s:s, s:b, s:o}", "vm_id", settings->vm_name,
                       "boot_id", *boot_id ? boot_id : NULL, "timestamp", stamp,
                       "crd_active", crd == 1, "disk_free_pct",
                       disk >= 0 ? json_integer (disk) : json_null ());
        //  The pg transport never polls /vm_startup: its heartbeat tells
        //  the allocator it waits, so the VM is offered (last_polled_at)
        if (settings->transport == AGENT_TRANSPORT_PG)
            json_object_set_new (body, "waiting", json_true ());
        s_set (self, "heartbeat", "/api/heartbeat", s_text (body));
    } while (!agent_stop_sleep (&self->stop, settings->heartbeat_ms));
    return NULL;
}

//  --- the container start sequence ---------------------------------------

//  Clone the tutorial repository into $HOME/Desktop (failure only logged).
static void
s_clone_tutorial (agent_t *self)
{
    const agent_settings_t *settings = &self->settings;
    if (!*settings->tutorial_repo)
        return;
    char desktop[AGENT_PATH_MAX + 16];
    snprintf (desktop, sizeof desktop, "%s/Desktop", settings->home);
    if (mkdir (desktop, 0755) != 0 && errno != EEXIST) {
        ll_warn ("agent: cannot create %s: %s", desktop, strerror (errno));
        return;
    }
    //  Already there (a restarted container): nothing to do
    char name[AGENT_PATH_MAX];
    const char *base = strrchr (settings->tutorial_repo, '/');
    snprintf (name, sizeof name, "%s",
              base ? base + 1 : settings->tutorial_repo);
    size_t len = strlen (name);
    if (len > 4 && strcmp (name + len - 4, ".git") == 0)
        name[len - 4] = '\0';
    char target[2 * AGENT_PATH_MAX + 32];
    snprintf (target, sizeof target, "%s/%s", desktop, name);
    struct stat st;
    if (*name && stat (target, &st) == 0) {
        ll_info ("agent: tutorial repository already in %s", target);
        return;
    }
    char *argv[] = {"git",   "-C", desktop,
                    "clone", "--", (char *) settings->tutorial_repo,
                    NULL};
    char *env[] = {"GIT_TERMINAL_PROMPT=0", NULL};
    agent_run_t run;
    if (agent_run (argv, env, NULL, 600 * 1000, &self->stop, &run) == 0)
        ll_info ("agent: cloned the tutorial repository into %s", desktop);
    else
        ll_warn ("agent: cloning the tutorial repository failed (%s %d)",
                 run.timed_out ? "timeout" : "exit", run.exit_code);
}

//  Run the custom startup script when present and non-empty. 0, or -1
//  when it failed.
static int
s_startup_script (agent_t *self)
{
    const agent_settings_t *settings = &self->settings;
    struct stat st;
    if (stat (settings->startup_script, &st) != 0 || !S_ISREG (st.st_mode)
        || st.st_size == 0)
        return 0;
    ll_info ("agent: running custom startup script %s",
             settings->startup_script);
    char *argv[] = {"bash", (char *) settings->startup_script, NULL};
    agent_run_t run;
    int rc = agent_run (argv, NULL, NULL, 3600 * 1000, &self->stop, &run);
    //  Its output goes to our stderr, which the container's log shows
    if (run.output_len > 0)
        fprintf (stderr, "%s%s", run.output,
                 run.output[run.output_len - 1] == '\n' ? "" : "\n");
    if (rc != 0)
        ll_warn ("agent: custom startup script failed (%s %d)",
                 run.timed_out ? "timeout" : "exit", run.exit_code);
    return rc;
}

//  Signal thread: waits for SIGTERM/SIGINT (blocked in every thread).
static void *
s_signal_thread (void *arg)
{
    agent_t *self = arg;
    agent_stop_on_signal (&self->stop);
    return NULL;
}

//  The body of /api/vm-metrics/<vm>: when what (container, cloud_init)
//  started and ended, and how long it took (under duration_key).
static char *
s_timings_body (const char *what,
                const char *duration_key,
                json_int_t start,
                json_int_t end)
{
    char start_key[32], end_key[32];
    snprintf (start_key, sizeof start_key, "%s_start", what);
    snprintf (end_key, sizeof end_key, "%s_end", what);
    return s_text (json_pack ("{s:I, s:I, s:I}", start_key, start, end_key, end,
                              duration_key, end - start));
}

static void
s_metrics_path (agent_t *self, char *path, size_t size)
{
    snprintf (path, size, "/api/vm-metrics/%s", self->settings.vm_name);
}

//  Make the transport (over the gateway link for zmq), the log shipper and
//  the reporter, and start them. 0 or -1.
static int
s_start (agent_t *self, agent_shipper_t **shipper)
{
    const agent_settings_t *settings = &self->settings;
    agent_transport_init (&self->transport, settings, &self->stop);
    if (settings->transport == AGENT_TRANSPORT_ZMQ) {
        self->zmq =
            agent_zmq_new (settings, &self->stop, s_start_host, s_reset, self);
        if (!self->zmq)
            return -1;
        agent_transport_set_link (&self->transport, agent_zmq_post, self->zmq);
    }
    *shipper = agent_shipper_new (&self->transport);
    self->reporter = agent_reporter_new (&self->transport);
    if (!*shipper || !self->reporter || agent_shipper_start (*shipper) != 0
        || agent_reporter_start (self->reporter) != 0
        || (self->zmq && agent_zmq_start (self->zmq) != 0))
        return -1;
    return 0;
}

//  The custom startup script failed with STARTUP_ON_ERROR=fail: report
//  error (a few seconds for the reporter to deliver it), then stop.
static void
s_startup_failed (agent_t *self)
{
    s_set_status (self, "error");
    for (int i = 0; i < 100 && agent_reporter_pending (self->reporter); i++)
        agent_stop_sleep (&self->stop, 100);
    ll_error ("agent: STARTUP_ON_ERROR=fail: stopping");
    agent_stop_request (&self->stop);
}

#define S_LOOPS 4

int
agent_run_main (agent_t *self)
{
    const agent_settings_t *settings = &self->settings;
    time_t container_start = time (NULL);
    ll_info ("agent: starting on %s (transport %s)", settings->vm_name,
             settings->transport == AGENT_TRANSPORT_ZMQ  ? "zmq"
             : settings->transport == AGENT_TRANSPORT_PG ? "pg"
                                                         : "http");
    agent_thread_t signals;
    if (agent_thread_start (&signals, s_signal_thread, self) != 0)
        return 1;
    agent_shipper_t *shipper = NULL;
    int rc = 0;
    if (s_start (self, &shipper) != 0) {
        ll_error ("agent: cannot start");
        agent_stop_request (&self->stop);
        rc = 1;
    }
    else {
        s_set_status (self, "initializing");
        s_clone_tutorial (self);
    }
    if (rc == 0 && !agent_stop_requested (&self->stop)
        && s_startup_script (self) != 0 && settings->startup_fail
        && !agent_stop_requested (&self->stop)) {
        s_startup_failed (self);
        rc = 1;
    }

    void *(*loops[S_LOOPS]) (void *) = {
        s_inuse_loop, s_gpu_loop, s_heartbeat_loop,
        settings->transport == AGENT_TRANSPORT_PG     ? s_assign_pg
        : settings->transport == AGENT_TRANSPORT_HTTP ? s_assign_http
                                                      : NULL};
    agent_thread_t threads[S_LOOPS] = {0};
    for (int i = 0; i < S_LOOPS && !agent_stop_requested (&self->stop); i++)
        if (loops[i] && agent_thread_start (&threads[i], loops[i], self) != 0) {
            ll_error ("agent: cannot start a loop");
            agent_stop_request (&self->stop);
            rc = 1;
        }

    if (!agent_stop_requested (&self->stop)) {
        s_set_status (self, "running");
        char path[AGENT_NAME_MAX + 32];
        s_metrics_path (self, path, sizeof path);
        s_set (self, "container-metrics", path,
               s_timings_body ("container",
                               "container_startup_duration_seconds",
                               container_start, time (NULL)));
        ll_info ("agent: running");
    }

    while (!agent_stop_sleep (&self->stop, 1000))
        ;
    ll_info ("agent: stopping");
    for (int i = 0; i < S_LOOPS; i++)
        agent_thread_join (&threads[i]);
    agent_reporter_destroy (&self->reporter);
    agent_shipper_destroy (&shipper);  //  after its final flush
    agent_zmq_destroy (&self->zmq);
    pthread_kill (signals.id, SIGTERM);  //  wakes sigwait if still waiting
    agent_thread_join (&signals);
    return rc;
}

//  POST text (taken) until recorded or max_ms: the exit code.
static int
s_post_main (agent_t *self, const char *path, char *text, int64_t max_ms)
{
    agent_transport_init (&self->transport, &self->settings, &self->stop);
    int rc =
        text ? agent_transport_post_retry (&self->transport, path, text, max_ms)
             : -1;
    free (text);
    return rc == 0 ? 0 : 1;
}

int
agent_status_main (agent_t *self, const char *status)
{
    return s_post_main (self, "/api/vm-status", s_status_body (self, status),
                        15000);
}

int
agent_metrics_main (agent_t *self, long start, long end)
{
    char path[AGENT_NAME_MAX + 32];
    s_metrics_path (self, path, sizeof path);
    return s_post_main (self, path,
                        s_timings_body ("cloud_init",
                                        "cloud_init_duration_seconds", start,
                                        end),
                        30000);
}
