/*  libzmq's own memory and CPU per connected TCP peer (docs/performance.md,
    "Many agents"); not part of the build:

        gcc -O2 bench/micro/peers.c -o /tmp/peers -lczmq -lzmq
        ulimit -n 20000; /tmp/peers 2000 curve     (or: plain)

    A ROUTER (CURVE server with "curve") in this process; a child process
    connects N DEALERs and each sends one message; once all N arrived, the
    ROUTER process's RSS growth and CPU (its libzmq I/O thread's: accept,
    handshake, first message) are divided by N. */
#include <czmq.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "micro.h"

//  This process's CPU so far, in milliseconds
static double
s_cpu_ms (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000.0
           + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
                 / 1000.0;
}

int
main (int argc, char **argv)
{
    int n = argc > 1 ? (int) strtol (argv[1], NULL, 10) : 0;
    bool curve = argc > 2 && streq (argv[2], "curve");
    if (n < 1) {
        fprintf (stderr, "usage: peers N [curve|plain]\n");
        return 2;
    }
    zcert_t *server = zcert_new ();
    char key[41];
    snprintf (key, sizeof key, "%s", zcert_public_txt (server));
    int ready[2];
    if (pipe (ready) != 0)
        return 1;
    pid_t child = fork ();
    if (child == 0) {
        int port = 0;
        if (read (ready[0], &port, sizeof port) != sizeof port)
            _exit (1);
        zsys_set_max_sockets ((size_t) n + 64);
        for (int i = 0; i < n; i++) {
            zsock_t *dealer = zsock_new (ZMQ_DEALER);
            if (curve) {
                zcert_t *cert = zcert_new ();
                zcert_apply (cert, dealer);
                zcert_destroy (&cert);
                zsock_set_curve_serverkey (dealer, key);
            }
            zsock_connect (dealer, "tcp://127.0.0.1:%d", port);
            zstr_send (dealer, "HELLO");
        }
        pause ();  //  killed by the parent
        _exit (0);
    }
    zsys_set_max_sockets (256);
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (curve) {
        zcert_apply (server, router);
        zsock_set_curve_server (router, 1);
    }
    zsock_set_backlog (router, 4096);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    long before = ll_micro_rss_kib ();
    double cpu0 = s_cpu_ms ();
    if (write (ready[1], &port, sizeof port) != sizeof port)
        return 1;
    for (int got = 0; got < n; got++) {
        zmsg_t *msg = zmsg_recv (router);
        zmsg_destroy (&msg);
    }
    double cpu = s_cpu_ms () - cpu0;
    zclock_sleep (1000);
    long grown = ll_micro_rss_kib () - before;
    printf ("%d %s peers: +%ld KiB RSS (%.1f KiB each), %.0f ms CPU (%.0f us "
            "each)\n",
            n, curve ? "CURVE" : "plain", grown, (double) grown / n, cpu,
            cpu * 1000.0 / n);
    kill (child, SIGKILL);
    waitpid (child, NULL, 0);
    zsock_destroy (&router);
    zcert_destroy (&server);
    return 0;
}
