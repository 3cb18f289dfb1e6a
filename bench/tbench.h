/*  lablink-bench: shared pieces of the telemetry scenarios (logs,
    logs-read, telemetry; bench/logs.c, bench/telemetry.c). Every scenario talks to a running allocator from outside over HTTP
    (keep-alive, one connection per thread) and reads PostgreSQL through
    the allocator's own config for what HTTP cannot tell (stored counts)
    and to register its agents (ll_bench_tokens). */
#ifndef LL_TBENCH_H
#define LL_TBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/config.h"
#include "runtime/db.h"
#include "runtime/textbuf.h"

//  Common options of every scenario.
typedef struct {
    char host[64];       //  allocator address (127.0.0.1)
    int port;            //  allocator port
    const char *config;  //  the allocator's config.yaml (database access)
    int pid;             //  allocator pid for RSS, 0 = unknown
    int seconds;         //  duration of the measured phase
    int argc;            //  the scenario's own options
    char **argv;
} ll_tbench_opts_t;

//  Parse the common options (--url URL, --config FILE, --pid N,
//  --seconds N) of argv (argv[0] = the scenario); the rest is kept for
//  ll_tbench_opt. Free opts->argv afterwards.
void ll_tbench_parse (int argc, char **argv, ll_tbench_opts_t *opts);

//  A scenario's entry: scenario with the options of argv (ll_tbench_parse),
//  its exit code.
int ll_tbench_run (int argc, char **argv, int (*scenario) (ll_tbench_opts_t *));

//  A keep-alive HTTP/1.1 connection.
typedef struct {
    const char *host;  //  address
    int port;          //  port
    int fd;            //  socket, -1 when closed
    ll_textbuf_t in;   //  response bytes
} ll_tbench_conn_t;

//  One request; returns the status (0 on transport failure, after which
//  the next request reconnects). body may be NULL. The response body is
//  in conn->in (NUL-terminated) afterwards.
int ll_tbench_request (ll_tbench_conn_t *conn,
                       const char *method,
                       const char *path,
                       const char *token,
                       const char *body,
                       size_t body_len);

void ll_tbench_close (ll_tbench_conn_t *conn);

//  Sort ascending.
void ll_tbench_sort (double *values, size_t n);

//  Percentile p (0..100) of n sorted values.
double ll_tbench_percentile (const double *sorted, size_t n, double p);

//  An integer option "--name value" among the scenario's argv, or dflt.
long ll_tbench_opt (ll_tbench_opts_t *opts, const char *name, long dflt);


#endif
