/*  The measurements behind the HTTP workers' socket design
    (docs/architecture.md, "HTTP workers' sockets"); not part of the build:

        gcc -O2 bench/micro/sockets.c -o /tmp/sockets -lzmq -lpthread
        /tmp/sockets memory 2000       RSS and descriptors per connected
                                       inproc DEALER
        /tmp/sockets calls MODE 16 5000
                                       CPU per request/reply call from 16
                                       threads x 5,000 calls to an echoing
                                       ROUTER; MODE: per-thread (a DEALER per
                                       thread), pool (DEALERs borrowed under
                                       a mutex), broker (a DEALER per thread
                                       through a broker thread) */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "micro.h"

#define S_POOL_MAX 4096

typedef enum { S_PER_THREAD, S_POOL, S_BROKER } s_mode_t;

typedef struct {
    void *ctx;
    s_mode_t mode;
    int calls;
    pthread_mutex_t lock;
    void *pool[S_POOL_MAX];
    int pooled;
} s_run_t;

static int
s_fds (void)
{
    DIR *d = opendir ("/proc/self/fd");
    int n = 0;
    while (d && readdir (d))
        n++;
    if (d)
        closedir (d);
    return n - 3;  //  ".", ".." and the DIR itself
}

static int
s_memory (int n)
{
    void *ctx = zmq_ctx_new ();
    zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, n + 100);
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    zmq_bind (router, "inproc://actor");
    long rss0 = ll_micro_rss_kib ();
    int fds0 = s_fds ();
    for (int i = 0; i < n; i++) {
        void *dealer = zmq_socket (ctx, ZMQ_DEALER);
        if (!dealer) {
            printf ("socket %d: %s\n", i, zmq_strerror (zmq_errno ()));
            return 1;
        }
        zmq_connect (dealer, "inproc://actor");
    }
    long rss = ll_micro_rss_kib () - rss0;
    int fds = s_fds () - fds0;
    printf ("%d connected DEALERs: +%ld KiB RSS (%.1f KiB each), +%d "
            "descriptors (%.2f each)\n",
            n, rss, (double) rss / n, fds, (double) fds / n);
    return 0;
}

//  The actor: echoes every message back to its sender
static void *
s_echo (void *arg)
{
    void *router = zmq_socket (arg, ZMQ_ROUTER);
    zmq_bind (router, "inproc://actor");
    while (1) {
        zmq_msg_t parts[8];
        int count = 0, more = 1;
        while (more && count < 8) {
            zmq_msg_init (&parts[count]);
            if (zmq_msg_recv (&parts[count], router, 0) < 0)
                return NULL;
            more = zmq_msg_more (&parts[count++]);
        }
        for (int i = 0; i < count; i++)
            zmq_msg_send (&parts[i], router, i < count - 1 ? ZMQ_SNDMORE : 0);
    }
}

//  The broker: workers' DEALERs on a ROUTER, one DEALER to the actor
static void *
s_broker (void *arg)
{
    void *front = zmq_socket (arg, ZMQ_ROUTER);
    zmq_bind (front, "inproc://broker");
    void *back = zmq_socket (arg, ZMQ_DEALER);
    zmq_connect (back, "inproc://actor");
    zmq_proxy (front, back, NULL);
    return NULL;
}

static void *
s_client (void *arg)
{
    s_run_t *run = arg;
    void *mine = NULL;
    if (run->mode != S_POOL) {
        mine = zmq_socket (run->ctx, ZMQ_DEALER);
        zmq_connect (mine, run->mode == S_BROKER ? "inproc://broker"
                                                 : "inproc://actor");
    }
    char buf[64];
    for (int i = 0; i < run->calls; i++) {
        void *sock = mine;
        if (run->mode == S_POOL) {
            pthread_mutex_lock (&run->lock);
            sock = run->pooled ? run->pool[--run->pooled] : NULL;
            pthread_mutex_unlock (&run->lock);
            if (!sock) {
                sock = zmq_socket (run->ctx, ZMQ_DEALER);
                zmq_connect (sock, "inproc://actor");
            }
        }
        zmq_send (sock, "VM-HEARTBEAT", 12, ZMQ_SNDMORE);
        zmq_send (sock, "12345", 5, ZMQ_SNDMORE);
        zmq_send (sock, "host-1", 6, 0);
        int more = 1;
        while (more) {
            zmq_recv (sock, buf, sizeof buf, 0);
            size_t size = sizeof more;
            zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &size);
        }
        if (run->mode == S_POOL) {
            pthread_mutex_lock (&run->lock);
            run->pool[run->pooled++] = sock;
            pthread_mutex_unlock (&run->lock);
        }
    }
    return NULL;
}

static int
s_calls (const char *mode, int threads, int calls)
{
    static s_run_t run;
    run.ctx = zmq_ctx_new ();
    run.calls = calls;
    run.mode = strcmp (mode, "pool") == 0     ? S_POOL
               : strcmp (mode, "broker") == 0 ? S_BROKER
                                              : S_PER_THREAD;
    pthread_mutex_init (&run.lock, NULL);
    if (threads < 1 || threads > 512)
        return 2;
    pthread_t echo, broker, t[512];
    struct timespec pause = {0, 50000000};
    pthread_create (&echo, NULL, s_echo, run.ctx);
    nanosleep (&pause, NULL);
    if (run.mode == S_BROKER) {
        pthread_create (&broker, NULL, s_broker, run.ctx);
        nanosleep (&pause, NULL);
    }
    struct rusage r0, r1;
    struct timespec w0, w1;
    getrusage (RUSAGE_SELF, &r0);
    clock_gettime (CLOCK_MONOTONIC, &w0);
    for (int i = 0; i < threads; i++)
        pthread_create (&t[i], NULL, s_client, &run);
    for (int i = 0; i < threads; i++)
        pthread_join (t[i], NULL);
    clock_gettime (CLOCK_MONOTONIC, &w1);
    getrusage (RUSAGE_SELF, &r1);
    double cpu = (double) (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec
                           + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
                     * 1e6
                 + (double) (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec
                             + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    double wall = (double) (w1.tv_sec - w0.tv_sec) * 1e6
                  + (double) (w1.tv_nsec - w0.tv_nsec) / 1e3;
    double n = (double) threads * calls;
    printf ("%s: %d threads x %d calls: %.1f us CPU per call, %.1f us wall "
            "per call\n",
            mode, threads, calls, cpu / n, wall / n);
    fflush (stdout);
    _exit (0);  //  the echo and broker threads never end
}

int
main (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv[1], "memory") == 0)
        return s_memory ((int) strtol (argv[2], NULL, 10));
    if (argc == 5 && strcmp (argv[1], "calls") == 0)
        return s_calls (argv[2], (int) strtol (argv[3], NULL, 10),
                        (int) strtol (argv[4], NULL, 10));
    fprintf (stderr, "usage: sockets memory N | sockets calls "
                     "per-thread|pool|broker THREADS CALLS\n");
    return 2;
}
