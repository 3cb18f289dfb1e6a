/*  lablink-bench export: the data export end to end, measured.

      lablink-bench export [--vms 50] [--files 20] [--size 1048576]
                           [--parallel 8] [--allocator PATH] [--dir DIR]

    Starts --vms local "VMs" (one real sshd each on 127.0.1.N, internal-sftp
    with a per-VM home holding --files files of --size random bytes under
    Desktop/), the real allocator (--allocator, default: lablink-allocator
    beside this binary) on the PostgreSQL named by LABLINK_DB_HOST/PORT (run
    it under tests/harness/run-test for a throwaway one), then downloads
    GET /api/scp-client once and prints the throughput (file bytes / wall
    time) and the allocator's peak RSS (VmHWM) before and after. Needs root
    (sshd) and /usr/sbin/sshd. */
#include "bench/bench.h"
#include "runtime/config.h"
#include "runtime/db.h"
#include "runtime/msg.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    uint64_t bytes;          //  bytes received
    unsigned char tail[22];  //  the last bytes (end of central directory)
    size_t tail_len;         //  valid bytes in tail
} s_download_t;

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl (0x7f000001)};
    socklen_t len = sizeof a;
    int port = -1;
    if (bind (fd, (struct sockaddr *) &a, sizeof a) == 0
        && getsockname (fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs (a.sin_port);
    close (fd);
    return port;
}

static pid_t
s_spawn (char *const argv[], const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 1, log,
                                      O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2 (&fa, 1, 2);
    pid_t pid = -1;
    if (posix_spawn (&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy (&fa);
    return pid;
}

static int
s_run (char *const argv[], const char *log)
{
    pid_t pid = s_spawn (argv, log);
    int status = 0;
    if (pid < 0 || waitpid (pid, &status, 0) < 0)
        return -1;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : -1;
}

static int
s_write_file (const char *path, const void *data, size_t len)
{
    FILE *f = fopen (path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite (data, 1, len, f);
    return fclose (f) == 0 && n == len ? 0 : -1;
}

static size_t
s_on_data (char *data, size_t size, size_t nmemb, void *arg)
{
    s_download_t *d = arg;
    size_t n = size * nmemb;
    d->bytes += n;
    //  keep the last 22 bytes
    if (n >= sizeof d->tail) {
        memcpy (d->tail, data + n - sizeof d->tail, sizeof d->tail);
        d->tail_len = sizeof d->tail;
    }
    else {
        size_t keep =
            d->tail_len + n > sizeof d->tail ? sizeof d->tail - n : d->tail_len;
        memmove (d->tail, d->tail + d->tail_len - keep, keep);
        memcpy (d->tail + keep, data, n);
        d->tail_len = keep + n;
    }
    return n;
}

static long
s_get (const char *url, const char *userpwd, s_download_t *d, long timeout_s)
{
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, d);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, timeout_s);
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (curl);
    return status;
}

int
ll_bench_export (int argc, char **argv)
{
    int vms = (int) ll_bench_opt_long (argc, argv, "--vms", 50);
    int files = (int) ll_bench_opt_long (argc, argv, "--files", 20);
    long size = ll_bench_opt_long (argc, argv, "--size", 1048576);
    int parallel = (int) ll_bench_opt_long (argc, argv, "--parallel", 8);
    if (vms < 1 || vms > 250 || files < 1 || size < 1 || parallel < 1) {
        fprintf (stderr, "export: --vms 1..250, --files, --size, --parallel "
                         "must be positive\n");
        return 2;
    }
    char self_dir[4096] = ".", allocator[4200];
    ssize_t n = readlink ("/proc/self/exe", self_dir, sizeof self_dir - 1);
    if (n > 0) {
        self_dir[n] = '\0';
        char *slash = strrchr (self_dir, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf (allocator, sizeof allocator, "%s/lablink-allocator", self_dir);
    const char *alloc_bin = ll_bench_opt (argc, argv, "--allocator", allocator);
    const char *base =
        ll_bench_opt (argc, argv, "--dir", getenv ("LABLINK_TEST_DIR"));
    char dir[1024];
    if (base)
        snprintf (dir, sizeof dir, "%s/bench-export", base);
    else {
        snprintf (dir, sizeof dir, "/tmp/lablink-bench-export.XXXXXX");
        if (!mkdtemp (dir))
            return 1;
    }
    mkdir (dir, 0755);
    mkdir ("/run/sshd", 0755);
    if (sodium_init () < 0 || curl_global_init (CURL_GLOBAL_DEFAULT) != 0)
        return 1;

    //  The allocator's config and the start
    ll_config_t *env = ll_config_new_defaults ();
    ll_config_apply_env (env);
    int http_port = s_free_port ();
    char path[1200], text[16384], log[1200];
    snprintf (path, sizeof path, "%s/config.yaml", dir);
    snprintf (text, sizeof text,
              "db:\n  host: %s\n  port: %d\napp:\n  admin_user: admin\n"
              "  admin_password: bench-password\n  listen: 127.0.0.1:%d\n"
              "  log_level: warn\nprovider:\n  kind: local\n"
              "export:\n  ssh_user: root\n  key_file: %s/export_ed25519\n"
              "  parallel: %d\n  timeout_s: 30\n",
              env->db.host, env->db.port, http_port, dir, parallel);
    if (s_write_file (path, text, strlen (text)) != 0)
        return 1;
    snprintf (log, sizeof log, "%s/allocator.log", dir);
    char *alloc_argv[] = {(char *) alloc_bin, "--config", path, NULL};
    pid_t alloc = s_spawn (alloc_argv, log);
    if (alloc < 0) {
        fprintf (stderr, "export: cannot run %s\n", alloc_bin);
        return 1;
    }
    char url[256];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/api/health", http_port);
    char pub[1200];
    snprintf (pub, sizeof pub, "%s/export_ed25519.pub", dir);
    int rc = 1;
    pid_t *sshd = calloc ((size_t) vms, sizeof *sshd);
    bool up = false;
    for (int i = 0; i < 200 && !up; i++) {
        s_download_t d = {0};
        struct stat st;
        up = s_get (url, "admin:bench-password", &d, 2) == 200
             && stat (pub, &st) == 0;
        if (!up)
            usleep (100000);
    }
    ll_db_t *db = up ? ll_db_new (env, NULL, "bench") : NULL;
    if (!db || ll_db_connect (db) != 0) {
        fprintf (stderr, "export: allocator or database not ready (see %s)\n",
                 log);
        goto done;
    }
    PQclear (ll_db_exec (db, "exporter_bench_clear", 0, NULL));

    //  The VMs: one host key for all (each is pinned under its own name)
    char hostkey[1200];
    snprintf (hostkey, sizeof hostkey, "%s/host_ed25519", dir);
    char *keygen[] = {"/usr/bin/ssh-keygen",
                      "-q",
                      "-t",
                      "ed25519",
                      "-N",
                      "",
                      "-f",
                      hostkey,
                      NULL};
    unlink (hostkey);
    snprintf (log, sizeof log, "%s/keygen.log", dir);
    if (s_run (keygen, log) != 0) {
        fprintf (stderr, "export: ssh-keygen failed\n");
        goto done;
    }
    int ssh_port = s_free_port ();
    unsigned char *blob = malloc ((size_t) size);
    randombytes_buf (blob, (size_t) size);
    for (int v = 0; v < vms; v++) {
        char home[1200], cfg[1200], file[1300];
        snprintf (home, sizeof home, "%s/vm%d", dir, v + 1);
        mkdir (home, 0755);
        snprintf (home, sizeof home, "%s/vm%d/home", dir, v + 1);
        mkdir (home, 0755);
        snprintf (file, sizeof file, "%s/Desktop", home);
        mkdir (file, 0755);
        for (int f = 0; f < files; f++) {
            memcpy (blob, &v, sizeof v);  //  every file differs
            memcpy (blob + sizeof v, &f, sizeof f);
            snprintf (file, sizeof file, "%s/Desktop/data-%d.slp", home, f);
            if (s_write_file (file, blob, (size_t) size) != 0) {
                fprintf (stderr, "export: cannot write %s\n", file);
                goto done;
            }
        }
        snprintf (cfg, sizeof cfg, "%s/vm%d/sshd_config", dir, v + 1);
        snprintf (text, sizeof text,
                  "ListenAddress 127.0.1.%d\nPort %d\nHostKey %s\n"
                  "PidFile %s/vm%d/sshd.pid\nAuthorizedKeysFile %s\n"
                  "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                  "KbdInteractiveAuthentication no\n"
                  "PermitRootLogin prohibit-password\nMaxStartups 200\n"
                  "Subsystem sftp internal-sftp -d %s\n",
                  v + 1, ssh_port, hostkey, dir, v + 1, pub, home);
        if (s_write_file (cfg, text, strlen (text)) != 0)
            goto done;
        snprintf (log, sizeof log, "%s/vm%d/sshd.log", dir, v + 1);
        char *sshd_argv[] = {"/usr/sbin/sshd", "-D", "-e", "-f", cfg, NULL};
        sshd[v] = s_spawn (sshd_argv, log);
        char host[64], addr[32], port[16];
        snprintf (host, sizeof host, "lablink-bench-export-%d", v + 1);
        snprintf (addr, sizeof addr, "127.0.1.%d", v + 1);
        snprintf (port, sizeof port, "%d", ssh_port);
        const char *values[] = {host, addr, port};
        PGresult *res = ll_db_exec (db, "exporter_bench_add_vm", 3, values);
        if (!res) {
            fprintf (stderr, "export: cannot add %s: %s\n", host,
                     ll_db_error (db));
            goto done;
        }
        PQclear (res);
    }
    free (blob);
    usleep (500000);  //  the sshds bind

    long before = 0, after = 0;
    double cpu_before = 0, cpu = 0;
    ll_bench_usage (alloc, &before, NULL, &cpu_before);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/api/scp-client", http_port);
    s_download_t d = {0};
    int64_t t0 = ll_now_ms ();
    long status = s_get (url, "admin:bench-password", &d, 3600);
    int64_t ms = ll_now_ms () - t0;
    ll_bench_usage (alloc, &after, NULL, &cpu);
    cpu -= cpu_before;
    double payload = (double) vms * files * (double) size;
    bool complete = d.tail_len == 22 && d.tail[0] == 0x50 && d.tail[1] == 0x4b
                    && d.tail[2] == 0x05 && d.tail[3] == 0x06;
    printf ("export: %d VMs x %d files x %ld B = %.1f MiB, parallel %d\n", vms,
            files, size, payload / 1048576.0, parallel);
    printf ("export: HTTP %ld, %llu zip bytes in %.2f s, complete: %s\n",
            status, (unsigned long long) d.bytes, (double) ms / 1000.0,
            complete ? "yes" : "NO");
    printf ("export: throughput %.1f MB/s (file bytes / wall time)\n",
            ms ? payload / 1e6 / ((double) ms / 1000.0) : 0.0);
    printf ("export: allocator peak RSS %.1f MiB before, %.1f MiB after\n",
            (double) before / 1024.0, (double) after / 1024.0);
    printf (
        "export: allocator CPU %.2f s (%.0f ms per 100 MB; load-independent)\n",
        cpu / 1000.0, payload ? cpu * 1e8 / payload : 0.0);
    rc = status == 200 && complete && d.bytes >= (uint64_t) payload ? 0 : 1;
done:
    for (int v = 0; v < vms; v++)
        if (sshd[v] > 0) {
            kill (sshd[v], SIGTERM);
            waitpid (sshd[v], NULL, 0);
        }
    free (sshd);
    if (db) {
        PQclear (ll_db_exec (db, "exporter_bench_clear", 0, NULL));
        ll_db_destroy (&db);
    }
    kill (alloc, SIGTERM);
    waitpid (alloc, NULL, 0);
    ll_config_destroy (&env);
    curl_global_cleanup ();
    return rc;
}
