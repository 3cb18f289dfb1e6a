/*  lablink-bench: shared pieces of the scenarios (bench/<scenario>.c).
    Every scenario talks to a running allocator from outside over HTTP
    (keep-alive, one connection per thread) and reads PostgreSQL through
    the allocator's own config for what HTTP cannot tell (stored counts,
    the server secret that agent tokens derive from). */
#ifndef LL_BENCH_H
#define LL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/config.h"
#include "runtime/db.h"
#include "runtime/textbuf.h"

//  Common options of every scenario.
typedef struct {
    const char *host;    //  allocator address (127.0.0.1)
    int port;            //  allocator port
    const char *config;  //  the allocator's config.yaml (database access)
    int pid;             //  allocator pid for RSS, 0 = unknown
    int seconds;         //  duration of the measured phase
    int argc;            //  the scenario's own options
    char **argv;
} ll_bench_opts_t;

typedef int (ll_bench_fn) (ll_bench_opts_t *opts);

//  A keep-alive HTTP/1.1 connection.
typedef struct {
    const char *host;  //  address
    int port;          //  port
    int fd;            //  socket, -1 when closed
    ll_textbuf_t in;   //  response bytes
} ll_bench_conn_t;

//  One request; returns the status (0 on transport failure, after which
//  the next request reconnects). body may be NULL. The response body is
//  in conn->in (NUL-terminated) afterwards.
int ll_bench_request (ll_bench_conn_t *conn,
                      const char *method,
                      const char *path,
                      const char *token,
                      const char *body,
                      size_t body_len);

void ll_bench_close (ll_bench_conn_t *conn);

//  The server secret (new string) through the config's database; NULL on
//  failure. Makes the allocator create it first.
char *ll_bench_secret (ll_bench_opts_t *opts, ll_db_t *db);

//  A database connection from the allocator's config, or NULL.
ll_db_t *ll_bench_db (ll_bench_opts_t *opts, ll_config_t **config);

//  The allocator's resident and peak memory in KiB (0 when unknown).
void ll_bench_rss (int pid, long *rss_kib, long *peak_kib);

//  Monotonic microseconds.
int64_t ll_bench_now_us (void);

//  Sort ascending.
void ll_bench_sort (double *values, size_t n);

//  Percentile p (0..100) of n sorted values.
double ll_bench_percentile (const double *sorted, size_t n, double p);

//  An integer option "--name value" among the scenario's argv, or dflt.
long ll_bench_opt (ll_bench_opts_t *opts, const char *name, long dflt);

int ll_bench_logs (ll_bench_opts_t *opts);
int ll_bench_logs_read (ll_bench_opts_t *opts);
int ll_bench_telemetry (ll_bench_opts_t *opts);

#endif
