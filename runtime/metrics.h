/*  The allocator's Prometheus metrics that actors record (the HTTP edge
    keeps its per-route series itself, http/server.c): counters and
    histograms with fixed label values, updated with atomics only, so any
    thread may record. Conventions (prometheus.io/docs/practices/naming):
    base units (seconds, bytes), counters end in _total, one family per
    name with HELP and TYPE. `ll_metrics_render` writes them in the text
    exposition format. */
#ifndef LL_METRICS_H
#define LL_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "runtime/textbuf.h"

#define LL_HIST_BUCKETS_MAX 16

//  A histogram: cumulative buckets are computed when rendered.
typedef struct {
    const double *bounds;  //  upper bounds, ascending (not owned)
    int count;             //  entries in bounds (<= LL_HIST_BUCKETS_MAX)
    atomic_uint_fast64_t buckets[LL_HIST_BUCKETS_MAX + 1];  //  last = +Inf
    atomic_uint_fast64_t observations;                      //  _count
    atomic_uint_fast64_t sum_us;  //  _sum, in microseconds
} ll_histogram_t;

//  Bucket bounds in seconds, for the families below.
extern const double ll_buckets_request[];   //  1 ms .. 60 s (long polls)
extern const double ll_buckets_delivery[];  //  10 ms .. 5 min
extern const double ll_buckets_long[];      //  1 s .. 1 h (startup, ops)
#define LL_BUCKETS_REQUEST  15
#define LL_BUCKETS_DELIVERY 13
#define LL_BUCKETS_LONG     11

//  Outcomes of a student's claim (POST /api/request_vm).
typedef enum {
    LL_OUTCOME_ASSIGNED,      //  a VM (new, or the one this e-mail holds)
    LL_OUTCOME_RECOVERING,    //  queued for the e-mail's rebooting VM
    LL_OUTCOME_NO_VM,         //  503: no free VM
    LL_OUTCOME_REJECTED,      //  400/409: bad input, assignment changed
    LL_OUTCOME_RATE_LIMITED,  //  429
    LL_OUTCOME_ERROR,         //  500/503: database or actor failure
    LL_OUTCOMES
} ll_outcome_t;

//  How a delivery was acknowledged.
typedef enum {
    LL_DELIVERY_AGENT,      //  the agent's /api/vm-startup-result
    LL_DELIVERY_HEARTBEAT,  //  a heartbeat saying crd_active (old clients)
    LL_DELIVERY_VIAS
} ll_delivery_via_t;

//  VM startup phases (reference 3.6).
typedef enum {
    LL_PHASE_TERRAFORM,
    LL_PHASE_CLOUD_INIT,
    LL_PHASE_CONTAINER,
    LL_PHASE_TOTAL,
    LL_PHASES
} ll_phase_t;

//  Operation kinds and outcomes (the terraform actor).
typedef enum {
    LL_OP_LAUNCH,
    LL_OP_DESTROY,
    LL_OP_DESTROY_VM,
    LL_OP_REPLACE_VM,
    LL_OP_KINDS
} ll_op_kind_t;

typedef struct ll_metrics {
    atomic_uint_fast64_t claims[LL_OUTCOMES];  //  by outcome
    ll_histogram_t claim_seconds;  //  request to answer, every outcome
    ll_histogram_t delivery_seconds[LL_DELIVERY_VIAS];  //  claim to ack
    ll_histogram_t phase_seconds[LL_PHASES];            //  per VM
    atomic_uint_fast64_t operations[LL_OP_KINDS][2];    //  [ok, failed]
    ll_histogram_t operation_seconds[LL_OP_KINDS];      //  start to end
} ll_metrics_t;

//  Seconds on the monotonic clock (for durations).
double ll_metrics_clock (void);

//  Zeroed metrics with their buckets set.
void ll_metrics_init (ll_metrics_t *self);

//  Record one value (seconds; negative values are ignored).
void ll_histogram_observe (ll_histogram_t *self, double seconds);

void
ll_metrics_claim (ll_metrics_t *self, ll_outcome_t outcome, double seconds);
void
ll_metrics_delivery (ll_metrics_t *self, ll_delivery_via_t via, double seconds);
void ll_metrics_phase (ll_metrics_t *self, ll_phase_t phase, double seconds);
//  kind: "launch", "destroy", "destroy-vm" or "replace-vm" (others ignored)
void ll_metrics_operation (ll_metrics_t *self,
                           const char *kind,
                           bool ok,
                           double seconds);

//  Append "# HELP", "# TYPE" for a family (type "counter", "gauge",
//  "histogram").
void ll_metrics_family (ll_textbuf_t *out,
                        const char *name,
                        const char *type,
                        const char *help);

//  Append one histogram's series: name_bucket{labels,le=...}, name_sum,
//  name_count. labels: "" or `route="/x",method="GET"` (no braces).
void ll_histogram_render (ll_textbuf_t *out,
                          const char *name,
                          const char *labels,
                          const ll_histogram_t *self);

//  Append every family of self.
void ll_metrics_render (const ll_metrics_t *self, ll_textbuf_t *out);

//  Append the standard process_* families (CPU seconds, resident and
//  virtual memory, open and maximum file descriptors, start time), read
//  from /proc/self.
void ll_metrics_process (ll_textbuf_t *out);

//  Append lablink_build_info{version,commit} 1.
void ll_metrics_build_info (ll_textbuf_t *out);

#endif
