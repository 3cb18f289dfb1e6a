#include "runtime/metrics.h"
#include "runtime/cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const double ll_buckets_request[LL_BUCKETS_REQUEST] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5,   1,      2.5,   5,    10,    30,   60};
const double ll_buckets_delivery[LL_BUCKETS_DELIVERY] = {
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
const double ll_buckets_long[LL_BUCKETS_LONG] = {1,   5,   10,   30,   60,  120,
                                                 300, 600, 1200, 1800, 3600};

static const char *const s_claim_outcomes[LL_OUTCOMES] = {
    "assigned", "recovering", "no_vm", "rejected", "rate_limited", "error"};
static const char *const s_vias[LL_DELIVERY_VIAS] = {"agent", "heartbeat"};
static const char *const s_phases[LL_PHASES] = {"terraform", "cloud_init",
                                                "container", "total"};
static const char *const s_op_kinds[LL_OP_KINDS] = {"launch", "destroy",
                                                    "destroy-vm", "replace-vm"};

double
ll_metrics_clock (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (double) now.tv_sec + (double) now.tv_nsec / 1e9;
}

static void
s_histogram_init (ll_histogram_t *self, const double *bounds, int count)
{
    self->bounds = bounds;
    self->count = count;
}

void
ll_metrics_init (ll_metrics_t *self)
{
    memset (self, 0, sizeof *self);
    s_histogram_init (&self->claim_seconds, ll_buckets_request,
                      LL_BUCKETS_REQUEST);
    for (int i = 0; i < LL_DELIVERY_VIAS; i++)
        s_histogram_init (&self->delivery_seconds[i], ll_buckets_delivery,
                          LL_BUCKETS_DELIVERY);
    for (int i = 0; i < LL_PHASES; i++)
        s_histogram_init (&self->phase_seconds[i], ll_buckets_long,
                          LL_BUCKETS_LONG);
    for (int i = 0; i < LL_OP_KINDS; i++)
        s_histogram_init (&self->operation_seconds[i], ll_buckets_long,
                          LL_BUCKETS_LONG);
}

void
ll_histogram_observe (ll_histogram_t *self, double seconds)
{
    if (!(seconds >= 0))  //  negative or NaN: a clock step, not a value
        return;
    int i = 0;
    while (i < self->count && seconds > self->bounds[i])
        i++;
    atomic_fetch_add (&self->buckets[i], 1);
    atomic_fetch_add (&self->observations, 1);
    atomic_fetch_add (&self->sum_us, (uint_fast64_t) (seconds * 1e6 + 0.5));
}

void
ll_metrics_claim (ll_metrics_t *self, ll_outcome_t outcome, double seconds)
{
    if (!self || outcome >= LL_OUTCOMES)
        return;
    atomic_fetch_add (&self->claims[outcome], 1);
    ll_histogram_observe (&self->claim_seconds, seconds);
}

void
ll_metrics_delivery (ll_metrics_t *self, ll_delivery_via_t via, double seconds)
{
    if (self && via < LL_DELIVERY_VIAS)
        ll_histogram_observe (&self->delivery_seconds[via], seconds);
}

void
ll_metrics_phase (ll_metrics_t *self, ll_phase_t phase, double seconds)
{
    if (self && phase < LL_PHASES)
        ll_histogram_observe (&self->phase_seconds[phase], seconds);
}

void
ll_metrics_operation (ll_metrics_t *self,
                      const char *kind,
                      bool ok,
                      double seconds)
{
    for (int i = 0; self && kind && i < LL_OP_KINDS; i++)
        if (strcmp (kind, s_op_kinds[i]) == 0) {
            atomic_fetch_add (&self->operations[i][ok ? 0 : 1], 1);
            ll_histogram_observe (&self->operation_seconds[i], seconds);
        }
}

void
ll_metrics_family (ll_textbuf_t *out,
                   const char *name,
                   const char *type,
                   const char *help)
{
    ll_textbuf_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                       type);
}

void
ll_histogram_render (ll_textbuf_t *out,
                     const char *name,
                     const char *labels,
                     const ll_histogram_t *self)
{
    const char *sep = *labels ? "," : "";
    uint64_t cumulative = 0;
    for (int i = 0; i <= self->count; i++) {
        cumulative += atomic_load (&self->buckets[i]);
        if (i < self->count)
            ll_textbuf_printf (out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
                               labels, sep, self->bounds[i],
                               (unsigned long long) cumulative);
        else
            ll_textbuf_printf (out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
                               labels, sep, (unsigned long long) cumulative);
    }
    //  _count from the buckets just read, so the series agree
    ll_textbuf_printf (out, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "",
                       labels, *labels ? "}" : "",
                       (double) atomic_load (&self->sum_us) / 1e6);
    ll_textbuf_printf (out, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "",
                       labels, *labels ? "}" : "",
                       (unsigned long long) cumulative);
}

//  A histogram family (HELP, TYPE), then one histogram per value of the
//  label key.
static void
s_histograms (ll_textbuf_t *out,
              const char *name,
              const char *help,
              const char *key,
              const char *const *values,
              const ll_histogram_t *histograms,
              int count)
{
    ll_metrics_family (out, name, "histogram", help);
    for (int i = 0; i < count; i++) {
        char labels[96];
        snprintf (labels, sizeof labels, "%s=\"%s\"", key, values[i]);
        ll_histogram_render (out, name, labels, &histograms[i]);
    }
}

void
ll_metrics_render (const ll_metrics_t *self, ll_textbuf_t *out)
{
    ll_metrics_family (out, "lablink_claims_total", "counter",
                       "Students' claims (POST /api/request_vm) by outcome.");
    for (int i = 0; i < LL_OUTCOMES; i++)
        ll_textbuf_printf (out, "lablink_claims_total{outcome=\"%s\"} %llu\n",
                           s_claim_outcomes[i],
                           (unsigned long long) atomic_load (&self->claims[i]));
    ll_metrics_family (out, "lablink_claim_duration_seconds", "histogram",
                       "Time to answer a claim, every outcome.");
    ll_histogram_render (out, "lablink_claim_duration_seconds", "",
                         &self->claim_seconds);
    s_histograms (out, "lablink_delivery_duration_seconds",
                  "From a claim to the VM's acknowledgement that start-host "
                  "ran (via the agent's result or, for old clients, a "
                  "heartbeat with crd_active).",
                  "via", s_vias, self->delivery_seconds, LL_DELIVERY_VIAS);
    s_histograms (out, "lablink_vm_startup_phase_duration_seconds",
                  "Each VM's startup phases as reported: terraform (apply), "
                  "cloud_init, container, total.",
                  "phase", s_phases, self->phase_seconds, LL_PHASES);
    ll_metrics_family (out, "lablink_operations_total", "counter",
                       "Finished launch and destroy operations by kind and "
                       "outcome.");
    for (int i = 0; i < LL_OP_KINDS; i++)
        for (int ok = 0; ok < 2; ok++)
            ll_textbuf_printf (
                out,
                "lablink_operations_total{kind=\"%s\",outcome=\"%s\"} "
                "%llu\n",
                s_op_kinds[i], ok == 0 ? "succeeded" : "failed",
                (unsigned long long) atomic_load (&self->operations[i][ok]));
    s_histograms (out, "lablink_operation_duration_seconds",
                  "Duration of finished operations (terraform init, apply or "
                  "destroy, outputs).",
                  "kind", s_op_kinds, self->operation_seconds, LL_OP_KINDS);
}

//  --- process_* (the names every Prometheus client library exports) -----

void
ll_metrics_process (ll_textbuf_t *out)
{
    long ticks = sysconf (_SC_CLK_TCK);
    long page = sysconf (_SC_PAGESIZE);
    //  /proc/self/stat: utime, stime (fields 14, 15), starttime (22),
    //  vsize (23), rss (24); the command name may hold spaces: skip past ')'
    char stat[1024] = "";
    FILE *file = fopen ("/proc/self/stat", "r");
    if (file) {
        size_t n = fread (stat, 1, sizeof stat - 1, file);
        stat[n] = '\0';
        fclose (file);
    }
    const char *p = strrchr (stat, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
    if (p && ticks > 0) {
        p += 2;
        int field = 3;
        while (*p && field < 25) {
            unsigned long long value = strtoull (p, NULL, 10);
            if (field == 14)
                utime = value;
            else if (field == 15)
                stime = value;
            else if (field == 22)
                start = value;
            else if (field == 23)
                vsize = value;
            else if (field == 24)
                rss = value;
            p = strchr (p, ' ');
            if (!p)
                break;
            p++;
            field++;
        }
    }
    //  Boot time from /proc/stat's btime: start time = btime + start ticks
    unsigned long long btime = 0;
    file = fopen ("/proc/stat", "r");
    if (file) {
        char line[256];
        while (fgets (line, sizeof line, file))
            if (strncmp (line, "btime ", 6) == 0)
                btime = strtoull (line + 6, NULL, 10);
        fclose (file);
    }
    int fds = 0;
    DIR *dir = opendir ("/proc/self/fd");
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir (dir)))
            if (entry->d_name[0] != '.')
                fds++;
        closedir (dir);
        fds--;  //  the directory's own descriptor
    }
    struct rlimit limit = {0};
    getrlimit (RLIMIT_NOFILE, &limit);
    ll_metrics_family (out, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.");
    ll_textbuf_printf (out, "process_cpu_seconds_total %.2f\n",
                       ticks > 0 ? (double) (utime + stime) / (double) ticks
                                 : 0.0);
    ll_metrics_family (out, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.");
    ll_textbuf_printf (out, "process_resident_memory_bytes %llu\n",
                       rss * (unsigned long long) (page > 0 ? page : 4096));
    ll_metrics_family (out, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes.");
    ll_textbuf_printf (out, "process_virtual_memory_bytes %llu\n", vsize);
    ll_metrics_family (out, "process_open_fds", "gauge",
                       "Number of open file descriptors.");
    ll_textbuf_printf (out, "process_open_fds %d\n", fds > 0 ? fds : 0);
    ll_metrics_family (out, "process_max_fds", "gauge",
                       "Maximum number of open file descriptors.");
    ll_textbuf_printf (out, "process_max_fds %llu\n",
                       (unsigned long long) limit.rlim_cur);
    ll_metrics_family (out, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in "
                       "seconds.");
    ll_textbuf_printf (
        out, "process_start_time_seconds %.2f\n",
        ticks > 0 ? (double) btime + (double) start / (double) ticks : 0.0);
}

void
ll_metrics_build_info (ll_textbuf_t *out)
{
    ll_metrics_family (out, "lablink_build_info", "gauge",
                       "Always 1; the labels name the running build.");
    ll_textbuf_printf (out,
                       "lablink_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                       ll_build_version (), ll_build_commit ());
}
