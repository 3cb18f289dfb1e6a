/*  Scenario "startup": from exec to the first 200 on /api/health.

    lablink-bench startup --allocator PATH --config FILE [--runs 5]
                          [--log FILE]

    Runs the allocator RUNS times against the database of FILE (which must
    be reachable and migrated or migratable): fork + exec, then GET
    /api/health on app.listen every millisecond until it answers 200; the
    time from just before the fork to that answer is the run's figure
    (the allocator may still say "starting": its actors connect to
    PostgreSQL after the migrations, behind the HTTP server). Then it goes
    on, every 10 ms, until health says "healthy" (every actor connected),
    the second figure. Then SIGTERM and wait for the exit. Prints every
    run, the medians, and the allocator's own account of its start from
    its log ("allocator: ready in ...", the migrations, the connections).
    The allocator's output goes to FILE of --log (default /dev/null: the
    last run's log is kept there). */
#include "bench/bench.h"
#include "runtime/config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_RUNS_MAX 50
#define S_READY_MS 30000

//  The health URL from app.listen ("127.0.0.1:5000", "5000", first of a
//  list); 0 or -1.
static int
s_health_url (const ll_config_t *config, char *url, size_t size)
{
    char listen[128];
    snprintf (listen, sizeof listen, "%s", config->app.listen);
    listen[strcspn (listen, ",s")] = '\0';
    char *colon = strrchr (listen, ':');
    const char *port = colon ? colon + 1 : listen;
    const char *host = "127.0.0.1";
    if (colon) {
        *colon = '\0';
        if (*listen && strcmp (listen, "0.0.0.0") != 0)
            host = listen;
    }
    if (strtol (port, NULL, 10) <= 0)
        return -1;
    snprintf (url, size, "http://%s:%s/api/health", host, port);
    return 0;
}

//  One run: the microseconds from exec to the first 200, or -1;
//  *healthy_us to "healthy" (-1: never); *cpu_ms the allocator's CPU time
//  over its whole run (start and stop).
static int64_t
s_run (const char *allocator,
       const char *config,
       const char *log,
       const char *url,
       int64_t *healthy_us,
       double *cpu_ms)
{
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    int64_t t0 = ll_bench_now_us ();
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2 (fd, 1);
            dup2 (fd, 2);
        }
        execl (allocator, allocator, "--config", config, (char *) NULL);
        _exit (127);
    }
    int64_t ready = -1;
    *healthy_us = -1;
    struct timespec pause = {0, 1000000};
    while (pid > 0 && ll_bench_now_us () - t0 < S_READY_MS * 1000LL) {
        ll_bench_response_t res;
        if (ll_bench_request (curl, url, NULL, NULL, 2000, &res) == 0
            && res.status == 200) {
            int64_t now = ll_bench_now_us () - t0;
            if (ready < 0)
                ready = now;
            if (res.body && strstr (res.body, "\"status\":\"healthy\"")) {
                *healthy_us = now;
                ll_bench_response_clear (&res);
                break;
            }
        }
        ll_bench_response_clear (&res);
        if (waitpid (pid, NULL, WNOHANG) == pid) {
            pid = -1;  //  it died
            break;
        }
        //  Once it serves, asking less often leaves the CPU to the
        //  connections being measured
        pause.tv_nsec = ready < 0 ? 1000000 : 10000000;
        nanosleep (&pause, NULL);
    }
    curl_easy_cleanup (curl);
    *cpu_ms = 0;
    if (pid > 0) {
        kill (pid, SIGTERM);
        struct rusage usage;
        if (wait4 (pid, NULL, 0, &usage) == pid)
            *cpu_ms =
                (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                    * 1000.0
                + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
                      / 1000.0;
    }
    return ready;
}

int
ll_bench_startup (int argc, char **argv)
{
    const char *allocator = ll_bench_opt (argc, argv, "--allocator", NULL);
    const char *config_path = ll_bench_opt (argc, argv, "--config", NULL);
    const char *log = ll_bench_opt (argc, argv, "--log", "/dev/null");
    long runs = ll_bench_opt_long (argc, argv, "--runs", 5);
    if (!allocator || !config_path || runs < 1 || runs > S_RUNS_MAX) {
        fprintf (stderr, "usage: lablink-bench startup --allocator PATH "
                         "--config FILE [--runs 5] [--log FILE]\n");
        return 2;
    }
    char error[512], url[512];
    ll_config_t *config = ll_config_load (config_path, error, sizeof error);
    if (!config || s_health_url (config, url, sizeof url) != 0) {
        fprintf (stderr, "lablink-bench: %s\n",
                 config ? "app.listen has no port" : error);
        ll_config_destroy (&config);
        return 1;
    }
    ll_config_destroy (&config);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int64_t times[S_RUNS_MAX], healthy[S_RUNS_MAX];
    long good = 0;
    for (long r = 0; r < runs; r++) {
        double cpu_ms = 0;
        int64_t healthy_us = -1;
        int64_t us =
            s_run (allocator, config_path, log, url, &healthy_us, &cpu_ms);
        if (us < 0 || healthy_us < 0)
            printf ("startup: run %ld: no %s within %d ms\n", r + 1,
                    us < 0 ? "200" : "\"healthy\"", S_READY_MS);
        else {
            printf ("startup: run %ld: exec to the first 200 on /api/health "
                    "%.1f ms, to \"healthy\" %.1f ms; the allocator's CPU, "
                    "start to exit, %.1f ms\n",
                    r + 1, (double) us / 1000.0, (double) healthy_us / 1000.0,
                    cpu_ms);
            healthy[good] = healthy_us;
            times[good++] = us;
        }
        fflush (stdout);
    }
    curl_global_cleanup ();
    if (good) {
        //  (sorts both)
        double median = ll_bench_percentile (times, (size_t) good, 50);
        printf ("startup: median %.1f ms, min %.1f, max %.1f (%ld runs)\n",
                median / 1000.0, (double) times[0] / 1000.0,
                (double) times[good - 1] / 1000.0, good);
        median = ll_bench_percentile (healthy, (size_t) good, 50);
        printf ("startup: to \"healthy\" (every actor connected): median "
                "%.1f ms, min %.1f, max %.1f\n",
                median / 1000.0, (double) healthy[0] / 1000.0,
                (double) healthy[good - 1] / 1000.0);
    }
    //  The allocator's own account of the last run
    FILE *f = strcmp (log, "/dev/null") != 0 ? fopen (log, "r") : NULL;
    char line[1024];
    while (f && fgets (line, sizeof line, f))
        if (strstr (line, "allocator: ready")
            || strstr (line, "allocator: migrations")
            || strstr (line, "first connection to postgresql"))
            printf ("startup: last run's log: %s",
                    strstr (line, "allocator: ready") ? strstr (line, "ready")
                                                      : line);
    if (f)
        fclose (f);
    printf ("verdict: %s\n",
            good == runs ? "every run answered 200" : "FAILED");
    return good == runs ? 0 : 1;
}
