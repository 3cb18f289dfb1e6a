/*  lablink-bench: load generator. One executable; each scenario is a
    function in bench/<scenario>.c listed in the table of bench/main.c.
    Helpers shared by the scenarios live here (bench/common.c). */
#ifndef LL_BENCH_H
#define LL_BENCH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/db.h"
#include "runtime/token.h"

typedef int (ll_bench_fn) (int argc, char **argv);

//  Scenarios (one line each in bench/main.c)
int ll_bench_claims (int argc, char **argv);
int ll_bench_burst (int argc, char **argv);
int ll_bench_deliver (int argc, char **argv);
int ll_bench_export (int argc, char **argv);
int ll_bench_logs (int argc, char **argv);
int ll_bench_logs_read (int argc, char **argv);
int ll_bench_telemetry (int argc, char **argv);
int ll_bench_startup (int argc, char **argv);

//  The database named by the environment (LABLINK_DB_HOST, LABLINK_DB_PORT,
//  LABLINK_DB_PASSWORD; or --config FILE when given): NULL on failure.
//  The caller destroys both.
ll_db_t *ll_bench_db (const char *config_path, ll_config_t **config_p);

//  The database of --config FILE (as ll_bench_db) with count fresh VMs
//  named prefix-00001... (the bench's earlier ones of prefix removed):
//  NULL (printed) on failure. The caller destroys both.
ll_db_t *ll_bench_seeded (int argc,
                          char **argv,
                          const char *prefix,
                          long count,
                          ll_config_t **config_p);

//  Agent tokens for n of the bench's own VMs: mints a token for each
//  hostname (runtime/token.h) into tokens[i] (LL_TOKEN_MAX bytes each) and
//  registers them all with one statement (bench_tokens: rows made when
//  absent, as the admin's POST /api/vms/<h>/register does one by one).
//  0, or -1 (printed) when the database refused.
int ll_bench_tokens (ll_db_t *db,
                     const char *const *hosts,
                     size_t n,
                     char (*tokens)[LL_TOKEN_MAX]);

//  Microseconds on the monotonic clock.
int64_t ll_bench_now_us (void);

//  Process pid's peak and current resident memory (KiB) and the CPU time
//  (user + system, ms) it has used, from /proc; 0 for what is unknown.
//  A NULL pointer: not wanted.
void ll_bench_usage (long pid, long *peak_kib, long *rss_kib, double *cpu_ms);

//  Sort values and return the p-th percentile (0..100).
double ll_bench_percentile (int64_t *values, size_t count, double p);

//  "p50 X ms, p99 Y ms" of count values in microseconds (sorted), written
//  into text; returns text.
const char *
ll_bench_p50_p99 (char *text, size_t size, int64_t *values, size_t count);

//  A response collected by ll_bench_request (body capped at 64 KiB).
typedef struct {
    long status;  //  HTTP status, 0 when the transfer failed
    char *body;   //  NUL-terminated (owned)
    size_t len;   //  bytes in body
} ll_bench_response_t;

//  One request on a reused easy handle: POST when body is not NULL.
//  headers may be NULL. Returns 0 when a response arrived.
int ll_bench_request (CURL *curl,
                      const char *url,
                      const char *body,
                      struct curl_slist *headers,
                      long timeout_ms,
                      ll_bench_response_t *out);

void ll_bench_response_clear (ll_bench_response_t *self);

//  Find "--name value" in argv; default when absent.
const char *
ll_bench_opt (int argc, char **argv, const char *name, const char *dflt);
long ll_bench_opt_long (int argc, char **argv, const char *name, long dflt);

#endif
