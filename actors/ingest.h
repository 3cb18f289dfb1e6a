/*  ingest: VM log lines into PostgreSQL, and the reads of them.

    Owns: one PostgreSQL connection; the append requests waiting for the
    next flush; per VM, the lines added since its last retention trim.
    Serves: ROUTER LL_ENDPOINT_LOGS, the grammar in runtime/protocol.h:
      LOG-APPEND: group commit: every append waiting on the socket (up to a
        cap) is written in one transaction (agent batches claimed in
        vm_log_batches, ids reserved, one COPY); each request is answered
        only after that COMMIT, so an acknowledged line is durable;
      LOG-READ.
    Publishes: PUB LL_ENDPOINT_LOG_TAIL, after each commit, per VM.
    Retention: a VM keeps its newest logs.retain_lines lines; the oldest are
    deleted once a tenth of that (at least 1,000) was added since the last
    trim, so a VM holds at most 1.1 x retain_lines lines.
    Pipe: START -> OK (the database may be down: appends then fail with
          ERROR and nothing is acknowledged), $TERM, VERBOSE
          (runtime/actor.h). */
#ifndef LL_ACTOR_INGEST_H
#define LL_ACTOR_INGEST_H

#include <czmq.h>

void ingest_actor (zsock_t *pipe, void *args);

#endif
